"""The data of a fine-tuning: each row's class under a label set, the head's classes, the speakers' sides."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from workbench.analysis.fusion import embedded_rows
from workbench.data.corpora import LABEL_MAPS, class_name
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.runs.folder import RunFolder, select_rows

LABEL_SETS = ("corpus", "nine")


def corpus_of(meta: Any) -> str:
    if isinstance(meta, str) and meta.strip():
        try:
            meta = json.loads(meta)
        except ValueError:
            return ""
    return str(meta.get("corpus", "")) if isinstance(meta, dict) else ""


def row_targets(rows, labels: str = "corpus") -> np.ndarray:
    """Each row's class: its corpus class by readable name (``labels="corpus"``) or its nine-class key (``"nine"``); "" when none."""
    if labels not in LABEL_SETS:
        raise ConfigError(f"unknown label set {labels!r}; expected one of {', '.join(LABEL_SETS)}.", source="--labels",
                          fix="pass --labels corpus (the corpus's own classes) or --labels nine.")
    if labels == "nine":
        return rows["emotion"].fillna("").astype(str).str.strip().to_numpy()
    metas = rows["meta"].tolist() if "meta" in rows.columns else [None] * len(rows)
    return np.array([class_name(corpus_of(m), str(lab or "")) for m, lab in zip(metas, rows["label"].fillna("").tolist())], dtype=object)


def class_order(targets: Sequence[str], labels: str, corpora: Sequence[str] = ()) -> list[str]:
    """The head's classes: the nine in checkpoint order, or the corpus's classes in its table's order (then by name)."""
    present = {t for t in targets if t}
    if labels == "nine":
        return [k for k in LABEL_KEYS if k in present]
    order: list[str] = []
    for corpus in corpora:
        for lab in (LABEL_MAPS.get(corpus) or {}):
            name = class_name(corpus, lab)
            if name in present and name not in order:
                order.append(name)
    return order + sorted(present - set(order))


def split_speakers(speakers: Sequence[str], *, validation: float, test: float, seed: int) -> dict[str, list[str]]:
    """Speakers shuffled (seeded) into ``train`` / ``validation`` / ``test``; each asked-for side gets at least one."""
    unique = sorted({s for s in speakers if s})
    need = 1 + (validation > 0) + (test > 0)
    if len(unique) < need:
        raise ConfigError(f"a speaker-independent split into train{', validation' if validation else ''}{', test' if test else ''} "
                          f"needs {need} speakers; the items have {len(unique)}.", source="speaker",
                          fix="add speakers to the manifest (the corpus loaders do), or train on a corpus with more speakers.")
    order = [unique[i] for i in np.random.default_rng(seed).permutation(len(unique))]
    n_test = max(1, int(round(test * len(unique)))) if test > 0 else 0
    n_val = max(1, int(round(validation * len(unique)))) if validation > 0 else 0
    n_test = min(n_test, len(unique) - n_val - 1)
    return {"test": sorted(order[:n_test]), "validation": sorted(order[n_test:n_test + n_val]),
            "train": sorted(order[n_test + n_val:])}



@dataclass
class TuneData:
    rows: Any  # DataFrame of the usable rows, index 0..n-1
    x: np.ndarray  # (n, D)
    y: np.ndarray  # (n,) class names
    classes: list[str]
    labels: str
    variant: str
    corpora: list[str]
    excluded: dict = field(default_factory=dict)


def tune_data(run: RunFolder, *, labels: str = "corpus", variant: str | None = None) -> TuneData:
    """The finished, embedded rows of one variant of ``run`` that have a class under ``labels``; the rest counted by reason."""
    rows, x = embedded_rows(run, variant=variant)
    results = run.results()
    variant = variant or str(results["variant"].iloc[0])
    of_variant = results[results["variant"].astype(str) == variant]
    excluded: dict[str, list[str]] = {}
    failed = select_rows(of_variant, status="failed")["id"].astype(str).tolist()
    if failed:
        excluded["failed"] = failed
    y = row_targets(rows, labels)
    has = y != ""
    if (~has).any():
        excluded["no class" + (" (label with no emotion2vec+ counterpart)" if labels == "nine" else "")] = rows.loc[~has, "id"].astype(str).tolist()
    rows, x, y = rows[has].reset_index(drop=True), x[has], y[has].astype(str)
    corpora = list(dict.fromkeys(c for c in (corpus_of(m) for m in (rows["meta"].tolist() if "meta" in rows.columns else [])) if c))
    classes = class_order(y.tolist(), labels, corpora)
    if len(classes) < 2:
        raise ConfigError(f"a head needs at least two classes; the rows have {classes}.", source=str(run.path),
                          fix="train on a dataset with more classes" + (", or --labels corpus for its own labels." if labels == "nine" else "."))
    return TuneData(rows, x.astype(np.float32), y, classes, labels, variant, corpora, excluded)


def speakers_of(rows) -> np.ndarray:
    return rows["speaker"].fillna("").astype(str).to_numpy() if "speaker" in rows.columns else np.full(len(rows), "", dtype=object)

