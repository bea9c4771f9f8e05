#!/usr/bin/env bash
# The wheel is what users install: build it, install it into a fresh virtualenv outside the checkout,
# and run `workbench demo` and a report from an empty folder there. Fails when the installed tool
# lacks its templates or demo data, or reaches back into the checkout.
#
#   VENV=.venv .ci/wheel_check.sh        (make test's venv: it holds the dependencies and setuptools)
#
# Offline: the new venv gets the package only from the wheel (pip install --no-deps); its dependencies
# are the project venv's, made visible by one .pth line (nothing is downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PY=${VENV:-.venv}/bin/python
[ -x "$PY" ] || { echo "wheel check: no python at $PY (run make install, or set VENV)" >&2; exit 2; }
t0=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/wheel-check.XXXXXX")
keep=${WHEEL_CHECK_KEEP:-0}
trap '[ "$keep" = 1 ] && echo "kept $work" || rm -rf "$work"' EXIT

# 1) build (with the venv's setuptools when it has a recent one: no download) and look inside
iso=()
"$PY" -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' 2>/dev/null && iso=(--no-build-isolation)
"$PY" -m pip wheel -q --no-deps "${iso[@]}" -w "$work/dist" . >/dev/null
wheel=$(ls "$work"/dist/emotion_workbench-*.whl)
"$PY" - "$wheel" <<'EOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = ["workbench/templates/experiment_report.ipynb", "workbench/templates/variant_comparison.ipynb",
        "workbench/demo_data/manifest.csv", "workbench/demo_data/happy_en_44k.wav", "workbench/demo_data/surprised_en.m4a",
        # every subpackage and the checkpoint protocol cards travel too
        "workbench/data/cards/emotion2vec.json", "workbench/model/network.py", "workbench/explain/attribution.py",
        "workbench/cli/__main__.py", "workbench/analysis/calibration.py", "workbench/views/reporting.py"]
missing = [n for n in need if n not in names]
assert not missing, f"the wheel lacks {missing}"
stray = sorted(n for n in names if n.split("/")[0] in ("tests", "notebooks", "datasets", "reports", "benchmarks"))
assert not stray, f"the wheel carries repository folders: {stray[:5]}"
print(f"wheel: {sys.argv[1].rsplit('/', 1)[1]} ({len(names)} files)")
EOF

# 2) a fresh venv outside the checkout: the package from the wheel, the dependencies from the project venv
"$PY" -m venv "$work/venv"
deps=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$deps" > "$site/zz_project_deps.pth"   # after the venv's own site-packages: the wheel's workbench wins
"$work/venv/bin/python" -m pip install -q --no-deps --no-index "$wheel"

# 3) from an empty folder: the demo (inference + experiment report) and a report on the demo's run by a relative path
mkdir "$work/cwd" "$work/empty-hub"
cd "$work/cwd"
export WORKBENCH_CACHE="$work/cache" WORKBENCH_LOG="$work/workbench.log" WORKBENCH_OFFLINE=1
export MODELSCOPE_CACHE="$work/empty-hub" HF_HUB_CACHE="$work/empty-hub"
unset WORKBENCH_MODEL PYTHONPATH
where=$("$work/venv/bin/python" -c 'import workbench, sys; print(workbench.__file__)')
case "$where" in "$work/venv/"*) ;; *) echo "wheel check: workbench imported from $where, not the wheel" >&2; exit 1;; esac
"$work/venv/bin/workbench" demo --out outputs > demo.out 2> demo.err || { cat demo.out demo.err >&2; echo "wheel check: workbench demo failed" >&2; exit 1; }
html=$(ls outputs/reports/experiment_report/*/experiment_report.html)  # --out DIR holds the report too
grep -q "RANDOM WEIGHTS" "$html"
run=$(dirname "$html")/run
rel=${run#"$PWD/"}
"$work/venv/bin/workbench" report experiment_report -p "run_dir=$rel" -p "title=Wheel check" > report.out 2> report.err \
  || { cat report.out report.err >&2; echo "wheel check: workbench report failed" >&2; exit 1; }
grep -q "Wheel check" reports/experiment_report/*/experiment_report.html
# nothing but the workbench's own lines on stderr
if grep -E "trust_remote_code|WARNING root|without encryption" demo.err report.err; then
  echo "wheel check: library log lines reached the screen" >&2; exit 1
fi
cd "$repo"
echo "wheel check passed in $(( $(date +%s) - t0 )) s: built, installed outside the checkout, demo and report ran from $work/cwd"
