#!/usr/bin/env bash
# All GPU figures of issue #23 in one go, one JSON (< 8 min on an H200): benchmarks/gpu_suite.py says what runs.
#
#   benchmarks/gpu_suite.sh [--json PATH]          # GPU machine; JSON to PATH, else $OUT/gpu_suite.json, else ./gpu_suite.json
#   benchmarks/gpu_suite.sh --smoke --json /tmp/s.json   # tiny model on the CPU: checks the suite runs
#
# Not in the suite (issue #30, `finetune --unfreeze`; needs peft for LoRA: pip install peft --no-deps if torch must stay):
#   python benchmarks/finetune_unfreeze.py --model random-large --device cuda --k 2 --seeds 0 --json $OUT/unfreeze.json
#
# Needs a Python with torch (CUDA build), numpy, scipy, pandas, pyarrow, scikit-learn, onnx and onnxruntime ($PYTHON,
# default python3).  What is missing of the rest (FunASR and the audio libraries) is installed first: from the wheels
# in ${WHEELS:-.whl} when that folder exists (a machine without network: fetch them with benchmarks/gpu_wheels.sh
# where there is network), else from PyPI with pip.  Nothing is installed into the system's site-packages: the
# packages go to ${SITE:-/tmp/workbench-site}, put first on PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/workbench-site}
missing=$("$PY" - <<'PYEOF'
import importlib.util
need = {"funasr": "funasr==1.4.16", "kaldiio": "kaldiio", "omegaconf": "omegaconf", "hydra": "hydra-core",
        "librosa": "librosa", "soundfile": "soundfile", "soxr": "soxr", "torch_complex": "torch-complex",
        "onnx": "onnx", "onnxruntime": "onnxruntime", "yaml": "pyyaml", "pandas": "pandas", "pyarrow": "pyarrow",
        "sklearn": "scikit-learn", "safetensors": "safetensors", "tqdm": "tqdm"}
print(" ".join(pip for mod, pip in need.items() if importlib.util.find_spec(mod) is None))
PYEOF
)
if [ -n "$missing" ]; then
    echo "installing into $SITE: $missing"
    if [ -d "$WHEELS" ]; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
    else
        # FunASR's own requirements list pulls in training and hub tools the suite never imports; --no-deps keeps it small
        "$PY" -m pip install -q --target "$SITE" --no-deps $missing
        "$PY" -m pip install -q --target "$SITE" antlr4-python3-runtime==4.9.3 audioread pooch decorator dill cffi platformdirs
    fi
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PY" benchmarks/gpu_suite.py "$@"
