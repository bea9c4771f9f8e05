"""Analysis of scored runs: statistics, metrics, comparisons, calibration, listeners, embeddings, probes, fusion."""
