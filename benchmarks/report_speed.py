"""How long `workbench report experiment_report` takes on a finished demo run (issue #28 item 5: target 30 s).

    PYTHONPATH=. python benchmarks/report_speed.py [--run RUN] [--repeat 1]

Measures whole `workbench report` processes (kernel start, imports, every section, the HTML), in one
run and interleaved, on a copy of the run folder (the original is not touched):

* ``default``          the report as `workbench report experiment_report -p run_dir=RUN` makes it
                       (fusion left out and said so in the page);
* ``fusion, uncached`` ``-p fusion=true`` on a run folder with no ``fusion.json``: the fusion section
                       trains a text model per fold (the path every fusion report took before);
* ``fusion, cached``   ``-p fusion=true`` again: the section reuses the ``fusion.json`` the previous
                       report wrote, because its key (results, embeddings, text model, folds, seed,
                       resamples) matches.

Without ``--run`` a demo run is made first with the tiny checkpoint (its time is printed apart).
The load average is printed beside the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(run_dir: Path, out: Path, *params: str) -> float:
    cmd = [sys.executable, "-m", "workbench.cli", "report", "experiment_report", "-p", f"run_dir={run_dir}", *params, "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a finished run folder (default: the demo set run with the tiny checkpoint)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the three measurements (default 1)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="report_speed_") as tmp:
        tmp = Path(tmp)
        print(f"load average at start: {load()}")
        if args.run:
            source = Path(args.run)
        else:
            sys.path.insert(0, str(REPO))
            import workbench as wb

            t0 = time.perf_counter()
            source = Path(wb.demo_run(tmp / "demo", model="tiny"))
            print(f"demo run (tiny, made once, not part of the figures below): {time.perf_counter() - t0:.1f} s")
        rows: dict[str, list[float]] = {"default": [], "fusion, uncached": [], "fusion, cached": []}
        for k in range(args.repeat):
            run_dir = tmp / f"run_{k}"
            shutil.copytree(source, run_dir)
            (run_dir / "fusion.json").unlink(missing_ok=True)  # the uncached path: no fusion result to reuse
            rows["default"].append(report(run_dir, tmp / "reports"))
            rows["fusion, uncached"].append(report(run_dir, tmp / "reports", "-p", "fusion=true"))
            rows["fusion, cached"].append(report(run_dir, tmp / "reports", "-p", "fusion=true"))
            newest = max((tmp / "reports" / "experiment_report").glob("*/experiment_report.html"), key=lambda p: p.stat().st_mtime)
            if "Reused from the run folder" not in newest.read_text(encoding="utf-8"):
                print("warning: the cached report did not reuse fusion.json (the figure above is not the cached path)")
            print(f"round {k + 1}: " + ", ".join(f"{name} {v[-1]:.1f} s" for name, v in rows.items()) + f"  (load {load()})")
        print(f"\n{'workbench report experiment_report':<36} {'median s':>9}   target 30 s")
        for name, values in rows.items():
            med = sorted(values)[len(values) // 2]
            print(f"  {name:<34} {med:>9.1f}   {'met' if med <= 30 else 'NOT met'}")
        print(f"load average at end: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
