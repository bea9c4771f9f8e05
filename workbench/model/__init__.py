"""The model: the batched emotion2vec network, ModelRef, checkpoints and loading, precision, temperature, agreement checks, FunASR patches, ONNX."""
