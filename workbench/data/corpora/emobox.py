"""EmoBox's metadata (``key, wav, emo, length, sample_rate, channel`` per JSON line, one file per fold and split)
as a manifest, its labels mapped through the corpus tables of :mod:`workbench.data.corpora.registry`."""

from __future__ import annotations

import os
import re
from pathlib import Path

from workbench.data.corpora.registry import LABEL_MAPS, map_label
from workbench.data.manifest import generic_emotion, GENERIC_LABELS, Item, jsonl_objects, Manifest
from workbench.errors import ConfigError
from workbench.serialize import load_json_file

_FOLD_FILE = re.compile(r"^(?P<dataset>.+)_(?P<split>train|test|valid|dev)_fold_(?P<fold>\d+)\.jsonl$")


def import_emobox(jsonl_files: list[str | os.PathLike], *, root: str | os.PathLike, label_map: str | os.PathLike | None = None) -> Manifest:
    """Read EmoBox metadata (``key, wav, emo, length, sample_rate, channel``).

    Fold files ``<dataset>_{train,test}_fold_<k>.jsonl`` give ``split`` and
    ``meta.fold``; EmoBox's folds are speaker-independent.  ``wav`` paths are
    resolved against ``root``.  ``label_map`` (JSON: EmoBox label → one of the
    nine keys or a name such as "anger") overrides the built-in tables.
    """
    root_p = Path(root).expanduser().resolve()
    custom: dict[str, str] = {}
    if label_map:
        lm = Path(label_map)
        if not lm.is_file():
            raise ConfigError("label map file not found.", source=str(lm), fix="pass a JSON file {emobox label: emotion}.")
        custom = load_json_file(lm, what="a label map")  # capped: a label map is a few kB
        if not isinstance(custom, dict):
            raise ConfigError("label map must be a JSON object {label: emotion}.", source=str(label_map), fix="see datasets/README.md.")
        unknown = sorted(f"{k!r}: {v!r}" for k, v in custom.items() if v and not generic_emotion(str(v)))
        if unknown:
            raise ConfigError(
                f"label map gives values that are not emotions: {', '.join(unknown[:10])}; "
                f"expected one of {', '.join(sorted(set(GENERIC_LABELS.values())))} (or a common name such as 'anger').",
                source=str(label_map),
                fix="map each label to one of those keys, or to \"\" when it has no counterpart.",
            )
    items: list[Item] = []
    seen: dict[str, Item] = {}
    for jf in jsonl_files:
        jf = Path(jf)
        if not jf.is_file():
            raise ConfigError("EmoBox metadata file not found.", source=str(jf), fix="pass the .jsonl files of EmoBox's data/<dataset>/ folder.")
        m = _FOLD_FILE.match(jf.name)
        try:
            lines = jf.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError:
            raise ConfigError("is not UTF-8 text.", source=str(jf), fix="pass EmoBox's metadata files unchanged (they are UTF-8).") from None
        for n, rec in jsonl_objects(jf, "\n".join(lines), fix="pass EmoBox's metadata files unchanged."):
            missing = [k for k in ("key", "wav", "emo") if k not in rec]
            if missing:
                raise ConfigError(f"line {n} lacks {', '.join(missing)}.", source=str(jf), fix="pass EmoBox metadata (key, wav, emo, length …).")
            dataset = rec.get("dataset") or (m.group("dataset") if m else "")
            emo_raw = str(rec["emo"])
            emotion = custom.get(emo_raw, "")
            emotion = generic_emotion(emotion) if emotion else ""
            if not emotion:
                table_key = dataset.lower().replace("_", "-")
                emotion = map_label(table_key if table_key in LABEL_MAPS else "", emo_raw)
            fold_key = f"{rec['key']}"
            if fold_key in seen and m:
                seen[fold_key].meta.setdefault("folds", {})[m.group("fold")] = m.group("split")
                continue
            meta = {"corpus": dataset, "emobox": {k: rec[k] for k in ("length", "sample_rate", "channel") if k in rec}}
            if m:
                meta["folds"] = {m.group("fold"): m.group("split")}
            it = Item(
                id=str(rec["key"]), path=str(rec["wav"]), label=emo_raw, emotion=emotion,
                split=m.group("split") if m else "", meta=meta,
            )
            seen[fold_key] = it
            items.append(it)
    folds = {f for it in items for f in it.meta.get("folds", {})}
    if len(folds) > 1:  # an item is train in one fold and test in another: meta.folds says which
        for it in items:
            it.split = ""
    return Manifest(items, root=root_p, name="emobox")
