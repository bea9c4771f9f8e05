"""``--dtype auto`` whose measured fastest path is ONNX Runtime, with the cached export damaged and a model cache that
cannot be written (a shared, read-only cache): the run takes PyTorch, says why and records it; an ONNX path asked for
by name is refused naming the cache folder, never the hidden temporary folder the export was to be made in."""

from __future__ import annotations

import errno
import json
import os
import pathlib

from workbench.cli.common import cache_fault
from workbench.model import fastpath
from workbench.model.ref import ModelRef
from workbench.paths import cache_dir

#: writes refused below this folder (simulated: tests may run as root, for whom a read-only mode changes nothing)
def _refuse_writes_below(monkeypatch, folder: pathlib.Path) -> None:
    real = pathlib.Path.mkdir

    def mkdir(self, *a, **k):
        if str(os.path.abspath(self)).startswith(str(folder) + os.sep):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)


def test_auto_takes_pytorch_when_its_onnx_export_is_damaged_in_a_cache_that_cannot_be_written(tiny_model, monkeypatch):
    checksum = tiny_model.info.identity
    ModelRef("tiny", device="cpu", dtype="auto").load()  # the measurement and the export, made once (the session's cache)
    fastpath.ensure_export(tiny_model)
    path = fastpath.record_path(checksum)
    saved = path.read_text()
    record = json.loads(saved)
    assert record["paths"]["onnx-float32"]["ok"] is True  # the export agreed with float32 when measured
    f32 = record["paths"]["float32"]["seconds"]
    record["paths"]["onnx-float32"].update(seconds=f32 / 100, x_float32=100.0)  # measured fastest, as on many CPUs
    folder = fastpath.export_folder(checksum)
    graph = folder / "model.onnx"
    good = graph.read_bytes()
    try:
        path.write_text(json.dumps(record))
        assert fastpath.cached_record(checksum) is not None
        graph.write_bytes(good[: len(good) // 3])  # damaged since it was verified
        _refuse_writes_below(monkeypatch, folder.parent)
        heard: list[str] = []
        net = ModelRef("tiny", device="cpu", dtype="auto").load(progress=heard.append)
        precision = net.precision
        assert net.info.dtype == precision["chosen"] and not precision["chosen"].startswith("onnx-")
        assert precision["fallback"] == {"from": "onnx-float32", "folder": str(folder.parent), "error": os.strerror(errno.EROFS)}
        said = next(line for line in heard if line.startswith("dtype auto → "))
        assert f"{folder.parent} cannot be written in" in said and "WORKBENCH_CACHE" in said and ".tmp" not in said
        # "exporting the model to ONNX once …" was the last word before PyTorch loaded, as if the export had been made; the
        # export is said not to have been made as it fails, before the load's own lines and the choice's reason
        exporting = next(i for i, line in enumerate(heard) if line.startswith("exporting the model to ONNX"))
        assert heard[exporting + 1] == (f"the ONNX export was not made: {folder.parent} cannot be written in "
                                        f"({os.strerror(errno.EROFS)}); loading {precision['chosen']} (PyTorch) instead of onnx-float32")
        assert heard.index(said) > exporting + 1
    finally:
        monkeypatch.undo()
        path.write_text(saved)
        graph.write_bytes(good)


def test_a_cache_that_cannot_be_written_is_named_not_the_temporary_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    onnx = cache_dir() / "onnx"
    onnx.mkdir(parents=True)
    exc = OSError(errno.EROFS, os.strerror(errno.EROFS), str(onnx / ".3aa1b4e756771192-ort1.32.0.tmp-2060-4002134a"))
    text = cache_fault(exc)
    assert text.startswith(f"error: {onnx}: cannot be used for the workbench's cache (Read-only file system).")
    assert ".tmp" not in text and "WORKBENCH_CACHE" in text


def test_the_fallbacks_reason_and_its_recorded_expected_seconds_give_the_same_figures(tiny_model, tmp_path):
    # the first choice's expected seconds were made before the process imported torch (its import counted in each
    # PyTorch path's start-up); the fallback's reason, made after, said "float32's 2.1 s" beside a recorded 3.46 s
    import re

    from workbench.model import auto_fallback

    ModelRef("tiny", device="cpu", dtype="auto").load()  # the session's measurement, cached
    record = fastpath.cached_record(tiny_model.info.identity)
    assert record is not None
    stale = {name: 99.0 for name in record["paths"]}  # what a process without torch had recorded
    precision = {"requested": "auto", "chosen": "onnx-float32", "reason": "…", "expected_seconds": stale}
    exc = OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "onnx" / ".x.tmp-1"))
    _, after = auto_fallback.torch_instead(ModelRef("tiny", device="cpu", dtype="onnx-float32"), precision, exc, job_clips=400)
    said = re.search(r"about ([\d.]+) s against float32's ([\d.]+) s", after["reason"])
    if said is None:  # no path beat float32: the reason gives float32's figure alone
        said = re.search(r"\(float32 about ([\d.]+) s\)", after["reason"])
        assert said and _shown(said.group(1), after["expected_seconds"]["float32"])
    else:
        assert _shown(said.group(1), after["expected_seconds"][after["chosen"]])
        assert _shown(said.group(2), after["expected_seconds"]["float32"])


def _shown(text: str, recorded: float) -> bool:
    """``text`` is ``recorded`` to one decimal: the record keeps more digits than the sentence, so 3.65 recorded (from
    3.6512 measured) reads "3.7" while round(3.65, 1) is 3.6 in binary floating point."""
    return abs(float(text) - recorded) <= 0.05 + 1e-9
