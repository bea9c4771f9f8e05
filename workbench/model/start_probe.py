"""The child process :func:`workbench.model.fastpath.measure_paths` times to measure one path's start-up.

``python -c "from workbench.model.start_probe import main; main()" CHECKPOINT PATH`` imports the path's runtime
(torch and FunASR, or ONNX Runtime alone), loads the checkpoint folder in that precision, scores one short seeded
clip, and prints one JSON line: whether torch was imported, and how long importing it took (a torch path times it
apart, so that a process that has torch already can leave it out).  The parent times the whole process.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

from workbench.model.fastpath import ONNX_PATHS
from workbench.model.onnx_backend import check_clips
from workbench.model.ref import ModelRef


def main() -> None:
    checkpoint, name = sys.argv[1], sys.argv[2]
    torch_import = None
    if name not in ONNX_PATHS:
        t0 = time.perf_counter()
        importlib.import_module("torch")
        torch_import = time.perf_counter() - t0
    net = ModelRef(checkpoint, device="cpu", dtype=name).load()
    net.predict(check_clips(1, seed=2))
    print(json.dumps({"torch": "torch" in sys.modules, "torch_import_seconds": torch_import}))
