"""``make demo``: run the workbench on the small demo set in ``datasets/demo/``.

The model is, in order: ``--model``, ``$WORKBENCH_MODEL``, a local download
of ``iic/emotion2vec_plus_large`` in the ModelScope cache, and otherwise the
tiny random checkpoint, announced in one clear line.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent.parent / "datasets" / "demo"


def choose_model(model: str | None = None) -> tuple[str, str]:
    """Return ``(model, why)`` for the demo."""
    if model:
        return model, "as asked with --model"
    if os.environ.get("WORKBENCH_MODEL"):
        return os.environ["WORKBENCH_MODEL"], "from $WORKBENCH_MODEL"
    from .model import DEFAULT_MODEL, cached_hub_checkpoint

    for hub in ("ms", "hf"):
        if cached_hub_checkpoint(DEFAULT_MODEL, hub) is not None:
            return DEFAULT_MODEL, f"found in the local {hub} cache"
    return "tiny", "no emotion2vec+ checkpoint found locally"


def demo_files(demo_dir: Path = DEMO_DIR) -> list[Path]:
    manifest = demo_dir / "manifest.csv"
    if not manifest.is_file():
        from .errors import ConfigError

        raise ConfigError("demo manifest not found.", source=str(manifest), fix="run `python datasets/demo/make_demo.py` to create the demo set.")
    with open(manifest, newline="", encoding="utf-8") as f:
        return [demo_dir / row["path"] for row in csv.DictReader(f)]


def run_demo(*, out: str = "outputs", model: str | None = None, report: bool = True, reports_dir: str = "reports") -> int:
    from .cli import print_outcomes
    from .outputs import infer_files

    chosen, why = choose_model(model)
    if chosen == "tiny":
        print(
            "OFFLINE DEMO: no emotion2vec+ weights available here, using the tiny random checkpoint — "
            "its predictions mean nothing (set WORKBENCH_MODEL=<checkpoint dir> for real results)."
        )
    else:
        print(f"model: {chosen} ({why})")
    files = demo_files()
    print(f"demo set: {len(files)} files from {DEMO_DIR}")
    outcomes = infer_files(files, model=chosen, granularity="frame", embedding=True, out_dir=out)
    print_outcomes(outcomes, show_log=True)
    print(f"outputs written under {Path(out).resolve()}")
    if report:
        from .reporting import run_report

        print("\nexperiment report on the demo set (papermill) …")
        paths = run_report("experiment_report", {"model": chosen, "title": "Demo set: experiment report"}, out=reports_dir)
        print(f"report: {paths['html'].resolve()} ({paths['html'].stat().st_size / 1e6:.1f} MB, self-contained HTML)")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo())
