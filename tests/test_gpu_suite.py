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
    assert set(figures["steps"]) == {"end_to_end", "model_only", "onnxruntime", "compiled", "attention_memory"}
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
    att = figures["steps"]["attention_memory"]
    assert set(att["paths"]) == {"torch-float32", "onnxruntime-float32"}
    for path in att["paths"].values():  # the peaks grow with the clip, and the verdict is the ratio it prints
        peaks = [p["peak_bytes"] for p in path["points"]]
        assert peaks == sorted(peaks) and peaks[-1] > 0
        assert path["check_holds"] == (path["at_longest"] <= 1.0)
    assert "attention_memory: the memory check's bytes per pair" in proc.stdout


def test_attention_memory_flags_a_figure_the_peaks_exceed(monkeypatch, capsys):
    """Peaks above the check's own need at the longest clip: the verdict says the check underestimates (constructed)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import attention_memory
    from workbench.model.memory import ATTENTION_BYTES

    heads, per_pair = 2, ATTENTION_BYTES["float32"] * 1.5  # half again what the check assumes

    def fake_child(path, model, device, dtype, seconds):
        frames = [int(s * 50) for s in seconds]
        return {"heads": heads, "points": [{"seconds": s, "frames": f, "peak_bytes": int(per_pair * heads * f * f + 1000 * f)}
                                           for s, f in zip(seconds, frames)]}

    monkeypatch.setattr(attention_memory, "_run_child", fake_child)
    res = attention_memory.measure("torch", "unused", "cpu", "float32", (6.0, 12.0, 18.0, 24.0))
    assert not res["check_holds"] and res["at_longest"] > 1.4
    assert abs(res["bytes_per_pair"] - per_pair) < 0.5  # the fit recovers the quadratic term
    assert "UNDERESTIMATES" in capsys.readouterr().out
