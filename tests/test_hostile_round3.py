"""Hostile inputs of the third round: each test builds the input, runs the real component, and checks the refusal
(or the bound) that the old code lacked."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from workbench import cli


def run_cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("round3_export") / "export"
    rc, _, err = run_cli("model", "export-onnx", "--model", "tiny", "--out", out, "--no-check")
    assert rc == 0, err
    return out


def _external_copy(export: Path, dst: Path, location: str) -> Path:
    """A copy of ``export`` whose largest initialiser keeps its bytes in ``location`` (an external data file), with
    model.json's recorded sha256 updated, as someone who hands the folder on would do."""
    import onnx

    shutil.copytree(export, dst)
    proto = onnx.load(str(dst / "model.onnx"))
    init = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
    init.ClearField("raw_data")
    init.data_location = onnx.TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", location
    onnx.save(proto, str(dst / "model.onnx"))
    meta = json.loads((dst / "model.json").read_text(encoding="utf-8"))
    for graph in (meta.get("check") or {}).get("graphs", {}).values():
        graph["sha256"] = hashlib.sha256((dst / "model.onnx").read_bytes()).hexdigest()
    (dst / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    return dst


@pytest.mark.parametrize("location", ["weights.bin", "../../../../../../etc/passwd"])
def test_an_onnx_graph_with_external_data_is_refused_before_onnx_runtime_reads_it(tiny_export, tmp_path, location):
    """The external file's bytes are outside the graph's sha256 (the checksum and the export check's record): a
    zero-filled weights.bin beside model.onnx loaded and scored as if it were the checked export."""
    from workbench.errors import ModelError
    from workbench.model.onnx_backend import load_onnx_model

    d = _external_copy(tiny_export, tmp_path / "ext", location)
    (d / "weights.bin").write_bytes(b"\0" * (1 << 20))
    with pytest.raises(ModelError) as e:
        load_onnx_model(d)
    assert "external data" in str(e.value) and e.value.fix and "model.onnx" in str(e.value)
