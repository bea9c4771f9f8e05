"""Every file of the generated bad-input corpus (tests/bad_inputs.py) through `load` and through `workbench infer`.

A bad file gives an AudioError whose text names the input, the fact and the fix; an odd but valid
one loads (with the finding or warning it deserves); one `infer` over all of them finishes, prints
no traceback, and gives each bad file a failed row; a header that lies about the length cannot make
intake hold more than `max_duration_s` of samples.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bad_inputs import CASES, LIE_HOLDS_S, generate
from conftest import REPO
from workbench.audio.intake import AudioConfig, load
from workbench.engine.findings import audio_facts, findings_from
from workbench.errors import WorkbenchError

PY = sys.executable


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    cases = generate(tmp_path_factory.mktemp("bad_inputs"))
    yield {c.name: c for c in cases}
    for c in cases:
        if c.name == "unreadable.wav":
            c.path.chmod(0o644)


def test_the_corpus_is_big_and_generated():
    assert len(CASES) >= 50 and len({c.name for c in CASES}) == len(CASES)
    assert not list((REPO / "tests").glob("*.m4a")) and not list((REPO / "tests").glob("*.wav"))  # nothing binary committed


def _assert_names_fact_and_fix(exc: WorkbenchError, case) -> None:
    d = exc.to_dict()
    assert str(case.path) in d["text"], d["text"]  # the input
    assert case.fragment in d["text"], d["text"]  # the fact
    assert d["fix"] and f"Fix: {d['fix']}" in d["text"], d["text"]  # the fix


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_load(corpus, name):
    case = corpus[name]
    if case.skip:
        pytest.skip(case.skip)
    t0 = time.perf_counter()
    try:
        audio = load(case.path)
    except WorkbenchError as exc:
        assert time.perf_counter() - t0 < 10
        assert case.expect in ("error", "either"), f"{name} should load: {exc}"
        _assert_names_fact_and_fix(exc, case)
        return
    assert time.perf_counter() - t0 < 10
    assert case.expect in ("ok", "either"), f"{name} should be refused ({case.fragment!r}), loaded {audio.duration:.2f} s"
    assert audio.samples.ndim == 1 and audio.sr == 16000 and len(audio.samples) > 0
    if case.finding:
        assert case.finding in {f.code for f in findings_from(audio_facts(audio))}
    if case.warning:
        assert any(case.warning in w for w in audio.log.warnings), audio.log.warnings


def test_infer_over_the_whole_corpus_in_one_batch(corpus, tmp_path):
    """One `workbench infer` with every input: it finishes, prints no traceback, fails each bad one
    with an error.json that names the input, the fact and the fix, and predicts every good one."""
    cases = list(corpus.values())
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([PY, "-m", "workbench.cli", "infer", *[str(c.path) for c in cases], "--model", "tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
    console = proc.stdout + proc.stderr
    assert "Traceback" not in console, console[-3000:]
    assert proc.returncode == 1, console[-3000:]  # some items failed, none crashed the batch
    by_input: dict[str, dict] = {}
    for folder in out.iterdir():
        if (folder / "error.json").exists():
            doc = json.loads((folder / "error.json").read_text(encoding="utf-8"))
            by_input[doc["input"]] = {"status": "failed", **doc["error"]}
        else:
            doc = json.loads((folder / "result.json").read_text(encoding="utf-8"))
            by_input[doc["input"]["path"]] = {"status": "ok", "emotion": doc["emotion"]}
    assert len(by_input) == len(cases)
    for c in cases:
        got = by_input[str(c.path)]
        if c.skip:
            continue
        if c.expect == "error" or c.infer == "failed":
            assert got["status"] == "failed", (c.name, got)
        elif c.expect == "ok":
            assert got["status"] == "ok", (c.name, got)
        if got["status"] == "failed":
            assert str(c.path) in got["text"] and got["fix"], (c.name, got)
            if c.expect == "error":
                assert c.fragment in got["text"], (c.name, got)
    # third-party log lines (libav, libmpg123, FunASR) never reach the console
    for line in proc.stderr.splitlines():
        assert not line.startswith(("[", "Warning:", "Note:")), line


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest, with torch loaded)
_PEAK_RSS = """
import re, sys
from workbench.audio.intake import load
from workbench.errors import AudioError
try:
    load(sys.argv[1])
    print("loaded")
except AudioError as exc:
    print("refused:", exc)
print("peak_rss_kb", re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read()).group(1))
"""


def _peak_rss_mb(path: Path) -> tuple[float, str]:
    proc = subprocess.run([PY, "-c", _PEAK_RSS, str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    kb = int(proc.stdout.split("peak_rss_kb")[1])
    return kb / 1024, proc.stdout


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS (VmHWM) from /proc")
def test_a_header_that_lies_cannot_make_intake_hold_the_hour(corpus):
    """The m4a says 5 s and holds an hour of 44.1 kHz stereo (1.27 GB as float32; the old ffmpeg path
    peaked at 1.9 GB). Decoding stops one block past max_duration_s, so the peak is bounded by the limit."""
    cfg = AudioConfig()
    baseline, out = _peak_rss_mb(corpus["aac.m4a"].path)  # same imports and decoder, 2 s of audio
    assert "loaded" in out
    peak, out = _peak_rss_mb(corpus["header_lies_1h.m4a"].path)
    assert "refused:" in out and "the header declares 5.0 s" in out
    sr, ch = 44100, 2
    whole_file_mb = LIE_HOLDS_S * sr * ch * 4 / 2**20
    # decode holds at most (limit + 1 block) of mono float32, plus the blocks and the resampler's copies
    bound_mb = 2 * (cfg.max_duration_s + 1) * sr * ch * 4 / 2**20 + 64
    print(f"peak RSS: baseline {baseline:.0f} MB, lying 1 h m4a {peak:.0f} MB (+{peak - baseline:.0f} MB; "
          f"bound {bound_mb:.0f} MB; the whole hour as float32 would be {whole_file_mb:.0f} MB)")
    assert peak - baseline < bound_mb
