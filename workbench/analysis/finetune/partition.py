"""The saved head's sides from the corpus's own partition: the manifest's ``split`` column, each value by its role.

Published figures train on a corpus's train set, select the epoch on its dev set and report on its test set(s)
(MSP-Podcast's ``Test1`` and ``Test2`` each on its own, never pooled).  ``finetune --validation`` says where the
saved head's early stopping comes from:

``auto``      (default) the ``split`` column when it has a train and a dev set (MSP-Podcast ``Train``/``Development``,
              ESD ``train``/``evaluation``, EmoBox ``train``/``valid``), or a train and a test set without a dev set
              (EmoBox's fold files: early stopping on a share of the train set's speakers, ``--validation-speakers``,
              so that the test set never trains), else held-out speakers as before;
``split``     the ``split`` column, refused when it lacks a train set, or both a dev and a test set;
``speakers``  a share of the speakers (``--validation-speakers``, ``--test-speakers``), whatever the column holds.

Each value takes its role from :func:`workbench.schema.split_role` (ESD's ``evaluation`` through ``meta.corpus``);
items whose value has no role (IEMOCAP's ``Session1``, an empty value) are left out and counted, as ``probe
--scheme split`` does.  The speaker shares the split makes unused are refused with it, not ignored.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from workbench.analysis.finetune.data import TuneData, corpus_of, speakers_of, split_speakers
from workbench.errors import ConfigError
from workbench.schema import split_key, split_role, text_values

VALIDATION_MODES = ("auto", "split", "speakers")
#: the sides of the saved head by the role of their split values
SIDE_OF_ROLE = {"train": "train", "dev": "validation", "test": "test"}


def split_roles(values: Sequence[Any], metas: Sequence[Any]) -> np.ndarray:
    """Each item's role (``train``/``dev``/``test``/``""``) from its ``split`` value and its ``meta.corpus``."""
    return np.array([split_role(v, corpus_of(m)) for v, m in zip(values, metas)], dtype=object)


def _shown(values: Sequence[Any]) -> str:
    names = sorted({str(v).strip() for v in values} - {""})
    return ", ".join(repr(v) if v.isascii() else ascii(v) for v in names[:12]) + (" …" if len(names) > 12 else "") or "all empty"


def validation_mode(requested: str, values: Sequence[Any] | None, metas: Sequence[Any], *, speaker_options: Sequence[str] = (),
                    source: str = "finetune") -> tuple[str, str]:
    """``"split"`` or ``"speakers"`` for ``--validation requested`` on items with these ``split`` values (None: no
    column), and why in words.  ``speaker_options`` are the share options the user gave (``--validation-speakers``,
    ``--test-speakers``): with the split they contradict it, and are refused with the valid choices."""
    if requested not in VALIDATION_MODES:
        raise ConfigError(f"unknown --validation {requested!r}; expected one of {', '.join(VALIDATION_MODES)}.", source="--validation",
                          fix="pass --validation auto (the split column when it has train and dev sets), split or speakers.")
    if requested == "speakers":
        return "speakers", "--validation speakers: a share of the speakers held out for early stopping and the test figure"
    values = list(values) if values is not None else []
    roles = split_roles(values, metas) if values else np.array([], dtype=object)
    counts = {role: int((roles == role).sum()) for role in ("train", "dev", "test", "")}
    # a train and a test set without a dev set (EmoBox's folds): the split still says what is tested, so its test items never
    # train; early stopping is on a share of the train set's speakers (--validation-speakers)
    usable = counts["train"] > 0 and (counts["dev"] > 0 or counts["test"] > 0)
    if requested == "split" and not usable:
        raise ConfigError(f"--validation split trains on the split column's train set and early-stops on its dev set (or a share of "
                          f"its speakers when it has a test set and no dev set); the items have "
                          f"{counts['train']} train, {counts['dev']} dev, {counts['test']} test and {counts['']} of no role "
                          f"(values: {_shown(values)}).", source=source,
                          fix="fill the split column with train/dev/test (a corpus's own names such as MSP-Podcast's "
                              "Train/Development/Test1 are read too), or pass --validation speakers (or auto).")
    if not usable:
        why = ("the items have no split values" if not any(str(v).strip() for v in values) else
               f"the split column has no {'train set' if not counts['train'] else 'dev or test set'} ({_shown(values)})")
        return "speakers", f"--validation auto: {why}, so a share of the speakers is held out"
    if not counts["dev"]:
        contradicting = [o for o in speaker_options if o != "--validation-speakers"]  # the share of train speakers is used
        if contradicting:
            raise ConfigError(f"{', '.join(contradicting)} holds out a share of the speakers for the test figure, and the split column's "
                              f"test set ({counts['test']} items) is the saved head's test set.", source=contradicting[0],
                              fix="leave --test-speakers out (--validation-speakers sets the share of the train set's speakers that "
                                  "early-stops), or pass --validation speakers to hold out speakers instead (--validation choices: "
                              + ", ".join(VALIDATION_MODES) + ").")
        return "split", (f"--validation {requested}: the split column has a train and a test set but no dev set, so the train set "
                         "trains less a share of its speakers held out for early stopping (--validation-speakers), and each test set "
                         "is scored on its own (--validation speakers holds out speakers instead)")
    if speaker_options:
        given = ", ".join(speaker_options)
        how = ("--validation split" if requested == "split" else
               f"the default --validation auto, as the items have {counts['train']} train and {counts['dev']} dev")
        raise ConfigError(f"{given} {'hold' if len(speaker_options) > 1 else 'holds'} out a share of the speakers, and the saved head early-stops on the split column's dev set "
                          f"({how}).", source=speaker_options[0],
                          fix=f"pass --validation speakers to hold out speakers with {given}, or leave {given} out to use the "
                              "corpus's own train / dev / test sets (--validation choices: " + ", ".join(VALIDATION_MODES) + ").")
    how = ("the split column's train set trains, its dev set early-stops, each test set is scored on its own" if requested == "split"
           else "the split column has a train and a dev set, so they train and early-stop and each test set is scored on its own "
                "(--validation speakers holds out speakers instead)")
    return "split", f"--validation {requested}: {how}"


def _split_column(rows) -> tuple[list[str], list[Any]]:
    values = text_values(rows["split"]).tolist() if "split" in rows.columns else [""] * len(rows)
    return values, rows["meta"].tolist() if "meta" in rows.columns else [None] * len(rows)


def data_validation_mode(data: TuneData, requested: str, speaker_options: Sequence[str] = (), source: str = "finetune") -> tuple[str, str]:
    """:func:`validation_mode` on the rows of a fine-tuning (no ``split`` column: None)."""
    values, metas = _split_column(data.rows)
    return validation_mode(requested, values if "split" in data.rows.columns else None, metas, speaker_options=speaker_options,
                           source=source)


def with_split_roles(data: TuneData) -> TuneData:
    """The rows whose split value has a role; the others (``Session1``, empty) left out and counted by their values."""
    values, metas = _split_column(data.rows)
    roles = split_roles(values, metas)
    keep = roles != ""
    excluded = dict(data.excluded)
    if not keep.all():
        none = [v for v, k in zip(values, keep) if not k]
        excluded[f"a split that is neither train, dev nor test ({_shown(none)})"] = data.rows.loc[~keep, "id"].astype(str).tolist()
    return TuneData(data.rows[keep].reset_index(drop=True), data.x[keep], data.y[keep], data.classes, data.labels, data.variant,
                    data.corpora, excluded)


def split_sides(data: TuneData, why: str, *, validation_speakers: float = 0.2,
                seed: int = 0) -> tuple[dict, dict[str, np.ndarray], dict, dict[str, np.ndarray], dict]:
    """The saved head's sides from the split column (every row has a role: :func:`with_split_roles`): the speakers of each
    side, each row's side, the grouping, each test set's rows (by name as first written, numbered sets in their order)
    and the card's record of the partition (each side's split names and counts).  Without a dev set, ``validation_speakers``
    of the train set's speakers (seeded) are its validation side; its rows without a speaker stay in training."""
    values, metas = _split_column(data.rows)
    roles = split_roles(values, metas)
    keys = np.array([split_key(v) for v in values], dtype=object)
    mask = {side: roles == role for role, side in SIDE_OF_ROLE.items()}
    held_out = None
    if not mask["validation"].any():
        speakers = speakers_of(data.rows)
        held_out = split_speakers(speakers[mask["train"]], validation=validation_speakers, test=0.0, seed=seed)["validation"]
        mask["validation"] = mask["train"] & np.isin(speakers, held_out)
        mask["train"] = mask["train"] & ~mask["validation"]
    if len(set(data.y[mask["train"]].tolist())) < 2:
        raise ConfigError(f"the split column's train set has {int(mask['train'].sum())} items of fewer than two classes.",
                          source="--validation split", fix="pass --validation speakers, or fine-tune a manifest whose train set has the classes.")
    names: dict[str, str] = {}
    for v, k in zip(values, keys):
        names.setdefault(k, str(v).strip())
    sets = {side: {names[k]: int(np.sum(m & (keys == k))) for k in sorted(set(keys[m].tolist()), key=lambda k: (len(k), k))}
            for side, m in mask.items()}
    if held_out is not None:  # named as what it is: speakers of the train set, not a set of the corpus's
        sets["validation"] = {f"{name}: {len(held_out)} of its speakers held out": n for name, n in sets["validation"].items()}
    tests = {names[k]: mask["test"] & (keys == k) for k in sorted(set(keys[mask["test"]].tolist()), key=lambda k: (len(k), k))}
    speakers = speakers_of(data.rows)
    sides = {side: sorted(set(speakers[m].tolist()) - {""}) for side, m in mask.items()}
    shared = {side: sorted(set(sides["train"]) & set(sides[side])) for side in ("validation", "test")}
    record = {"validation": "split", "why": why, "column": "split", "sets": sets,
              **({"validation_speakers": {"share": validation_speakers, "seed": seed, "speakers": held_out}} if held_out is not None else {}),
              "excluded": {k: v for k, v in data.excluded.items() if k.startswith("a split that")},
              "speakers_also_in_train": {side: len(v) for side, v in shared.items()}}
    record["excluded"] = {k: len(v) for k, v in record["excluded"].items()}
    return sides, mask, {"by": "split", "why": why}, tests, record


def partition_lines(card: dict) -> list[str]:
    """The partition on screen: which split names trained, early-stopped and were tested, with counts; what was left out."""
    p = card.get("partition") or {}
    if p.get("validation") != "split":
        return [f"  validation: held-out {(card.get('grouping') or {}).get('by', 'speaker')}s ({p['why']})"] if p.get("why") else []
    sets = p["sets"]

    def said(side: str) -> str:
        return ", ".join(f"{name} (n={n})" for name, n in sets[side].items()) or "none"

    lines = [f"  partition (--validation split): trained on {said('train')}, early-stopped on {said('validation')}, "
             f"tested on {said('test')}" + (" each on its own" if len(sets["test"]) > 1 else ""), f"    why: {p['why']}"]
    lines += [f"    left out: {n} items of {reason}" for reason, n in p.get("excluded", {}).items()]
    also = {side: n for side, n in p.get("speakers_also_in_train", {}).items() if n}
    if also:
        lines.append("    !! speakers also in the train set: " + ", ".join(f"{n} of the {side} side's" for side, n in also.items())
                     + " (the corpus's partition is not speaker-independent)")
    return lines
