"""Metrics of a run against its listeners: which errors are the model's and which the corpus's.

Reads the listener columns that :mod:`workbench.data.listeners` attaches to a manifest (they travel into the
results table through ``meta``):

* **accuracy and UAR per agreement band** (share of listeners agreeing with the majority), each with the run's seeded
  percentile bootstrap interval (:func:`workbench.analysis.metrics.bootstrap_ci`) and its baselines (majority, chance):
  a model that fails only where listeners disagree is failing where the label itself is uncertain;
* **Jensen–Shannon divergence** (base 2, so in [0, 1]: scipy's ``jensenshannon`` distance squared) and
  **cross-entropy** ``−Σ_k v_k log p_k`` (nats; ``p`` clipped at 1e-12) between the listeners' vote distribution ``v``
  and the model's scores ``p`` — over the nine classes, or with ``restrict`` over the corpus's classes, both renormalised;
* **Spearman's ρ** of the model's confidence with listener agreement, with a bootstrap interval over items;
* two lists: *listeners agree, model wrong* (agreement ≥ ``agree`` and the
  model's top label differs from the listeners' majority: the model's own
  errors, most confident first) and *listeners split* (agreement < ``split``:
  ambiguous items not to blame on the model);
* a **vote-weighted confusion matrix** (row = what listeners heard, each item adding its vote distribution to its
  predicted column) beside the hard one (row = the corpus label).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from workbench.data.listeners import FORMATS as VOTE_FILE_FORMATS, corpus_listener_facts, listener_frame, vote_classes
from workbench.paths import shell_command
from workbench.errors import ConfigError, printable
from workbench.files import json_safe
from workbench.labels import LABEL_KEYS
from workbench.analysis.groups import flat_interval_words, group_baseline_flags, group_baselines, small_group_reason, zero_width_note
from workbench.analysis.divergence_checks import (NO_CI, unit_phrase, _spearman, bootstrap_interval, cross_entropy, js_divergence, mean_ci, rho_check, rho_defined_check,  # noqa: F401
                                                  single_rater_check, uniform_checks, uniform_reference, unit_suffix)
from workbench.analysis.metrics import confusion, headline, output_folder, run_training_overlap
from workbench.analysis.stats import speaker_resampling
from workbench.runs.experiment import EXPERIMENT_FILE
from workbench.runs.folder import as_run_folder, pick_variant, select_rows

#: what `workbench listeners` writes into a run folder
LISTENERS_FILE = "listeners.json"
from workbench.schema import score_columns, score_labels, text_values

#: default agreement band edges: [0, 0.5), [0.5, 0.75), [0.75, 1]
DEFAULT_BANDS = (0.5, 0.75)
EPS = 1e-12
#: an empty listener_majority, on screen and in the report ("listeners — (2 of 5 listeners)" named nothing)
NO_MAJORITY = "no majority (a tie, or the top category is none of the classes)"


def listeners_words(agreement: float, n_raters: float) -> str:
    """How many listeners chose the majority, as a count: ``3 of 5 listeners`` (``0.600 of 5`` read as a share of a
    count).  A count within 0.05 of a whole number is whole (EmoDB's rates are printed rounded); a figure missing: n/a."""
    if agreement is None or n_raters is None or agreement != agreement or n_raters != n_raters:
        return "agreement n/a"
    count = agreement * n_raters
    shown = f"{round(count)}" if abs(count - round(count)) <= 0.05 else f"{count:.1f}"
    return f"{shown} of {n_raters:g} listener{'' if n_raters == 1 else 's'}"


@dataclass
class ListenerReport:
    """Metrics of one variant of a run against the listeners' judgements."""

    variant: str
    n_items: int  # ok rows with listener figures
    n_without: int  # ok rows without
    classes: list[str]
    restricted: bool
    bands: list[dict]
    jsd_mean: float
    jsd_ci: tuple[float, float]
    cross_entropy_mean: float
    cross_entropy_ci: tuple[float, float]
    n_distribution: int  # items whose vote distribution is known (EmoDB's is not)
    spearman_confidence_agreement: float
    spearman_ci: tuple[float, float]
    agree_threshold: float
    split_threshold: float
    listeners_agree_model_wrong: list[dict]
    listeners_split: list[dict]
    confusion_hard: list[list[int]]
    confusion_votes: list[list[float]] | None  # None: no item has a vote distribution (the reason in soft_labels_reason)
    confusion_rows: list[str]
    confusion_cols: list[str]
    notes: list[str] = field(default_factory=list)
    #: the true sizes of the two lists (the lists above keep at most ``top`` rows each)
    n_agree_model_wrong: int = 0
    n_split: int = 0
    #: why the soft-label figures (divergences, vote-weighted confusion) are n/a, or "" when they are measured
    soft_labels_reason: str = ""
    #: a uniform guess's divergences to the votes with the model's paired differences (divergence_checks), and each
    #: failed check of the soft figures and rho in words: shown under the figures (screen, listeners.json, page)
    uniform_reference: dict = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    #: the run's speakers or corpus in the checkpoint's training data (a fine-tuned head's card), said before any figure
    training_overlap: list[str] = field(default_factory=list)
    #: what the intervals of the divergences and of rho resampled (:func:`~workbench.analysis.stats.speaker_resampling`)
    interval_units: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return self.__dict__.copy()

    def render(self, top: int = 5) -> str:
        f = lambda x: "n/a" if x is None or x != x else f"{x:.3f}"  # noqa: E731
        lines = [f"!! {w}" for w in self.training_overlap]
        lines += [f"variant {self.variant}: {self.n_items} items with listener judgements ({self.n_without} without)"
                 + ("  [scores restricted to the corpus's classes]" if self.restricted else "")]
        for b in self.bands:
            head = f"  agreement {b['band']:<12} n={b['n']:<5}"
            if not b["n"]:
                lines.append(f"{head} {b.get('empty_reason') or 'empty'}")
            elif b.get("too_small"):
                lines.append(f"{head} accuracy — UAR —  [too small: {b['too_small_reason']}]")
            else:
                acc_base, uar_base = (f" ({b[k]})" if b.get(k) else "" for k in ("accuracy_baseline", "uar_baseline"))
                lines.append(f"{head} accuracy {f(b['accuracy'])} [{f(b['accuracy_ci'][0])}, {f(b['accuracy_ci'][1])}]{acc_base}"
                             f"  UAR {f(b['uar'])} [{f(b['uar_ci'][0])}, {f(b['uar_ci'][1])}]{uar_base}" + (f"  [{b['note']}]" if b.get("note") else "")
                             + (f"  (intervals {unit_phrase(b.get('ci_unit') or {'unit': 'speaker', 'short': b['resampled']})})" if b.get("interval_unit") == "speaker" else ""))
        if self.soft_labels_reason:
            lines.append(f"  Jensen-Shannon divergence n/a, cross-entropy n/a, vote-weighted confusion n/a: {self.soft_labels_reason}")
        else:
            lines.append(f"  Jensen-Shannon divergence {f(self.jsd_mean)} bits (0 to 1) [{f(self.jsd_ci[0])}, {f(self.jsd_ci[1])}], "
                         f"cross-entropy {f(self.cross_entropy_mean)} nats [{f(self.cross_entropy_ci[0])}, {f(self.cross_entropy_ci[1])}] "
                         f"over {self.n_distribution} items with a vote distribution" + unit_suffix(self.interval_units.get("divergences")))
        lines.append(f"  Spearman rho(confidence, agreement) {f(self.spearman_confidence_agreement)} "
                     f"[{f(self.spearman_ci[0])}, {f(self.spearman_ci[1])}]" + unit_suffix(self.interval_units.get("spearman")))
        lines += [f"  !! {c}" for c in self.checks]
        # both lists print the same way: the true total, "showing k of n" when cut, then up to ``top`` rows
        for head, rows, total, corpus in ((f"listeners agree (>= {self.agree_threshold:g}), model wrong",
                                           self.listeners_agree_model_wrong, self.n_agree_model_wrong, False),
                                          (f"listeners split (< {self.split_threshold:g})", self.listeners_split, self.n_split, True)):
            shown = rows[:top]
            tie = any(not r["listener_majority"] for r in shown)  # what "no majority" means, said once under the head (walk18)
            lines.append(f"  {head}: {total} items"
                         + (f" (showing {len(shown)} of {total})" if len(shown) < total else "")
                         + ("; no majority: a tie, or the top category is none of the classes (its count is the most chosen category's)" if tie else "")
                         + "".join(f"\n    {printable(r['id'])}: listeners {printable(r['listener_majority']) or 'no majority'} "
                                   # without a majority the count is the most chosen category's (it read as unexplained)
                                   f"({'' if r['listener_majority'] else 'most chosen: '}{listeners_words(r['agreement'], r['n_raters'])}), "
                                   + (f"corpus {printable(r['emotion'] or '—')}, " if corpus else "")
                                   + f"model {r['pred']} ({f(r['confidence'])})" for r in shown))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _band_names(edges: Sequence[float]) -> list[tuple[float, float, str]]:
    e = [0.0, *edges, 1.0]
    out = []
    for i in range(len(e) - 1):
        hi_closed = i == len(e) - 2
        out.append((e[i], e[i + 1], f"[{e[i]:g}, {e[i + 1]:g}{']' if hi_closed else ')'}"))
    return out


def _check_options(*, agree, split, bands, top, n_boot) -> list[float]:
    """The band edges, after every option has been checked (each refused with its valid range)."""
    for name, v in (("agree", agree), ("split", split)):
        if not (isinstance(v, (int, float)) and 0 < v <= 1):
            raise ConfigError(f"{name}={v!r} is not a share of listeners in (0, 1].", fix=f"pass e.g. {name}=0.75.")
    if split > agree:  # an item at 0.6 was in both lists: "listeners agree" at 0.5 and "listeners split" under 0.75
        raise ConfigError(f"split={split!r} is above agree={agree!r}: an item between them would count both as 'listeners agree' "
                          "and as 'listeners split'.", fix=f"pass a split at or below the agree share, e.g. split={min(0.5, agree):g}.")
    edges = list(bands)
    if any(not (0 < b < 1) for b in edges) or edges != sorted(set(edges)):
        raise ConfigError(f"bands={edges} must be increasing shares strictly between 0 and 1.", fix="pass e.g. 0.5 0.75.")
    if not isinstance(top, int) or top < 0:
        raise ConfigError(f"top={top!r} is not a count >= 0.", fix="pass e.g. 50.")
    if not isinstance(n_boot, int) or n_boot < 0:
        raise ConfigError(f"n_boot={n_boot!r} is not a count >= 0.", fix="pass e.g. 1000 (0: no intervals).")
    return edges


@dataclass
class _Scored:
    """The ok rows of one variant that carry listener figures, with what the model said about them."""

    rows: Any  # the results rows (DataFrame)
    listeners: Any  # their listener_frame
    n_without: int
    labels: list[str]  # the model's classes
    classes: list[str]  # the corpus's classes among them
    emotion: np.ndarray  # corpus label as a model class ("" = none)
    scores: np.ndarray  # (n, len(labels))
    pred: np.ndarray
    conf: np.ndarray
    dist_keys: list[str]  # the classes the distributions compare over
    notes: list[str]
    vote_sets: list[list[str]] = field(default_factory=list)  # per item, the classes its own record votes over

    @property
    def agreement(self) -> np.ndarray:
        return self.listeners["agreement"].to_numpy(float)

    @property
    def majority(self) -> np.ndarray:
        return self.listeners["listener_majority"].to_numpy(str)


def _vote_sets(lf, voted: list[str]) -> list[list[str]]:
    """Per item, the classes its own record votes over (``vote_set``); every class voted in where that is unknown."""
    return [[k for k in str(v).split(";") if k] or list(voted) for v in text_values(lf["vote_set"])] if "vote_set" in lf else \
        [list(voted)] * len(lf)


def _other_set_note(ids, sets: list[list[str]], shared: list[str]) -> tuple[str, np.ndarray]:
    """Items whose record votes over other classes than ``shared`` (a manifest mixing the nine with a head's own), said
    with the fix, and which they are; ("", none) when there are none."""
    other = np.array([bool(vs) and not set(vs) & set(shared) for vs in sets], dtype=bool)
    if not other.any():
        return "", other
    theirs = list(dict.fromkeys(k for vs, o in zip(sets, other) if o for k in vs))
    shown = ", ".join(printable(str(i)) for i in np.asarray(ids)[other][:3])
    return (f"{int(other.sum())} of {len(sets)} items (e.g. {shown}) carry votes over other classes "
            f"({', '.join(printable(k) for k in theirs[:9])}{' …' if len(theirs) > 9 else ''}) than the "
            f"{', '.join(printable(k) for k in shared) or 'model'} compared here: the manifest mixes label sets, so they have "
            "no vote distribution over these classes and are left out of the divergences (the vote-weighted confusion "
            "takes each item over its own classes); to compare them, import their votes onto the run's classes "
            "(`workbench datasets import-votes … --model CHECKPOINT`, the checkpoint that made the run; without --model for "
            "the nine emotion2vec+ classes) and run the manifest again"), other


def _unshared_notes(lf, dist_keys: list[str], voted: list[str], sets: list[list[str]], ids) -> list[str]:
    """What the divergences leave out, counted: model classes listeners had no vote column for, items whose record
    votes over other classes, and votes for classes the model lacks (listeners who voted over the nine, beside a head
    with its own classes)."""
    notes = []
    shared = [k for k in dist_keys if k in voted]
    if len(shared) < len(dist_keys):
        missing = [k for k in dist_keys if k not in voted]
        notes.append(f"listeners voted over {', '.join(printable(k) for k in voted) or 'no class'}; the model's "
                     f"{', '.join(printable(k) for k in missing)} {'has' if len(missing) == 1 else 'have'} no vote column, so the "
                     f"divergences use the {len(shared)} classes both share" + (" (none: no divergences)" if not shared else ""))
    other_note, other = _other_set_note(ids, sets, shared) if shared else ("", np.zeros(len(sets), bool))
    notes += [other_note] if other_note else []
    beyond = {k: float(np.nansum(lf[f"votes_{k}"].to_numpy(float)[~other])) for k in voted if k not in dist_keys}
    beyond = {k: v for k, v in beyond.items() if v > 0}
    if beyond:
        notes.append(f"{sum(beyond.values()):g} votes for classes the divergences do not compare over "
                     f"({', '.join(f'{printable(k)} {v:g}' for k, v in beyond.items())}) are left out of them"
                     + (f" (each item's votes renormalised over {', '.join(printable(k) for k in shared)})" if shared else ""))
    return notes


def _scored(results, variant: str, restrict: bool) -> _Scored:
    ok = select_rows(results, variant, "ok")
    lf = listener_frame(ok, classes=score_labels(ok))
    has = lf["agreement"].notna().to_numpy()
    sc, lf = ok[has], lf[has]
    emotion = text_values(sc["emotion"]).to_numpy()
    labels = score_labels(ok)  # the model's classes: the nine, or a fine-tuned head's own
    voted = vote_classes(lf)  # the classes listeners voted over: the nine, or the head's own (import-votes --model)
    classes = [c for c in labels if c in set(emotion)]
    if not classes:  # no corpus labels: the classes listeners used
        classes = [c for c in labels if c in voted and (lf[f"votes_{c}"].fillna(0) > 0).any()]
    scores = sc[score_columns(labels)].to_numpy(float) if len(sc) else np.zeros((0, len(labels)))
    if restrict and classes:
        idx = [labels.index(c) for c in classes]
        pred = np.asarray(classes)[np.argmax(scores[:, idx], axis=1)] if len(sc) else np.zeros(0, dtype=str)
        conf = scores[:, idx].max(axis=1) / np.maximum(scores[:, idx].sum(axis=1), EPS) if len(sc) else np.zeros(0)
        dist_keys = classes
    else:
        pred = sc["pred"].astype(str).to_numpy()
        conf = sc["confidence"].to_numpy(float)
        dist_keys = list(labels)
    sets = _vote_sets(lf, voted)
    notes = _unshared_notes(lf, dist_keys, voted, sets, sc["id"].astype(str).to_numpy() if len(sc) else [])
    failed = select_rows(results, variant, "failed")  # judged items the model could not score: counted, never silently gone
    if len(failed) and (lost := int(listener_frame(failed, classes=labels)["agreement"].notna().sum())):
        notes.append(f"{lost} item{'s' * (lost != 1)} with listener judgements failed to score and {'are' if lost != 1 else 'is'} left out of every figure")
    shared = [k for k in dist_keys if k in voted]
    return _Scored(sc, lf, int((~has).sum()), list(labels), classes, emotion, scores, pred, conf, shared, notes, sets)


def _band(s: _Scored, codes, stats, interval, lo: float, hi: float, name: str, facts: dict, lowest: float) -> dict:
    """Accuracy and UAR (with intervals) of the labelled items whose agreement lies in [lo, hi)."""
    import sklearn

    t_codes, p_codes = codes
    agreement, labelled = s.agreement, s.emotion != ""
    in_band = labelled & (agreement >= lo) & ((agreement <= hi) if hi == 1.0 else (agreement < hi))
    t, p = t_codes[in_band], p_codes[in_band]
    wa_v, uar_v, acc_ci, uar_ci = float("nan"), float("nan"), NO_CI, NO_CI
    # clips of a speaker are not independent: the band's intervals resample its speakers where the rows have them
    clusters, unit = speaker_resampling(s.rows["speaker"].to_numpy()[in_band] if "speaker" in s.rows.columns else [])
    if len(t):
        with sklearn.config_context(skip_parameter_validation=True):
            wa_v, uar_v, _ = stats(t, p)
            ci = interval(stats, t, p, clusters=clusters)
        acc_ci, uar_ci = tuple(ci[0]), tuple(ci[1])
    counts = {c: int(np.sum(s.emotion[in_band] == c)) for c in s.classes}
    reason = small_group_reason(counts) if len(t) else ""
    flat = [what for what, (a, b) in (("accuracy", acc_ci), ("UAR", uar_ci)) if zero_width_note(a, b, len(t))]
    empty = ""
    if not len(t):
        floor = facts.get("agreement_floor")
        if floor is not None and hi <= floor:
            empty = f"empty by design: {facts['floor_reason']}"
        elif lowest != lowest:  # no item is labelled with a model class: the band is empty whatever the agreement
            empty = (f"empty: none of the {len(s.emotion)} items has a corpus label among the model's classes, so no band can be "
                     "scored (the notes say which labels)")
        else:
            empty = f"empty: no labelled item has agreement in {name} (the lowest is {lowest:.3f})"
    base, short = ({k: v.replace("WA ", "accuracy ", 1) for k, v in group_baseline_flags(  # metrics' group checks: majority, chance
        {"wa_lo": acc_ci[0], "wa_hi": acc_ci[1], "uar_lo": uar_ci[0], "uar_hi": uar_ci[1]}, counts, stated).items()}
                   if len(t) and not reason else {} for stated in (False, True))
    shown = group_baselines(counts) if len(t) and not reason else {}
    # the note stands beside the baselines (screen and report): their verdicts only, not the baselines again (walk18)
    notes = ([flat_interval_words(flat, len(t))] if flat else []) + list(short.values()) + [unit["note"]] * bool(len(t) and unit["note"])
    return {"band": name, "lo": lo, "hi": hi, "n": int(len(t)), "accuracy": wa_v, "accuracy_ci": acc_ci,
            "uar": uar_v, "uar_ci": uar_ci, "resampled": unit["short"], "interval_unit": unit["unit"], "ci_unit": unit, "classes_present": sorted(set(s.emotion[in_band].tolist())),
            # the one "too small" rule of workbench.analysis.groups, as metrics applies it to groups
            "too_small": bool(reason), "too_small_reason": reason, "empty_reason": empty,
            "accuracy_majority": base.get("wa", ""), "uar_chance": base.get("uar", ""), "note": "; ".join(notes),  # failing;
            "accuracy_baseline": shown.get("wa", ""), "uar_baseline": shown.get("uar", "")}  # and the baselines, passing too


def _bands(s: _Scored, edges: Sequence[float], interval, facts: dict) -> list[dict]:
    """One row per agreement band, against the corpus label; the items left out are said in ``s.notes``."""
    # labels as integer codes, checked once: scikit-learn's string handling and per-call validation are most of a
    # bootstrap's time (as in workbench.analysis.metrics.evaluate; 7442 items x 1000 resamples went from 225 s to a few s)
    vocabulary, codes = np.unique(np.concatenate([s.emotion, s.pred]).astype(str), return_inverse=True)
    split_codes = (codes[: len(s.emotion)], codes[len(s.emotion):])
    stats = headline([int(np.searchsorted(vocabulary, c)) for c in s.classes])
    labelled = s.emotion != ""
    lowest = float(np.nanmin(s.agreement[labelled])) if labelled.any() else float("nan")
    rows = [_band(s, split_codes, stats, interval, lo, hi, name, facts, lowest) for lo, hi, name in _band_names(edges)]
    if labelled.sum() < len(labelled):
        corpus_labels = text_values(s.rows["label"]).to_numpy() if "label" in s.rows.columns else np.full(len(s.rows), "")
        unmapped = corpus_labels[~labelled]
        named = {k: int(v) for k, v in zip(*np.unique(unmapped[unmapped != ""], return_counts=True))}
        if named:
            s.notes.append(f"{sum(named.values())} items whose corpus label is not one of the model's classes "
                           f"({', '.join(f'{k} {v}' for k, v in named.items())}) are left out of the bands")
        if (unmapped == "").sum():
            s.notes.append(f"{int((unmapped == '').sum())} items without a corpus label are left out of the bands")
    return rows


def _divergences(s: _Scored, restrict: bool, facts: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, np.ndarray]:
    """Per item JS divergence and cross-entropy (NaN where the votes are no distribution), which items, why none, and a
    uniform guess's JS divergence to the same votes."""
    votes = s.listeners[[f"votes_{k}" for k in s.dist_keys]].to_numpy(float)
    vsum = votes.sum(axis=1)
    known = ~np.isnan(votes).any(axis=1) & (vsum > 0)
    model = s.scores[:, [s.labels.index(k) for k in s.dist_keys]] if len(s.rows) else np.zeros((0, len(s.dist_keys)))
    known &= (model.sum(axis=1) if len(model) else np.zeros(0)) > 0
    jsd, ce, jsd_u = np.full(len(s.rows), np.nan), np.full(len(s.rows), np.nan), np.full(len(s.rows), np.nan)
    if known.any():  # jsd_u: a uniform guess's divergence to the same votes, the reference of the model's (divergence_checks)
        v = votes[known] / vsum[known, None]
        jsd[known], jsd_u[known] = js_divergence(v, model[known]), js_divergence(v, np.ones_like(v))
        ce[known] = cross_entropy(v, model[known])
    other = np.array([bool(vs) and not set(vs) & set(s.dist_keys) for vs in s.vote_sets], dtype=bool)
    n_unknown = int((~known & ~other).sum()) if len(other) == len(known) else int((~known).sum())
    reason = ""
    if not s.dist_keys:  # a head over its own classes: the votes are there, but over classes it does not have
        reason = (f"the model's classes ({', '.join(printable(str(k)) for k in s.labels)}) share none with the classes "
                  "listeners voted over, so there is no vote distribution to compare with (to compare, import the votes onto the run's "
                  "classes: `workbench datasets import-votes … --model CHECKPOINT` naming the checkpoint that made the run, or "
                  "without --model for the nine emotion2vec+ classes; then run the manifest again)")
    elif not known.any():
        reason = facts.get("distribution_reason") or (
            f"none of the {len(s.rows)} items carries votes for every class{' of the corpus' if restrict else ''}, so there is no "
            "vote distribution to compare with")
    elif n_unknown:
        left = ~known & ~other if len(other) == len(known) else ~known
        empty = {k: int(n) for k, n in zip(s.dist_keys, np.isnan(votes[left]).sum(axis=0)) if n}  # an empty cell: a missing vote
        why = ("e.g. EmoDB gives only the intended class's share" if facts.get("distribution_reason") else
               f"empty vote cells, missing votes: {', '.join(f'votes_{printable(k)} {n}' for k, n in empty.items())}" if empty else
               "no vote among these classes")
        s.notes.append(f"{n_unknown} items have no full vote distribution{' over the corpus classes' if restrict else ''} "
                       f"({why}) and are left out of the divergences")
    return jsd, ce, known, reason, jsd_u


def _confusions(s: _Scored) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """The hard confusion (row = corpus label) and the vote-weighted one (row = what listeners heard), with rows and columns."""
    labelled = s.emotion != ""
    cols = s.classes + [c for c in s.labels if c not in s.classes and c in set(s.pred.tolist())]
    hard = (confusion(s.emotion[labelled], s.pred[labelled], s.classes, cols) if labelled.any()
            else np.zeros((len(s.classes), len(cols)), int))
    voted = vote_classes(s.listeners)  # the nine, or a fine-tuned head's own classes
    rows_w = list(dict.fromkeys(s.classes + [k for k in voted if (s.listeners[f"votes_{k}"].fillna(0) > 0).any()]))
    weighted = np.zeros((len(rows_w), len(cols)))
    full = s.listeners[[f"votes_{k}" for k in voted]].to_numpy(float)
    col_index, row_index = {c: j for j, c in enumerate(cols)}, {k: r for r, k in enumerate(rows_w)}
    sets = s.vote_sets or [voted] * len(s.rows)
    for i in range(len(s.rows)):
        own = [voted.index(k) for k in sets[i] if k in voted]  # the classes of the item's own record: a mixed manifest
        vr = full[i, own]  # (the nine for some items, a head's own for others) is read per item, never all NaN
        if not own or np.isnan(vr).any() or vr.sum() <= 0 or s.pred[i] not in col_index:
            continue
        for k, share in zip((voted[j] for j in own), vr / vr.sum()):
            if k in row_index:  # a class listeners had no vote for (a corpus class of the model's) keeps an empty row
                weighted[row_index[k], col_index[s.pred[i]]] += share
    return hard, weighted, rows_w, cols


def _listed(s: _Scored, jsd: np.ndarray, which: np.ndarray) -> list[dict[str, Any]]:
    ids = s.rows["id"].astype(str).to_numpy()
    agreement, majority = s.agreement, s.majority
    return [{"id": ids[i], "emotion": s.emotion[i], "listener_majority": majority[i], "agreement": float(agreement[i]),
             "n_raters": float(s.listeners["n_raters"].iloc[i]), "pred": str(s.pred[i]), "confidence": float(s.conf[i]),
             "jsd": float(jsd[i]), "path": str(s.rows["path"].iloc[i]) if "path" in s.rows.columns else ""} for i in which]


def _nameable(s: Any, majority: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """Items whose listener majority is one of the model's classes.  The model can only be wrong against a majority it
    can name: a fine-tuned head's own classes (hot, low) against listeners who voted over the nine (angry, sad) are left
    out of 'listeners agree, model wrong', and a note in ``s.notes`` says how many (of the ``clear`` items)."""
    nameable = np.isin(majority, s.labels)
    beyond = clear & ~nameable
    if beyond.any():
        counts = dict(zip(*np.unique(majority[beyond], return_counts=True)))
        s.notes.append(f"{int(beyond.sum())} items whose listener majority is not one of the model's classes "
                       f"({', '.join(f'{printable(str(k))} {int(v)}' for k, v in counts.items())}) are left out of "
                       "'listeners agree, model wrong': the model cannot name what listeners heard")
    return nameable


def evaluate_listeners(results, *, variant: str | None = None, restrict: bool = False, bands: Sequence[float] = DEFAULT_BANDS,
                       agree: float = 0.75, split: float = 0.5, n_boot: int = 1000, seed: int = 0, top: int = 50) -> ListenerReport:
    """Metrics of one variant of a results table against its listener columns.

    Parameters
    ----------
    results
        A results DataFrame (``results.parquet``, ``RunFolder.results()``) whose ``meta`` (or flat
        columns) hold ``votes_<key>``, ``n_raters``, ``agreement``, ``listener_majority``.
    variant
        The variant to score; None for the run's only (or first) one.
    restrict
        Compare distributions over the corpus's classes only (those of the
        ``emotion`` column), model scores renormalised over them; the argmax is
        taken over them too, as ``workbench metrics --restrict`` does.
    bands
        Inner edges of the agreement bands, increasing, inside (0, 1).
    agree, split
        Agreement at or above ``agree`` counts as *listeners agree*; below ``split`` as *listeners split*.
    n_boot, seed
        Bootstrap resamples of every interval (0: none) and their seed.
    top
        How many rows each list keeps (the true counts are ``n_agree_model_wrong``, ``n_split``).

    Returns
    -------
    ListenerReport
        Bands, divergences, Spearman's rho, the two lists and the confusions; ``render()`` prints them.

    Examples
    --------
    The demo run with planted judgements: four listeners per clip labelled angry, happy or sad, three of them
    heard the intended emotion and one neutral (the tiny checkpoint's predictions mean nothing):

    >>> from workbench.data.votes import record_from_counts; from workbench.schema import text_values
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> results = wb.RunFolder(run_dir).results()
    >>> results["meta"] = [record_from_counts({e: 3, "neutral": 1}) if e in ("angry", "happy", "sad") else {}
    ...                    for e in text_values(results["emotion"])]
    >>> rep = wb.evaluate_listeners(results, n_boot=0)
    >>> rep.n_items, rep.n_without
    (39, 14)
    >>> [(b["band"], b["n"]) for b in rep.bands]
    [('[0, 0.5)', 0), ('[0.5, 0.75)', 0), ('[0.75, 1]', 39)]
    >>> print(rep.render().splitlines()[0])
    variant raw: 39 items with listener judgements (14 without)
    """
    edges = _check_options(agree=agree, split=split, bands=bands, top=top, n_boot=n_boot)
    interval = bootstrap_interval(n_boot, seed)
    variant = pick_variant(results, variant)
    s = _scored(results, variant, restrict)
    facts = corpus_listener_facts(s.rows)
    band_rows = _bands(s, edges, interval, facts)
    jsd, ce, known, soft_reason, jsd_u = _divergences(s, restrict, facts)
    (jsd_mean, jsd_ci), (ce_mean, ce_ci), reference, (rho, rho_ci, draws), units = _soft_figures(s, jsd, ce, jsd_u, interval)
    agreement, majority = s.agreement, s.majority
    nameable = _nameable(s, majority, (agreement >= agree) & (majority != ""))
    wrong = np.flatnonzero((agreement >= agree) & (majority != "") & nameable & (s.pred != majority))
    wrong = wrong[np.argsort(-s.conf[wrong], kind="stable")]
    split_idx = np.flatnonzero(agreement < split)
    split_idx = split_idx[np.argsort(agreement[split_idx], kind="stable")]
    hard, weighted, rows_w, cols = _confusions(s)
    return ListenerReport(
        variant=variant, n_items=int(len(s.rows)), n_without=s.n_without, classes=s.classes, restricted=restrict,
        bands=band_rows, jsd_mean=jsd_mean, jsd_ci=jsd_ci, cross_entropy_mean=ce_mean, cross_entropy_ci=ce_ci,
        n_distribution=int(known.sum()), spearman_confidence_agreement=rho, spearman_ci=rho_ci,
        agree_threshold=float(agree), split_threshold=float(split),
        listeners_agree_model_wrong=_listed(s, jsd, wrong[:top]), listeners_split=_listed(s, jsd, split_idx[:top]),
        confusion_hard=hard.tolist(), confusion_votes=None if soft_reason or not weighted.any() else weighted.tolist(),
        confusion_rows=rows_w, confusion_cols=cols, notes=s.notes, n_agree_model_wrong=int(len(wrong)),
        n_split=int(len(split_idx)), soft_labels_reason=soft_reason, uniform_reference=reference,
        interval_units=units,
        checks=uniform_checks(reference, (jsd_mean, jsd_ci), (ce_mean, ce_ci)) + rho_check(rho, rho_ci, len(s.rows))
        + rho_defined_check(rho, s.conf, s.agreement, draws)
        + single_rater_check(s.listeners["n_raters"].to_numpy(float), wrong, band_rows[-1]["band"] if band_rows else "[.., 1]"),
    )


def _soft_figures(s: _Scored, jsd: np.ndarray, ce: np.ndarray, jsd_u: np.ndarray, interval) -> tuple:
    """The divergences' means with intervals, the uniform reference, rho with its interval, and what each interval
    resampled: clips of a speaker are not independent, so every interval resamples the speakers of its items where
    they are known (:func:`~workbench.analysis.stats.speaker_resampling`), else items, as before."""
    speakers = s.rows["speaker"].to_numpy() if "speaker" in s.rows.columns else np.full(len(s.rows), "", dtype=object)
    clusters, unit = speaker_resampling(speakers)
    rho, undefined = _spearman(s.conf, s.agreement), []

    def counted_rho(a, b):  # the resamples without a rho are left out of its interval: counted, to be said
        undefined.append(np.isnan(r := _spearman(a, b)))
        return r

    rho_ci = tuple(interval(counted_rho, s.conf, s.agreement, clusters=clusters)) if len(s.rows) >= 3 else NO_CI
    return (mean_ci(jsd, interval, speakers), mean_ci(ce, interval, speakers),
            uniform_reference(jsd, jsd_u, ce, len(s.dist_keys), interval, speakers),
            (rho, rho_ci, (len(undefined) - int(sum(undefined)), len(undefined))),
            {"divergences": speaker_resampling(speakers[~np.isnan(jsd)])[1], "spearman": unit})


def votes_fix(rf: Any) -> str:
    """The fix for a run whose items carry no listener judgements: the commands that attach them to its manifest,
    score that manifest again and read the listeners of the new run (a bare "run again" named no command)."""
    manifest = str((rf.config or {}).get("manifest") or "MANIFEST")
    model = rf.model().model or "MODEL"
    # "(with this run's --variants file)" named a file an experiment's run never had: its experiment.yaml has its variants
    score = (f"score it as this run was scored: a copy of {shell_command(str(rf.path / EXPERIMENT_FILE))} with `manifest: VOTED.csv`, "
             f"run as `{shell_command('workbench', 'run', 'COPY.yaml', '--out', 'NEW_RUN')}`" if len(rf.variants()) > 1 else
             f"score it with `{shell_command('workbench', 'run', 'VOTED.csv', '--model', model, '--out', 'NEW_RUN')}`")
    # --votes (every format but `manifest` needs it) and a head's --model (else votes count over the nine classes)
    head = ("--model", model) if tuple(rf.labels(rf.results())) != LABEL_KEYS else ()
    note = "; --model (generic and manifest only) counts them over the run model's own classes" if head else ""
    attach = shell_command("workbench", "datasets", "import-votes", manifest, "--format", "FORMAT", "--votes", "VOTES",
                           *head, "--out", "VOTED.csv")
    return (f"attach them to the run's manifest with `{attach}` (FORMAT: {', '.join(VOTE_FILE_FORMATS)}, and VOTES "
            "the corpus's votes file or folder; or `--format manifest` without --votes for the manifest's own "
            f"rater_labels or votes_<class> columns{note}; or a corpus loader that reads "
            f"them), {score}, then run `workbench listeners NEW_RUN`.")


def run_listeners(run_dir, *, restrict: bool = False, bands: Sequence[float] = DEFAULT_BANDS, agree: float = 0.75,
                  split: float = 0.5, n_boot: int = 1000, seed: int = 0, out=None) -> dict[str, ListenerReport]:
    """Listener metrics for every variant of a run; writes ``listeners.json`` through the run folder (or the folder ``out``).

    Raises :class:`ConfigError` when the run's items carry no listener columns (attach them to the manifest
    first: ``workbench datasets import-votes``, or a corpus loader that reads them).

    Parameters
    ----------
    run_dir
        A run folder (path or :class:`~workbench.runs.folder.RunFolder`).
    restrict, bands, agree, split, n_boot, seed
        As :func:`evaluate_listeners`.

    Returns
    -------
    dict of str to ListenerReport
        One report per variant, in the run's order.

    Examples
    --------
    Four demo clips, each with three listeners' labels (two heard the intended emotion, one neutral),
    attached to the manifest before the run (the tiny checkpoint's predictions mean nothing):

    >>> import csv
    >>> from workbench.data.listeners import attach, records_from_manifest
    >>> from workbench.data.manifest import Item, Manifest
    >>> with open(wb.DEMO_DATA / "manifest.csv", encoding="utf-8") as f:
    ...     clips = [r for r in csv.DictReader(f) if r["label"] in ("angry", "happy", "sad")][:4]
    >>> manifest = Manifest([Item(id=r["id"], path=str(wb.DEMO_DATA / r["path"]), label=r["label"], emotion=r["label"],
    ...                           meta={"rater_labels": f"{r['label']};{r['label']};neutral"}) for r in clips])
    >>> attach(manifest, records_from_manifest(manifest)).n_attached
    4
    >>> _ = wb.run(manifest, out_dir="runs/voted", model="tiny")
    >>> reports = wb.run_listeners("runs/voted", n_boot=0)
    >>> [(variant, rep.n_items, [b["n"] for b in rep.bands]) for variant, rep in reports.items()]
    [('raw', 4, [0, 4, 0])]
    >>> os.path.isfile("runs/voted/listeners.json")
    True
    """
    rf = as_run_folder(run_dir)
    df = rf.results()
    if not listener_frame(df)["agreement"].notna().any():
        raise ConfigError("the run's items carry no listener judgements (no agreement / votes_<key> in the manifest).",
                          source=str(rf.path),
                          fix=votes_fix(rf))
    reports = {v: evaluate_listeners(df, variant=v, restrict=restrict, bands=bands, agree=agree, split=split, n_boot=n_boot, seed=seed)
               for v in dict.fromkeys(df["variant"].astype(str))}
    for r in reports.values():
        r.training_overlap = run_training_overlap(rf)
    payload = {"random_weights": bool(rf.random_weights), "variants": {v: json_safe(r.to_dict()) for v, r in reports.items()}}
    output_folder(rf, out).write_json(LISTENERS_FILE, payload)
    return reports
