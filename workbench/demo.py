"""``make demo`` / ``workbench demo``: infer on the shipped clips, then the experiment report on the demo set.

The demo set itself (shipped clips and the generated speakers) is
:mod:`workbench.data.demoset`; its names are re-exported here.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from workbench.data.demoset import (DEMO_DATA, choose_model, demo_clip, demo_files, demo_manifest, demo_set,
                                    long_demo_file)
from workbench.runs.driver import demo_run
from workbench.paths import shell_command
from workbench.runs.outputs import infer_files, print_logs, print_outcomes
from workbench.views.reporting import run_report
from workbench.serialize import size_text

__all__ = ["run_demo", "DEMO_DATA", "choose_model", "demo_clip", "demo_files", "demo_manifest", "demo_run", "demo_set",
           "long_demo_file"]


def run_demo(*, out: str = "outputs", model: str | None = None, report: bool = True, reports_dir: str = "reports") -> int:
    chosen, why = choose_model(model)
    if chosen == "tiny":
        print(
            "OFFLINE DEMO: no emotion2vec+ weights available here, using the tiny random checkpoint — "
            "its predictions mean nothing (set WORKBENCH_MODEL=<checkpoint dir> for real results)."
        )
    else:
        print(f"model: {chosen} ({why})")
    files = demo_files()
    print(f"demo clips: {len(files)} files from {DEMO_DATA}")
    outcomes = infer_files(files, model=chosen, granularity="frame", embedding=True, out_dir=out)
    print_logs(outcomes, sys.stdout)
    print_outcomes(outcomes, show_log=False)
    print(f"outputs written under {Path(out).resolve()}")
    if report:
        folder = demo_set()
        with open(folder / "manifest.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        speakers = {r["speaker"] for r in rows if r["speaker"]}
        print(f"\nexperiment report on the demo set ({len(rows)} items, {len(speakers)} speakers; {folder}) …")
        paths = run_report("experiment_report", {"model": chosen, "title": "Demo set: experiment report"}, out=reports_dir)
        print(f"report: {paths['html'].resolve()} ({size_text(paths['html'].stat().st_size)}, self-contained HTML)")
    print(next_steps(chosen, paths["html"].resolve() if report else None))
    return 0 if all(o.ok for o in outcomes) else 1


def next_steps(model: str, html: Path | None) -> str:
    """What to do after the demo, as every command ends: the report to open, then the README's four commands for a
    folder of one's own, with the model the demo used (the command's default, a download, fails where the demo just
    found none: a newcomer's first `workbench run` ended in "cannot be reached")."""
    chosen = [] if model == "iic/emotion2vec_plus_large" else ["--model", model]
    lines = ["next:"] + ([f"  open {html} in a browser   # metrics with intervals, calibration, worst cases"] if html else [])
    lines += ["  " + shell_command("workbench", "manifest", "my_wavs/", "-o", "my_wavs.csv", "--label-from-folder")
              + "   # your folder of audio files; label = each file's folder name",
              "  " + shell_command("workbench", "run", "my_wavs.csv", "--out", "runs/my_wavs", *chosen),
              "  " + shell_command("workbench", "report", "experiment_report", "-p", "run_dir=runs/my_wavs")]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo())
