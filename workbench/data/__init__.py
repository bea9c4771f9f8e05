"""Data in: manifests, label maps, one module per corpus, listeners' judgements, Hugging Face and lhotse, the demo set."""

from workbench.data.corpora import registry  # noqa: F401  (sets the manifest reader's corpus tables: manifest_rows.use_corpus_labels)
