"""Audio in: decoding, the processing log, preprocessing steps and variant chains, signal measures, Praat and its PSOLA/tempo/tilt edits."""
