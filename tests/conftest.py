"""Seeded synthetic audio and shared fixtures.

Nothing here downloads anything: the model tests use the tiny random
checkpoint that the package builds itself, in a cache folder private to the
test session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import prepare_process

# the process as a `workbench` process has it: torch's threads wait passively (OMP_WAIT_POLICY=PASSIVE, unless the
# caller set a policy: two pytest-xdist workers, or a test beside a benchmark, spinning against each other on 2 cores
# made a gradient pass of tiny 20x slower in bursts, 2.5 s against 0.12 s for 4 clips of 2 s), and glibc keeps freed
# memory for the next tensor (cli.keep_freed_memory)
prepare_process()

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "workbench" / "demo_data"


def pytest_configure(config):
    # every session builds its own checkpoints, as on a fresh machine
    if "WORKBENCH_CACHE" not in os.environ:
        import tempfile

        os.environ["WORKBENCH_CACHE"] = tempfile.mkdtemp(prefix="workbench-test-cache-")
    # the hub must never be contacted from tests
    os.environ["WORKBENCH_OFFLINE"] = "1"


#: test files whose every test is too heavy for the fast loop (`make test-fast`): papermill notebooks, a real
#: browser, Ray clusters, UMAP's first compile, wheels, subprocesses that import torch again and again
HEAVY_FILES = {
    "test_notebooks.py", "test_browser.py", "test_report_security.py", "test_packaging.py", "test_ray.py",
    "test_ray_driver.py", "test_ray_cluster.py", "test_fusion.py", "test_fusion_honesty.py", "test_interrupts.py",
    "test_gpu.py", "test_gpu_suite.py", "test_tracking.py", "test_docs.py", "test_figure_costs.py",
    # ONNX exports and the precision measurement, a fine-tuned corpus, the generated demo set, whole corpora of bad files
    "test_doctests.py", "test_report_cwd.py", "test_onnx.py", "test_fastpath.py", "test_finetune.py", "test_demoset.py", "test_bad_inputs.py", "test_compare_runs.py",
}


#: single tests too heavy for the fast loop while the rest of their file stays in it, as ``file::test`` (every
#: parametrization); measured with ``--durations=0`` on 2 busy cores (2026-12-05), each one a whole run, a
#: subprocess that imports torch, or a copy of the package tree per case.  ``make test`` still runs them all.
HEAVY_TESTS = {
    "test_runfolder.py::test_a_fault_at_a_write_point_resumes_to_the_uninterrupted_run",  # 17 killed-and-resumed runs: 128 s
    "test_walk16.py::test_the_most_different_items_table_of_three_runs_fits_an_800_px_window",  # Chromium: 10 s
    "test_runfolder.py::test_a_second_run_on_a_busy_folder_is_refused_and_a_dead_ones_lock_is_gone",  # 16 s
    "test_outputs.py::test_demo_runs_offline_on_the_committed_demo_set",  # the whole demo: 81 s
    "test_probe.py::test_label_independent_embeddings_stay_at_chance",  # 57 s
    "test_probe.py::test_separable_embeddings_give_uar_one_on_every_speaker_fold",  # 25 s
    "test_layers.py::test_a_planted_import_fails_the_layering_check",  # a package copy per case: 34 s
    "test_model.py::test_funasr_imported_in_part_still_imports_whole_afterwards",  # a subprocess importing torch: 26 s
    "test_readme.py::test_a_readme_python_block_runs",  # 24 s
    "test_compare.py::test_compare_and_sweep_commands",  # 19 s
    "test_cli_experiments.py::test_prepare_run_metrics_diagnose",  # 19 s
    "test_experiment.py::test_cli_runs_an_experiment_file_and_an_old_config",  # 18 s
    # second cut (the loop was still 356 s of test time at load 10): killed processes, whole re-runs, subprocesses
    "test_diagnostics.py::test_stability_and_diagnose_with_the_model",  # 18 s
    "test_experiment.py::test_the_written_experiment_reproduces_the_run",  # two runs: 16 s
    "test_runs.py::test_interrupted_run_resumes_and_loses_no_row",  # a SIGKILLed subprocess run: 14 s
    "test_engine.py::test_a_dead_decoding_worker_fails_only_its_item",  # a killed worker pool: 11 s
    "test_logs.py::test_cli_infer_stderr_has_only_the_workbenchs_own_lines",  # a CLI subprocess: 10 s
}


def is_heavy(item) -> bool:
    """Whether a collected test stays out of ``make test-fast`` (its file, or the test itself, is listed above)."""
    return item.path.name in HEAVY_FILES or f"{item.path.name}::{getattr(item, 'originalname', item.name)}" in HEAVY_TESTS


def pytest_collection_modifyitems(config, items):
    for item in items:
        if is_heavy(item):
            item.add_marker(pytest.mark.heavy)
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


# ---------------------------------------------------------------------------
# signal factories (pure, seeded)
# ---------------------------------------------------------------------------
def sine(sr: int = 16000, dur: float = 1.0, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * dur))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speech_like(sr: int = 16000, dur: float = 2.0, seed: int = 0, onset: float = 0.0) -> np.ndarray:
    """Harmonic 'syllables' with a wandering f0, 4 Hz envelope, and leading silence ``onset`` s."""
    rng = np.random.default_rng(seed)
    n = int(round(sr * dur))
    t = np.arange(n) / sr
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) + 10 * rng.standard_normal() 
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum((0.6 / k) * np.sin(k * phase + rng.uniform(0, 6)) for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None) ** 0.7
    y = 0.3 * y * env + 0.003 * rng.standard_normal(n)
    if onset > 0:
        y[: int(onset * sr)] = 0.0
    return y.astype(np.float32)


def noise(sr: int = 16000, dur: float = 1.0, seed: int = 0, amp: float = 0.1) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(round(sr * dur)))).astype(np.float32)


def silence(sr: int = 16000, dur: float = 1.0) -> np.ndarray:
    return np.zeros(int(round(sr * dur)), np.float32)


def clipped(sr: int = 16000, dur: float = 1.0) -> np.ndarray:
    return np.clip(3 * sine(sr, dur), -1, 1).astype(np.float32)


def stereo(sr: int = 16000, dur: float = 1.0, invert_right: bool = False) -> np.ndarray:
    left = speech_like(sr, dur, seed=1)
    right = -left if invert_right else 0.5 * speech_like(sr, dur, seed=2)
    return np.stack([left, right], axis=1)


@pytest.fixture(autouse=True)
def _close_figures():
    """Every test's pyplot figures closed after it (only where pyplot was imported): past 20 open figures matplotlib warns,
    and a test that turns warnings into errors failed on figures other tests had left open."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture
def factories():
    return {"sine": sine, "speech_like": speech_like, "noise": noise, "silence": silence, "clipped": clipped, "stereo": stereo}


def ffmpeg_encode(src_wav: Path, dst: Path, *args: str) -> Path:
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(src_wav), *args, str(dst)], check=True, capture_output=True)
    return dst


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


# ---------------------------------------------------------------------------
# model fixtures
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_model():
    from workbench.model.network import load_model

    return load_model("tiny", device="cpu")


@contextlib.contextmanager
def private_model_cache():
    """The process's model cache swapped for a copy inside the block: a CLI harness that forgets loaded models before
    each command (``clear_cache``) forgets them in the copy, so the session's ``tiny_model`` stays the one loaded model
    for every other test file (``test_model``'s "loaded once per process" failed after ``test_safe``, whose
    module-wide fixtures ran commands outside any test's own cache)."""
    import workbench.model.network as model_mod

    kept = model_mod._CACHE
    model_mod._CACHE = dict(kept)
    try:
        yield
    finally:
        model_mod._CACHE = kept


@pytest.fixture
def own_model_cache(tiny_model):
    """A test that forgets loaded models (``clear_cache``) works on a copy of the process's model cache."""
    with private_model_cache():
        yield


@pytest.fixture(scope="session")
def funasr_reference(tiny_model):
    """A second, independent ``funasr.AutoModel`` on the same tiny checkpoint."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        from funasr import AutoModel

        return AutoModel(model=tiny_model.info.path, device="cpu", disable_update=True, disable_pbar=True, log_level="ERROR", ncpu=1)


# ---------------------------------------------------------------------------
# encoding through PyAV (FFmpeg's libraries from the `av` wheel): no system ffmpeg
# ---------------------------------------------------------------------------
#: codec → (container format, encoder options); vorbis needs FFmpeg's "experimental" flag
AV_CODECS = {
    "aac": ("mp4", {}),
    "libmp3lame": ("mp3", {}),
    "libopus": ("ogg", {}),
    "vorbis": ("ogg", {"strict": "-2"}),
    "flac": ("flac", {}),
    "pcm_mulaw": ("wav", {}),
    "pcm_s16le": ("wav", {}),
}


def av_encode(y: np.ndarray, sr: int, dst: Path, codec: str, *, bit_rate: int | None = None, fmt: str | None = None,
              options: dict | None = None) -> Path:
    """Encode ``y`` (``(n,)`` or ``(n, channels)`` float in [-1, 1]) at ``sr`` Hz into ``dst`` with PyAV."""
    import av

    y = np.asarray(y, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    ch = y.shape[1]
    layout = {1: "mono", 2: "stereo"}.get(ch, f"{ch}c")
    container_fmt, opts = AV_CODECS.get(codec, (None, {}))
    with av.open(str(dst), "w", format=fmt or container_fmt) as out:
        s = out.add_stream(codec, rate=sr, layout=layout)
        if bit_rate:
            s.bit_rate = bit_rate
        if opts or options:
            s.codec_context.options = {**opts, **(options or {})}
        sfmt = s.codec_context.format
        base = sfmt.name.rstrip("p")
        if base == "u8":
            data = np.clip(np.round(y * 127 + 128), 0, 255).astype(np.uint8)
        elif base in ("s16", "s32"):
            scale = 32767 if base == "s16" else 2**31 - 1
            data = np.clip(np.round(y * scale), -scale - 1, scale).astype(np.int16 if base == "s16" else np.int32)
        else:
            data = y.astype(np.float32 if base == "flt" else np.float64)
        n = s.codec_context.frame_size or 1024
        for pos in range(0, len(data), n):
            chunk = data[pos:pos + n]
            arr = chunk.T if sfmt.is_planar else chunk.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=sfmt.name, layout=layout)
            frame.sample_rate, frame.pts = sr, pos
            for packet in s.encode(frame):
                out.mux(packet)
        for packet in s.encode(None):
            out.mux(packet)
    return dst


def streamed_flac(y: np.ndarray, sr: int, dst: Path) -> Path:
    """A valid FLAC whose STREAMINFO does not know its length (total_samples = 0), as `flac -` or an
    ffmpeg pipe writes it: written by libsndfile, then the 36-bit total-samples field is zeroed."""
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="FLAC")
    data = bytearray(buf.getvalue())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # the first metadata block is STREAMINFO
    # STREAMINFO's body starts at byte 8; total samples = low 4 bits of body[13] and body[14:18]
    data[8 + 13] &= 0xF0
    data[8 + 14:8 + 18] = b"\0\0\0\0"
    dst.write_bytes(bytes(data))
    return dst


@contextlib.contextmanager
def fifo_fed(path: Path, data: bytes):
    """A writer thread that sends ``data`` into the FIFO ``path`` while the block runs: code that (wrongly) opens it
    blocking returns with those bytes instead of hanging the suite.  On leaving, a non-blocking open lets a writer
    still waiting go."""
    import threading

    def writer():
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError:
            pass

    threading.Thread(target=writer, daemon=True).start()
    try:
        yield
    finally:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
