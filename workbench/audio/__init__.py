"""Audio in: decoding, the processing log, preprocessing steps and variant chains."""
