"""ONNX graphs put in each other's place, in an export folder (`--backend onnxruntime --model DIR`) and in the model
cache (`--dtype auto`): refused, or made again with one line, never run under the other precision's name."""

from __future__ import annotations

import logging
import shutil

import pytest

from workbench.cli import main
from workbench.errors import ModelError
from workbench.model import fastpath
from workbench.model.onnx_backend import load_onnx_model
from workbench.model.onnx_export import ONNX_FILE, ONNX_INT8_FILE
from workbench.model.ref import ModelRef


@pytest.fixture(scope="module")
def export_int8(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile_onnx") / "export"
    assert main(["model", "export-onnx", "--model", "tiny", "--out", str(out), "--int8", "--no-check"]) == 0
    return out


@pytest.mark.parametrize("dtype, put, over, says", [
    ("float32", ONNX_INT8_FILE, ONNX_FILE, "model.onnx holds int8 quantisation operators (DynamicQuantizeLinear"),
    ("int8", ONNX_FILE, ONNX_INT8_FILE, "model.int8.onnx has no int8 quantisation operator: it is a float32 graph"),
])
def test_a_graph_copied_over_the_other_precisions_name_is_refused(export_int8, tmp_path, dtype, put, over, says):
    folder = tmp_path / "export"
    shutil.copytree(export_int8, folder)
    assert load_onnx_model(folder, dtype=dtype).info.dtype == dtype  # as exported
    shutil.copyfile(folder / put, folder / over)
    # the int8 graph under model.onnx scored the run as "onnx float32" (and the reverse as int8), without a word
    with pytest.raises(ModelError, match="under the .* graph's name") as info:
        load_onnx_model(folder, dtype=dtype)
    assert says in info.value.message and f"recorded as {dtype}'s" in info.value.message


def test_a_damaged_cached_export_is_made_again_with_one_line(tiny_model, caplog):
    fastpath.ensure_export(tiny_model)
    folder = fastpath.export_folder(tiny_model.info.identity)
    with open(folder / ONNX_INT8_FILE, "r+b") as f:
        f.truncate(1000)
    with caplog.at_level(logging.WARNING, logger="workbench.model.fastpath"):
        found, _, _ = fastpath.onnx_export_for(ModelRef(model="tiny", device="cpu"))
    lines = [r.getMessage() for r in caplog.records if "is made again" in r.getMessage()]
    # the export was looked up twice (for the measurement, then to make it), and the same warning printed twice
    assert lines == [f"the cached ONNX export {folder} changed since it was verified ({ONNX_INT8_FILE}): it is made again"]
    assert found == folder and fastpath.cached_export(tiny_model.info.identity) is not None  # made again, intact
    assert load_onnx_model(folder, dtype="int8").info.dtype == "int8"


def test_an_interrupted_export_leaves_no_temporary_in_the_cache_and_a_killed_ones_is_swept(tiny_model):
    import os
    import subprocess
    import sys

    folder = fastpath.export_folder(tiny_model.info.identity)
    shutil.rmtree(folder, ignore_errors=True)

    def interrupt_at_the_check(line):  # Ctrl-C (or SIGTERM, which the CLI turns into the same) while the graphs are checked
        if line.startswith("checking the ONNX graphs"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fastpath.ensure_export(tiny_model, progress=interrupt_at_the_check)
    # `.NAME.tmp-PID` with both graphs stayed in the cache for good (hundreds of MB to GBs for the real models)
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == [] and not folder.exists()

    # what a `kill -9` during an export leaves: swept by the next export (a process of its own: a folder is swept once
    # per process)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    killed = folder.parent / f".{folder.name}.tmp-{dead}-deadbeef"
    killed.mkdir()
    (killed / "model.onnx").write_bytes(b"\0" * 1000)
    os.utime(killed, (0, 0))
    code = ("from workbench.model.network import load_model; from workbench.model import fastpath; "
            "fastpath.ensure_export(load_model('tiny', device='cpu'))")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert not killed.exists() and fastpath.cached_export(tiny_model.info.identity) is not None
