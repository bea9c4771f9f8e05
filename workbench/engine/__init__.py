"""The engine: sources to predictions (decode, prepare, batch, score), findings, cache, local and Ray executors."""
