"""Compare runs of one manifest (other checkpoints, precisions or engines) row by row.

Rows pair by (item id, variant) after :func:`check_comparable`; each run is compared with the first one by the
statistics of :mod:`workbench.analysis.compare.variants`, plus how much the runs agree
(:func:`workbench.model.agreement.agreement`; see :mod:`workbench.analysis.compare` for the definitions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.data.cards import prefixed, run_training_overlap
from workbench.errors import ConfigError, ModelError, html_text, html_visible, printable_table
from workbench.files import json_default, json_safe
from workbench.analysis.metrics import Report, evaluate
from workbench.analysis.stats import kappa_interval, resamples_kept, speaker_resampling, thin_note, top1_interval
from workbench.labels import RANDOM_WEIGHTS_BANNER
from workbench.model.agreement import agreement, item_distances, row_cosines
from workbench.model.checkpoints import read_training_card
from workbench.runs.folder import RunFolder, as_run_folder, atomic_write, select_mask
from workbench.schema import score_labels, text_values
from workbench.serialize import YAML_MAX_BYTES, loads_json, read_bytes_capped, spreadsheet_safe

from workbench.analysis.compare.classes import DISJOINT_NA, kappa_note, label_sets_note, per_class_note, per_class_table
from workbench.analysis.compare.figures import _distance, _fmt, plot_runs_comparison
from workbench.analysis.compare.items import FLIPS_SHOWN, disagreement_html, disagreement_lines, flips_html
from workbench.analysis.compare.variants import (Comparison, _compare_pair, _scores_over_union, corresponding_classes, family_html, family_line, flags_text,
                                                 flags_words, mcnemar_family, metric_flags, metrics_text, paired_top, shown_truth, NO_PAIRED_WORDS, OVERLAP_CAVEAT)

# the files a comparison of runs writes (names fixed here, never taken from ids or variants)
COMPARISON_JSON, AGREEMENT_CSV, FLIPS_CSV, ITEMS_CSV, RUNS_FIGURE = (
    "comparison.json", "agreement.csv", "flips.csv", "disagreements.csv", "comparison.png")


# ---------------------------------------------------------------------------
# between runs
# ---------------------------------------------------------------------------
def embeddings_comparable(run_a: dict, run_b: dict) -> str:
    """``""`` when two runs (:func:`describe_run`) used the same checkpoint, so their embeddings share a space; else why not.

    The same checkpoint: equal weight checksums, or, where a checksum is missing, the same model id/folder.  The same
    encoder is enough: a head-only fine-tune (its training card: ``unfreeze`` 0) kept its parent's encoder unchanged, so
    its embeddings are its parent's (``encoder_checksum``).
    """
    ca = run_a.get("weights_checksum") or run_a.get("checksum") or ""
    cb = run_b.get("weights_checksum") or run_b.get("checksum") or ""
    if ca and cb:
        same = ca == cb
    else:
        same = bool(run_a.get("checkpoint")) and run_a.get("checkpoint") == run_b.get("checkpoint")
    ea, eb = run_a.get("encoder_checksum") or ca, run_b.get("encoder_checksum") or cb
    if same or (ea and ea == eb):
        return ""
    return (f"runs {run_a.get('name', '?')} and {run_b.get('name', '?')} used different checkpoints "
            f"({run_a.get('model')} {ca or 'no checksum'} / {run_b.get('model')} {cb or 'no checksum'}): their embeddings live in "
            "unrelated spaces, so a cosine between them means nothing")


def _run_letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"R{i + 1}"


def describe_run(rf: RunFolder) -> dict:
    """What scored a run: folder, model, checkpoint checksum, device, dtype, engine, manifest."""
    m = rf.model_ref
    cfg = rf.config
    return {
        "run_dir": str(rf.path.resolve()), "model": m.get("id") or cfg.get("model"), "checkpoint": m.get("path") or cfg.get("model"),
        "checksum": (m.get("checksum") or "")[:16], "device": m.get("device") or cfg.get("device"),
        "dtype": m.get("dtype") or cfg.get("dtype"), "engine": "ray" if str(cfg.get("device") or "").startswith("ray:") else "local",
        "manifest": cfg.get("manifest"), "random_weights": rf.random_weights,
        "weights_checksum": _weights_checksum(m),
        "encoder_checksum": _encoder_checksum(m),
    }


def _encoder_checksum(model: dict) -> str:
    """The checksum of the checkpoint whose encoder made a run's embeddings: for a head-only fine-tune (its training
    card says ``mode`` head, ``unfreeze`` 0: only ``proj`` was replaced) its parent's, followed up a chain of them;
    otherwise the run's own weights' (:func:`_weights_checksum`)."""
    checksum, path = _weights_checksum(model), model.get("path")
    for _ in range(16):  # a chain of head-only fine-tunes, bounded (a card naming itself as parent ends nowhere)
        try:
            card = read_training_card(path) if path and model.get("kind") != "onnx" else None
        except ModelError:  # an unreadable card says nothing about the encoder: the weights' own checksum stands
            card = None
        training, parent = (card or {}).get("training") or {}, (card or {}).get("parent") or {}
        if not (training.get("mode") == "head" and not training.get("unfreeze") and parent.get("checksum_sha256")):
            break
        checksum, path = str(parent["checksum_sha256"])[:16], parent.get("path")
    return checksum


def _weights_checksum(model: dict) -> str:
    """The checksum of the weights a run used: an ONNX export records its graph's, and the source checkpoint's in its
    ``model.json`` (so a run on the exported graph and one on the checkpoint are recognised as the same weights)."""
    if model.get("kind") == "onnx" and model.get("path"):
        try:
            meta = loads_json(read_bytes_capped(Path(model["path"]) / "model.json", max_bytes=YAML_MAX_BYTES, what="model.json", decompress=False))
            return str(meta.get("source_checksum_sha256") or "")[:16] or (model.get("checksum") or "")[:16]
        except (OSError, ValueError, AttributeError, ConfigError):
            pass
    return (model.get("checksum") or "")[:16]


def _ids_text(keys: Sequence[tuple[str, str]], limit: int = 10) -> str:
    keys = list(keys)
    shown = ", ".join(f"{i} [{v}]" for i, v in keys[:limit])
    return shown + (f" … and {len(keys) - limit} more" if len(keys) > limit else "")


# column, what it means, whether a missing value on one side is no evidence (a failed row has no audio hash)
_SAME_ITEM_COLUMNS = (("source_sha256", "the audio (source_sha256)", True), ("chain_hash", "the preprocessing (chain_hash)", True),
                      ("start", "the segment start", False), ("duration", "the segment duration", False))


def _same(x, y, missing_ok: bool = True) -> bool:
    xn = x is None or (isinstance(x, float) and x != x)
    yn = y is None or (isinstance(y, float) and y != y)
    if xn or yn:
        # a hash missing on one side is no evidence; a segment bound missing on one side is another segment (the whole file)
        return True if missing_ok else xn == yn
    if isinstance(x, (float, int, np.floating, np.integer)) and isinstance(y, (float, int, np.floating, np.integer)):
        return bool(np.isclose(float(x), float(y), rtol=0, atol=1e-9))
    return str(x) == str(y)


def check_comparable(runs: Sequence[RunFolder], variants: Sequence[str]) -> None:
    """Refuse (ConfigError) unless every run has the same rows and scored the same audio, row by row.

    The intake settings that shape the audio (target rate, resampler, its
    quality, mixdown) must match the first run's; rows are ``(id, variant)`` of
    ``variants``; per row the audio hash, the variant's chain hash and the
    segment must match the first run's.
    """
    base = runs[0]
    # the audio settings that change what the model hears (limits and timeouts only refuse inputs)
    shaping = ("target_sr", "resampler", "soxr_quality", "mixdown")
    ref_audio = {k: getattr(base.audio_config(), k, None) for k in shaping}
    for rf in runs[1:]:
        other = {k: getattr(rf.audio_config(), k, None) for k in shaping}
        differ = {k: (ref_audio[k], other[k]) for k in shaping if ref_audio[k] != other[k]}
        if differ:
            what = ", ".join(f"{k} {a!r} ≠ {b!r}" for k, (a, b) in differ.items())
            raise ConfigError(f"the run scored its audio with other intake settings than {base.path} ({what}).", source=str(rf.path),
                              fix="compare runs made with the same audio settings; to compare resamplers or mixdowns, "
                                  "make them variants of one run.")
    ref = base.results()
    ref = ref[ref["variant"].astype(str).isin(variants)].set_index(["id", "variant"])
    ref_keys = set(ref.index)
    for rf in runs[1:]:
        res = rf.results()
        res = res[res["variant"].astype(str).isin(variants)].set_index(["id", "variant"])
        keys = set(res.index)
        missing, extra = sorted(ref_keys - keys), sorted(keys - ref_keys)
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"{len(missing)} row(s) of {base.path} are not in it ({_ids_text(missing)})")
            if extra:
                parts.append(f"it has {len(extra)} row(s) that {base.path} lacks ({_ids_text(extra)})")
            raise ConfigError(f"the runs do not cover the same items: {'; '.join(parts)}.", source=str(rf.path),
                              fix="compare runs made from the same manifest and variants (finish or re-run the shorter one).")
        common = sorted(ref_keys)
        a, b = ref.loc[common], res.loc[common]
        for col, what, missing_ok in _SAME_ITEM_COLUMNS:
            if col not in a.columns or col not in b.columns:
                continue
            differ = [k for k, x, y in zip(common, a[col].tolist(), b[col].tolist()) if not _same(x, y, missing_ok)]
            if differ:
                raise ConfigError(f"{len(differ)} row(s) differ from {base.path} in {what}: {_ids_text(differ)}.", source=str(rf.path),
                                  fix="compare runs of the same audio files and variants; re-run one of them on the other's manifest.")


@dataclass
class RunsComparison:
    """Runs of one manifest compared row by row (see :func:`compare_runs`)."""

    runs: list[dict]  # describe_run() of each run, plus its letter ("name")
    variants: list[str]
    reports: dict[str, dict[str, Report]]  # run name → variant → metrics
    comparisons: list[Comparison]  # each run against the first, per variant
    agreement: Any  # DataFrame: one row per (run pair, variant)
    flips: Any  # DataFrame: items whose label changed against the first run
    items: Any  # DataFrame: every paired row of every run pair, ranked by TVD within a pair
    excluded: dict = field(default_factory=dict)  # "A/B [variant]" → ids failed in either run
    restricted: bool = False
    unpaired_variants: dict = field(default_factory=dict)  # run name → its variants not in every run (not compared, said)

    @property
    def random_weights(self) -> bool:
        return any(r.get("random_weights") for r in self.runs)

    @property
    def training_overlap(self) -> list:
        """Every run's training-data warnings, each after its run's name: what a figure of the comparison is marked with
        (``comparison.png``, and the report page's, which went out without it)."""
        return [prefixed(w, f"run {r['name']}: ") for r in self.runs for w in r.get("training_overlap") or []]

    def _overlaps(self, name: str) -> bool:
        return any(r["name"] == name and r.get("training_overlap") for r in self.runs)

    def disagreements(self, n: int = 10, *, pair: tuple[str, str] | None = None):
        """The ``n`` rows of each run pair (and variant) where the two runs disagree most (largest TVD > 0: none for identical runs)."""
        df = self.items[(self.items["tvd"] > 0) | self.items["tvd"].isna()] if len(self.items) else self.items  # NaN: no class in common
        if pair is not None:
            df = df[(df["run_a"] == pair[0]) & (df["run_b"] == pair[1])]
        return df.groupby(["run_a", "run_b", "variant"], sort=False, group_keys=False).head(n).reset_index(drop=True)

    def to_dict(self) -> dict:
        return json_safe({
            "runs": self.runs, "variants": self.variants, "restricted": self.restricted, "unpaired_variants": self.unpaired_variants,
            "warning": RANDOM_WEIGHTS_BANNER if self.random_weights else None,
            "metrics": {name: {v: {**{k: getattr(r, k) for k in ("n_scored", "n_failed", "wa", "uar", "macro_f1", "ci", "ece")},
                                   "flags": metric_flags(r)}
                               for v, r in by_v.items()} for name, by_v in self.reports.items()},
            "comparisons": [c.to_dict() for c in self.comparisons], "mcnemar_family": self.mcnemar_family(),
            "agreement": self.agreement.to_dict(orient="records"),
            "excluded": {k: {"count": len(v), "ids": v[:50]} for k, v in self.excluded.items()},
            "per_class": {v: self.per_class(v).to_dict(orient="records") for v in self.variants},
            "n_flips": int((text_values(self.flips["emotion"]) != "").sum()) if len(self.flips) else 0,
            "n_flips_unlabelled": int((text_values(self.flips["emotion"]) == "").sum()) if len(self.flips) else 0,
        })

    def mcnemar_family(self) -> dict:
        """The McNemar tests of every later run against the first, over every variant: a family (Bonferroni's bound named)."""
        return mcnemar_family(self.comparisons, of="run and variant")

    def per_class(self, variant: str | None = None):
        """Recall per class of each run (before/after for a checkpoint and its fine-tuned head), one row per class, each
        later run's Δ recall against the first beside its exact McNemar test (:func:`~workbench.analysis.compare.classes.per_class_table`).

        Classes are the union of the runs' classes (a fine-tuned head's boredom beside the parent's nine); a class of a
        later run that is one of the first run's by another name on the same items (``Comparison.class_pairs``: a head's
        anger, its parent's angry) shares its row, named ``angry → anger``; a class a run does not score shows as missing
        there.
        """
        variant = variant or self.variants[0]
        pairs = {c.variant: c.class_pairs for c in self.comparisons if c.scope == variant}  # run → {its class: the first run's}
        return per_class_table(self.reports, self.items, variant, pairs)

    def render(self, top: int = 5) -> str:
        lines = []
        if self.random_weights:
            lines.append(f"!! {RANDOM_WEIGHTS_BANNER}")
        for r in self.runs:
            lines += [f"!! run {r['name']}: {w}" for w in r.get("training_overlap") or []]
        for r in self.runs:
            enc = r.get("encoder_checksum")
            lines.append(f"{r['name']}: {r['run_dir']}  model {r['model']} ({r['checksum']}) {r['device']} {r['dtype']} [{r['engine']}]"
                         + (f"  encoder {enc} (a head-only fine-tune: its parent's encoder, unchanged)"
                            if enc and enc != (r.get("weights_checksum") or r["checksum"]) else ""))
        if self.unpaired_variants:  # compared on the shared variants only: the others are named, never dropped unsaid
            lines.append("!! not compared (not in every run): " + "; ".join(f"{n}: {', '.join(v)}" for n, v in self.unpaired_variants.items()))
        if self.restricted:
            lines.append("every label below (accuracy, McNemar, flips, kappa, agreement) is the argmax over the corpus's classes")
        for name, by_v in self.reports.items():
            mark = " [corpus in this checkpoint's training data]" if self._overlaps(name) else ""
            for v, rep in by_v.items():
                lines.append(f"  {name}{mark} [{v}]: {metrics_text(rep)}  ({rep.n_scored} scored, {rep.n_failed} failed)"
                             + flags_text(metric_flags(rep)))
        for c in self.comparisons:
            lines.append(c.render())
        if family := self.mcnemar_family():  # several p-values: one under 0.05 by chance is expected, said beside them
            lines.append(family_line(family))
        for v, table in ((v, self.per_class(v)) for v in self.variants):  # no class when no run scored (no labels): said
            lines.append(f"recall per class [{v}] (before → after; —: the run's model has no such class or no item of it):\n"
                         + printable_table(table, text_left=True, index=False, float_format=lambda x: f"{x:.3f}", na_rep="—")  # "NaN:" named no cell
                         + (f"\n  {per_class_note(table)}" if per_class_note(table) else "") if len(table) else
                         f"recall per class [{v}]: none, no run scored an item (no item has a label among its model's classes)")
        for rec in self.agreement.to_dict(orient="records"):
            cos = "n/a" if rec["cosine_min"] is None or rec["cosine_min"] != rec["cosine_min"] else f"{rec['cosine_min']:.4f}/{rec['cosine_mean']:.4f}"
            if cos == "n/a" and rec.get("cosine_note"):
                cos += f" ({rec['cosine_note']})"
            if rec.get("label_sets_note"):
                lines.append(f"!! {rec['run_b']} vs {rec['run_a']} [{rec['variant']}] ({rec['n']} items): kappa, top-1 agreement, label flips "
                             f"and score distances n/a: {rec['label_sets_note']}; embedding cosine min/mean {cos}")
                continue
            lines.append(f"{rec['run_b']} vs {rec['run_a']} [{rec['variant']}] ({rec['n']} items): kappa {_ci_text(rec['kappa'], (rec['kappa_lo'], rec['kappa_hi']))}{_why(rec.get('kappa_note'))}, "
                         f"top-1 agreement {_ci_text(rec['top1_agreement'], (rec['top1_agreement_lo'], rec['top1_agreement_hi']))} ({rec['n_label_flips']} label flips"
                         f"{'; intervals ' + rec['interval_words'] if rec.get('interval_words') else ''}), "
                         f"max |Δ score| {_distance(rec['max_abs_delta_score'])}, TVD mean {_distance(rec['mean_tvd'])} "
                         f"max {_distance(rec['max_tvd'])}, "
                         f"embedding cosine min/mean {cos}")
            if rec.get("interval_note"):  # too few speakers to resample: the caveat on its own line
                lines.append(f"  !! kappa and top-1 agreement intervals: {rec['interval_note']}")
        for k, ids in self.excluded.items():
            lines.append(f"  excluded from {k}: {len(ids)} row(s) failed in either run")
        if top and len(self.items):  # headed in words, the distances said under it; the files keep the keys
            shown = self.disagreements(top)
            differing = int(self.disagreements(len(self.items)).groupby(["run_a", "run_b", "variant"], sort=False).size().max() or 0) if len(shown) else 0
            lines += disagreement_lines(self.items, shown, differing, top)
        return "\n".join(lines)

    def html(self, top: int = 10, *, title: str | None = None) -> str:
        """The comparison as one HTML fragment; every id, label, path and name is escaped."""
        import pandas as pd

        parts = []
        if self.random_weights:  # wb-banner: a report page that shows it adds no second banner above it
            parts.append(f"<blockquote class='wb-banner'><b>⚠ {html_text(RANDOM_WEIGHTS_BANNER)} Every number below is "
                         "meaningless; it only shows the comparison works.</b></blockquote>")
        if title:
            parts.append(f"<h1>{html_text(title)}</h1>")
        for r in self.runs:
            for w in r.get("training_overlap") or []:
                parts.append(f"<blockquote><b>⚠ run {html_text(str(r['name']))}: {html_text(w)}</b></blockquote>")
        if self.restricted:
            parts.append("<p>Every label below (accuracy, McNemar, flips, kappa, agreement) is the argmax over the corpus's classes.</p>")
        parts.append("<h3>Runs</h3>" + pd.DataFrame(self.runs)[["name", "run_dir", "model", "checksum", "device", "dtype", "engine"]]
                     .to_html(index=False, escape=True))
        rows = []
        for name, by_v in self.reports.items():
            for v, rep in by_v.items():
                rows.append({"run": name + (" ⚠ seen in training" if self._overlaps(name) else ""), "variant": v,
                             "scored": rep.n_scored, "failed": rep.n_failed,
                             "WA [95% CI]": _ci_text(rep.wa, rep.ci["wa"]), "UAR [95% CI]": _ci_text(rep.uar, rep.ci["uar"]),
                             "macro-F1 [95% CI]": _ci_text(rep.macro_f1, rep.ci["macro_f1"]),
                             # a run with no scored item said "ok" beside its n/a figures
                             "checks": f"no metrics: {rep.not_scored}" if rep.not_scored else
                             flags_words(metric_flags(rep), OVERLAP_CAVEAT if self._overlaps(name) else "")})
        parts.append("<h3>Metrics</h3>" + pd.DataFrame(rows).to_html(index=False, escape=True))
        if self.comparisons:
            rows = [{"run": c.variant, "vs": c.baseline, "variant": c.scope, "paired": c.n_paired,
                     "ΔWA [95% CI]": _ci_text(c.delta_wa[0], c.delta_wa[1:], signed=True),
                     "ΔUAR [95% CI]": _ci_text(c.delta_uar[0], c.delta_uar[1:], signed=True),
                     # no paired item: McNemar 0 / 0 with p 1 read as a test that found no difference
                     "McNemar b / c": f"{c.mcnemar_b} / {c.mcnemar_c}" if c.n_paired else "n/a",
                     "p": c.p_cell() if c.n_paired else "n/a",
                     "label flips": "n/a (disjoint label sets)" if c.label_sets_note else c.n_flips,
                     "unlabelled (flips)": f"{c.n_unlabelled} ({'n/a' if c.label_sets_note else c.n_flips_unlabelled})",
                     "checks": flags_words(c.interval_flags(), OVERLAP_CAVEAT if self._overlaps(c.variant) else "") if c.n_paired
                     else f"no paired item: {NO_PAIRED_WORDS}"}
                    for c in self.comparisons]
            parts.append("<h3>Against the first run (paired bootstrap, McNemar: exact, or clustered by speaker where the items have them)</h3>"
                         + pd.DataFrame(rows).to_html(index=False, escape=True) + family_html(self.mcnemar_family()))
        for v in self.variants:
            table = self.per_class(v)  # none when no run scored an item: said, not an empty table
            parts.append(f"<h3>Recall per class [{html_text(str(v))}]: each run against the first</h3>" + (
                         "<p>A class one model does not have (a fine-tuned head's own label, or one of the nine the head dropped) shows "
                         "as —; one that is the first run's under another name on the same items shares its row (angry → anger).</p>"
                         + table.to_html(index=False, escape=True, float_format=lambda x: f"{x:.3f}", na_rep="—")
                         + (f"<p>{html_text(per_class_note(table))}.</p>" if per_class_note(table) else "")
                         if len(table) else "<p>None: no run scored an item (no item has a label among its model's classes).</p>"))
        parts.append("<h3>Agreement</h3>" + _agreement_table(self.agreement).to_html(index=False, escape=True,
                                                                                     float_format=lambda x: f"{x:.3f}", na_rep="n/a"))
        if len(self.flips):
            parts.append(f"<h3>Label flips ({len(self.flips)})</h3>" + flips_html(self.flips, FLIPS_SHOWN))
        if len(self.items) and not len(self.disagreements(top)):
            parts.append("<h3>Most different items</h3><p>None: every paired item has the same scores in both runs (TVD 0).</p>")
        elif len(self.items):
            parts.append(disagreement_html(self.disagreements(top), top))
        for k, ids in self.excluded.items():
            parts.append(f"<p>excluded from {html_text(k)}: {len(ids)} row(s) failed in either run: "
                         f"{html_text(', '.join(map(str, ids[:20])))}{' …' if len(ids) > 20 else ''}</p>")
        parts += [f"<p><b>⚠ not compared</b> (not in every run): run {html_text(n)}'s {html_text(', '.join(v))}</p>"
                  for n, v in self.unpaired_variants.items()]
        return html_visible("\n".join(parts))  # to_html escapes markup only: a run named 'b\u202ea' reversed its row


#: the agreement columns as the report page heads them: words a browser can wrap (``mean_max_abs_delta_score`` could not);
#: a pair's runs are run 1 and run 2, as in the item tables below it ("run a", "run b" read as the runs named A and B)
_AGREEMENT_HEADS = {"run_a": "run 1", "run_b": "run 2", "variant": "variant", "n": "n", "kappa": "kappa",
                    "top1_agreement": "top-1 agreement", "n_label_flips": "label flips", "max_abs_delta_score": "max |Δscore|",
                    "mean_max_abs_delta_score": "mean max |Δscore|", "max_tvd": "max TVD", "mean_tvd": "mean TVD",
                    "cosine_min": "cosine min", "cosine_mean": "cosine mean"}


def _agreement_table(agreement):
    """The agreement table as the report page shows it: 12 short, wrappable heads, and the two notes (why kappa or the
    cosine is n/a) as one ``notes`` column that wraps.  Its 15 columns as stored ran past a 1,200 px page (a scroll bar)."""
    table = agreement.reindex(columns=list(_AGREEMENT_HEADS)).astype({"top1_agreement": object, "kappa": object})
    table["top1_agreement"], table["kappa"] = ([_ci_text(v, (lo, hi)) for v, lo, hi in agreement.reindex(columns=[c, f"{c}_lo", f"{c}_hi"]).itertuples(index=False)] for c in ("top1_agreement", "kappa"))
    table["n_label_flips"] = [x if isinstance(x, (int, np.integer)) else "n/a" for x in table["n_label_flips"]]  # None: disjoint sets
    table[["cosine_min", "cosine_mean"]] = table[["cosine_min", "cosine_mean"]].map(_fmt)  # all None (other checkpoints) printed None
    for col in ("max_abs_delta_score", "mean_max_abs_delta_score", "max_tvd", "mean_tvd"):  # 3e-8 is not 0.000
        table[col] = [_distance(x) for x in table[col]]
    table = table.rename(columns=_AGREEMENT_HEADS)
    notes = text_values(agreement.reindex(columns=["label_sets_note", "kappa_note", "cosine_note", "interval_words", "interval_note"]))
    notes["interval_words"] = ["intervals " + w if w else "" for w in notes["interval_words"]]
    table["notes"] = ["; ".join(n for n in pair if n) for pair in notes.itertuples(index=False)]
    return table


def _why(note) -> str:
    """`` (reason)`` after an n/a figure, or nothing."""
    return f" ({note})" if note else ""


def _ci_text(value, ci, *, signed: bool = False) -> str:
    f = "+.3f" if signed else ".3f"
    if value != value:
        return "n/a"
    return f"{value:{f}} [{ci[0]:{f}}, {ci[1]:{f}}]"


def _check_runs(runs: list[RunFolder], tables: list, variants: Sequence[str] | None) -> list[str]:
    """The variants to pair (``variants``, or every one the runs share), after refusing a run given twice or a variant not shared."""
    if len(runs) < 2:
        raise ConfigError("comparing runs needs at least two run folders.", fix="pass two or more run folders (one folder compares its variants).")
    seen: dict[Path, int] = {}
    for i, rf in enumerate(runs):
        key = rf.path.resolve()
        if key in seen:
            raise ConfigError(f"the same run folder is given twice (positions {seen[key] + 1} and {i + 1}).", source=str(rf.path),
                              fix="pass each run folder once.")
        seen[key] = i
    shared = [v for v in dict.fromkeys(tables[0]["variant"].astype(str)) if all(v in set(t["variant"].astype(str)) for t in tables[1:])]
    if variants:
        unknown = [v for v in variants if v not in shared]
        if unknown:
            raise ConfigError(f"variant(s) {unknown} are not in every run; the runs share {shared}.", fix="pass --variant with one they share.")
        shared = list(variants)
    if not shared:
        raise ConfigError("the runs share no variant.", source=", ".join(str(r.path) for r in runs),
                          fix="compare runs made with the same variants (the default is raw).")
    return shared


def _ok_positions(t) -> dict:
    """Positional index of every finished row of a run: (id, variant) → row number in its results and embeddings."""
    ok = select_mask(t)
    return {(str(i), str(v)): k for k, (i, v, good) in enumerate(zip(t["id"], t["variant"], ok)) if good}


def _pair(i: int, j: int, v: str, *, tables, positions, embs, described, restrict: bool = False, n_boot: int = 1000, seed: int = 0) -> dict:
    """Runs ``i`` and ``j`` on variant ``v``: their paired rows, agreement (with why kappa or the cosine is n/a), items by TVD.

    Kappa, top-1 agreement and the label flips count the labels :func:`_compare_pair` counts (with ``restrict``, the
    argmax over the corpus's classes); the score distances stay over every score."""
    import pandas as pd

    ni, nj = described[i]["name"], described[j]["name"]
    all_keys = [(str(a), str(b)) for a, b in zip(tables[i]["id"], tables[i]["variant"]) if str(b) == v]
    keys = [k for k in all_keys if k in positions[i] and k in positions[j]]
    dropped = [k[0] for k in all_keys if k not in positions[i] or k not in positions[j]]
    ia = np.array([positions[i][k] for k in keys], dtype=np.int64)
    ib = np.array([positions[j][k] for k in keys], dtype=np.int64)
    a, b = tables[i].iloc[ia].set_index("id"), tables[j].iloc[ib].set_index("id")
    top = paired_top(a, b, restrict=restrict)
    pairs = corresponding_classes(top["truth_a"], top["truth_b"])  # a head's anger is its parent's angry: the same label
    sa, sb = _scores_over_union(a, b, rename=pairs)  # and the same column: its score distances count opinions, not names
    ea, eb = np.asarray(embs[i][ia]), np.asarray(embs[j][ib])
    same_dim = ea.ndim == 2 and eb.ndim == 2 and ea.shape[1] == eb.shape[1] and ea.shape[1] > 0
    other_space = embeddings_comparable(described[i], described[j])
    cosine_note = other_space or ("" if same_dim else "the embeddings are missing or have other dimensions")
    same_dim = same_dim and not other_space
    pa, pb = top["pred_a"], np.array([pairs.get(p, p) for p in top["pred_b"]], dtype=object)
    agree = {"run_a": ni, "run_b": nj, "variant": v,
             **agreement(pa, pb, sa, sb, ea if same_dim else None, eb if same_dim else None),
             "kappa_note": kappa_note(pa, pb, score_labels(a), cb := [pairs.get(c, c) for c in score_labels(b)]), "cosine_note": cosine_note,
             "label_sets_note": label_sets_note(score_labels(a), list(dict.fromkeys(cb)), ni, nj)}
    # top-1 agreement beside its exact interval (0.917 of 12 items is [0.615, 0.998]), kappa beside its bootstrap one;
    # with speakers both resample speakers (a speaker's clips agree or disagree together), said beside them
    clusters, unit = speaker_resampling(a)
    kappa = kappa_interval(pa, pb, n=n_boot, seed=seed, clusters=clusters)  # counts its resamples: 0/0 where one label throughout
    agree.update(zip(("top1_agreement_lo", "top1_agreement_hi", "kappa_lo", "kappa_hi"), (*top1_interval(pa, pb, n=n_boot, seed=seed, clusters=clusters), *kappa)))
    # an interval from 120 of 200 resamples, said with the unit's note; none where kappa itself is n/a (one label throughout:
    # "kappa n/a" beside "kappa interval from 0 of 1000 resamples … read it as rough" contradicted it, walk18)
    thin = f"kappa {thin_note(kappa)}" if thin_note(kappa) and agree["kappa"] == agree["kappa"] else ""
    agree.update(interval_unit=unit["short"], interval_words=unit["words"] if unit["unit"] == "speaker" else "", **{f"kappa_resamples_{k}": v for k, v in (resamples_kept(kappa) or {}).items()},
                 interval_note="; ".join(filter(None, (unit["note"] if len(keys) else "", thin))))
    if agree["label_sets_note"]:  # no class in common: these figures follow from the names, not from the models
        agree.update({k: None if k == "n_label_flips" else float("nan") for k in DISJOINT_NA}, kappa_note="")
    mx, tvd = item_distances(sa, sb) if len(keys) else (np.zeros(0), np.zeros(0))
    if agree["label_sets_note"]:  # each item's distance too is the names' (TVD 1): n/a, its rows kept in item order
        mx, tvd = np.full(len(keys), np.nan), np.full(len(keys), np.nan)
    cos = row_cosines(ea, eb) if same_dim and len(keys) else np.full(len(keys), np.nan)
    items = pd.DataFrame({
        "run_a": ni, "run_b": nj, "run_dir_a": described[i]["run_dir"], "run_dir_b": described[j]["run_dir"],
        "id": [k[0] for k in keys], "variant": v, "emotion": np.array(shown_truth(a["emotion"], b["emotion"]), dtype=object),
        "pred_a": pa, "confidence_a": top["conf_a"], "pred_b": top["pred_b"], "confidence_b": top["conf_b"],
        "label_flip": pa != pb, "tvd": tvd, "max_abs_delta": mx, "cosine": cos,
        # each item's speaker: a class's McNemar test is clustered over them (per_class_table)
        "speaker": text_values(a["speaker"]).to_numpy() if "speaker" in a.columns else "",
    })
    return {"a": a, "b": b, "dropped": dropped, "agreement": agree,
            "items": items.sort_values(["tvd", "max_abs_delta"], ascending=False, kind="stable")}


#: the columns of :attr:`RunsComparison.flips`
FLIP_COLUMNS = ["id", "variant", "run_a", "run_b", "emotion", "pred_a", "confidence_a", "pred_b", "confidence_b",
                "fixed", "broke", "findings_a", "findings_b", "path"]


def compare_runs(run_dirs: Sequence[str | Path | RunFolder], *, variants: Sequence[str] | None = None, n_boot: int = 1000,
                 seed: int = 0, restrict: bool = False) -> RunsComparison:
    """Compare runs of the same manifest (other checkpoints, precisions, engines) row by row.

    Rows pair by ``(id, variant)``.  Refuses, listing the ids, when the runs hold other rows or
    scored other audio (see :func:`check_comparable`).  Each run gets metrics
    with intervals per variant; each later run is compared with the first (paired
    bootstrap Δ WA/UAR, exact McNemar, flips); every pair of runs gets
    :func:`agreement` (with ``kappa_note`` saying why kappa is n/a when it is) and its items ranked by
    total variation distance.  Rows that failed in either run of a pair are excluded and listed.

    Parameters
    ----------
    run_dirs : sequence of str, Path or RunFolder
        Two or more finished run folders of the same manifest; the first is the reference.
    variants : sequence of str or None
        The variants to pair (default: every variant all the runs share); one not in every run is refused.
    n_boot : int
        Bootstrap resamples of the intervals.
    seed : int
        Seed of the bootstrap.
    restrict : bool
        Take the argmax over the dataset's classes only.

    Returns
    -------
    RunsComparison
        ``reports``, ``comparisons``, ``agreement`` (one row per run pair and variant), ``flips`` and ``items``.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> again = wb.demo_run("runs/demo_again", model="tiny")
    >>> cmp = wb.compare_runs([run_dir, again], n_boot=20)
    >>> [r["name"] for r in cmp.runs], float(cmp.agreement["top1_agreement"].iloc[0])
    (['A', 'B'], 1.0)
    """
    import pandas as pd

    runs = [as_run_folder(r) for r in run_dirs]
    tables = [rf.results() for rf in runs]
    shared = _check_runs(runs, tables, variants)
    check_comparable(runs, shared)
    embs = [rf.embeddings() for rf in runs]
    names = [_run_letter(i) for i in range(len(runs))]
    described = [{"name": n, **describe_run(rf)} for n, rf in zip(names, runs)]
    for d, rf in zip(described, runs):  # a run whose checkpoint trained on this corpus is marked wherever it appears
        d["training_overlap"] = run_training_overlap(rf)
    reports = {n: {v: evaluate(t, variant=v, n_boot=n_boot, seed=seed, restrict=restrict) for v in shared} for n, t in zip(names, tables)}
    positions = [_ok_positions(t) for t in tables]
    comparisons, flip_rows, agree_rows, item_frames, excluded = [], [], [], [], {}
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            for v in shared:
                pair = _pair(i, j, v, tables=tables, positions=positions, embs=embs, described=described, restrict=restrict, n_boot=n_boot, seed=seed)
                if pair["dropped"]:
                    excluded[f"{names[j]}/{names[i]} [{v}]"] = pair["dropped"]
                agree_rows.append(pair["agreement"])
                item_frames.append(pair["items"])
                if i == 0:
                    c, rows = _compare_pair(pair["a"], pair["b"], baseline=names[0], variant=names[j], scope=v, n_boot=n_boot, seed=seed,
                                            restrict=restrict)
                    c.label_sets_note = pair["agreement"]["label_sets_note"]  # then no label flip is one: none listed
                    c.n_flips, c.n_flips_unlabelled = (None, None) if c.label_sets_note else (c.n_flips, c.n_flips_unlabelled)
                    comparisons.append(c)
                    flip_rows += [] if c.label_sets_note else [{**{k: r[k] for k in FLIP_COLUMNS if k in r}, "variant": v, "run_a": names[0], "run_b": names[j]}
                                  for r in rows]
    flips = pd.DataFrame(flip_rows, columns=FLIP_COLUMNS)
    items = pd.concat(item_frames, ignore_index=True) if item_frames else pd.DataFrame()
    if len(items):
        items.insert(0, "rank", items.groupby(["run_a", "run_b", "variant"], sort=False).cumcount() + 1)
    unpaired = {n: [v for v in dict.fromkeys(t["variant"].astype(str)) if v not in shared] for n, t in zip(names, tables)} if not variants else {}
    return RunsComparison(described, shared, reports, comparisons, pd.DataFrame(agree_rows), flips, items, excluded, restrict,
                          unpaired_variants={n: v for n, v in unpaired.items() if v})


def write_runs_comparison(cmp: RunsComparison, out: str | Path, *, figures: bool = True) -> dict[str, Path]:
    """Write ``comparison.json``, ``agreement.csv``, ``flips.csv``, ``disagreements.csv`` (and ``comparison.png``, with
    its ``artifacts.json`` entry and, when a compared run has random weights, the random-weights mark) into ``out``.

    ``out`` must not lie inside any of the compared run folders (they belong to their runs).
    """
    out = Path(out)
    for r in cmp.runs:
        if out.resolve() == Path(r["run_dir"]).resolve() or Path(r["run_dir"]).resolve() in out.resolve().parents:
            raise ConfigError("the comparison folder lies inside a compared run folder.", source=str(out),
                              fix="pass --out with a folder outside the run folders (default: a new folder under runs/).")
    if out.exists() and not out.is_dir():
        raise ConfigError("exists and is not a folder.", source=str(out), fix="choose another --out folder.")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / COMPARISON_JSON, "agreement": out / AGREEMENT_CSV, "flips": out / FLIPS_CSV, "items": out / ITEMS_CSV}
    payload = json.dumps(cmp.to_dict(), indent=2, ensure_ascii=False, default=json_default)
    atomic_write(paths["json"], lambda f: f.write(payload), text=True)
    atomic_write(paths["agreement"], lambda f: spreadsheet_safe(cmp.agreement).to_csv(f, index=False), text=True)
    atomic_write(paths["flips"], lambda f: spreadsheet_safe(cmp.flips).to_csv(f, index=False), text=True)
    atomic_write(paths["items"], lambda f: spreadsheet_safe(cmp.items).to_csv(f, index=False), text=True)
    if figures:  # through RunFolder: a comparison of any random-weights run carries the mark, recorded in artifacts.json
        (dest := RunFolder(out)).random_weights_source = cmp.random_weights
        dest.training_overlap_source = cmp.training_overlap  # its mark too
        paths["figure"] = dest.write_figure(RUNS_FIGURE, plot_runs_comparison(cmp),
                                            meta={"runs": [r["name"] for r in cmp.runs], "variant": cmp.variants[0]})
    return paths
