#!/usr/bin/env bash
# Fetch, on a machine WITH network, the wheels benchmarks/gpu_suite.sh needs on a GPU machine WITHOUT network whose
# Python already has torch, numpy, scipy, pandas, pyarrow, scikit-learn, onnx and onnxruntime (the lent H200 image):
# FunASR and what it and the workbench import while `workbench run` loads and scores.  Versions are the ones this
# repository is tested with.  Writes them to ${WHEELS:-.whl} (≈ 10 MB); gpu_suite.sh installs from there with --no-index.
#
#   benchmarks/gpu_wheels.sh            # then carry .whl to the GPU machine beside the checkout
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-.whl}
PY=${PYTHON:-python3}
mkdir -p "$WHEELS"
PLATFORM=(--python-version "${GPU_PYTHON_VERSION:-3.12}" --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
# compiled: the GPU machine's Python version and platform
"$PY" -m pip download -q --no-deps --only-binary=:all: "${PLATFORM[@]}" -d "$WHEELS" soxr==1.1.0 soundfile==0.14.0 cffi==2.1.1
# pure Python wheels
"$PY" -m pip download -q --no-deps --only-binary=:all: "${PLATFORM[@]}" -d "$WHEELS" \
    funasr==1.4.16 kaldiio==2.18.1 omegaconf==2.3.1 hydra-core==1.3.8 librosa==0.11.0 audioread==3.1.0 pooch==1.9.0 \
    decorator==5.3.1 dill==0.4.1 pycparser==3.12 torch-complex==0.4.4 platformdirs==4.14.9
# source-only on PyPI: built into a wheel here (pure Python)
"$PY" -m pip wheel -q --no-deps -w "$WHEELS" antlr4-python3-runtime==4.9.3
du -sh "$WHEELS"
