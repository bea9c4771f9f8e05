"""The model: labels, the batched emotion2vec network, checkpoints, loading and FunASR patches."""
