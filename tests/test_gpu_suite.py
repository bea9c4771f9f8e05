"""benchmarks/gpu_suite.sh --smoke: the one-shot GPU suite runs end to end (tiny model, CPU) and writes its JSON."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_suite_smoke_writes_every_step(tmp_path):
    out = tmp_path / "suite.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "SITE": str(tmp_path / "site")}
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_suite.sh"), "--smoke", "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert set(figures["steps"]) == {"end_to_end", "model_only", "onnxruntime", "compiled"}
    assert all(s["ok"] for s in figures["steps"].values())
    assert figures["steps"]["model_only"]["x_real_time"] > 0
    ort = figures["steps"]["onnxruntime"]["paths"]["onnxruntime-cpu-float32"]
    assert ort["vs_torch_float32"]["max_abs_delta_score"] < 1e-4
    assert "targets:" in proc.stdout
    compiled = figures["steps"]["compiled"]
    assert compiled["eager"]["x_real_time"] > 0
    if shutil.which("cc") or shutil.which("gcc"):  # inductor's CPU code needs a C compiler; without one the mode records why
        mode = compiled["modes"]["default"]
        assert mode["ok"], mode
        assert mode["min_cosine_pooled"] > 0.9999 and mode["max_abs_diff_pooled"] < 1e-3
