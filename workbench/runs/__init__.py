"""Runs: the run folder, experiments, the run driver, single-file outputs, long audio, sweeps."""
