"""A `workbench run` on a few clips pays only for what it uses (issue #28 item 2): the libraries of reports,
figures, projections, clustering and other engines stay unimported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_runs import make_dataset

REPO = Path(__file__).resolve().parent.parent
#: what a local run of a few clips never needs: figures, notebooks, projections, FunASR's speaker clustering
#: (sklearn and scipy.stats, ~1 s of imports), scipy.special (0.3-0.6 s, for a softmax), Ray, MLflow
NOT_NEEDED = ("matplotlib", "papermill", "umap", "sklearn", "scipy.stats", "scipy.special", "numba", "ray", "mlflow",
              # the workbench's own report sections and analyses: 0.1 s of the run's serial start (2 cores, load 2)
              # when `run` reached them through the report module and `--temperature`'s reader
              "workbench.views.reporting", "workbench.analysis.calibration", "workbench.analysis.fusion",
              "workbench.analysis.listeners", "workbench.analysis.probe", "workbench.explain",
              # the parquet dataset reader: the parts and results.parquet read back at the end, which the run just wrote
              "pyarrow.dataset")

SCRIPT = """
import json, sys
from workbench.cli import main
rc = main(["run", sys.argv[1], "--model", "tiny", "--no-cache", "--out", sys.argv[2]])
print("IMPORTED", json.dumps({"rc": rc, "modules": sorted(m for m in json.loads(sys.argv[3]) if m in sys.modules)}))
"""


def test_workbench_run_on_a_few_clips_does_not_import_figures_reports_or_projections(tmp_path):
    manifest = make_dataset(tmp_path, n=3, bad=False)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(manifest), str(tmp_path / "run"), json.dumps(NOT_NEEDED)],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)})
    line = next((x for x in proc.stdout.splitlines() if x.startswith("IMPORTED ")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-3000:]
    got = json.loads(line[len("IMPORTED "):])
    assert got["rc"] == 0 and (tmp_path / "run" / "results.parquet").is_file()
    assert got["modules"] == [], f"a 3-clip `workbench run` imported {got['modules']}"
