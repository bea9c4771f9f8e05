"""Data in: manifests, label maps, one module per corpus, listeners' judgements, Hugging Face and lhotse, the demo set."""
