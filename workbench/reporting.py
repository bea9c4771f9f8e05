"""Report sections for notebooks, and ``workbench report`` (papermill + a self-contained HTML file).

The templates in ``notebooks/templates/`` are thin: one ``parameters`` cell,
then calls into this module.  :func:`run_report` executes a template with
papermill into ``reports/<name>/<timestamp>/`` and writes the executed
notebook, one HTML file with every figure and audio clip embedded (base64; no
scripts or stylesheets from elsewhere) and ``metrics.json``.
"""

from __future__ import annotations

import html
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .serialize import json_default

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "notebooks" / "templates"


def _display(obj) -> None:
    from IPython.display import display

    display(obj)


def md(text: str) -> None:
    from IPython.display import Markdown

    _display(Markdown(text))


def show_figure(fig) -> None:
    """Embed a figure as a PNG output (kept in the notebook and the HTML)."""
    from IPython.display import Image

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    _display(Image(data=buf.getvalue(), format="png"))


def audio_player(path: str | Path, start: float | None = None, duration: float | None = None, max_s: float = 15.0):
    """An embedded audio player (16 kHz WAV, base64 in the output)."""
    from IPython.display import Audio

    from .audio import load

    a = load(path)
    y = a.samples
    if start is not None and start == start:
        y = y[int(start * a.sr):]
        if duration is not None and duration == duration:
            y = y[: int(duration * a.sr)]
    return Audio(data=y[: int(max_s * a.sr)], rate=a.sr, normalize=True)


# ---------------------------------------------------------------------------
# runs for reports
# ---------------------------------------------------------------------------
def demo_run(out_dir: str | Path, model: str | None = None, variants: Any = None) -> Path:
    """Run the demo manifest (the model chosen as ``make demo`` chooses it) into ``out_dir``."""
    from .demo import DEMO_DIR, choose_model
    from .runs import run

    chosen, _ = choose_model(model)
    out = Path(out_dir)
    try:
        run(DEMO_DIR / "manifest.csv", out_dir=out, model=chosen, variants=variants)
    except ConfigError as exc:
        if "other settings" not in str(exc):
            raise
        # the folder holds the demo run of another model or checkpoint: keep it, write beside it
        out = out.with_name(f"{out.name}_{datetime.now().strftime('%Y%m%d_%H%M%S')}")
        run(DEMO_DIR / "manifest.csv", out_dir=out, model=chosen, variants=variants)
    return out


def load_run(run_dir: str | Path):
    import pandas as pd

    run_dir = Path(run_dir)
    if not (run_dir / "results.parquet").is_file():
        raise ConfigError("no results.parquet in the run folder.", source=str(run_dir), fix="pass a finished run folder (workbench run …).")
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8")) if (run_dir / "summary.json").is_file() else {}
    return pd.read_parquet(run_dir / "results.parquet"), summary


def header(run_dir: str | Path, title: str) -> dict:
    import yaml

    res, summary = load_run(run_dir)
    cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8")) if (Path(run_dir) / "config.yaml").is_file() else {}
    model = summary.get("model", {})
    lines = []
    if summary.get("random_weights"):
        from .model import RANDOM_WEIGHTS_BANNER

        lines.append(f"> **⚠ {RANDOM_WEIGHTS_BANNER} Every number in this report is meaningless; it only shows the report works.**\n")
    lines += [
        f"# {title}", "",
        f"* **run**: `{Path(run_dir).resolve()}`",
        f"* **dataset**: `{cfg.get('manifest', '?')}` — {res['id'].nunique()} items, variants {', '.join(dict.fromkeys(res['variant']))}",
        f"* **model**: `{model.get('id', '?')}` ({model.get('parameters', 0):,} parameters, {model.get('device', '?')}, {model.get('dtype', '?')}), checksum `{str(model.get('checksum'))[:16]}`",
        f"* **failed rows**: {int((res['status'] == 'failed').sum())}; finished {summary.get('finished', '?')}",
        f"* generated {datetime.now().isoformat(timespec='seconds')} by workbench {__import__('workbench').__version__}",
    ]
    md("\n".join(lines))
    return summary


def metrics_section(run_dir: str | Path, *, by=("speaker", "gender"), n_boot: int = 1000) -> dict:
    from .metrics import evaluate, plot_confusion, plot_reliability

    res, _ = load_run(run_dir)
    out = {}
    for v in dict.fromkeys(res["variant"]):
        r = evaluate(res, variant=v, by=by, n_boot=n_boot)
        out[v] = {"n_scored": r.n_scored, "excluded_no_counterpart": r.n_excluded_no_counterpart, "failed": r.n_failed,
                  "wa": r.wa, "uar": r.uar, "macro_f1": r.macro_f1, "ci": {k: list(x) for k, x in r.ci.items()}, "ece": r.ece,
                  "per_class": r.per_class, "breakdowns": r.breakdowns}
        rows = [f"## Variant `{v}`", "",
                f"{r.n_scored} scored, {r.n_excluded_no_counterpart} excluded (no emotion2vec+ counterpart), {r.n_failed} failed.", "",
                "| metric | value | 95% bootstrap CI |", "|---|---|---|"]
        for k in ("wa", "uar", "macro_f1"):
            rows.append(f"| {k.upper()} | {getattr(r, k):.3f} | [{r.ci[k][0]:.3f}, {r.ci[k][1]:.3f}] |")
        rows.append(f"| ECE | {r.ece:.3f} | |")
        if r.per_class:
            rows += ["", "| class | precision | recall | F1 | n |", "|---|---|---|---|---|"]
            rows += [f"| {c} | {d['precision']:.3f} | {d['recall']:.3f} | {d['f1']:.3f} | {d['support']} |" for c, d in r.per_class.items()]
        for col, groups in r.breakdowns.items():
            rows += ["", f"**by {col}**", "", "| group | n | WA | UAR |", "|---|---|---|---|"]
            rows += [f"| {g} | {d['n']} | {d['wa']:.3f} | {d['uar']:.3f} |" for g, d in groups.items()]
        md("\n".join(rows))
        if r.n_scored:
            show_figure(plot_confusion(r))
            show_figure(plot_reliability(r))
    return out


def worst_cases(run_dir: str | Path, n: int = 5, variant: str | None = None) -> None:
    res, _ = load_run(run_dir)
    ok = res[res["status"] == "ok"]
    ok = ok[ok["variant"] == (variant or ok["variant"].iloc[0])]
    wrong = ok[(ok["emotion"].fillna("") != "") & (ok["pred"] != ok["emotion"])].sort_values("confidence", ascending=False)
    pick = wrong.head(n) if len(wrong) else ok.sort_values("confidence").head(n)
    md(f"## Worst cases\n\n{'Confidently wrong predictions' if len(wrong) else 'Lowest-confidence items'} (top {len(pick)}), with their findings:")
    for r in pick.itertuples():
        findings = json.loads(r.findings) if r.findings else []
        f_txt = "; ".join(f"`{f['code']}` — {f['suggestion']}" for f in findings) or "no findings"
        md(f"**{r.id}** — true *{r.emotion or '—'}*, predicted **{r.pred}** ({r.confidence:.3f}, margin {r.margin:.3f}). {f_txt}")
        try:
            from .runs import item_path

            _display(audio_player(item_path(run_dir, r.path), getattr(r, "start", None), getattr(r, "duration", None)))
        except Exception as exc:  # the report still renders if a file moved
            md(f"*(audio unavailable: {html.escape(str(exc))})*")


def findings_summary(run_dir: str | Path) -> dict:
    res, _ = load_run(run_dir)
    ok = res[res["status"] == "ok"]
    counts: dict[str, int] = {}
    for s in ok["finding_codes"].fillna(""):
        for c in filter(None, s.split(",")):
            counts[c] = counts.get(c, 0) + 1
    rows = ["## Findings", "", "| finding | rows | share |", "|---|---|---|"]
    rows += [f"| `{c}` | {k} | {k / max(len(ok), 1):.0%} |" for c, k in sorted(counts.items(), key=lambda kv: -kv[1])]
    if not counts:
        rows.append("| — | 0 | |")
    failed = res[res["status"] == "failed"]
    if len(failed):
        rows += ["", f"**{len(failed)} failed rows**:", ""] + [f"* `{r.id}` [{r.variant}]: {r.error}" for r in failed.itertuples()]
    md("\n".join(rows))
    return counts


def fusion_section(run_dir: str | Path, text_model: str | None = None) -> dict | None:
    from .fusion import fuse_run, plot_fusion

    md("## Speech + text fusion")
    try:
        res = fuse_run(run_dir, text_model=text_model, figures=False, n_boot=500)
    except ConfigError as exc:
        md(f"Not evaluated: {exc}")
        return None
    md("```\n" + res.render() + "\n```")
    show_figure(plot_fusion(res))
    return res.to_dict()


def comparison_section(run_dir: str | Path, baseline: str | None = None) -> dict:
    from .compare import compare_results, plot_comparison

    res, _ = load_run(run_dir)
    variants = list(dict.fromkeys(res["variant"]))
    baseline = baseline or ("raw" if "raw" in variants else variants[0])
    reports, comps, flips = compare_results(res, baseline=baseline)
    rows = [f"## Variants against `{baseline}`", "", "| variant | n | ΔWA [95% CI] | ΔUAR [95% CI] | McNemar b / c | p | flips |", "|---|---|---|---|---|---|---|"]
    for c in comps:
        rows.append(f"| {c.variant} | {c.n_paired} | {c.delta_wa[0]:+.3f} [{c.delta_wa[1]:+.3f}, {c.delta_wa[2]:+.3f}] | "
                    f"{c.delta_uar[0]:+.3f} [{c.delta_uar[1]:+.3f}, {c.delta_uar[2]:+.3f}] | {c.mcnemar_b} / {c.mcnemar_c} | {c.mcnemar_p:.3g} | {c.n_flips} |")
    md("\n".join(rows))
    for c in comps:
        show_figure(plot_comparison(res, c))
    if len(flips):
        md("### Flips\n\n| id | variant | true | before | after |\n|---|---|---|---|---|\n" + "\n".join(
            f"| {r.id} | {r.variant} | {r.emotion or '—'} | {r.pred_baseline} ({r.confidence_baseline:.3f}) | {r.pred_variant} ({r.confidence_variant:.3f}) |"
            for r in flips.head(30).itertuples()))
    return {"baseline": baseline, "comparisons": [c.to_dict() for c in comps], "n_flips": int(len(flips))}


def sweep_section(path: str | Path, kind: str, out_dir: str | Path, model: Any = None) -> dict:
    from .sweep import plot_sweep, summarise_sweep, sweep

    df = sweep(path, kind=kind, out_dir=out_dir, model=model, figures=False)
    summ = summarise_sweep(df, kind)
    md(f"## {kind} sweep of `{Path(path).name}`\n\n" + markdown_table(summ))
    show_figure(plot_sweep(df, kind))
    return {"kind": kind, "points": summ.to_dict(orient="records")}


def markdown_table(df) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def write_metrics(report_dir: str | Path, payload: dict) -> Path:
    p = Path(report_dir) / "metrics.json"
    p.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=json_default), encoding="utf-8")
    return p


# ---------------------------------------------------------------------------
# workbench report
# ---------------------------------------------------------------------------
def template_path(template: str | Path) -> Path:
    p = Path(template)
    if p.suffix == ".ipynb" and p.is_file():
        return p
    cand = TEMPLATES / f"{p.name if p.suffix == '.ipynb' else p.name + '.ipynb'}"
    if cand.is_file():
        return cand
    known = sorted(x.stem for x in TEMPLATES.glob("*.ipynb"))
    raise ConfigError(f"unknown report template {str(template)!r}; templates: {known}.", fix="pass one of them, or a path to a notebook.")


def parse_params(pairs: list[str]) -> dict:
    """``key=value`` strings; values parse as YAML (numbers, true/false, null), else stay strings."""
    import yaml

    out = {}
    for s in pairs or []:
        if "=" not in s:
            raise ConfigError(f"parameter {s!r} is not key=value.", fix="write --param run_dir=runs/my_run.")
        k, v = s.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError:
            out[k.strip()] = v
    return out


def run_report(template: str | Path, params: dict | None = None, *, out: str | Path = "reports", timeout: int = 1800) -> dict:
    """Execute a template with papermill; return the paths written."""
    import nbformat
    import papermill as pm

    src = template_path(template)
    name = src.stem
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    base = Path(out) / name
    report_dir = base / stamp
    k = 1
    while report_dir.exists():
        report_dir = base / f"{stamp}_{k}"
        k += 1
    report_dir.mkdir(parents=True)
    params = dict(params or {})
    params["report_dir"] = str(report_dir.resolve())
    nb_out = report_dir / f"{name}.ipynb"
    try:
        pm.execute_notebook(str(src), str(nb_out), parameters=params, kernel_name="python3", progress_bar=False,
                            execution_timeout=timeout, cwd=str(REPO))
    except pm.PapermillExecutionError as exc:
        raise ConfigError(f"the report notebook failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}", source=str(nb_out),
                          fix="open the executed notebook to see the traceback; check the parameters.") from None
    nb = nbformat.read(nb_out, as_version=4)
    html_path = report_dir / f"{name}.html"
    html_path.write_text(notebook_html(nb, title=name), encoding="utf-8")
    metrics = report_dir / "metrics.json"
    if not metrics.is_file():
        write_metrics(report_dir, {"note": "the template wrote no metrics"})
    return {"dir": report_dir, "notebook": nb_out, "html": html_path, "metrics": metrics}


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:14px}
pre{background:#f6f6f6;padding:8px;overflow-x:auto}img{max-width:100%}blockquote{background:#fee;border-left:4px solid #c00;margin:0;padding:6px 12px}
.input_code{display:none}
"""


def notebook_html(nb, *, title: str) -> str:
    """One self-contained HTML page: markdown, text, images and audio from the outputs; code hidden."""
    import mistune

    render = mistune.create_markdown(plugins=["table", "strikethrough"], escape=False)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(render(cell.source))
            continue
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []) or "injected-parameters" in cell.metadata.get("tags", []):
            continue
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                parts.append(f"<pre>{html.escape(o.text)}</pre>")
            elif o.output_type == "error":
                parts.append(f"<pre style='color:#c00'>{html.escape(o.ename)}: {html.escape(o.evalue)}</pre>")
            elif o.output_type in ("display_data", "execute_result"):
                data = o.get("data", {})
                if "text/html" in data and "<audio" in data["text/html"]:
                    parts.append(data["text/html"])
                elif "image/png" in data:
                    parts.append(f"<img src='data:image/png;base64,{data['image/png'].strip()}'>")
                elif "text/markdown" in data:
                    parts.append(render(data["text/markdown"]))
                elif "text/html" in data:
                    parts.append(data["text/html"])
                elif "text/plain" in data:
                    parts.append(f"<pre>{html.escape(data['text/plain'])}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)

