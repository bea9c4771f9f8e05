"""Honest evaluation of a fine-tuning: the training procedure under speaker-independent folds, beside the parent and the probe."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from workbench.analysis.finetune.data import TuneData, corpus_of, holdout_groups, row_targets, split_speakers
from workbench.analysis.groups import chance_uar, class_f1_note, class_share_note, figure_flags, never_predicted_note, small_class_note
from workbench.analysis.finetune.head import HeadTraining, train_head
from workbench.analysis.metrics import macro_f1, uar, wa
from workbench.analysis.metrics_groups import with_speaker_class_intervals
from workbench.analysis.stats import class_report, speaker_resampling
from workbench.analysis.probe import METRICS, ProbeData, assign_folds, evaluate_probe
from workbench.analysis.probe_intervals import fold_intervals
from workbench.data.corpora import class_name, corpus_key, LABEL_MAPS
from workbench.errors import ConfigError, capped_join
from workbench.labels import LABEL_KEYS
from workbench.schema import text_values


def speakers_of(rows) -> np.ndarray:
    """Each row's speaker (``""`` for none, or without the column): what the intervals resample where there are enough."""
    return text_values(rows["speaker"]).to_numpy() if "speaker" in rows.columns else np.full(len(rows), "", dtype=object)


def scores(t: np.ndarray, p: np.ndarray, classes: Sequence[str], *, n_boot: int, seed: int, speakers: Sequence | None = None) -> dict:
    """WA, UAR, macro-F1 with seeded percentile-bootstrap intervals (and n), and the checks ``metrics`` applies to them.

    ``classes``: the head's classes.  UAR averages over those the items have (``classes_present``); the ones they
    lack (``missing_classes``), the chance level over the present ones (``chance_uar``) and every failing check in
    words (``flags``: :func:`~workbench.analysis.groups.figure_flags`, the checks of ``metrics``) travel with the
    figures, so the screen and the card say them alike.  ``speakers`` (each item's): the intervals resample them, a
    speaker's clips together (:func:`~workbench.analysis.probe_intervals.fold_intervals`, the rule of
    :func:`~workbench.analysis.stats.speaker_resampling`); ``ci_unit`` says what they resample, and its note is a flag.
    """
    cl = [c for c in classes if c in set(t.tolist())]
    out: dict[str, Any] = {"n": int(len(t)), "classes_present": len(cl), "missing_classes": [c for c in classes if c not in cl],
                           "chance_uar": chance_uar(len(cl))}
    if not len(t):
        return out | {m: float("nan") for m in METRICS} | {"flags": []}
    (cis,), _ = fold_intervals([t], [p], [cl], None if speakers is None else [list(speakers)], METRICS, n=n_boot, seed=seed)
    for name, value in zip(METRICS, (wa(t, p), uar(t, p, cl), macro_f1(t, p, cl))):
        out[name] = float(value)
    out |= cis
    out["flags"] = figure_flags({m: out[f"{m}_ci"] for m in METRICS}, len(t), {c: int(np.sum(t == c)) for c in classes})
    if cis["ci_unit"].get("note"):
        out["flags"].append(f"intervals {cis['ci_unit']['words']}: {cis['ci_unit']['note']}")
    return out


#: a class's figures in the card, each as ``{figure}_{who}`` (``f1_finetuned``), an interval as ``{figure}_{who}_ci``
CLASS_FIGURES = ("precision", "precision_ci", "predicted", "recall", "recall_ci", "hits", "f1", "f1_ci")


def _key(figure: str, who: str) -> str:
    """``recall_ci``, ``finetuned`` → ``recall_finetuned_ci``: the card's name of a class figure."""
    return f"{figure[:-3]}_{who}_ci" if figure.endswith("_ci") else f"{figure}_{who}"


def per_class_scores(t: np.ndarray, preds: dict[str, np.ndarray], classes: Sequence[str], *, n_boot: int, seed: int,
                     speakers: Sequence | None = None) -> tuple[dict, dict]:
    """Each class's precision and recall (with their hits of predicted / of n and 95 % intervals: exact over clips, or
    with 5 or more ``speakers`` from macro-F1's speaker resamples, the exact ones kept as ``…_ci_items`` in the table) and
    F1 with its bootstrap interval from macro-F1's resamples, as ``metrics`` gives them (:func:`~workbench.analysis.stats.class_report`,
    :func:`~workbench.analysis.metrics_groups.with_speaker_class_intervals`),
    for each of ``preds`` (``finetuned``, ``parent_mapped``) on the truth ``t``; and, per predictor, the checks ``metrics``
    prints under its table (:func:`class_checks`).  Returns ``({class: {"n", "{figure}_{who}", "{figure}_{who}_ci"}}, {who: [check, …]})``."""
    per_class: dict[str, dict] = {c: {"n": int(np.sum(t == c))} for c in classes}
    flags = {}
    clusters, unit = speaker_resampling([] if speakers is None else list(speakers))
    for who, pred in preds.items():
        _, table = class_report(t, pred, classes, n=n_boot, seed=seed, clusters=clusters)
        # precision and recall over the speakers where F1's are (metrics' rule); class_report's are exact over clips
        table = with_speaker_class_intervals(table, t, pred, classes, clusters, unit, n=n_boot, seed=seed)
        for c, v in table.items():
            per_class[c] |= {_key(k, who): list(v[k]) if k.endswith("_ci") else v[k] for k in CLASS_FIGURES}
        flags[who] = class_checks(table, len(t))
    return per_class, flags


def class_checks(table: dict[str, dict], n: int) -> list[str]:
    """What a per-class table's figures fail, in ``metrics``' words: F1 intervals of no width or from too few items,
    precision and recall intervals of no width or from under 90 % of their resamples,
    classes with too few items (their figures anecdotes), classes never predicted (precision 0/0)."""
    notes = [class_f1_note(table, n), class_share_note(table), small_class_note({c: int(v["support"]) for c, v in table.items()}), never_predicted_note(table)]
    return [note for note in notes if note]


def class_table_of(d: dict, who: str) -> dict[str, dict]:
    """The card's per-class figures of ``who`` (``finetuned``, ``parent_mapped``) as :func:`class_report`'s table, for
    :func:`~workbench.analysis.groups.class_lines` to print."""
    return {c: {k: v[_key(k, who)] for k in CLASS_FIGURES} | {"support": v["n"]} for c, v in d.items()}


def mapped_parent_predictions(rows, classes: Sequence[str], labels: str, parent_labels: Sequence[str]) -> tuple[np.ndarray, str]:
    """The parent's predictions (``pred``) on the head's classes, and a note of how they were mapped.

    Same label set: as they are.  Corpus classes from the nine: each nine-class key goes to the corpus
    class whose label maps to it (EmoDB ``angry`` → ``anger``), by the corpus's table, else by the rows' own
    ``emotion`` (a folder labelled ``anger`` whose manifest says ``angry``); a key with no corpus class, and a corpus
    class the nine lack (``boredom``), can never be right — which is the point of the comparison.
    """
    pred = text_values(rows["pred"]).to_numpy()
    if labels == "nine" or list(parent_labels) == list(classes):
        return pred, "the parent's own predictions"
    back: dict[str, str] = {}
    for corpus in dict.fromkeys(corpus_of(m) for m in (rows["meta"].tolist() if "meta" in rows.columns else [])):
        for lab, key in (LABEL_MAPS.get(corpus_key(corpus)) or {}).items():
            name = class_name(corpus, lab)
            if key and name in classes:
                back.setdefault(key, name)
    if "emotion" in rows.columns:  # the manifest's own pairs (a folder's anger → angry): what the run scored them against
        for name, key in zip(row_targets(rows, "corpus"), text_values(rows["emotion"]).str.strip()):
            if key in LABEL_KEYS and name in classes:
                back.setdefault(key, name)
    for c in classes:  # a class named like a nine-class key is that key
        if c in LABEL_KEYS:
            back.setdefault(c, c)
    lacking = [c for c in classes if c not in back.values()]
    note = "nine-class predictions mapped onto the corpus's classes" + (f"; the parent has no {', '.join(lacking)}" if lacking else "")
    return np.array([back.get(p, "") for p in pred], dtype=object), note


def _parent_scores(t: np.ndarray, parent_pred: np.ndarray, classes: Sequence[str], note: str, *, n_boot: int, seed: int,
                   speakers: Sequence | None = None) -> dict:
    """The parent's mapped figures; when it has none of the head's classes, no figures (NaN) and why, not a 0.000
    flagged BELOW CHANCE with a zero-width interval: predictions that can never be right measure nothing."""
    if note.endswith(f"the parent has no {', '.join(classes)}"):  # mapped_parent_predictions' note: every class lacking
        out = {"n": int(len(t)), "classes_present": len({c for c in t.tolist() if c in classes}), "missing_classes": [],
               "chance_uar": None}
        return out | {m: float("nan") for m in METRICS} | {f"{m}_ci": (float("nan"), float("nan")) for m in METRICS} | {
            "flags": [], "note": note,
            "not_comparable": f"the parent has none of the head's classes ({', '.join(classes)}): mapped onto them, its "
                              "predictions can never be right, so there is nothing to compare"}
    return scores(t, parent_pred, classes, n_boot=n_boot, seed=seed, speakers=speakers) | {"note": note}


#: ``fit_predict(train_rows, validation_rows, test_rows) -> predicted classes of the test rows`` (row indices of the data)
FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def head_procedure(data: TuneData, config: HeadTraining) -> FitPredict:
    """The head-only training procedure on the cached embeddings, as :func:`evaluate_finetune` repeats it per fold."""
    def fit_predict(tr: np.ndarray, va: np.ndarray, te: np.ndarray) -> np.ndarray:
        return train_head(data.x[tr], data.y[tr], data.x[va], data.y[va], data.classes, config).predict(data.x[te])

    return fit_predict


def evaluate_finetune(data: TuneData, *, scheme: str = "speaker", k: int = 5, config: HeadTraining = HeadTraining(),
                      n_boot: int = 1000, parent_labels: Sequence[str] = LABEL_KEYS, procedure: FitPredict | None = None,
                      procedure_name: str = "head", dev: np.ndarray | None = None, dev_name: str = "the split column's dev set") -> dict:
    """The training procedure under ``scheme`` folds (speaker-independent k-fold, or EmoBox's), pooled over the test sides.

    In each fold the model is trained on the training side (``procedure``, default the head on the cached
    embeddings), early-stopped on a share of *its* speakers, and tested on the held-out side; the probe
    (:func:`~workbench.analysis.probe.evaluate_probe`) runs on the same folds, and the parent's predictions,
    mapped onto the same classes, are scored on the same items.  Figures: WA, UAR, macro-F1 with bootstrap
    intervals over the pooled test items.  ``dev`` (row indices: the split column's dev set, with ``--validation
    split``; or the train set's held-out speakers, ``dev_name`` says which) early-stops every fold of ``scheme="split"``
    instead, as it did the saved head: those rows never train.
    """
    fit_predict = procedure or head_procedure(data, config)
    folds, excluded = assign_folds(data.rows, scheme, k=k)
    holdout = holdout_groups(data.rows, scheme)  # each fold early-stops on its own held-out speakers, or whole sessions
    truth, preds, test_rows, names, skipped = [], [], [], [], {}
    for fold in folds:
        tr = fold.train
        if len(fold.test) == 0 or len(set(data.y[tr].tolist())) < 2:
            skipped[str(fold.name)] = skip_reason(data.y[tr], speakers_of(data.rows.iloc[fold.test]) if len(fold.test) else [])
            continue
        on_dev = dev is not None and scheme == "split" and len(dev) > 0
        in_val = np.isin(tr, dev) if on_dev else _inner_validation(holdout.groups[tr], config)  # held-out train speakers
        truth.append(data.y[fold.test])
        preds.append(np.asarray(fit_predict(tr[~in_val], dev if on_dev else tr[in_val], fold.test), dtype=object))
        test_rows.append(fold.test)
        names.append(fold.name)
    if not truth:
        raise ConfigError("no fold could be evaluated (no test items, or a training side with one class).", source=scheme,
                          fix="use more speakers or another --folds scheme.")
    t, p = np.concatenate(truth), np.concatenate(preds)
    idx = np.concatenate(test_rows)
    probe = evaluate_probe(ProbeData(data.rows, data.x, data.y, data.classes, "class", data.variant, {}), scheme, k=k, n_boot=n_boot,
                           seed=config.seed)
    probe_pooled = probe.predictions
    spk = speakers_of(data.rows.iloc[idx])
    parent_pred, note = mapped_parent_predictions(data.rows.iloc[idx], data.classes, data.labels, parent_labels)
    out = {"scheme": scheme, "k": k, "n_folds": len(truth), "classes": data.classes, "procedure": procedure_name,
           "finetuned": scores(t, p, data.classes, n_boot=n_boot, seed=config.seed, speakers=spk),
           "probe": scores(probe_pooled["target"].astype(str).to_numpy(), probe_pooled["pred"].astype(str).to_numpy(), data.classes,
                           n_boot=n_boot, seed=config.seed, speakers=probe_pooled["speaker"].to_numpy())
                    | {"note": "logistic regression on the same folds"},
           "parent_mapped": _parent_scores(t, parent_pred, data.classes, note, n_boot=n_boot, seed=config.seed, speakers=spk),
           "excluded": {k_: len(v) for k_, v in excluded.items()}, "folds_total": len(folds), "skipped_folds": skipped,
           "skipped_note": skipped_folds_note({"n_folds": len(truth), "folds_total": len(folds), "skipped_folds": skipped}),
           "early_stopping_on": dev_name if dev is not None and scheme == "split" and len(dev) else holdout.by}
    if scheme == "speaker" and holdout.by == "session":  # speaker folds put a session's dialog partners on both sides
        out["warning"] = ("speaker folds put the speakers of a session on both sides of a fold, and they share its dialogs; "
                          "pass --scheme session for leave-one-session-out folds")
    out["per_class"], out["per_class_flags"] = per_class_scores(t, {"finetuned": p, "parent_mapped": parent_pred}, data.classes,
                                                                 n_boot=n_boot, seed=config.seed, speakers=spk)
    if scheme == "split" and len(names) > 1:  # several test sets (MSP-Podcast's Test1, Test2): each is reported alone too
        out["per_test_set"] = {name: scores(tf, pf, data.classes, n_boot=n_boot, seed=config.seed,
                                            speakers=speakers_of(data.rows.iloc[rows]))
                               for name, tf, pf, rows in zip(names, truth, preds, test_rows)}
    return out


def skip_reason(train_labels: np.ndarray, test_speakers) -> str:
    """Why a cross-validation fold was not evaluated, in words: no test item, or a training side with one class (named),
    with the speakers it held out."""
    if not len(test_speakers):
        return "no test item"
    present = sorted(set(np.asarray(train_labels).astype(str).tolist()))
    held = sorted(set(str(s) for s in test_speakers) - {""})
    return ((f"its training side has one class ({present[0]})" if present else "its training side is empty")
            + (f", held out {capped_join(held, noun='speakers')}" if held else ""))


def skipped_folds_note(ev: dict) -> str:
    """The cross-validation's skipped folds named, with why, and what the figures are then over; ``""`` when none was."""
    skipped = ev.get("skipped_folds") or {}
    if not skipped:
        return ""
    total = ev.get("folds_total", ev["n_folds"] + len(skipped))
    return (f"{len(skipped)} of {total} folds skipped: " + "; ".join(f"fold {name}: {why}" for name, why in skipped.items())
            + f". The figures pool the test items of the other {ev['n_folds']} folds only, not of all {total}")


def _inner_validation(groups: np.ndarray, config: HeadTraining) -> np.ndarray:
    """Which rows of a fold's training side early-stop its training: a share of its own speakers (or whole sessions)."""
    if len(set(groups.tolist()) - {""}) < 2 or config.validation_speakers <= 0:
        return np.zeros(len(groups), dtype=bool)
    inner = split_speakers(groups, validation=config.validation_speakers, test=0.0, seed=config.seed)
    val_set = set(inner["validation"])
    return np.array([s in val_set for s in groups], dtype=bool)
