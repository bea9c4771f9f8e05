"""The data of a fine-tuning: each row's class under a label set, the head's classes, the speakers' sides."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from workbench.analysis.fusion import embedded_rows
from workbench.analysis.probe import session_of
from workbench.data.corpora import class_name, corpus_key, LABEL_MAPS
from workbench.errors import ConfigError, printable
from workbench.labels import LABEL_KEYS, key_from_token
from workbench.runs.folder import RunFolder, select_rows
from workbench.serialize import loads_json
from workbench.schema import text_values

LABEL_SETS = ("corpus", "nine")


def corpus_of(meta: Any) -> str:
    if isinstance(meta, str) and meta.strip():
        try:
            meta = loads_json(meta)
        except ValueError:
            return ""
    return str(meta.get("corpus", "")) if isinstance(meta, dict) else ""


def row_targets(rows, labels: str = "corpus") -> np.ndarray:
    """Each row's class: its corpus class by readable name (``labels="corpus"``) or its nine-class key (``"nine"``); "" when none."""
    if labels not in LABEL_SETS:
        raise ConfigError(f"unknown label set {labels!r}; expected one of {', '.join(LABEL_SETS)}.", source="--labels",
                          fix="pass --labels corpus (the corpus's own classes) or --labels nine.")
    if labels == "nine":
        return text_values(rows["emotion"]).str.strip().to_numpy()
    metas = rows["meta"].tolist() if "meta" in rows.columns else [None] * len(rows)
    return np.array([class_name(corpus_of(m), str(lab or "")) for m, lab in zip(metas, text_values(rows["label"]).tolist())], dtype=object)


def class_order(targets: Sequence[str], labels: str, corpora: Sequence[str] = ()) -> list[str]:
    """The head's classes: the nine in checkpoint order, or the corpus's classes in its table's order (then by name)."""
    present = {t for t in targets if t}
    if labels == "nine":
        return [k for k in LABEL_KEYS if k in present]
    order: list[str] = []
    for corpus in corpora:
        for lab in (LABEL_MAPS.get(corpus_key(corpus)) or {}):
            name = class_name(corpus, lab)
            if name in present and name not in order:
                order.append(name)
    return order + sorted(present - set(order))


def split_speakers(speakers: Sequence[str], *, validation: float, test: float, seed: int, what: str = "speaker") -> dict[str, list[str]]:
    """Speakers (or other groups, ``what``: sessions) shuffled (seeded) into ``train`` / ``validation`` / ``test``;
    each asked-for side gets at least one."""
    unique = sorted({s for s in speakers if s})
    need = 1 + (validation > 0) + (test > 0)
    if len(unique) < need:
        fix = ("add speakers to the manifest (the corpus loaders do; `workbench manifest FOLDER --speaker-pattern REGEX` for a folder), or train on a corpus with more speakers." if what == "speaker" else
               f"train on more {what}s, or pass --test-speakers 0 (no held-out test figure) to keep one {what} for early stopping.")
        raise ConfigError(f"a {what}-independent split into train{', validation' if validation else ''}{', test' if test else ''} "
                          f"needs {need} {what}s; the items have {len(unique)}.", source=what, fix=fix)
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
    check_classes(classes, y.tolist(), labels, source=str(run.path))
    return TuneData(rows, x.astype(np.float32), y, classes, labels, variant, corpora, excluded)


def check_classes(classes: Sequence[str], targets: Sequence[str], labels: str, *, source: str) -> None:
    """Refuse classes a head cannot be trained on: fewer than two, a name with a control character (a class name is a line
    of tokens.txt: a line break made a checkpoint that does not load), or mostly single-item classes (an id column)."""
    if len(classes) < 2:
        raise ConfigError(f"a head needs at least two classes; the rows have {[printable(c) for c in classes]}.", source=source,
                          fix="train on a dataset with more classes" + (", or --labels corpus for its own labels." if labels == "nine" else "."))
    unsafe = [c for c in classes if not str(c).isprintable()]
    if unsafe:
        raise ConfigError(f"{len(unsafe)} class name(s) hold a line break, a tab or another control character (shown as escapes): "
                          f"{', '.join(printable(c) for c in unsafe[:10])}{' …' if len(unsafe) > 10 else ''}.", source=source,
                          fix="clean those labels in the manifest: a class name is a line of the checkpoint's tokens.txt, "
                              "and is printed on screen and in reports.")
    if labels != "nine":  # a name tokens.txt reads back as another, or not at all: the head saved but never loaded
        unreadable = [c for c in classes if str(c) == "<unk>" or str(c).startswith("unuse") or key_from_token(str(c)) != str(c)]
        if unreadable:
            raise ConfigError(f"{len(unreadable)} class name(s) cannot be a line of the checkpoint's tokens.txt and be read back as "
                              f"they are: {', '.join(_token_trouble(str(c)) for c in unreadable[:10])}{' …' if len(unreadable) > 10 else ''}.",
                              source=source, fix="rename those labels in the manifest (or map them with --labels nine).")
    counts = Counter(t for t in targets if t)
    single = [c for c in classes if counts[c] == 1]
    if len(single) * 2 > len(classes):
        raise ConfigError(f"{len(single)} of the {len(classes)} classes have a single item ({', '.join(printable(c) for c in single[:5])}"
                          f"{' …' if len(single) > 5 else ''}): a head can neither learn nor be checked on them; the label column "
                          "looks like an id or free text.", source=source,
                          fix="give the manifest a label column of classes (a few to a few dozen, several items each).")


def _token_trouble(name: str) -> str:
    """Why ``name`` does not survive tokens.txt, in a few words."""
    if name == "<unk>":
        return f"{name!r} (FunASR's own unknown symbol: the head would not load)"
    if name.startswith("unuse"):
        return f"{name!r} (a token starting with 'unuse' is an unused output: its class would be masked)"
    why = "a '/' parts a token's Chinese and English names" if "/" in name else "spaces at a token's ends are dropped"
    return f"{printable(repr(name))} (reads back as {printable(repr(key_from_token(name)))}: {why})"


def check_manifest_classes(manifest: Any, labels: str, *, source: str) -> None:
    """:func:`check_classes` on a manifest's items, before a manifest given to ``finetune`` is scored (the same checks on
    the run would come only after the scoring)."""
    import pandas as pd

    rows = pd.DataFrame([{"label": it.label or "", "emotion": it.emotion or "", "meta": json.dumps(it.meta or {})} for it in manifest])
    if rows.empty:
        return
    y = row_targets(rows, labels)
    corpora = list(dict.fromkeys(c for c in (corpus_of(m) for m in rows["meta"].tolist()) if c))
    check_classes(class_order([t for t in y if t], labels, corpora), [t for t in y if t], labels, source=source)


def speakers_of(rows) -> np.ndarray:
    return text_values(rows["speaker"]).to_numpy() if "speaker" in rows.columns else np.full(len(rows), "", dtype=object)


def sessions_of(rows) -> np.ndarray:
    """Each row's recording session as the probe's ``session`` scheme reads it (:func:`~workbench.analysis.probe.session_of`)."""
    n = len(rows)
    split = text_values(rows["split"]).tolist() if "split" in rows.columns else [""] * n
    meta = rows["meta"].tolist() if "meta" in rows.columns else [None] * n
    return np.array([session_of(i, s, m) for i, s, m in zip(rows["id"].astype(str), split, meta)], dtype=object)


@dataclass
class Holdout:
    """What the held-out sides are made of: each row's group (a speaker, or a whole session), by what, and why."""

    groups: np.ndarray  # (n,) each row's group; "" for none
    by: str  # "speaker" or "session"
    why: str

    def to_dict(self) -> dict:
        return {"by": self.by, "why": self.why}


def holdout_groups(rows, scheme: str = "speaker") -> Holdout:
    """The units the train / validation / test sides are drawn from.

    Speakers by default.  Whole sessions with ``scheme="session"``, and whenever every row with a speaker has a session
    and some session holds two or more speakers: IEMOCAP's two actors of a session record the same dialogs, so holding
    out one while the other trains or early-stops leaks the dialogs (the field's convention is leave-one-session-out).
    """
    speakers, sessions = speakers_of(rows), sessions_of(rows)
    if scheme == "session":
        if not (sessions != "").any():
            raise ConfigError("--scheme session holds out whole sessions, and no item has one.", source="--scheme session",
                              fix="sessions come from meta.session, a SessionN split or an SesNN id prefix (IEMOCAP); "
                                  "use --scheme speaker otherwise.")
        return Holdout(sessions, "session", "--scheme session: leave-one-session-out")
    with_speaker = speakers != ""
    shared = {}
    for sess, spk in zip(sessions[with_speaker], speakers[with_speaker]):
        shared.setdefault(sess, set()).add(spk)
    shared = {k: v for k, v in shared.items() if k and len(v) > 1}
    if with_speaker.any() and (sessions[with_speaker] != "").all() and shared:
        first = sorted(shared)[0]
        return Holdout(sessions, "session", f"the speakers of a session share its dialogs ({first}: {', '.join(sorted(shared[first]))}); "
                                            "the field holds out whole sessions (leave-one-session-out)")
    return Holdout(speakers, "speaker", "")

