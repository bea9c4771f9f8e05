"""SIGTERM stops a command as Ctrl-C does; a stop (or kill -9) at the final write leaves nothing a rerun misreads; two
writers of one output folder never mix.

Timed cases wait for an event (the gate file of ``WORKBENCH_TEST_GATE``, :func:`workbench.interrupts.gate`), never
for a fixed sleep: the command creates the file at the named moment and waits there for the signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, speech_like
from workbench import files
from workbench.errors import ConfigError

ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def stopped_at(argv: list[str], where: str, signum: int, tmp_path: Path, timeout: float = 300,
               env: dict | None = None) -> tuple[int, str]:
    """Run ``workbench ARGV`` until it reaches the moment ``where``, send ``signum`` there (to the process only, as
    ``kill PID`` does); (exit status, stderr)."""
    flag = tmp_path / f"gate-{where.replace(':', '_')}-{signum}"
    flag.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", *argv], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**(env or ENV), "WORKBENCH_TEST_GATE": f"{where}={flag}"})
    end = time.monotonic() + timeout
    while not flag.exists():
        if proc.poll() is not None:
            pytest.fail(f"{argv[0]} ended ({proc.returncode}) before reaching {where}: {proc.stderr.read().decode()[-1500:]}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"{argv[0]} never reached {where}")
        time.sleep(0.01)
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode("utf-8", "replace")


def temporaries(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".tmp-" in p.name) if folder.exists() else []


@pytest.fixture
def clips(tmp_path):
    import soundfile as sf

    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(3):
        sf.write(folder / f"c{i}.wav", speech_like(16000, 1.0, seed=i), 16000)
    return folder


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_during_the_final_write_leaves_no_file_and_no_temporary_and_says_how_to_redo(clips, tmp_path, signum, status):
    """SIGTERM (``kill PID``, a scheduler's stop) killed every command outright: exit -15, no line, and the temporary of
    the file being written left in the output folder for good.  Now it is a Ctrl-C: 128 + the signal, one line naming
    the command that redoes it, the temporary removed, the destination never half there."""
    out = tmp_path / "m" / "m.csv"
    argv = ["manifest", str(clips), "-o", str(out)]
    rc, err = stopped_at(argv, "write:m.csv", signum, tmp_path)
    assert rc == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted") and "Traceback" not in err, err
    assert ("by SIGTERM" in err) == (signum == signal.SIGTERM)
    assert f"`workbench manifest {clips} -o {out}` again redoes it" in err
    assert not out.exists() and temporaries(tmp_path / "m") == []
    done = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], cwd=tmp_path, env=ENV, capture_output=True, timeout=300)
    assert done.returncode == 0 and out.is_file(), done.stderr.decode()[-1500:]


def test_sigterm_after_the_imports_stops_with_one_line(clips, tmp_path):
    rc, err = stopped_at(["manifest", str(clips), "-o", str(tmp_path / "m.csv")], "command", signal.SIGTERM, tmp_path)
    assert rc == 143 and err.strip().startswith("interrupted by SIGTERM") and len(err.strip().splitlines()) == 1, err


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _age(*paths: Path) -> None:
    """Make ``paths`` look untouched for longer than :data:`workbench.files.STALE_AFTER_S`."""
    then = time.time() - files.STALE_AFTER_S - 5
    for p in paths:
        os.utime(p, (then, then), follow_symlinks=False)


def test_the_temporaries_of_a_killed_writer_are_swept_at_the_next_write(tmp_path):
    """kill -9 between creating ``.NAME.tmp-PID-…`` and renaming it left the temporary for good (no later command
    removed it); the next write into the folder removes those of dead processes, never a live writer's."""
    dead, live = _dead_pid(), os.getppid()
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / f".calibration.json.tmp-{dead}-0123abcd").write_text('{"half":')
    (folder / f".model.onnx.tmp-{dead}-89abcdef").mkdir()  # an atomic_folder's
    (folder / f".summary.json.tmp-{live}-0123abcd").write_text("{}")
    (folder / ".hidden.json").write_text("{}")  # not a temporary: kept
    _age(*folder.iterdir())
    (folder / f".fresh.json.tmp-{dead}-0123abcd").write_text("{")  # written a moment ago: maybe another machine's writer
    files.write_json(folder / "other.json", {"a": 1})
    assert sorted(p.name for p in folder.iterdir()) == sorted([f".summary.json.tmp-{live}-0123abcd", ".hidden.json", "other.json",
                                                               f".fresh.json.tmp-{dead}-0123abcd"])


def test_atomic_folder_appears_whole_or_not_at_all_and_a_second_writer_is_refused(tmp_path):
    final = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_folder(final) as tmp:
            files.write_text(tmp / "config.yaml", "a: 1\n")
            raise KeyboardInterrupt
    assert not final.exists() and os.listdir(tmp_path) == []
    with pytest.raises(ConfigError, match="filled by another command"):
        with files.atomic_folder(final) as second:
            files.write_text(second / "model.pt", "second")
            with files.atomic_folder(final) as first:  # another writer starts later and finishes first
                files.write_text(first / "model.pt", "first")
    assert os.listdir(final) == ["model.pt"] and (final / "model.pt").read_text() == "first"
    assert os.listdir(tmp_path) == ["ckpt"]


@pytest.mark.slow
def test_make_tiny_stopped_before_its_marker_leaves_no_folder_and_the_rerun_makes_it(tmp_path):
    """An interrupted `model make-tiny DIR` left config.yaml, tokens.txt and model.pt without the marker: the next
    `make-tiny DIR` refused the folder ('exists and is not an empty folder'), and `--model DIR` loaded it as an unmarked
    checkpoint whose outputs carried no random-weights banner."""
    from workbench.model.generated import RANDOM_MARKER

    out = tmp_path / "ck"
    rc, err = stopped_at(["model", "make-tiny", str(out)], f"write:{RANDOM_MARKER}", signal.SIGINT, tmp_path)
    assert rc == 130, err
    assert not out.exists() and temporaries(tmp_path) == []
    for _ in range(2):  # made, then made again over itself
        done = subprocess.run([sys.executable, "-m", "workbench.cli", "model", "make-tiny", str(out)], cwd=tmp_path, env=ENV,
                              capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr.decode()[-1500:]
        assert sorted(p.name for p in out.iterdir()) == sorted(["config.yaml", "tokens.txt", "model.pt", RANDOM_MARKER])
    assert temporaries(tmp_path) == []


def test_a_derived_output_is_refused_while_another_process_runs_in_the_folder(tmp_path):
    """`calibrate` (`metrics`, `explain` …) while a resumed `workbench run` held the folder's lock wrote figures of the rows
    read before the run replaced results.parquet, and nothing said they were stale; the run's own process writes on."""
    import fcntl

    from workbench.runs.folder import LOCK, RunFolder, RunFolderError
    from workbench.runs.writer import RunWriter

    rf = RunFolder(tmp_path)
    with RunWriter(rf).lock():  # this process's run: its outputs go in
        rf.write_artifact("mine.json", lambda f: f.write("{}"), text=True)
    fd = os.open(tmp_path / LOCK, os.O_RDWR)  # another open of the lock: as another process's run holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunFolderError, match="is being written by a run"):
            rf.write_artifact("calibration.json", lambda f: f.write("{}"), text=True)
    finally:
        os.close(fd)
    assert not (tmp_path / "calibration.json").exists()
    rf.write_artifact("calibration.json", lambda f: f.write("{}"), text=True)  # the run ended: written
    assert (tmp_path / "calibration.json").is_file()


def _waits_for_a_lock(pid: int) -> bool:
    """Whether process ``pid`` is blocked waiting for a file lock (a ``->`` line of /proc/locks)."""
    with open("/proc/locks", encoding="utf-8") as f:
        return any("->" in line and f" {pid} " in line for line in f)


_ADD_ENTRY = """
import sys
from workbench.runs.folder import RunFolder
RunFolder(sys.argv[1]).write_artifact(sys.argv[2], lambda f: f.write("{}"), text=True, meta={"by": sys.argv[2]})
"""


def test_two_commands_adding_outputs_at_once_keep_both_index_entries(tmp_path):
    """artifacts.json was read, extended and written back without a lock: of `metrics --by` and `embeddings` writing
    figures into one run at once, the index kept one command's entries (the other's figures lost what they show)."""
    flag = tmp_path / "gate"
    (tmp_path / "run").mkdir()
    first = subprocess.Popen([sys.executable, "-c", _ADD_ENTRY, str(tmp_path / "run"), "a.json"], stderr=subprocess.PIPE,
                             env={**ENV, "WORKBENCH_TEST_GATE": f"write:artifacts.json={flag}"})
    end = time.monotonic() + 120
    while not flag.exists():  # the first has read the index and is about to write it back
        assert first.poll() is None and time.monotonic() < end, first.stderr.read().decode()[-1500:] if first.poll() is not None else "no gate"
        time.sleep(0.01)
    second = subprocess.Popen([sys.executable, "-c", _ADD_ENTRY, str(tmp_path / "run"), "b.json"], stderr=subprocess.PIPE, env=ENV)
    while second.poll() is None and not _waits_for_a_lock(second.pid):  # old code: it ends; new: it waits for the first
        assert time.monotonic() < end, "the second writer neither ended nor waited"
        time.sleep(0.01)
    flag.unlink()
    assert first.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    import json

    assert set(json.loads((tmp_path / "run" / "artifacts.json").read_text())) == {"a.json", "b.json"}


@pytest.mark.slow
def test_the_temporary_folder_of_a_killed_infer_is_gone_after_the_next_infer(clips, tmp_path, tiny_model):
    """kill -9 while `infer` wrote an item's folder left ``.outputs-tmp-XXXX`` in --out for good (its name carried no
    process id, so no later command could tell a dead writer's from a live one's)."""
    from workbench.runs.outputs import infer_files

    out = tmp_path / "inf"
    rc, _ = stopped_at(["infer", "--model", "tiny", "--dtype", "float32", "--out", str(out), str(clips / "c0.wav")],
                       "write:result.json", signal.SIGKILL, tmp_path)
    left = [out / n for n in os.listdir(out) if n.startswith(".")]
    assert rc == -signal.SIGKILL and left  # the killed writer's temporary
    _age(*left)
    (done,) = infer_files([clips / "c1.wav"], model=tiny_model, out_dir=out)
    assert done.ok and sorted(os.listdir(out)) == [done.folder.name]


def test_a_run_taking_its_lock_keeps_a_live_writers_temporary(tmp_path):
    """A run taking its folder's lock removed every ``.NAME.tmp-…`` there, a `calibrate` still writing its figure
    included: that command's rename then failed with an unexpected FileNotFoundError."""
    from workbench.runs.folder import RunFolder
    from workbench.runs.writer import RunWriter

    dead, live = _dead_pid(), os.getppid()
    (tmp_path / f".calibration.json.tmp-{live}-0123abcd").write_text("{")
    (tmp_path / f".metrics.json.tmp-{dead}-0123abcd").write_text("{")
    with RunWriter(RunFolder(tmp_path)).lock():
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".lock", f".calibration.json.tmp-{live}-0123abcd"])


@pytest.mark.slow
def test_a_second_onnx_export_into_the_same_folder_is_refused_while_the_first_writes(tmp_path):
    """Two `model export-onnx` into one --out at once each wrote model.onnx and model.json atomically, so the folder
    could hold one's graph with the other's model.json (labels, source checksum, check): the second is refused now."""
    out = tmp_path / "onnx"
    first = subprocess.Popen([sys.executable, "-m", "workbench.cli", "model", "export-onnx", "--model", "tiny", "--out", str(out),
                              "--no-check"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**ENV, "WORKBENCH_TEST_GATE": f"write:model.onnx={tmp_path / 'gate'}"})
    end = time.monotonic() + 300
    while not (tmp_path / "gate").exists():
        assert first.poll() is None and time.monotonic() < end, "the first export never reached its write"
        time.sleep(0.01)
    second = subprocess.run([sys.executable, "-m", "workbench.cli", "model", "export-onnx", "--model", "tiny", "--out", str(out),
                             "--no-check"], cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=300)
    assert second.returncode == 2 and "is being written by another command" in second.stderr, second.stderr[-1500:]
    (tmp_path / "gate").unlink()
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()[-1500:]
    assert sorted(os.listdir(out)) == ["model.json", "model.onnx"]


@pytest.mark.slow
def test_an_onnx_export_killed_during_its_check_is_refused_with_the_command_that_redoes_it(clips, tmp_path, capsys):
    """`model export-onnx` wrote model.onnx and a model.json with no check, then checked the graph and recorded the
    check: killed during the check, the folder read as a `--no-check` export, and `--backend onnxruntime`, `--dtype
    auto` and examples/onnx_score.py ran the unchecked graph.  Now the graphs are checked in a folder of their own and
    moved in after, and until then model.json marks the export unfinished: every reader refuses it in one line naming
    the folder and the command that redoes it, and that command makes a folder that runs."""
    from workbench import cli
    from workbench.model.onnx_backend import resolve_onnx_dtype
    from workbench.errors import ModelError

    out = tmp_path / "onnx"
    argv = ["model", "export-onnx", "--model", "tiny", "--out", str(out), "--int8", "--check-clips", "2"]
    env = {**ENV, "WORKBENCH_CACHE": str(tmp_path / "cache")}  # a fresh graph-facts memo: the check writes it
    rc, err = stopped_at(argv, "write:onnx_graph_facts.json", signal.SIGKILL, tmp_path, env=env)
    assert rc == -signal.SIGKILL, err[-1500:]
    redo = f"workbench model export-onnx --model tiny --out {out} --int8 --check-clips 2"
    for dtype in ("auto", "float32", "int8"):
        with pytest.raises(ModelError, match="did not finish") as refused:
            resolve_onnx_dtype(dtype, out)
        assert refused.value.source == str(out) and refused.value.fix == f"export it again: {redo}"
    assert cli.main(["infer", str(clips / "c0.wav"), "--backend", "onnxruntime", "--model", str(out), "--dtype", "auto",
                     "--out", str(tmp_path / "scored")]) == cli.EXIT_USAGE
    said = capsys.readouterr().err.strip().splitlines()
    assert said[0].startswith(f"error: {out}: the export into this folder did not finish"), said
    assert said[1:] == [f"  fix: export it again: {redo}"], said
    example = subprocess.run([sys.executable, str(REPO / "examples" / "onnx_score.py"), str(out), str(clips / "c0.wav")],
                             capture_output=True, text=True, env=env, timeout=120)
    assert example.returncode != 0 and f"export it again: {redo}" in example.stderr, example.stderr[-1500:]
    again = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], cwd=tmp_path, capture_output=True, text=True,
                           env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-1500:]
    assert resolve_onnx_dtype("auto", out)[0] == "int8"


@pytest.mark.slow
def test_finetune_stopped_at_its_card_leaves_no_checkpoint_and_the_rerun_writes_it(tmp_path, tiny_model):
    """`finetune` wrote config.yaml, tokens.txt and model.safetensors, then the card, into --out: stopped between them it
    left a folder that `--model` loads as a checkpoint without its card (whose speakers trained it, its held-out
    figures), and the rerun refused the folder as 'not an empty folder'."""
    import soundfile as sf

    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.runs.driver import run

    (tmp_path / "audio").mkdir()
    items = []
    for i in range(16):
        sf.write(tmp_path / "audio" / f"c{i:02d}.wav", speech_like(16000, 1.0, seed=i), 16000)
        lab = ("happy", "sad", "angry", "neutral")[i % 4]
        items.append(Item(id=f"c{i:02d}", path=f"audio/c{i:02d}.wav", label=lab, emotion=lab, speaker=f"s{i % 4}"))
    manifest = write_manifest(Manifest(items, root=tmp_path), tmp_path / "manifest.csv")
    run(manifest, out_dir=tmp_path / "run", model=tiny_model, use_cache=False)
    out = tmp_path / "head"
    argv = ["finetune", str(tmp_path / "run"), "--out", str(out), "--bootstrap", "20"]
    rc, err = stopped_at(argv, "write:training_card.json", signal.SIGTERM, tmp_path)
    assert rc == 143 and err.strip().splitlines()[-1].startswith("interrupted by SIGTERM"), err
    assert not out.exists() and temporaries(tmp_path) == []
    done = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], cwd=tmp_path, env=ENV, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-1500:]
    assert sorted(os.listdir(out)) == ["config.yaml", "model.safetensors", "tokens.txt", "training_card.json"]
