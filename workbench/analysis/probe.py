"""Probe protocols: a classifier on a run's frozen utterance embeddings, under published folds.

Papers and benchmarks (EmoBox, SUPERB) report emotion2vec-style models by
training a small classifier on frozen utterance embeddings and testing it on
held-out speakers.  :func:`probe_run` does that on a run folder, so a user with
the real weights can set their numbers beside the published ones:

* the classifier: a logistic regression on standardised embeddings with
  balanced class weights (:func:`workbench.analysis.fusion.linear_probe`), or with
  ``mlp=True`` a small MLP (scikit-learn ``MLPClassifier``, one hidden layer);
* the folds (``scheme``):

  ``speaker``  k-fold grouped by speaker (:func:`workbench.analysis.fusion.grouped_folds`,
               the splitter fusion uses): no speaker on both sides of a fold;
  ``session``  leave-one-session-out (IEMOCAP's five sessions), the session
               taken from ``meta.session``, a ``SessionN`` split or a
               ``SesNN`` id prefix;
  ``emobox``   the folds ``datasets import-emobox`` recorded in ``meta.folds``
               (``{fold: "train" | "test"}``), one probe per fold;
  ``split``    the manifest's ``split`` column: ``train`` against ``test``, by each value's role
               (:func:`workbench.schema.split_role`: MSP-Podcast's ``Train`` is train, ``Development``
               and ESD's ``evaluation`` dev, left out); several numbered test sets (``Test1``, ``Test2``) are one fold each,
               never pooled, and the mean row averages them; a set's spellings (``Test1``, ``Test 1``:
               :func:`workbench.schema.split_key`) are one fold, named as first written;

* the target: ``emotion`` (the nine-class counterpart) or ``label`` (the
  corpus's own label, so classes the nine-class head lacks — EmoDB's boredom,
  RAVDESS's calm — can be probed);
* the metrics, per fold and as EmoBox reports them (the mean over folds): WA,
  UAR and macro-F1 (:mod:`workbench.analysis.metrics`), with seeded percentile
  bootstrap intervals — per fold and for the mean (every fold's test side resampled at once, then averaged) over
  the test sides' speakers where the manifest has them (:mod:`workbench.analysis.probe_intervals`: grouped folds
  keep a speaker out of training, but a speaker's test clips are still not independent), else over test items.

Failed rows, rows without the target and rows without a speaker / session /
fold are excluded and counted.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.files import json_safe
from workbench.errors import ConfigError, html_text, html_visible
from workbench.data.cards import adapted_blocks, run_training_overlap
from workbench.analysis.fusion import embedded_rows, grouped_folds, linear_probe
from workbench.analysis.groups import FIGURE_NAMES, chance_flag, few_items_note, majority_baseline, majority_flag, zero_width_note
from workbench.schema import CORPUS_SPLIT_ROLES, score_labels, split_key, split_role, text_values
from workbench.analysis.interval_rule import unit_phrase
from workbench.analysis.probe_intervals import _metrics, fold_bootstrap, fold_intervals, interval as _interval, unit_words
from workbench.labels import LABEL_KEYS
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.runs.folder import RunFolder, as_run_folder, atomic_write, select_rows
from workbench.data.corpora import LABEL_NAMES
from workbench.files import json_default
from workbench.serialize import loads_json, spreadsheet_safe

SCHEMES = ("speaker", "session", "emobox", "split")
TARGETS = ("emotion", "label")
METRICS = ("wa", "uar", "macro_f1")
PROBE_JSON, FOLDS_CSV, ITEMS_CSV = "probe.json", "probe_folds.csv", "probe_items.csv"
_SESSION_SPLIT = re.compile(r"^session\s*_?(\d+)$", re.IGNORECASE)
_SESSION_ID = re.compile(r"^Ses(\d{2})")


# ---------------------------------------------------------------------------
# folds
# ---------------------------------------------------------------------------
def _meta(row_meta: Any) -> dict:
    if isinstance(row_meta, dict):
        return row_meta
    if isinstance(row_meta, str) and row_meta.strip():
        try:
            value = loads_json(row_meta)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def session_of(item_id: str, split: str = "", meta: Any = None) -> str:
    """An item's recording session: ``meta.session``, else a ``SessionN`` split, else a ``SesNN`` id prefix; "" if none."""
    m = _meta(meta)
    if m.get("session") not in (None, ""):
        return str(m["session"])
    hit = _SESSION_SPLIT.match(str(split or "").strip())
    if hit:
        return f"Session{int(hit.group(1))}"
    hit = _SESSION_ID.match(str(item_id))
    if hit:
        return f"Session{int(hit.group(1))}"
    return ""


@dataclass
class Fold:
    name: str
    train: np.ndarray  # row indices
    test: np.ndarray


def assign_folds(rows, scheme: str, *, k: int = 5) -> tuple[list[Fold], dict[str, list[str]]]:
    """Folds of ``rows`` (a results DataFrame, index 0..n-1) under ``scheme``; and the ids left out, by reason.

    Rows left out of every fold (no speaker, no session, no EmoBox fold, a split
    that is neither train nor test) are returned in the second value.
    """
    n = len(rows)
    ids = rows["id"].astype(str).to_numpy()

    def col(name: str) -> np.ndarray:
        return text_values(rows[name]).to_numpy() if name in rows.columns else np.full(n, "", dtype=object)

    excluded: dict[str, list[str]] = {}
    if scheme in ("speaker", "session"):
        if scheme == "speaker":
            groups = col("speaker")
        else:
            split, meta = col("split"), rows["meta"].tolist() if "meta" in rows.columns else [None] * n
            groups = np.array([session_of(i, s, m) for i, s, m in zip(ids, split, meta)], dtype=object)
        has = groups != ""
        if not has.any():
            fix = ("add speakers to the manifest (the corpus loaders do; `workbench manifest FOLDER --speaker-pattern REGEX` for a folder), or use --scheme emobox / split." if scheme == "speaker" else
                   "sessions come from meta.session, a SessionN split or an SesNN id prefix (IEMOCAP); use --scheme speaker otherwise.")
            raise ConfigError(f"no item has a {scheme}, so there are no {scheme}-independent folds.", fix=fix)
        if (~has).any():
            excluded[f"no {scheme}"] = ids[~has].tolist()
        idx = np.flatnonzero(has)
        n_groups = len(set(groups[idx].tolist()))
        if n_groups < 2:
            raise ConfigError(f"{scheme}-independent folds need at least two {scheme}s; the items have {n_groups}.",
                              fix=f"probe a dataset with more {scheme}s, or use --scheme split.")
        splits = grouped_folds(groups[idx], k if scheme == "speaker" else n_groups)
        folds = []
        for f, (tr, te) in enumerate(splits, 1):
            name = str(f) if scheme == "speaker" else ",".join(sorted(set(groups[idx][te].tolist())))
            folds.append(Fold(name, idx[tr], idx[te]))
        if scheme == "session":
            folds.sort(key=lambda fo: fo.name)
        return folds, excluded
    if scheme == "emobox":
        metas = [_meta(m).get("folds") or {} for m in (rows["meta"].tolist() if "meta" in rows.columns else [None] * n)]
        names = sorted({str(f) for m in metas for f in m}, key=lambda f: (not f.isdigit(), int(f) if f.isdigit() else 0, f))
        if not names:
            raise ConfigError("the run's items carry no EmoBox folds (meta.folds).",
                              fix="import the manifest with `workbench datasets import-emobox <dataset>_train_fold_<k>.jsonl "
                                  "<dataset>_test_fold_<k>.jsonl …`, or use --scheme speaker.")
        none = np.array([not m for m in metas])
        if none.any():
            excluded["no EmoBox fold"] = ids[none].tolist()
        folds = []
        for name in names:
            side = np.array([str(m.get(name, m.get(int(name)) if name.isdigit() else "")) for m in metas], dtype=object)
            folds.append(Fold(name, np.flatnonzero(side == "train"), np.flatnonzero(side == "test")))
        return folds, excluded
    if scheme == "split":
        return _split_folds(col("split"), ids, excluded, rows["meta"].tolist() if "meta" in rows.columns else None)
    raise ConfigError(f"unknown fold scheme {scheme!r}; expected one of {', '.join(SCHEMES)}.", fix="pass --scheme speaker, session, emobox or split.")


def _split_values(values) -> str:
    """Distinct split values as a reader can tell them apart: a look-alike letter (Cyrillic 'Т' in 'Тest1') is spelt out
    (``'\\u0422est1'``), an empty value shown as ``''``."""
    return "[" + ", ".join(repr(v) if v.isascii() else ascii(v) for v in sorted(set(str(v).strip() for v in values))) + "]"


def _split_folds(split: np.ndarray, ids: np.ndarray, excluded: dict[str, list[str]],
                 metas: list | None = None) -> tuple[list[Fold], dict[str, list[str]]]:
    """The ``split`` scheme: the train items against each test set (:func:`~workbench.schema.split_role`), one fold per
    test set (``test``, or MSP-Podcast's ``Test1``, ``Test2`` … each on its own); dev and role-less items are left out.
    A value whose role depends on the corpus (ESD's ``evaluation``: dev) takes it from the row's ``meta.corpus``, read
    for those rows only."""
    by_corpus = {name for names in CORPUS_SPLIT_ROLES.values() for name in names}
    roles = np.array([split_role(v, _meta(metas[i]).get("corpus", "") if metas is not None and str(v).strip().lower() in by_corpus
                                 else "") for i, v in enumerate(split)], dtype=object)
    train = np.flatnonzero(roles == "train")
    tests: dict[str, str] = {}  # the test set's key ("Test 1" and "Test1" are one set) → its first spelling (the fold's name)
    for v in split[roles == "test"]:
        tests.setdefault(split_key(v), str(v).strip())
    if not len(train) or not tests:
        present = _split_values(set(str(v).strip() for v in split) - {""})
        raise ConfigError(f"the manifest's split column has {len(train)} train and {int((roles == 'test').sum())} test items; "
                          f"both are needed (its values: {present or 'all empty'}).",
                          fix="fill the split column with train/test (a corpus's own names such as MSP-Podcast's Train/Test1 "
                              "are read too), or use --scheme speaker (or session, emobox).")
    if (roles == "dev").any():
        excluded["a dev split (held out: the probe trains on train, tests on test)"] = ids[roles == "dev"].tolist()
    if (roles == "").any():
        excluded[f"a split that is neither train, dev nor test ({_split_values(split[roles == ''])})"] = ids[roles == ""].tolist()
    keys = np.array([split_key(v) for v in split], dtype=object)
    order = sorted(tests, key=lambda key: (len(key), key))  # test2 before test10: the numbers in their order
    # each fold is named by its test set as first written, a single one too ("split" did not say which set was tested)
    return [Fold(tests[key], train, np.flatnonzero((roles == "test") & (keys == key))) for key in order], excluded


# ---------------------------------------------------------------------------
# data and classifier
# ---------------------------------------------------------------------------
@dataclass
class ProbeData:
    rows: Any  # DataFrame of the probed rows, index 0..n-1
    x: np.ndarray  # (n, D) frozen utterance embeddings
    y: np.ndarray  # (n,) target labels
    classes: list[str]
    target: str
    variant: str
    excluded: dict = field(default_factory=dict)  # reason → ids


def probe_data(run_dir: str | Path | RunFolder, *, variant: str | None = None, target: str = "emotion") -> ProbeData:
    """The embedded, finished rows of one variant of a run that have the target; the rest counted by reason."""
    if target not in TARGETS:
        raise ConfigError(f"unknown probe target {target!r}; expected 'emotion' or 'label'.", fix="pass --target emotion or --target label.")
    rf = as_run_folder(run_dir)
    results = rf.results()
    rows, x = embedded_rows(rf, variant=variant)
    variant = variant or str(results["variant"].iloc[0])
    of_variant = results[results["variant"].astype(str) == variant]
    excluded: dict[str, list[str]] = {}
    failed = select_rows(of_variant, status="failed")["id"].astype(str).tolist()
    kept = set(rows["id"].astype(str))
    no_emb = [i for i in select_rows(of_variant)["id"].astype(str) if i not in kept]
    if failed:
        excluded["failed"] = failed
    if no_emb:
        excluded["no embedding"] = no_emb
    y_all = text_values(rows[target]).str.strip().to_numpy() if target in rows.columns else np.full(len(rows), "", dtype=object)
    if target == "label" and "meta" in rows.columns:  # a corpus's codes (EmoDB's letters) shown as its class names
        corpora = [_meta(m).get("corpus") for m in rows["meta"]]
        y_all = np.array([LABEL_NAMES.get(c, {}).get(v, v) if isinstance(c, str) else v for c, v in zip(corpora, y_all)], dtype=object)
    has = y_all != ""
    if (~has).any():
        why = " (label with no emotion2vec+ counterpart)" if list(score_labels(results)) == list(LABEL_KEYS) else \
            " (unlabelled, or a label that is none of the fine-tuned head's classes)"  # a head's run: its classes, not the nine
        excluded[f"no {target}" + (why if target == "emotion" else "")] = rows.loc[~has, "id"].astype(str).tolist()
    rows, x, y = rows[has].reset_index(drop=True), x[has], y_all[has].astype(str)
    present = set(y.tolist())
    labels = score_labels(results)  # the run's model's classes: the nine, or a fine-tuned head's own
    classes = [c for c in labels if c in present] + sorted(present - set(labels)) if target == "emotion" else sorted(present)
    if len(classes) < 2:
        have = f"every row with a {target!r} value has {classes[0]!r}" if classes else f"no row has a {target!r} value"
        raise ConfigError(f"a probe needs at least two classes; {have}.", source=str(rf.path),  # not 'a emotion have []'
                          fix="probe a dataset with more classes" + (", or --target label for the corpus's own labels." if target == "emotion" else "."))
    return ProbeData(rows, x, y, classes, target, variant, excluded)


def probe_classifier(*, mlp: bool = False, seed: int = 0, C: float = 1.0):
    """The probe: fusion's standardised, balanced logistic regression, or a one-hidden-layer MLP on standardised inputs."""
    if not mlp:
        return linear_probe(C)
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(256,), alpha=1e-3, max_iter=300, random_state=seed))


# ---------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------
@dataclass
class ProbeResult:
    run_dir: str
    scheme: str
    target: str
    classifier: str
    variant: str
    classes: list[str]
    n_items: int
    folds: list[dict]  # per fold: sizes, groups, metrics and intervals
    mean: dict  # EmoBox style: each metric averaged over folds, with its interval
    predictions: Any  # DataFrame: fold, id, speaker, target, pred
    excluded: dict
    random_weights: bool = False
    skipped: dict = field(default_factory=dict)  # fold → why it was not evaluated
    #: the run's speakers trained the encoder blocks that made its embeddings (:func:`encoder_overlap`), said first
    training_overlap: list[str] = field(default_factory=list)

    @property
    def chance_uar(self) -> float:
        return 1.0 / len(self.classes)

    def to_dict(self) -> dict:
        return json_safe({
            "run_dir": self.run_dir, "scheme": self.scheme, "target": self.target, "classifier": self.classifier, "variant": self.variant,
            "classes": self.classes, "n_items": self.n_items, "chance_uar": self.chance_uar, "folds": self.folds, "mean_over_folds": self.mean,
            "excluded": {k: {"count": len(v), "ids": v[:50]} for k, v in self.excluded.items()}, "skipped_folds": self.skipped,
            "ci_unit": self.interval_words(),  # what the intervals resample (each fold's and the mean's: their ci_unit)
            "fold_notes": self.notes(),  # the !! lines under the folds and the mean on screen, the ⚠ lines of the page
            "warning": RANDOM_WEIGHTS_BANNER if self.random_weights else None, "training_overlap": self.training_overlap,
        })

    def interval_words(self) -> str:
        """What the intervals resample, as the screen, probe.json and the page say it: the mean's unit (every fold's test
        speakers, or items); a fold whose own unit differs says so in its notes."""
        return "intervals: " + unit_words(self.mean.get("ci_unit"))

    def table(self):
        """Per-fold rows and the mean, as a DataFrame (what ``probe_folds.csv`` holds)."""
        import pandas as pd

        rows = []
        for f in self.folds + [{"fold": "mean", **self.mean}]:
            r = {k: f.get(k) for k in ("fold", "n_train", "n_test", "train_groups", "test_groups", "groups_on_both_sides")}
            for m in METRICS:
                r[m], (r[f"{m}_lo"], r[f"{m}_hi"]) = f[m], f[f"{m}_ci"]
            r["ci_unit"] = (f.get("ci_unit") or {}).get("short", "items")
            rows.append(r)
        df = pd.DataFrame(rows)
        for c in ("n_train", "n_test", "train_groups", "test_groups", "groups_on_both_sides"):
            df[c] = df[c].astype("Int64")
        return df

    def _display_table(self):
        """:meth:`table` for a page: each figure beside its interval (as the screen prints it), counts as plain text
        ("" for the mean row; the nullable counts printed "<NA>")."""
        import pandas as pd

        names = {"wa": "WA", "uar": "UAR", "macro_f1": "macro-F1"}
        heads = {"n_train": "train", "n_test": "test", "train_groups": "train groups", "test_groups": "test groups",
                 "groups_on_both_sides": "groups on both sides"}
        rows = []
        for _, r in self.table().iterrows():
            row = {"fold": str(r["fold"]), **{h: "" if pd.isna(r[c]) else str(int(r[c])) for c, h in heads.items()}}
            for m in METRICS:
                v, lo, hi = r[m], r[f"{m}_lo"], r[f"{m}_hi"]
                row[f"{names[m]} [95% CI]"] = "n/a" if pd.isna(v) else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
            rows.append(row)
        return pd.DataFrame(rows)

    def render(self) -> str:
        lines = ([f"!! {RANDOM_WEIGHTS_BANNER}"] if self.random_weights else []) + [f"!! {w}" for w in self.training_overlap]
        lines.append(f"{self.classifier} probe on {self.run_dir} [{self.variant}], target {self.target}, {self.scheme} folds: "
                     f"{self.n_items} items, {len(self.classes)} classes ({', '.join(self.classes)}), chance UAR {self.chance_uar:.3f}")
        lines.append(f"  {self.interval_words()}")
        for reason, ids in self.excluded.items():
            lines.append(f"  excluded: {len(ids)} item(s) with {reason}")
        for name, why in self.skipped.items():
            lines.append(f"  fold {name} not evaluated: {why}")
        lines.append(f"  {'fold':<12} {'train':>6} {'test':>6}  {'WA [95% CI]':<22} {'UAR [95% CI]':<22} {'macro-F1 [95% CI]':<22}")
        for f in self.folds + [{"fold": "mean", "n_train": "", "n_test": "", **self.mean}]:
            cells = "".join(f"{f[m]:.3f} [{f[m + '_ci'][0]:.3f}, {f[m + '_ci'][1]:.3f}]".ljust(23) for m in METRICS)
            lines.append(f"  {str(f['fold'])[:12]:<12} {f['n_train']!s:>6} {f['n_test']!s:>6}  {cells}")
            if f.get("groups_on_both_sides"):
                lines.append(f"    !! {f['groups_on_both_sides']} speaker(s) on both sides of fold {f['fold']}")
            lines += [f"    !! {note}" for note in self.fold_notes(f)]
        return "\n".join(lines)

    def notes(self) -> list[str]:
        """Every fold's notes, then the mean's: the one list the screen, probe.json and a report's page show."""
        return [note for f in self.folds + [{"fold": "mean", **self.mean}] for note in self.fold_notes(f)]

    def fold_notes(self, f: dict) -> list[str]:
        """What makes a fold's figures not comparable with the others' (classes its test set lacks or its training side
        lacks) and the checks of its intervals: reaching chance, no width, too few items to trust."""
        notes, cl = [], f.get("test_classes") or []
        # the check metrics applies to every UAR: an interval that reaches chance (its own: the fold's test classes)
        chance = 1 / len(cl) if cl else (self.chance_uar if len(self.classes) > 1 else None)
        flag = chance_flag(*(f.get("uar_ci") or (np.nan, np.nan)), chance)
        where = "the mean over folds" if f["fold"] == "mean" else f"fold {f['fold']}"
        if flag:
            notes.append(f"{where}: UAR {f['uar']:.3f} [{f['uar_ci'][0]:.3f}, {f['uar_ci'][1]:.3f}] {flag} (chance {chance:.3f})")
        wa_flag = self._majority_note(f)  # WA's own baseline, which UAR's chance is not: always the largest class
        if wa_flag:
            notes.append(f"{where}: WA {f['wa']:.3f} [{f['wa_ci'][0]:.3f}, {f['wa_ci'][1]:.3f}] {wa_flag}")
        n = sum(int(g["n_test"]) for g in self.folds) if f["fold"] == "mean" else int(f.get("n_test") or 0)
        # metrics' checks of an interval: one with no width shows no uncertainty, one from few items undercovers
        notes += [f"{where}: {FIGURE_NAMES[m]} {f[m]:.3f}: {zero_width_note(*f[m + '_ci'], n)}" for m in METRICS
                  if zero_width_note(*f[m + "_ci"], n)]
        unit = f.get("ci_unit") or {}
        if unit.get("note") and (f["fold"] == "mean" or unit != self.mean.get("ci_unit")):
            notes.append(f"{where}: intervals {unit_phrase(unit)}: {unit['note']}")
        elif f["fold"] != "mean" and unit.get("unit") != (self.mean.get("ci_unit") or {}).get("unit"):
            notes.append(f"{where}: intervals {unit_phrase(unit)}")
        if f["fold"] != "mean" and few_items_note(n):
            notes.append(f"{where}: {few_items_note(n)}")
        if cl and len(cl) < len(self.classes):
            notes.append(f"fold {f['fold']}: UAR over {len(cl)} of {len(self.classes)} classes (its test items have no "
                         f"{', '.join(c for c in self.classes if c not in cl)}), so its chance level is {1 / len(cl):.3f}, not {self.chance_uar:.3f}")
        if f.get("untrained_test_classes"):
            notes.append(f"fold {f['fold']}: its training side has no {', '.join(f['untrained_test_classes'])}, which its test "
                         "items have: the probe cannot predict them, so their recall is 0 by construction")
        return notes

    @staticmethod
    def _majority_note(f: dict) -> str:
        """A fold's WA interval that does not clear the WA of always answering its test items' largest class; for the
        mean over folds, the mean of those baselines."""
        lo, hi = f.get("wa_ci") or (np.nan, np.nan)
        if f["fold"] != "mean":
            return majority_flag(lo, hi, f.get("test_counts") or {})
        share = f.get("majority_wa")
        if share is None or not (lo == lo and hi == hi) or lo > share:
            return ""
        return (f"{'BELOW' if hi < share else 'AT'} THE MAJORITY BASELINE: "
                f"{'the interval lies under' if hi < share else 'the interval reaches'} {share:.3f}, the mean over folds of "
                "the WA of always answering each fold's largest class")

    def html(self, *, in_report: bool = False) -> str:
        """The result as an HTML fragment; every id, label and fold name is escaped.  ``in_report``: a report page
        carries the random-weights banner at its top already, so the fragment names it in one line, not a second banner."""
        parts = []
        if self.random_weights and in_report:
            parts.append("<p><b>⚠ random weights:</b> this run's model is a seeded random checkpoint; the probe's figures mean nothing.</p>")
        elif self.random_weights:
            parts.append(f"<blockquote><b>⚠ {html_text(RANDOM_WEIGHTS_BANNER)}</b></blockquote>")
        parts += [f"<p><b>⚠ {html_text(w)}</b></p>" for w in self.training_overlap]
        parts.append(f"<p>{html_text(self.classifier)} probe, target <code>{html_text(self.target)}</code>, "
                     f"<b>{html_text(self.scheme)}</b> folds, variant <code>{html_text(self.variant)}</code>: {self.n_items} items, "
                     f"classes {html_text(', '.join(self.classes))}; chance UAR {self.chance_uar:.3f}.</p>")
        parts.append(f"<p>{html_text(self.interval_words())}</p>")
        parts.append(self._display_table().to_html(index=False, escape=True))
        for reason, ids in self.excluded.items():
            parts.append(f"<p>excluded: {len(ids)} item(s) with {html_text(reason)}</p>")
        for name, why in self.skipped.items():
            parts.append(f"<p>fold {html_text(str(name))} not evaluated: {html_text(why)}</p>")
        parts.append(self._notes_html())
        return html_visible("\n".join(parts))  # the table's cells: to_html escapes markup only

    def _notes_html(self) -> str:
        """The notes as one flagged list, grouped under their fold (a bold ⚠ paragraph each made a wall of some twenty
        lines a run, the same four checks again for every fold, on the checkpoint comparison's page)."""
        notes, at = self.notes(), {}  # a note's words -> the folds that have them, in order
        for note in notes:
            where, _, what = note.partition(": ")
            at.setdefault(what, []).append(where)
        groups: dict[tuple, list[str]] = {}  # the same words in several folds said once, under all of them (walk14)
        for what, wheres in at.items():
            groups.setdefault(tuple(dict.fromkeys(wheres)), []).append(what)
        if not groups:
            return ""
        name = lambda ws: ws[0] if len(ws) == 1 else f"{', '.join(ws[:-1])} and {ws[-1]}"  # noqa: E731
        items = "".join(f"<li><b>{html_text(name(wheres))}</b><ul>{''.join(f'<li>{html_text(w)}</li>' for w in whats)}</ul></li>"
                        for wheres, whats in groups.items())
        return (f"<p><b>⚠ {len(notes)} check(s) of the figures above flagged</b> (each fold's, then the mean's; one "
                f"flagged alike in several folds is listed once under them):</p><ul class=\"probe-notes\">{items}</ul>")


def evaluate_probe(data: ProbeData, scheme: str = "speaker", *, k: int = 5, mlp: bool = False, n_boot: int = 1000, seed: int = 0,
                   run_dir: str = "", random_weights: bool = False) -> ProbeResult:
    """Train and test the probe on every fold of ``scheme``; metrics per fold and the mean over folds."""
    import pandas as pd

    folds, excluded = assign_folds(data.rows, scheme, k=k)
    excluded = {**data.excluded, **excluded}
    speakers = text_values(data.rows["speaker"]).to_numpy() if "speaker" in data.rows.columns else np.full(len(data.y), "")
    fold_rows, truth, preds, fold_classes, pred_frames, skipped = [], [], [], [], [], {}
    for fold in folds:
        ytr = data.y[fold.train]
        if len(fold.test) == 0 or len(set(ytr.tolist())) < 2:
            skipped[fold.name] = "no test items" if len(fold.test) == 0 else f"the training side has {len(set(ytr.tolist()))} class(es)"
            continue
        clf = probe_classifier(mlp=mlp, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's convergence chatter stays off the user's screen
            clf.fit(data.x[fold.train], ytr)
            pred = np.asarray(clf.predict(data.x[fold.test])).astype(str)
        t = data.y[fold.test]
        cl = [c for c in data.classes if c in set(t.tolist())]
        truth.append(t)
        preds.append(pred)
        fold_classes.append(cl)
        tr_spk, te_spk = set(speakers[fold.train].tolist()) - {""}, set(speakers[fold.test].tolist()) - {""}
        fold_rows.append({"fold": fold.name, "n_train": int(len(fold.train)), "n_test": int(len(fold.test)),
                          "train_groups": len(tr_spk), "test_groups": len(te_spk), "groups_on_both_sides": len(tr_spk & te_spk),
                          # the fold's UAR averages over its test classes; one the training side lacks is never predicted
                          "test_classes": cl, "untrained_test_classes": [c for c in cl if c not in set(ytr.tolist())],
                          "test_counts": {c: int(np.sum(t == c)) for c in cl},  # WA's baseline: always the largest of them
                          **dict(zip(METRICS, _metrics(t, pred, cl)))})
        pred_frames.append(pd.DataFrame({"fold": fold.name, "id": data.rows["id"].astype(str).to_numpy()[fold.test],
                                         "speaker": speakers[fold.test], "target": t, "pred": pred}))
    if not fold_rows:
        raise ConfigError(f"no fold could be evaluated ({'; '.join(f'{k_}: {v}' for k_, v in skipped.items())}).",
                          source=run_dir or None, fix="check the folds and labels of the manifest.")
    fold_cis, mean_ci = fold_intervals(truth, preds, fold_classes, [f["speaker"].to_numpy() for f in pred_frames], METRICS,
                                       n=n_boot, seed=seed)
    for row, cis in zip(fold_rows, fold_cis):
        row.update(cis)
    shares = [b[1] / b[2] for r in fold_rows if (b := majority_baseline(r["test_counts"]))]
    mean = {"n_folds": len(fold_rows), "majority_wa": float(np.mean(shares)) if len(shares) == len(fold_rows) else None}
    for m, name in enumerate(METRICS):
        mean[name] = float(np.mean([r[name] for r in fold_rows]))
    mean.update(mean_ci)
    predictions = pd.concat(pred_frames, ignore_index=True)
    return ProbeResult(run_dir, scheme, data.target, "MLP (256 hidden units)" if mlp else "logistic regression", data.variant, data.classes,
                       int(len(data.y)), fold_rows, mean, predictions, excluded, random_weights, skipped)


def encoder_overlap(rf: RunFolder) -> list[str]:
    """Warnings that the run's speakers (or corpus) trained the encoder its embeddings come from: a fine-tune that adapted
    encoder blocks (``--unfreeze K``, its card's ``training.unfreeze``); [] for a head-only one, whose embeddings are its
    parent's (a probe on them is as held-out as on the parent's run)."""
    k = adapted_blocks(rf)
    return [f"{w} (it adapted {k} encoder block(s): the embeddings this probe reads were trained on them)"
            for w in run_training_overlap(rf)] if k else []


def probe_run(run_dir: str | Path | RunFolder, *, scheme: str = "speaker", folds: int | str = 5, target: str = "emotion",
              mlp: bool = False, variant: str | None = None, n_boot: int = 1000, seed: int = 0, out: str | Path | None = None,
              k: int | None = None) -> ProbeResult:
    """Probe a run's embeddings under ``scheme``; with ``out``, write ``probe.json``, ``probe_folds.csv`` and ``probe_items.csv`` there.

    ``out`` must not lie inside the run folder (it belongs to its run).

    Parameters
    ----------
    run_dir : str, Path or RunFolder
        A finished run folder with utterance embeddings.
    scheme : {"speaker", "session", "emobox", "split"}
        The fold scheme (the CLI's ``--scheme``): speaker k-fold, IEMOCAP sessions, EmoBox's folds or the manifest's split.
    folds : int
        Folds of the speaker scheme (the CLI's ``--folds``), capped at the number of speakers.  A scheme's name here
        (the spelling before the CLI grammar was unified) is still read as ``scheme``, with a DeprecationWarning.
    k : int, optional
        Deprecated spelling of ``folds``.
    target : {"emotion", "label"}
        The nine-class counterpart, or the corpus's own label.
    mlp : bool
        A small MLP instead of the logistic regression.
    variant : str or None
        The variant whose embeddings to probe (default: the run's first).
    n_boot : int
        Bootstrap resamples of the intervals.
    seed : int
        Seed of the MLP and the bootstrap.
    out : str, Path or None
        Folder for ``probe.json`` and the tables (default: nothing written).

    Returns
    -------
    ProbeResult
        Per-fold and mean WA, UAR and macro-F1 with intervals, and the out-of-fold predictions.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> res = wb.probe_run(run_dir, scheme="speaker", folds=2, n_boot=20)
    >>> len(res.table()) >= 2
    True
    """
    scheme, folds = _fold_options(scheme, folds, k)
    rf = as_run_folder(run_dir)
    if out is not None:
        o = Path(out).resolve()
        if o == rf.path.resolve() or rf.path.resolve() in o.parents:
            raise ConfigError("the probe's folder lies inside the run folder.", source=str(out),
                              fix="pass --out with a folder outside the run folder (default: a new folder under runs/).")
    data = probe_data(rf, variant=variant, target=target)
    res = evaluate_probe(data, scheme, k=folds, mlp=mlp, n_boot=n_boot, seed=seed, run_dir=str(rf.path.resolve()), random_weights=rf.random_weights)
    res.training_overlap = encoder_overlap(rf)
    if out is not None:
        o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(res.to_dict(), indent=2, ensure_ascii=False, default=json_default)
        atomic_write(o / PROBE_JSON, lambda f: f.write(payload), text=True)
        atomic_write(o / FOLDS_CSV, lambda f: spreadsheet_safe(res.table()).to_csv(f, index=False), text=True)
        atomic_write(o / ITEMS_CSV, lambda f: spreadsheet_safe(res.predictions).to_csv(f, index=False), text=True)
    return res


def _fold_options(scheme: str, folds: int | str, k: int | None) -> tuple[str, int]:
    """``(scheme, folds)`` from the unified keywords, reading the old ones (``folds="speaker"``, ``k=4``) with a warning."""
    if isinstance(folds, str):
        warnings.warn(f"probe_run(folds={folds!r}) names a scheme: write scheme={folds!r} (folds is the number of folds).",
                      DeprecationWarning, stacklevel=3)
        scheme, folds = folds, 5
    if k is not None:
        warnings.warn(f"probe_run(k={k}) is now folds={k}.", DeprecationWarning, stacklevel=3)
        folds = k
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ConfigError(f"folds must be a whole number of 2 or more, given {folds!r}.", source="folds",
                          fix="pass folds=5 (speaker folds); choose the scheme with scheme=.")
    return scheme, int(folds)


def probe_section(run_dir: str | Path | RunFolder, **kwargs) -> tuple[str, dict | None]:
    """For reports: ``(HTML fragment, result dict)`` of :func:`probe_run`, or why it could not run and ``None``."""
    try:
        res = probe_run(run_dir, **kwargs)
    except ConfigError as exc:
        return f"<p>Probe not evaluated: {html_text(str(exc))}</p>", None
    return res.html(in_report=True), res.to_dict()
