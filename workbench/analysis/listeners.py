"""Metrics of a run against its listeners: which errors are the model's and which the corpus's.

Reads the listener columns that :mod:`workbench.data.listeners` attaches to
a manifest (they travel into the results table through ``meta``):

* **accuracy and UAR per agreement band** (share of listeners agreeing with
  the majority), each with the run's seeded percentile bootstrap interval
  (:func:`workbench.analysis.metrics.bootstrap_ci`): a model that fails only where
  listeners disagree is failing where the label itself is uncertain;
* **Jensen–Shannon divergence** (base 2, so in [0, 1]: scipy's
  ``jensenshannon`` distance squared) and **cross-entropy** ``−Σ_k v_k log p_k``
  (nats; ``p`` clipped at 1e-12) between the listeners' vote distribution
  ``v`` and the model's scores ``p`` — over the nine classes, or with
  ``restrict`` over the corpus's classes, both renormalised;
* **Spearman's ρ** of the model's confidence with listener agreement, with a
  bootstrap interval over items;
* two lists: *listeners agree, model wrong* (agreement ≥ ``agree`` and the
  model's top label differs from the listeners' majority: the model's own
  errors, most confident first) and *listeners split* (agreement < ``split``:
  ambiguous items not to blame on the model);
* a **vote-weighted confusion matrix** (row = what listeners heard, each item
  adding its vote distribution to its predicted column) beside the hard one
  (row = the corpus label).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from workbench.data.listeners import corpus_listener_facts, listener_frame, VOTE_COLUMNS
from workbench.errors import ConfigError
from workbench.files import json_safe
from workbench.labels import LABEL_KEYS
from workbench.analysis.groups import small_group_reason, zero_width_note
from workbench.analysis.metrics import bootstrap_ci, confusion, headline, output_folder
from workbench.runs.folder import as_run_folder, pick_variant, select_rows

#: what `workbench listeners` writes into a run folder
LISTENERS_FILE = "listeners.json"
from workbench.schema import score_columns, score_labels

#: default agreement band edges: [0, 0.5), [0.5, 0.75), [0.75, 1]
DEFAULT_BANDS = (0.5, 0.75)
EPS = 1e-12


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence (base 2, in [0, 1]) of each row of ``p`` with the same row of ``q``.

    ``p``, ``q``: ``(n, k)`` non-negative rows (normalised here).  scipy's
    ``jensenshannon`` returns the JS *distance*, the square root of the divergence.
    """
    from scipy.spatial.distance import jensenshannon

    p, q = np.atleast_2d(np.asarray(p, float)), np.atleast_2d(np.asarray(q, float))
    return np.asarray(jensenshannon(p, q, axis=1, base=2), dtype=float) ** 2


def cross_entropy(votes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``−Σ_k v_k log p_k`` per row (nats): ``votes`` ``(n, k)`` a distribution, ``scores`` ``(n, k)`` renormalised, clipped at 1e-12."""
    v = np.atleast_2d(np.asarray(votes, float))
    p = np.atleast_2d(np.asarray(scores, float))
    p = np.clip(p / p.sum(axis=1, keepdims=True), EPS, None)
    return -(v * np.log(p)).sum(axis=1)


def _spearman(a, b) -> float:
    """Spearman's rho: Pearson's r of the average ranks (scipy's ``rankdata``), equal to ``spearmanr`` (tested)
    without its per-call checks, which dominated a 1000-resample bootstrap; NaN when either side is constant."""
    from scipy.stats import rankdata

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


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

    def to_dict(self) -> dict:
        return self.__dict__.copy()

    def render(self, top: int = 5) -> str:
        f = lambda x: "n/a" if x is None or x != x else f"{x:.3f}"  # noqa: E731
        lines = [f"variant {self.variant}: {self.n_items} items with listener judgements ({self.n_without} without)"
                 + ("  [scores restricted to the corpus's classes]" if self.restricted else "")]
        for b in self.bands:
            head = f"  agreement {b['band']:<12} n={b['n']:<5}"
            if not b["n"]:
                lines.append(f"{head} {b.get('empty_reason') or 'empty'}")
            elif b.get("too_small"):
                lines.append(f"{head} accuracy — UAR —  [too small: {b['too_small_reason']}]")
            else:
                lines.append(f"{head} accuracy {f(b['accuracy'])} [{f(b['accuracy_ci'][0])}, {f(b['accuracy_ci'][1])}]"
                             f"  UAR {f(b['uar'])} [{f(b['uar_ci'][0])}, {f(b['uar_ci'][1])}]"
                             + (f"  [{b['note']}]" if b.get("note") else ""))
        if self.soft_labels_reason:
            lines.append(f"  Jensen-Shannon divergence n/a, cross-entropy n/a, vote-weighted confusion n/a: {self.soft_labels_reason}")
        else:
            lines.append(f"  Jensen-Shannon divergence {f(self.jsd_mean)} [{f(self.jsd_ci[0])}, {f(self.jsd_ci[1])}], "
                         f"cross-entropy {f(self.cross_entropy_mean)} nats [{f(self.cross_entropy_ci[0])}, {f(self.cross_entropy_ci[1])}] "
                         f"over {self.n_distribution} items with a vote distribution")
        lines.append(f"  Spearman rho(confidence, agreement) {f(self.spearman_confidence_agreement)} "
                     f"[{f(self.spearman_ci[0])}, {f(self.spearman_ci[1])}]")
        shown = self.listeners_agree_model_wrong[:top]
        lines.append(f"  listeners agree (>= {self.agree_threshold:g}), model wrong: {self.n_agree_model_wrong} items"
                     + (f" (showing {len(shown)} of {self.n_agree_model_wrong})" if len(shown) < self.n_agree_model_wrong else "")
                     + "".join(f"\n    {r['id']}: listeners {r['listener_majority']} ({f(r['agreement'])} of {r['n_raters']:g}), "
                               f"model {r['pred']} ({f(r['confidence'])})" for r in shown))
        lines.append(f"  listeners split (< {self.split_threshold:g}): {self.n_split} items")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _band_names(edges: Sequence[float]) -> list[tuple[float, float, str]]:
    e = [0.0, *edges, 1.0]
    out = []
    for i in range(len(e) - 1):
        hi_closed = i == len(e) - 2
        out.append((e[i], e[i + 1], f"[{e[i]:g}, {e[i + 1]:g}{']' if hi_closed else ')'}"))
    return out


def evaluate_listeners(results, *, variant: str | None = None, restrict: bool = False, bands: Sequence[float] = DEFAULT_BANDS,
                       agree: float = 0.75, split: float = 0.5, n_boot: int = 1000, seed: int = 0, top: int = 50) -> ListenerReport:
    """Metrics of one variant of a results table against its listener columns.

    Parameters
    ----------
    results
        A results DataFrame (``results.parquet``) whose ``meta`` (or flat
        columns) hold ``votes_<key>``, ``n_raters``, ``agreement``, ``listener_majority``.
    restrict
        Compare distributions over the corpus's classes only (those of the
        ``emotion`` column), model scores renormalised over them; the argmax is
        taken over them too, as ``workbench metrics --restrict`` does.
    bands
        Inner edges of the agreement bands, increasing, inside (0, 1).
    agree, split
        Agreement at or above ``agree`` counts as *listeners agree*; below ``split`` as *listeners split*.
    top
        How many rows each list keeps.
    """
    for name, v in (("agree", agree), ("split", split)):
        if not (isinstance(v, (int, float)) and 0 < v <= 1):
            raise ConfigError(f"{name}={v!r} is not a share of listeners in (0, 1].", fix=f"pass e.g. {name}=0.75.")
    edges = list(bands)
    if any(not (0 < b < 1) for b in edges) or edges != sorted(set(edges)):
        raise ConfigError(f"bands={edges} must be increasing shares strictly between 0 and 1.", fix="pass e.g. 0.5 0.75.")
    if not isinstance(top, int) or top < 0:
        raise ConfigError(f"top={top!r} is not a count >= 0.", fix="pass e.g. 50.")
    if not isinstance(n_boot, int) or n_boot < 0:
        raise ConfigError(f"n_boot={n_boot!r} is not a count >= 0.", fix="pass e.g. 1000 (0: no intervals).")
    no_ci = (float("nan"), float("nan"))

    def interval(fn, a, b):
        """The run's percentile bootstrap (workbench.analysis.metrics.bootstrap_ci); no interval for n_boot=0."""
        return bootstrap_ci(fn, a, b, n=n_boot, seed=seed) if n_boot else (no_ci if not isinstance(fn(a, b), tuple) else [no_ci] * len(fn(a, b)))
    df = results
    variant = pick_variant(df, variant)
    ok = select_rows(df, variant, "ok")
    lf = listener_frame(ok)
    has = lf["agreement"].notna().to_numpy()
    sc, lf = ok[has], lf[has]
    notes: list[str] = []
    emotion = sc["emotion"].fillna("").astype(str).to_numpy()
    labels = score_labels(ok)  # the model's classes: the nine, or a fine-tuned head's own
    classes = [c for c in labels if c in set(emotion)]
    if not classes:  # no corpus labels: the classes listeners used
        classes = [c for c in labels if c in LABEL_KEYS and (lf[f"votes_{c}"].fillna(0) > 0).any()]
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
    # listeners vote over the nine emotion2vec+ classes: a head with other labels is compared on the classes both have
    voted = [k for k in dist_keys if k in LABEL_KEYS]
    if len(voted) < len(dist_keys):
        notes.append(f"listeners voted over the nine emotion2vec+ classes; the model's {', '.join(k for k in dist_keys if k not in voted)} "
                     f"{'has' if len(dist_keys) - len(voted) == 1 else 'have'} no vote column, so the divergences use the "
                     f"{len(voted)} classes both share" + (" (none: no divergences)" if not voted else ""))
    dist_keys = voted
    agreement = lf["agreement"].to_numpy(float)
    majority = lf["listener_majority"].to_numpy(str)

    # accuracy and UAR per agreement band, against the corpus label
    import sklearn

    band_rows = []
    labelled = emotion != ""
    t_all, p_all = emotion, pred
    # labels as integer codes, checked once: scikit-learn's string handling and per-call validation are most of a
    # bootstrap's time (as in workbench.analysis.metrics.evaluate; 7442 items x 1000 resamples went from 225 s to a few s)
    vocabulary, codes = np.unique(np.concatenate([t_all, p_all]).astype(str), return_inverse=True)
    t_codes, p_codes = codes[: len(t_all)], codes[len(t_all):]
    stats = headline([int(np.searchsorted(vocabulary, c)) for c in classes])
    facts = corpus_listener_facts(sc)
    lowest = float(np.nanmin(agreement[labelled])) if labelled.any() else float("nan")
    for lo, hi, name in _band_names(edges):
        in_band = labelled & (agreement >= lo) & ((agreement <= hi) if hi == 1.0 else (agreement < hi))
        t, p = t_codes[in_band], p_codes[in_band]
        if len(t):
            with sklearn.config_context(skip_parameter_validation=True):
                wa_v, uar_v, _ = stats(t, p)
                ci = interval(stats, t, p)
            acc_ci, uar_ci = tuple(ci[0]), tuple(ci[1])
        else:
            wa_v = uar_v = float("nan")
            acc_ci = uar_ci = (float("nan"), float("nan"))
        counts = {c: int(np.sum(t_all[in_band] == c)) for c in classes}
        reason = small_group_reason(counts) if len(t) else ""
        flat = [what for what, (a, b) in (("accuracy", acc_ci), ("UAR", uar_ci)) if zero_width_note(a, b, len(t))]
        empty = ""
        if not len(t):
            floor = facts.get("agreement_floor")
            if floor is not None and hi <= floor:
                empty = f"empty by design: {facts['floor_reason']}"
            else:
                empty = (f"empty: no labelled item has agreement in {name}" + (f" (the lowest is {lowest:.3f})" if lowest == lowest else ""))
        band_rows.append({"band": name, "lo": lo, "hi": hi, "n": int(len(t)), "accuracy": wa_v, "accuracy_ci": acc_ci,
                          "uar": uar_v, "uar_ci": uar_ci, "classes_present": sorted(set(t_all[in_band].tolist())),
                          # the one "too small" rule of workbench.analysis.groups, as metrics applies it to groups
                          "too_small": bool(reason), "too_small_reason": reason, "empty_reason": empty,
                          "note": (f"zero-width interval ({', '.join(flat)}) from {len(t)} item(s): resampling cannot vary it"
                                   if flat else "")})
    if labelled.sum() < len(labelled):
        corpus_labels = (sc["label"].fillna("").astype(str).to_numpy() if "label" in sc.columns else np.full(len(sc), ""))
        unmapped = corpus_labels[~labelled]
        named = {k: int(v) for k, v in zip(*np.unique(unmapped[unmapped != ""], return_counts=True))}
        if named:
            notes.append(f"{sum(named.values())} items whose corpus label is not one of the model's classes "
                         f"({', '.join(f'{k} {v}' for k, v in named.items())}) are left out of the bands")
        if (unmapped == "").sum():
            notes.append(f"{int((unmapped == '').sum())} items without a corpus label are left out of the bands")

    # distributions
    votes = lf[[f"votes_{k}" for k in dist_keys]].to_numpy(float)
    vsum = votes.sum(axis=1)
    known = ~np.isnan(votes).any(axis=1) & (vsum > 0)
    model = scores[:, [labels.index(k) for k in dist_keys]] if len(sc) else np.zeros((0, len(dist_keys)))
    msum = model.sum(axis=1) if len(model) else np.zeros(0)
    known &= msum > 0
    jsd = np.full(len(sc), np.nan)
    ce = np.full(len(sc), np.nan)
    if known.any():
        v = votes[known] / vsum[known, None]
        jsd[known] = js_divergence(v, model[known])
        ce[known] = cross_entropy(v, model[known])
    n_unknown = int((~known).sum())
    soft_reason = ""
    if not known.any():
        soft_reason = facts.get("distribution_reason") or (
            f"none of the {len(sc)} items carries votes for every class{' of the corpus' if restrict else ''}, so there is no "
            "vote distribution to compare with")
    elif n_unknown:
        notes.append(f"{n_unknown} items have no full vote distribution{' over the corpus classes' if restrict else ''} "
                     "(e.g. EmoDB gives only the intended class's share) and are left out of the divergences")

    def mean_ci(x):
        x = x[~np.isnan(x)]
        if not len(x):
            return float("nan"), (float("nan"), float("nan"))
        lo_hi = interval(lambda a, _b: float(np.mean(a)), x, x)
        return float(np.mean(x)), tuple(lo_hi)

    jsd_mean, jsd_ci = mean_ci(jsd)
    ce_mean, ce_ci = mean_ci(ce)
    rho = _spearman(conf, agreement)
    rho_ci = tuple(interval(_spearman, conf, agreement)) if len(sc) >= 3 else no_ci

    # the two lists
    ids = sc["id"].astype(str).to_numpy()

    def row(i) -> dict[str, Any]:
        return {"id": ids[i], "emotion": emotion[i], "listener_majority": majority[i], "agreement": float(agreement[i]),
                "n_raters": float(lf["n_raters"].iloc[i]), "pred": str(pred[i]), "confidence": float(conf[i]),
                "jsd": float(jsd[i]), "path": str(sc["path"].iloc[i]) if "path" in sc.columns else ""}

    wrong = np.flatnonzero((agreement >= agree) & (majority != "") & (pred != majority))
    wrong = wrong[np.argsort(-conf[wrong], kind="stable")]
    split_idx = np.flatnonzero(agreement < split)
    split_idx = split_idx[np.argsort(agreement[split_idx], kind="stable")]

    # confusions
    n_wrong, n_split = int(len(wrong)), int(len(split_idx))
    cols = classes + [c for c in labels if c not in classes and c in set(pred.tolist())]
    hard = confusion(t_all[labelled], p_all[labelled], classes, cols) if labelled.any() else np.zeros((len(classes), len(cols)), int)
    rows_w = list(dict.fromkeys(classes + [k for k in LABEL_KEYS if (lf[f"votes_{k}"].fillna(0) > 0).any()]))
    weighted = np.zeros((len(rows_w), len(cols)))
    full = lf[list(VOTE_COLUMNS)].to_numpy(float)
    col_index = {c: j for j, c in enumerate(cols)}
    for i in range(len(sc)):
        vr = full[i]
        if np.isnan(vr).any() or vr.sum() <= 0 or pred[i] not in col_index:
            continue
        share = vr / vr.sum()
        for r, k in enumerate(rows_w):
            if k in LABEL_KEYS:  # a class listeners had no vote for (a fine-tuned head's own) keeps an empty row
                weighted[r, col_index[pred[i]]] += share[LABEL_KEYS.index(k)]
    return ListenerReport(
        variant=variant, n_items=int(len(sc)), n_without=int((~has).sum()), classes=classes, restricted=restrict,
        bands=band_rows, jsd_mean=jsd_mean, jsd_ci=jsd_ci, cross_entropy_mean=ce_mean, cross_entropy_ci=ce_ci,
        n_distribution=int(known.sum()), spearman_confidence_agreement=rho, spearman_ci=rho_ci,
        agree_threshold=float(agree), split_threshold=float(split),
        listeners_agree_model_wrong=[row(i) for i in wrong[:top]], listeners_split=[row(i) for i in split_idx[:top]],
        confusion_hard=hard.tolist(), confusion_votes=None if soft_reason or not weighted.any() else weighted.tolist(), confusion_rows=rows_w,
        confusion_cols=cols, notes=notes, n_agree_model_wrong=n_wrong, n_split=n_split, soft_labels_reason=soft_reason,
    )


def agree_wrong_frame(results, **kwargs):
    """The *listeners agree, model wrong* rows as a DataFrame (for widgets and reports); kwargs as :func:`evaluate_listeners`."""
    import pandas as pd

    rep = evaluate_listeners(results, **kwargs)
    return pd.DataFrame(rep.listeners_agree_model_wrong,
                        columns=["id", "emotion", "listener_majority", "agreement", "n_raters", "pred", "confidence", "jsd", "path"])


def run_listeners(run_dir, *, restrict: bool = False, bands: Sequence[float] = DEFAULT_BANDS, agree: float = 0.75,
                  split: float = 0.5, n_boot: int = 1000, seed: int = 0, out=None) -> dict[str, ListenerReport]:
    """Listener metrics for every variant of a run; writes ``listeners.json`` through the run folder (or the folder ``out``).

    Raises :class:`ConfigError` when the run's items carry no listener columns.
    """
    rf = as_run_folder(run_dir)
    df = rf.results()
    if not listener_frame(df)["agreement"].notna().any():
        raise ConfigError("the run's items carry no listener judgements (no agreement / votes_<key> in the manifest).",
                          source=str(rf.path),
                          fix="attach them with `workbench datasets import-votes` (or a corpus loader that reads them) and run again.")
    reports = {v: evaluate_listeners(df, variant=v, restrict=restrict, bands=bands, agree=agree, split=split, n_boot=n_boot, seed=seed)
               for v in dict.fromkeys(df["variant"].astype(str))}
    payload = {"random_weights": bool(rf.random_weights), "variants": {v: json_safe(r.to_dict()) for v, r in reports.items()}}
    output_folder(rf, out).write_json(LISTENERS_FILE, payload)
    return reports
