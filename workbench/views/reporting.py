"""Report sections for notebooks and templates; ``workbench report`` itself is :mod:`workbench.views.report_run`.

The templates in ``workbench/templates/`` (package data) are thin: one ``parameters`` cell, then calls into this module
(``wb.reporting``).  :func:`run_report` (re-exported here) executes a template with papermill into
``reports/<name>/<timestamp>/`` and writes the executed notebook, one HTML file with every figure and audio clip
embedded (base64; no scripts or stylesheets from elsewhere), ``metrics.json`` and ``report.log`` (everything the
libraries logged while it ran).

Every string that comes from data — ids, paths, labels, speakers, texts, error messages, variant and model names — is
HTML-escaped where it is put into a page: sections build HTML with :func:`esc` (:mod:`workbench.views.html`) and show it
as ``text/html``; Markdown is kept for fixed text only and is rendered with raw HTML escaped.
"""
from __future__ import annotations

import io
import os
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.schema import text_values
from workbench.analysis.calibration import (COVERAGE_FAIL, UNINFORMATIVE_SIZE_SHARE, calibrate, guarantee_words, plot_reliability_before_after,
                                            plot_risk_coverage, plot_set_sizes, spread_words)
from workbench.analysis.compare import compare_results, plot_comparison, plot_runs_comparison, show_item  # noqa: F401  (template sections)
from workbench.analysis.compare.encoders import shared_encoder_note  # noqa: F401  (a template section)
from workbench.analysis.compare.variants import family_html, flags_words, mcnemar_family
from workbench.analysis.fusion import FUSION_BOOTSTRAP, cached_fusion, fuse_run, plot_fusion
from workbench.analysis.listeners import NO_MAJORITY, evaluate_listeners, unit_phrase, unit_suffix
from workbench.analysis.groups import (FIGURE_NAMES, chance_flag, class_f1_note, class_share_note, f1_text, describe_gap, few_items_note, left_out_note, majority_words, recall_gap_lines, never_predicted_note,
                                      no_groups_note, share_text)
from workbench.analysis.metrics import evaluate, plot_confusion, plot_reliability, run_training_overlap
from workbench.analysis.metrics_groups import largest_groups
from workbench.analysis.probe import probe_section  # noqa: F401  (a template section)
from workbench.data.demoset import choose_model, demo_clip  # noqa: F401  (the notebooks' defaults)
from workbench.data.listeners import listener_frame
from workbench.errors import ConfigError, capped_join
from workbench.explain.worst import passed_cell, plot_worst, worst_summary
from workbench.labels import RANDOM_WEIGHTS_BANNER
from workbench.logs import route_logs
from workbench.model.checkpoints import ensure_random_checkpoint as random_checkpoint  # noqa: F401  (the templates' second checkpoint)
from workbench.runs.artifacts import mark_random_weights
from workbench.runs.driver import demo_run  # noqa: F401  (the notebooks' default run)
from workbench.runs.folder import RunFolder, as_run_folder, select_rows
from workbench.runs.reproduce import checked_run_model
from workbench.runs.sweep import plot_sweep, summarise_sweep, sweep, sweep_display
from workbench.serialize import loads_json
from workbench.views.html import Markup, banner_html, code, esc, fmt as _fmt, frame_html, notebook_html, prose, table_html  # noqa: F401  (sections' HTML)
from workbench.views.provenance import model_item, reproduce_items, reproduce_warnings
from workbench.views.fusion_html import FUSION_HEADING, fusion_html, interval as _interval
from workbench.paths import published_path, shell_command
from workbench.views.report_run import (  # noqa: F401  (`workbench report`, and the names callers import from here)
    LIST_PATH_PARAMS, LOG_NAME, PATH_PARAMS, TEMPLATES, check_params, parse_params, resolve_params, run_report, template_parameters,
    template_path, write_metrics,
)


_OPEN: dict[str, tuple[tuple, RunFolder]] = {}


def _run(run_dir: str | os.PathLike | RunFolder) -> RunFolder:
    """The run folder, opened once per report: every section reads the same :class:`RunFolder` (its results table is
    read and checked once).  A run folder whose results, summary or config changed on disk is opened again."""
    if isinstance(run_dir, RunFolder):
        return run_dir
    path = Path(run_dir).resolve()
    stamp = []
    for name in ("results.parquet", "summary.json", "config.yaml"):
        try:
            st = (path / name).stat()
            stamp.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            stamp.append(None)
    hit = _OPEN.get(str(path))
    if hit is not None and hit[0] == tuple(stamp):
        return hit[1]
    rf = as_run_folder(path)
    _OPEN.clear()  # one run at a time: a notebook that moves to another run does not keep the old table
    _OPEN[str(path)] = (tuple(stamp), rf)
    return rf


def _display(obj) -> None:
    from IPython.display import display

    display(obj)


def show_html(markup: str) -> None:
    """Show HTML built here (data already escaped) as a ``text/html`` output."""
    from IPython.display import HTML

    _display(HTML(str(markup)))


def md(text: str) -> None:
    """Show fixed Markdown text (no data in it: data goes through :func:`show_html` and :func:`esc`)."""
    from IPython.display import Markdown

    _display(Markdown(text))


def show_figure(fig, *, random_weights: bool = False, overlap: "list[str] | tuple[str, ...]" = ()) -> None:
    """Embed a figure as a PNG output (kept in the notebook and the HTML).  ``random_weights``: a seeded random
    checkpoint scored what it shows, and the mark every saved PNG carries is written at its foot (an image saved
    from the page travels without the page's banner)."""
    from IPython.display import Image

    import matplotlib.pyplot as plt

    if random_weights or overlap:  # ``overlap``: the run's training-data warnings, marked on the image as in its folder
        mark_random_weights(fig, random_weights=random_weights, overlap=overlap)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    _display(Image(data=buf.getvalue(), format="png"))


def audio_player(samples, sr: int, max_s: float = 15.0):
    """An embedded audio player (WAV, base64 in the output) of the first ``max_s`` seconds."""
    from IPython.display import Audio

    return Audio(data=samples[: int(max_s * sr)], rate=sr, normalize=True)

# ---------------------------------------------------------------------------
# sections (called by the templates)
# ---------------------------------------------------------------------------
def setup_report(report_dir: str | os.PathLike) -> None:
    """First call of every template: library log lines, warnings and progress bars go to ``report.log``, not the page."""
    route_logs(Path(report_dir) / LOG_NAME, console=False, all_progress_bars=True)


def header(run_dir: str | os.PathLike, title: str, intro: str | None = None, template: str = "experiment_report", **params: Any) -> dict:
    """The random-weights banner (first), the title, the run's provenance and the commands that make it and this page
    (``template`` with ``params``, those that are not None) again."""
    rf = _run(run_dir)
    res, summary, cfg = rf.results(), rf.summary, rf.config
    parts = [banner_html()] if rf.random_weights else []
    # a test set the checkpoint was trained on is said before anything else (workbench.data.cards)
    parts += [f"<blockquote><b>⚠ {esc(w)}</b></blockquote>" for w in run_training_overlap(rf)] + reproduce_warnings(rf)
    parts.append(f"<h1>{esc(title)}</h1>")
    if intro:
        parts.append(f"<p>{esc(intro)}</p>")
    variants = ", ".join(dict.fromkeys(res["variant"].astype(str)))
    items = [
        f"<b>run</b>: {code(published_path(rf.path))}",  # the home folder as ~: the page names no user
        f"<b>dataset</b>: {code(published_path(cfg['manifest']) if cfg.get('manifest') else '?')} — {res['id'].nunique()} items, variants {esc(variants)}",
        model_item(rf),  # a fine-tuned head says what it is: its classes and its parent
        f"<b>failed rows</b>: {int((res['status'] == 'failed').sum())}; finished {esc(summary.get('finished', '?'))}",
        f"generated {esc(datetime.now().isoformat(timespec='seconds'))} by workbench {esc(__version__)}", *reproduce_items(rf, template, params, run_dir),
    ]
    parts.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
    show_html("\n".join(parts))
    return summary


#: what the ECE row's interval is (said on hover over its check cell and under the table)
ECE_INTERVAL_NOTE = ("ECE's interval is the bootstrap of the same 15 equal-width bins, resampling as the other intervals do; binned ECE "
                     "is biased upwards on small samples, and a resample is no better, so the interval can sit above the "
                     "point value: read it as the spread")


def _no_value(why: str) -> Markup:
    """A table cell with nothing to show: a dash whose tooltip (``title``) says why."""
    return Markup(f'<span title="{esc(why)}">—</span>')


def metrics_section(run_dir: str | os.PathLike, *, by=("speaker", "gender"), n_boot: int = 1000) -> dict:
    rf = _run(run_dir)
    res, out = rf.results(), {}
    # a head scored on the speakers it trained on read "ok" beside its WA: the check column says what the banner says
    overlap = run_training_overlap(rf)
    caveat = "not independent of the checkpoint's training data (the warning at the top)" if overlap else ""
    for v in dict.fromkeys(res["variant"]):
        r = evaluate(res, variant=v, by=by, n_boot=n_boot, seed=rf.seed)  # the run's seed, as `workbench metrics`
        out[v] = {"n_scored": r.n_scored, "excluded_no_counterpart": r.n_excluded_no_counterpart, "failed": r.n_failed,
                  "wa": r.wa, "uar": r.uar, "macro_f1": r.macro_f1, "ci": {k: list(x) for k, x in r.ci.items()}, "ece": r.ece,
                  "per_class": r.per_class, "breakdowns": r.breakdowns, "breakdown_left_out": r.breakdown_left_out}
        parts = [f"<h2>Variant {code(v)}</h2>",
                 f"<p>{r.n_scored} scored, {esc(r.excluded_words())}, {r.n_failed} failed.</p>"]
        if r.not_scored:  # no table of NaNs presented as results
            out[v]["not_scored"] = r.not_scored
            parts.append(f"<p><b>No metrics</b>: {esc(r.not_scored)}</p>")
            show_html("\n".join(parts))
            continue
        out[v]["chance_uar"] = r.chance_uar
        flags = r.interval_flags()
        below = chance_flag(*r.ci["uar"], r.chance_uar)  # the check metrics prints beside the UAR: the report says it too
        if below:
            flags["uar"] = "; ".join(f for f in (flags.get("uar"), f"{below} ({r.chance_words()})") if f)
            out[v]["chance_flag"] = below
        if r.majority_flag():  # the WA's own baseline: always answering the largest class (metrics prints it on the WA line)
            flags["wa"] = "; ".join(f for f in (flags.get("wa"), r.majority_flag(stated=True)) if f)  # the baseline: below the table
            out[v]["majority_flag"] = r.majority_flag()
        if overlap:
            out[v]["training_overlap"] = overlap
        rows = [(FIGURE_NAMES[k], getattr(r, k), Markup(f"[{r.ci[k][0]:.3f}, {r.ci[k][1]:.3f}]"),
                 "; ".join(x for x in (flags.get(k) or few_items_note(r.n_scored), caveat) if x) or "ok") for k in ("wa", "uar", "macro_f1")]
        ece_flag, few = r.flags().get("ece", ""), few_items_note(r.n_scored)  # no width, or missing its point
        ece_text = "; ".join(x for x in (ece_flag or few, caveat) if x) or "ok (spread)"  # the ECE of a head on its training speakers read "ok"
        rows.append(("ECE", r.ece, Markup(f"[{_fmt(r.ece_ci[0])}, {_fmt(r.ece_ci[1])}]"), Markup(f'<span title="{esc(ECE_INTERVAL_NOTE)}">{esc(ece_text)}</span>')))
        out[v]["ece_ci"], out[v]["ci_unit"] = list(r.ece_ci), r.ci_unit  # what the intervals resampled: speakers, or items
        parts.append(table_html(["metric", "value", f"95% bootstrap CI ({unit_phrase(r.ci_unit)})", "check"], rows))
        if r.small_classes_note():  # the `!!` metrics and run print under the figures (surprised n=1 went unsaid here)
            out[v]["small_classes"] = r.small_classes_note()
            parts.append(f"<p><b>⚠ {esc(r.small_classes_note())}</b>.</p>")
        parts.append(f"<p><small>Intervals: {esc(r.ci_unit['words'])}" + (f"; <b>⚠ {esc(r.ci_unit['note'])}</b>" if r.ci_unit["note"] else "")
                     + f". ECE: {esc(ECE_INTERVAL_NOTE)}.</small></p>")
        parts.append(f"<p>UAR: {esc(r.chance_words())}" + (f"; WA: {esc(majority_words(r.support()))}" if majority_words(r.support()) else "") + ".</p>")
        if r.ece_by_class_set:  # metrics and calibrate measure over different class sets: both, named
            parts.append(f"<p>ECE, the same 15 equal-width bins over each class set: {prose(r.ece_class_sets_words())}.</p>")
        if r.per_class:  # each share beside its exact interval and fraction, as metrics prints them
            parts.append(table_html(["class", f"precision [95% CI, {r.ci_unit['short']}] hits/predicted", f"recall [95% CI, {r.ci_unit['short']}] hits/n", f"F1 [95% bootstrap CI, {r.ci_unit['short']}]", "n"],
                                    [(c, share_text(d["precision"], d["precision_ci"], d["hits"], d["predicted"]),
                                      share_text(d["recall"], d["recall_ci"], d["hits"], d["support"]), f1_text(d), d["support"])
                                     for c, d in r.per_class.items()]))
        for key, head, note in (("class_f1", "per-class F1", class_f1_note(r.per_class, r.n_scored)),  # the checks metrics prints
                                ("class_shares", "per-class precision and recall", class_share_note(r.per_class))):  # under its table
            parts += [f"<p><b>⚠ {head}: {esc(out[v].setdefault(key, note))}</b>.</p>"] if note else []
        if never_predicted_note(r.per_class):  # precision 0/0 printed as 0.000 before
            out[v]["never_predicted"] = never_predicted_note(r.per_class)
            parts.append(f"<p><b>⚠ {esc(out[v]['never_predicted'])}</b>.</p>")
        for col, (groups, more) in ((c, largest_groups(g)) for c, g in r.breakdowns.items()):
            parts.append(f"<p><b>by {esc(col)}</b>" + (f" ({esc(more)})" if more else "") + "</p>")
            # a group too small to say anything shows no number (workbench.analysis.groups says why)
            ci = lambda lo_hi: Markup(f"[{_fmt(lo_hi[0])}, {_fmt(lo_hi[1])}]")  # noqa: E731
            parts.append(table_html(["group", "n", "WA", "95% CI", "UAR", "95% CI", "CIs resampled", "baselines", "note"],
                                    [(g, d["n"], *(("—",) * 5 if d.get("too_small") else  # its note says why: too small
                                                   (d["wa"], ci(d["wa_ci"]), d["uar"], ci(d["uar_ci"]), d.get("ci_unit", "items"))),
                                      baselines_cell(d, "wa"), d.get("note", "")) for g, d in groups.items()]))
            disp = r.disparities.get(col) or {}
            if disp.get("uar"):  # the gap `metrics` prints, with its interval and the groups left out of it, also here
                parts.append(f"<p>{esc(describe_gap(disp['uar']))}" + ("; left out of the gap: " + esc(capped_join([
                    f"{g} ({why})" for g, why in disp["excluded_why"].items()], "; ", noun="groups", where="metrics.json")) if disp.get("excluded_why")
                    else "") + ".</p>")  # also for a gap not measured: "0 eligible group(s)" of two groups of 22 said no why
            parts += [f"<p>{esc(line.strip())}</p>" for line in recall_gap_lines(disp)]  # each class's signed gaps, as metrics prints
            if r.breakdown_left_out.get(col):
                parts.append(f"<p>{esc(left_out_note(col, r.breakdown_left_out[col]))}</p>")
        parts += [f"<p><b>by {esc(col)}</b>: {prose(no_groups_note(col, n))}</p>" for col, n in r.breakdown_left_out.items()
                  if col not in r.breakdowns]
        show_html("\n".join(parts))
        if r.n_scored:
            show_figure(plot_confusion(r), random_weights=rf.random_weights, overlap=overlap)
            show_figure(plot_reliability(r), random_weights=rf.random_weights, overlap=overlap)
    return out


def baselines_cell(d: dict, figure: str) -> str:
    """A group's or a band's two baselines, passing too, as the headline shows its own ("" where no figure is shown)."""
    pairs = (("WA" if figure == "wa" else figure, f"{figure}_baseline"), ("UAR", "uar_baseline"))
    return "" if d.get("too_small") or not d.get("n") else "; ".join(f"{what}: {d[k]}" for what, k in pairs if d.get(k))


def listeners_section(run_dir: str | os.PathLike, *, n_boot: int = 1000, top: int = 15) -> dict | None:
    """"Listeners vs model": agreement bands, divergences, the two lists and both confusions; None (nothing shown)
    when the run's manifest carries no listener judgements."""
    res = _run(run_dir).results()
    if not listener_frame(res)["agreement"].notna().any():
        return None
    out = {}
    for v in dict.fromkeys(res["variant"].astype(str)):
        r = evaluate_listeners(res, variant=v, n_boot=n_boot)
        out[v] = r.to_dict()
        ci = lambda lo_hi: Markup(f"[{_fmt(lo_hi[0])}, {_fmt(lo_hi[1])}]")  # noqa: E731
        def band_cells(b):  # the same flags as the CLI: empty (and why), too small, zero-width
            if not b["n"] or b.get("too_small"):
                return ("—", "", "—", "", "", f"too small: {b['too_small_reason']}" if b["n"] else b.get("empty_reason") or "empty")
            unit = f"intervals {unit_phrase(b.get('ci_unit') or {'unit': 'speaker', 'short': b['resampled']})}" if b.get("interval_unit") == "speaker" else ""  # as the CLI says it
            return (b["accuracy"], ci(b["accuracy_ci"]), b["uar"], ci(b["uar_ci"]), baselines_cell(b, "accuracy"), "; ".join(x for x in (b.get("note", ""), unit) if x))

        parts = [f"<h2>Listeners vs model: variant {code(v)}</h2>",
                 f"<p>{r.n_items} items with listener judgements ({r.n_without} without). Accuracy and UAR against the corpus "
                 "label, by the share of listeners agreeing with their majority.</p>",
                 table_html(["agreement", "n", "accuracy", "95% CI", "UAR", "95% CI", "baselines", "note"],
                            [(b["band"], b["n"], *band_cells(b)) for b in r.bands])]
        if r.soft_labels_reason:
            parts.append(table_html(["figure", "value", "95% CI"], [
                ("Jensen-Shannon divergence to the votes (base 2)", "n/a", ""), ("cross-entropy to the votes (nats)", "n/a", ""),
                ("Spearman ρ(confidence, agreement)", r.spearman_confidence_agreement, ci(r.spearman_ci))]))
            parts.append(f"<p><b>Soft-label figures n/a:</b> {esc(r.soft_labels_reason)}</p>")
        else:
            parts.append(table_html(["figure", "value", "95% CI"], [
                ("Jensen-Shannon divergence to the votes (base 2)", r.jsd_mean, ci(r.jsd_ci)),
                ("cross-entropy to the votes (nats)", r.cross_entropy_mean, ci(r.cross_entropy_ci)),
                ("Spearman ρ(confidence, agreement)", r.spearman_confidence_agreement, ci(r.spearman_ci))]))
        said = [(what, unit_suffix(r.interval_units.get(k))) for what, k in (("divergences", "divergences"), ("ρ", "spearman")) if unit_suffix(r.interval_units.get(k)) and not (k == "divergences" and r.soft_labels_reason)]
        # one sentence for the figures one unit resampled ("Intervals of the ρ: (intervals resampling …)" repeated the divergences', walk18)
        parts += [f"<p>Intervals of the {' and '.join(w for w, s in said if s == u)}: {esc(u.removeprefix(' (intervals ').removesuffix(')'))}.</p>" for u in dict.fromkeys(s for _, s in said)]
        parts += [f"<p><b>⚠ {esc(c)}</b></p>" for c in r.checks] + [f"<p>{esc(n)}</p>" for n in r.notes]  # checks: no better than a uniform guess, ρ's interval holding 0
        for name, rows, total in ((f"Listeners agree (≥ {r.agree_threshold:g}), model wrong: the model's own errors",
                                   r.listeners_agree_model_wrong, r.n_agree_model_wrong),
                                  (f"Listeners split (< {r.split_threshold:g}): not to blame on the model", r.listeners_split, r.n_split)):
            shown = rows[:top]
            # the heading gives the true total; the table is a view of it
            parts.append(f"<h3>{esc(name)} ({total}{f'; showing {len(shown)} of {total}' if len(shown) < total else ''})</h3>")
            if shown:
                parts.append(table_html(["id", "corpus label", "listeners", "agreement", "model", "confidence"],
                                        [(x["id"], x["emotion"] or "—", x["listener_majority"] or "—", x["agreement"], x["pred"], x["confidence"])
                                         for x in shown]))
                if any(not x["listener_majority"] for x in shown):  # the dash in "listeners" said nothing of what it meant
                    parts.append(f"<p>listeners —: {esc(NO_MAJORITY)}.</p>")
        parts.append("<h3>Confusion: corpus label (hard) beside what listeners heard (vote-weighted)</h3>")
        parts.append(table_html(["corpus label", *r.confusion_cols], [(c, *row) for c, row in zip(r.classes, r.confusion_hard)]))
        if r.confusion_votes is None:
            parts.append(f"<p>Vote-weighted confusion n/a: {esc(r.soft_labels_reason or 'no item has a vote distribution')}</p>")
        else:
            parts.append(table_html(["listeners heard", *r.confusion_cols], [(c, *row) for c, row in zip(r.confusion_rows, r.confusion_votes)], digits=1))
        show_html("\n".join(parts))
    return out


def _sentence(text) -> str:
    """``text`` as one sentence ending in a full stop (a finding's suggestion may or may not end in one)."""
    text = str(text or "").strip()
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def worst_cases(run_dir: str | os.PathLike, n: int = 5, variant: str | None = None) -> None:
    rf = _run(run_dir)
    ok = select_rows(rf.results())
    variants = list(dict.fromkeys(ok["variant"]))
    chosen = variant or (variants[0] if variants else None)
    ok = ok[ok["variant"] == chosen]
    labelled = ok[text_values(ok["emotion"]) != ""]
    wrong = labelled[labelled["pred"] != labelled["emotion"]].sort_values("confidence", ascending=False)
    pick = wrong.head(n) if len(wrong) else ok.sort_values("confidence").head(n)
    what = "Wrong predictions, the most confident first" if len(wrong) else "Lowest-confidence items"  # "confidently" would claim a confidence the scores may not have
    # "showing 4 of 4" named neither the rows counted nor, in a run of several variants, whose rows they were
    of = (f"{len(pick)} of the {len(wrong)} wrong among {len(labelled)} labelled rows" if len(wrong) else f"{len(pick)} of {len(ok)} scored rows")
    whose = (f" of variant {code(chosen)} (the first of {len(variants)}: {', '.join(code(v) for v in variants)})"
             if len(variants) > 1 and variant is None else (f" of variant {code(chosen)}" if len(variants) > 1 else ""))
    show_html(f"<h2>Worst cases</h2><p>{what}{whose} (showing {of}), with their findings:</p>")
    for _, row in pick.iterrows():
        r = row.to_dict()
        findings = loads_json(r["findings"]) if r.get("findings") else []
        # each suggestion is a sentence: joined as sentences, never "… test).; next"
        f_html = " ".join(f"{code(f.get('code'))} — {prose(_sentence(f.get('suggestion')))}" for f in findings) or "no findings."
        said = (f"true <i>{esc(r['emotion'])}</i>" if r.get("emotion") else  # a label outside the model's classes was "true —"
                f"labelled <i>{esc(r['label'])}</i>, none of the model's classes" if r.get("label") else "true <i>—</i>")
        show_html(f"<p><b>{esc(r['id'])}</b> — {said}, predicted <b>{esc(r['pred'])}</b> "
                  f"({r['confidence']:.3f}, margin {r['margin']:.3f}). {f_html}</p>")
        try:
            a = rf.scored_audio(r)  # exactly what the model heard: segment, variant chain, 16 kHz
            _display(audio_player(a.samples, a.sr))
        except Exception as exc:  # the report still renders if a file moved
            show_html(f"<p><i>(audio unavailable: {prose(exc)})</i></p>")
    explained_worst(rf)


def explained_worst(run_dir: str | os.PathLike | RunFolder) -> dict | None:
    """The run's ``explain --worst`` summary in the report: its rule, "N of M", each method's share of maps that passed
    every check, and its figure; a summary that fails its checksum is said, not shown; without one, how to make it."""
    rf = _run(run_dir)
    try:
        summary = worst_summary(rf.path)
    except ConfigError as exc:
        show_html(f"<h3>Explained worst cases</h3><p><b>NOT SHOWN</b>: {prose(exc)}</p>")
        return None
    if summary is None:
        n_ok = len(rf.results(status="ok"))  # `explain --worst N` refuses an N above the run's ok rows
        show_html("<h3>Explained worst cases</h3><p>Not explained yet: "
                  + (f"{code(shell_command('workbench', 'explain', published_path(rf.path), '--worst', min(5, n_ok)))} explains them in one process "
                     "and keeps the result in the run folder; make this report again afterwards and this section shows "
                     "which maps passed their checks (this page does not change by itself).</p>" if n_ok else "the run has no scored (status ok) rows to explain.</p>"))
        return None
    rows = [(code(m), passed_cell(d),
             f"{d['insertion_better_than_random']} of {d['cases']}",
             f"{d['deletion_better_than_random']} of {d['cases']}", d.get("faithfulness_failed", "—"),
             f"{d.get('randomisation_failed', '—')}" + (f" (+{d['randomisation_undetermined']} undetermined)" if d.get("randomisation_undetermined") else ""), d["randomisation_skipped"],
             d.get("stability_failed", "—"), d.get("completeness_failed", "—"))
            for m, d in sorted(summary["methods"].items())]
    parts = ["<h3>Explained worst cases</h3>", f"<p>{esc(summary['showing'])}; worst means: {esc(summary['rule'])}.</p>"]
    page_says = summary.get("warning") == RANDOM_WEIGHTS_BANNER  # the page's banner: referred to, not said a 2nd and 3rd time (walk17)
    if summary.get("warning"):
        parts.append(f"<p><b>⚠ {'the random checkpoint the banner at the top names made these maps: they show only that the checks run' if page_says else esc(summary['warning'])}</b></p>")
    parts += [f"<p><b>{summary['failed']} case(s) could not be explained</b> (their errors are in explain_worst.json).</p>"] if summary.get("failed") else []
    parts.append("<p>A map passes when IG's completeness and the stability check hold, it is better than random orders "
                 "on at least one of the deletion and insertion curves and worse on neither, and it changes when the "
                 "network is re-initialised; the next two columns say on which curves it beat random orders, the others "
                 "how many maps failed or skipped each check.</p>")
    parts.append(table_html(["method", "maps that passed every check", "insertion better than random", "deletion better than random",
                             "curve check failed (NOT FAITHFUL: worse than random on one, or better on neither)", "randomisation check failed",
                             "randomisation check skipped", "stability check failed (UNSTABLE)", "completeness check failed"], rows or [("—",) + ("",) * 8]))
    show_html("\n".join(parts))
    if summary.get("figure"):  # under the page's banner drawn again without the warning, with every figure's foot mark
        from IPython.display import Image
        show_figure(plot_worst({**summary, "warning": None}), random_weights=True) if page_says else _display(Image(filename=summary["figure"]))
    return summary


def findings_summary(run_dir: str | os.PathLike) -> dict:
    res = _run(run_dir).results()
    ok = select_rows(res)
    counts: dict[str, int] = {}
    for s in text_values(ok["finding_codes"]):
        for c in filter(None, str(s).split(",")):
            counts[c] = counts.get(c, 0) + 1
    rows = [(code(c), k, Markup(f"{k / max(len(ok), 1):.0%}")) for c, k in sorted(counts.items(), key=lambda kv: -kv[1])]
    n_variants = ok["variant"].nunique()  # a share is of scored rows: with variants, an item counts once per variant
    # "of the 53 scored rows" stood under "52 scored, 1 excluded" (metrics, same run): the share is of every row scored
    over = (f"{len(ok)} row{'s' if len(ok) != 1 else ''} the model scored, labelled or not"
            + (f" ({n_variants} variants: an item counts once in each)" if n_variants > 1 else ""))
    parts = ["<h2>Findings</h2>", f"<p>Rows with each finding, of the {over}.</p>",
             table_html(["finding", "rows", f"share of {len(ok)}"], rows or [("—", 0, "")])]
    failed = res[res["status"] == "failed"]
    if len(failed):
        parts.append(f"<p><b>{len(failed)} failed row{'s' if len(failed) != 1 else ''}</b>:</p><ul>")
        parts += [f"<li>{code(r['id'])} [{esc(r['variant'])}]: {esc(r['error'])}</li>" for _, r in failed.iterrows()]
        parts.append("</ul>")
    show_html("\n".join(parts))
    return counts


def flag(name: str, value: object) -> bool:
    """A yes/no report parameter, checked: ``-p fusion=maybe`` is refused, not read as yes."""
    if not isinstance(value, bool):
        raise ConfigError(f"parameter {name}={value!r} is not true or false.", source="--param",
                          fix=f"pass -p {name}=true or -p {name}=false.")
    return value


#: the fusion section's heading in a report (a notebook whose title it is leaves it out: ``heading=False``)


def fusion_skipped(run_dir: str | os.PathLike | RunFolder | None = None) -> dict | None:
    """The fusion section when the report was not asked for it: the run folder's ``fusion.json`` when ``workbench fuse``
    wrote it with the report's settings (nothing is trained: the page said "run `workbench fuse RUN`" also after it
    had been run), else said in the page, with how to ask (the command names ``run_dir``, the report's run, when given)."""
    stored = cached_fusion(run_dir, text_model=None, n_boot=FUSION_BOOTSTRAP) if run_dir is not None else None
    if stored is not None:
        show_html(fusion_html(stored, reused=True))
        show_figure(plot_fusion(stored), random_weights=bool(stored.get("random_weights")))
        return {k: v for k, v in stored.items() if k not in ("key", "warning", "random_weights")}
    run = shlex.quote(published_path(_run(run_dir).path)) if run_dir is not None else "RUN"
    show_html("<h2>Speech + text fusion</h2><p>Not run in this report: it trains a text model per fold and took most of "
              "the report's time. Ask for it with <code>-p fusion=true</code>, or run "  # no tracker number: the reader has none
              f"{code(f'workbench fuse {run}')} (this section shows its result when the report is made again).</p>")
    return None


def fusion_section(run_dir: str | os.PathLike, text_model: str | None = None, *, n_boot: int = FUSION_BOOTSTRAP,
                   reuse: bool = True, heading: bool = True) -> dict | None:
    """Speech + text fusion of the run.  With ``reuse``, a ``fusion.json`` that ``workbench fuse`` (or an earlier
    report) wrote with the same run files, text model and settings is shown as it is (the page says so) instead of
    training a text model per fold again.  ``n_boot`` defaults to ``workbench fuse``'s resamples (500 here gave the
    same figure another interval, and never reused its ``fusion.json``).  ``heading=False``: no "Speech + text
    fusion" heading, for a page whose own title it is (notebook 06 showed it twice)."""
    params = dict(text_model=text_model, n_boot=n_boot)
    try:
        d = cached_fusion(run_dir, **params) if reuse else None
        reused = d is not None
        if d is None:
            d = {**fuse_run(run_dir, figures=False, **params).to_dict(), "random_weights": _run(run_dir).random_weights}
    except (ConfigError, ValueError) as exc:  # ValueError: scikit-learn on folds too small to train (one class left)
        show_html(f"{FUSION_HEADING if heading else ''}<p>Not evaluated: {prose(exc)}</p>")
        return None
    show_html(fusion_html(d, reused=reused, heading=heading))
    show_figure(plot_fusion(d), random_weights=bool(d.get("random_weights")))
    return {k: v for k, v in d.items() if k not in ("key", "warning", "random_weights")}  # the result, as computed


def calibration_section(run_dir: str | os.PathLike, *, variant: str | None = None, alpha: float = 0.1, n_boot: int = 1000) -> dict | None:
    """Temperature scaling, calibration errors before/after, risk–coverage and conformal sets of one variant.

    Folds are grouped by speaker when every scored item has one (else shuffled, and the section says so).  Nothing is
    written into the run folder: ``workbench calibrate`` does that, and with its default resamples (1000), so the same
    figure has the same interval here and on its screen (500 here gave other intervals); what they resample is said."""
    results = _run(run_dir).results()
    # calibrate() groups by speaker when every *scored* item has one, as `workbench calibrate` does; an unlabelled row
    # without a speaker (the demo's tone) must not switch the report to shuffled folds and other figures than the CLI's
    by = "speaker" if "speaker" in results.columns else None
    try:
        rep = calibrate(results, variant=variant, by=by, alpha=alpha, n_boot=n_boot)
    except ConfigError as exc:  # options in the fix are `workbench calibrate`'s: say so (none: no word; it read as done)
        again = shell_command("workbench", "calibrate", published_path(_run(run_dir).path), "--alpha", "ALPHA")
        show_html(f"<h2>Calibration</h2><p>Not calibrated: {prose(exc)}</p>" + ("" if "--" not in str(exc) else
                  f"<p>This page tried alpha {alpha:g} with the default folds; the options the fix names are "
                  f"{code('workbench calibrate')}'s: {code(again)} (its figures are in the run folder, and on its screen).</p>"))
        return None
    lo_t, hi_t = rep.search_interval
    parts = ["<h2>Calibration</h2>"] + [f"<blockquote><b>⚠ {esc(w)}</b></blockquote>" for w in rep.warnings]
    parts += [f"<p>Variant {code(rep.variant)}: {rep.n} items over {len(rep.classes)} classes; {esc(rep.folds)}. "
              f"Fitted temperature {rep.temperature:.3f} [{_fmt(rep.temperature_ci[0])}, {_fmt(rep.temperature_ci[1])}]{esc(rep.flat_mark('T'))} "
              f"(searched in [{lo_t:g}, {hi_t:g}]{', at its ' + esc(rep.temperature_edge) + ' bound' if rep.temperature_edge else ''}; "
              f"interval from {esc(rep.temperature_resamples)} {esc(rep.resamples_words)}; per fold {esc(', '.join(f'{t:.3f}' for t in rep.fold_temperatures))}); "
              f"{'recommended' if rep.recommended else '<b>not recommended</b>'}. "
              "\"after\" figures come from folds the fit never saw.</p>",
              f"<p>{esc(rep.conformal_protocol)}.</p>", f"<p>NLL: {esc(rep.nll_words)}.</p>"]
    if rep.ece_by_class_set:
        parts.append("<p>ECE before calibration, the same 15 equal-width bins over each class set: "
                     + "; ".join(f"{d['ece']:.3f} over {prose(d['label'])}" for d in rep.ece_by_class_set.values()) + ".</p>")
    # a skipped score's note is said once, beside the sets' table (it was also a Note here, the same sentence twice)
    parts += [f"<p><b>Note:</b> {prose(_sentence(n))}</p>" for n in rep.notes if n not in rep.conformal_skipped.values() and n != rep.folds]  # a sentence, as the probe's notes
    def cell(value: float, ci, name: str) -> Markup:  # a zero-width interval is marked where it is shown
        mark = rep.flat_mark(name)
        return Markup(f"{value:.3f} [{_fmt(ci[0])}, {_fmt(ci[1])}]" + (f" <b>{esc(mark.strip())}</b>" if mark else ""))

    rows = [(m.upper(), cell(rep.before[m], rep.ci_before[m], f"{m.upper()} before"), cell(rep.after[m], rep.ci_after[m], f"{m.upper()} after"))
            for m in ("ece", "mce", "brier", "nll")]
    rows.append(("AURC", cell(rep.aurc_before, rep.aurc_ci_before, "AURC before"), cell(rep.aurc_after, rep.aurc_ci_after, "AURC after")))
    for share, accs in rep.accuracy_at.items():
        c = rep.accuracy_at_ci.get(share, {})
        cb, ca = c.get("before", (float("nan"),) * 2), c.get("after", (float("nan"),) * 2)
        rows.append((f"accuracy, most confident {share}" + (f" ({accs['items']} of {accs['of']} items)" if "of" in accs else ""), cell(accs["before"], cb, f"accuracy at {share} before"),
                     cell(accs["after"], ca, f"accuracy at {share} after")))
    if rep.accuracy_at:
        parts.append(f"<p>Accuracy in this table: {prose(rep.accuracy_scope)}.</p>")
    unit = rep.interval_unit  # what the intervals resampled, as the screen and the JSON say
    parts += [f"<p>95 % intervals: bootstrap {esc(unit['words'])}" + (f"; <b>⚠ {esc(unit['note'])}</b>" if unit["note"] else "") + ".</p>",
              table_html(["metric", "before [95% CI]", "after [95% CI]"], rows)]
    conf_rows, overlap = [], run_training_overlap(_run(run_dir))  # a head on its training speakers: "pass" said with the caveat
    def verdict(v: dict) -> Markup:  # noqa: E306
        tail = "; not independent of the checkpoint's training data" if overlap and v["check"] == "pass" else ""
        return Markup(f"<b>FAILED ({esc(v['direction'])} target)</b>" + (f", BH q {v['q']:.2g} over the classes" if "q" in v else "")) if v["check"] == COVERAGE_FAIL else Markup(esc(v["check"] + tail))  # the screen's q

    for score, d in rep.conformal.items():
        for c, v in d["per_class"].items():
            size = Markup(f"{v['mean_size']:.3f} <b>uninformative</b>") if v.get("uninformative") else v["mean_size"]
            conf_rows.append((score.upper(), c, v["n"], Markup(_interval(v["coverage"], v["coverage_ci"])), verdict(v), size))
        size = Markup(f"{d['mean_size']:.3f} of {d['n_classes']}" + (" <b>uninformative</b>" if d["uninformative"] else ""))
        conf_rows.append((score.upper(), Markup("<b>all</b>"), d["n"], Markup(_interval(d["coverage"], d["coverage_ci"])), verdict(d) + (  # valid sets' range
            Markup(f" (against {esc(guarantee_words(d['guarantee']))})") if d.get("guarantee") else ""), size))
    parts.append(f"<p>Conformal prediction sets at alpha = {rep.alpha} (target coverage {1 - rep.alpha:.2f}), "
                 f"coverage measured on {'held-out speakers' if rep.folds.startswith('GroupKFold by speaker') else 'held-out folds'}, "
                 "with exact binomial (Clopper–Pearson) 95 % intervals; a class fails when the target lies outside its interval, all when outside valid sets' range, "
                 f"and sets whose mean size reaches {100 * UNINFORMATIVE_SIZE_SHARE:g} % of the classes are uninformative "
                 "(overall, and for each class on its own):</p>")
    parts += [f"<p>{esc(s.upper())} coverage {esc(d['assumption'])}" + (f"; per {esc(g['by'])} {g['coverage_range'][0]:.2f}-"
              f"{g['coverage_range'][1]:.2f} over {g['groups']} {esc(g['by'])}s, " + (f"<b>{esc(g['words'])}</b>" if g["flag"] else
              esc(spread_words(g))) if (g := d.get("by_group") or {}).get("grouped") else "") + ".</p>"
              for s, d in rep.conformal.items() if d.get("assumption")]
    parts += [f"<p><b>{esc(s.upper())} sets skipped:</b> {esc(why.removeprefix(f'{s.upper()} sets skipped, '))}.</p>"
              for s, why in rep.conformal_skipped.items()]
    parts.append(table_html(["score", "class", "n", "coverage [95% CI]", "check", "mean set size"], conf_rows))
    show_html("\n".join(parts))
    for fig in (plot_reliability_before_after(rep), plot_risk_coverage(rep), plot_set_sizes(rep)):
        show_figure(fig, random_weights=_run(run_dir).random_weights, overlap=overlap)
    out = rep.to_dict()
    out.pop("curve_before", None)
    out.pop("curve_after", None)
    return out


def comparison_section(run_dir: str | os.PathLike, baseline: str | None = None) -> dict:
    res = _run(run_dir).results()
    variants = list(dict.fromkeys(res["variant"]))
    baseline = baseline or ("raw" if "raw" in variants else variants[0])
    _, comps, flips = compare_results(res, baseline=baseline)
    rows = [(c.variant, c.n_paired,
             Markup(f"{c.delta_wa[0]:+.3f} [{c.delta_wa[1]:+.3f}, {c.delta_wa[2]:+.3f}]"),
             Markup(f"{c.delta_uar[0]:+.3f} [{c.delta_uar[1]:+.3f}, {c.delta_uar[2]:+.3f}]"),
             Markup(f"{c.mcnemar_b} / {c.mcnemar_c}"), esc(c.p_cell()), c.n_flips,
             flags_words(c.interval_flags())) for c in comps]
    alone = None if comps else (f"the run has one variant ({baseline}): nothing to compare it with; score its manifest under more "
                                "with `workbench run MANIFEST --variants variants.yaml` (README, \"Preprocessing variants\")")  # an empty table said nothing
    show_html(f"<h2>Variants against {code(baseline)}</h2>" + (f"<p><b>!! {esc(alone)}</b></p>" if alone else
              table_html(["variant", "n", "ΔWA [95% CI]", "ΔUAR [95% CI]", "McNemar b / c", "p", "flips", "check"], rows)) + family_html(mcnemar_family(comps)))
    for c in comps:  # a head's run on its training speakers: the figure carries the TRAINING DATA mark, as its folder's
        show_figure(plot_comparison(res, c, family=len(comps)), random_weights=_run(run_dir).random_weights, overlap=run_training_overlap(_run(run_dir)))
    if len(flips):
        rows = [(r["id"], r["variant"], r["emotion"] or "—", Markup(f"{esc(r['pred_baseline'])} ({r['confidence_baseline']:.3f})"),
                 Markup(f"{esc(r['pred_variant'])} ({r['confidence_variant']:.3f})")) for _, r in flips.head(30).iterrows()]
        show_html(f"<h3>Flips</h3><p>{len(flips)} prediction{'s' if len(flips) != 1 else ''} changed against {code(baseline)}, "
                  "one per item and variant, labelled or not (the table's flips column counts labelled items only); "
                  f"showing {len(rows)} of {len(flips)}.</p>"
                  + table_html(["id", "variant", "true", "before", "after"], rows))
    return {"baseline": baseline, "comparisons": [c.to_dict() for c in comps], "mcnemar_family": mcnemar_family(comps), "n_flips": int(len(flips)), "note": alone}


def sweep_model(run_dir: str | os.PathLike | RunFolder, model: Any = None) -> Any:
    """The model a report's sweep scores with: ``model`` when the report was given one, else the model that scored
    the report's run (its weights' checksum pinned), so the sweep speaks of the same classifier as the run above it."""
    return model if model is not None else checked_run_model(_run(run_dir), flag="-p model=")  # no hub id a run names, unasked


def sweep_heading(path: str | os.PathLike, kind: str, scored: Any = None, *, chosen: bool = True, dtype: str | None = None) -> str:
    """The sweep section's heading. ``chosen=False``: the file is the template's default (a shipped demo clip),
    which a report on someone's own run used to sweep under that run's header without a word.  ``dtype``: the precision
    that scored it, named with the option that gives these figures (`workbench sweep` chose bfloat16: other digits)."""
    note = ("" if chosen else "<p>The file is a shipped demo clip (the template's default), not an item of this run: "
            f"{code('-p sweep_path=FILE')} sweeps one of yours.</p>")
    same = f" in {esc(dtype)} ({code('workbench sweep')} takes {code('--dtype auto')} unless given {code(f'--dtype {dtype}')})" if dtype else ""
    return f"<h2>{esc(kind)} sweep of {code(Path(path).name)}</h2>" + note + (f"<p>scored with {code(str(scored))}{same}.</p>" if scored else "")


def sweep_table_html(summ) -> Markup:
    """:func:`summarise_sweep`'s points as a page shows them (:func:`sweep_display`: the share kept with its interval and
    count in one cell, the reference named, yes/no flags)."""
    return frame_html(sweep_display(summ), digits=4)


def sweep_section(path: str | os.PathLike, kind: str, out_dir: str | os.PathLike, model: Any = None, *,
                  chosen: bool = True) -> dict:
    df = sweep(path, kind=kind, out_dir=out_dir, model=model, figures=False)
    summ, scored = summarise_sweep(df, kind), as_run_folder(out_dir)  # its own run folder says what scored it, and how
    show_html(sweep_heading(path, kind, getattr(model, "model", model), chosen=chosen, dtype=scored.model_ref.get("dtype")) + sweep_table_html(summ))
    # (the report's model is a ModelRef or a name, "tiny", with no random_weights: the figure went out without its mark)
    show_figure(plot_sweep(df, kind), random_weights=bool(scored.random_weights))
    return {"kind": kind, "points": summ.to_dict(orient="records")}
