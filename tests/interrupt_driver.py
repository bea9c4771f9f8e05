"""Ctrl-C every CLI command at a spread of moments and check what it leaves (a test helper, not shipped behaviour).

    PYTHONPATH=. python tests/interrupt_driver.py --root /tmp/h11 [--only run,metrics] [--moments 10] [--reruns 3]

For each command: one uninterrupted run (its duration T and its files), then SIGINT to the process group (a terminal's
Ctrl-C) at five start-up moments (0.02-0.4 s after the exec: the imports) and ``--moments`` evenly spaced moments over T, one SIGTERM
and one double Ctrl-C (a second one 0.3 s into the cleanup) at T/2.  Each stop is checked for: exit 130 (143 for
SIGTERM), exactly one plain line on stderr (no traceback, no third-party log line), no temporary or half-written file
(JSON that does not parse, parquet that does not read, HTML without its end) in the output, the run folder or the
cache; after up to ``--reruns`` of them the same command again must end 0 with the same files as the uninterrupted run.
One JSON line per stop goes to ``ROOT/results.jsonl``; the table at the end says, per command, the moments tried and
the failures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

STAMP = re.compile(r"\d{8}[_-]?\d{6}")
CASE = re.compile(r"(cases/[^/\s]+|copy-[^/\s]+)-(clean|\d+)")
#: a progress bar's elapsed time ("0 epochs [00:01]"): a stopped run's last bar line is the clean run's at another second
TIMER = re.compile(r"\[\d+:\d\d(:\d\d)?\]")


def plain(line: str) -> str:
    """A stderr line with its case's folder names and its progress bar's bare timer made alike (the clean run's and a
    stopped run's)."""
    return TIMER.sub("[T]", CASE.sub(r"\1-N", line))


def env_for(root: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "WORKBENCH_CACHE": str(root / "cache"),
            "WORKBENCH_OFFLINE": "1"}


def workbench(argv: list[str], root: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *map(str, argv)], cwd=root, env=env_for(root),
                          capture_output=True, text=True, timeout=timeout)


def prepare(root: Path) -> dict:
    """A labelled corpus of 12 two-second clips (4 speakers, 3 classes), two runs of it, a 20 s clip, a HF folder."""
    import soundfile as sf

    from conftest import speech_like
    from workbench.data.manifest import Item, Manifest, write_manifest

    root.mkdir(parents=True, exist_ok=True)
    (root / "audio").mkdir(exist_ok=True)
    items = []
    emotions = ("happy", "sad", "angry")
    for i in range(12):
        if not (root / "audio" / f"c{i:02d}.wav").exists():
            sf.write(root / "audio" / f"c{i:02d}.wav", speech_like(16000, 2.0, seed=i), 16000)
        emo = emotions[i % 3]
        items.append(Item(id=f"c{i:02d}", path=f"audio/c{i:02d}.wav", label=emo, emotion=emo, speaker=f"s{i % 4}"))
    manifest = root / "manifest.csv"
    if not manifest.exists():
        write_manifest(Manifest(items, root=root), manifest)
    import numpy as np

    if not (root / "long.wav").exists():
        sf.write(root / "long.wav", np.concatenate([speech_like(16000, 4.0, seed=s) if s % 2 == 0 else np.zeros(16000, np.float32)
                                                for s in range(9)]), 16000)
    hf = root / "hf"
    if not (hf / "metadata.csv").exists():
        hf.mkdir(exist_ok=True)
        for i in range(24):
            sf.write(hf / f"h{i:02d}.wav", speech_like(16000, 1.0, seed=100 + i), 16000)
        (hf / "metadata.csv").write_text("file_name,label\n" + "".join(f"h{i:02d}.wav,{emotions[i % 3]}\n" for i in range(24)))
    for name, extra in (("runA", []), ("runB", ["--dtype", "float32"])):
        if not (root / name / "results.parquet").exists():
            done = workbench(["run", manifest, "--out", root / name, "--model", "tiny", "--chunk", "4", *extra], root)
            assert done.returncode == 0, done.stderr[-2000:]
    emodb = root / "emodb" / "wav"
    if not emodb.exists():
        emodb.mkdir(parents=True)
        for i, name in enumerate(["03a01Fa", "08b10Wb", "10a04Lc", "16b03Tb", "09a05Ea", "13a07Aa", "11b09Nc", "03a02Wa"]):
            sf.write(emodb / f"{name}.wav", speech_like(16000, 1.0, seed=200 + i), 16000)
    if not (root / "ft-run" / "results.parquet").exists():  # a fine-tuned head and its run, for calibrate-head
        for argv in (["finetune", root / "runA", "--out", root / "ft", "--bootstrap", "20", "--folds", "2"],
                     ["run", manifest, "--model", root / "ft", "--out", root / "ft-run"]):
            done = workbench(argv, root)
            assert done.returncode == 0, done.stderr[-2000:]
    if not (root / "runT" / "results.parquet").exists():  # the corpus with transcripts, for fuse
        texts = ("what a lovely day", "i miss them so much", "get out of my way")
        write_manifest(Manifest([Item(id=it.id, path=it.path, label=it.label, emotion=it.emotion, speaker=it.speaker,
                                      text=f"{texts[i % 3]} number {i}") for i, it in enumerate(items)], root=root), root / "text.csv")
        done = workbench(["run", root / "text.csv", "--out", root / "runT", "--model", "tiny", "--chunk", "4"], root)
        assert done.returncode == 0, done.stderr[-2000:]
    emobox = root / "emobox"
    if not (emobox / "iemocap_test_fold_1.jsonl").exists():  # EmoBox fold files over the 12 clips, for import-emobox
        emobox.mkdir(exist_ok=True)
        for split, part in (("train", items[:8]), ("test", items[8:])):
            (emobox / f"iemocap_{split}_fold_1.jsonl").write_text("".join(json.dumps(
                {"key": it.id, "dataset": "iemocap", "wav": it.path, "type": "raw", "sample_rate": 16000, "num_frame": 32000,
                 "task": "category", "length": 2.0, "emo": it.label[:3], "channel": 1}) + "\n" for it in part))
    lh = root / "lhotse"
    if not (lh / "sup.jsonl").exists():  # a RecordingSet and its SupervisionSet (two segments a clip), for import-lhotse
        lh.mkdir(exist_ok=True)
        (lh / "rec.jsonl").write_text("".join(json.dumps(
            {"id": it.id, "sources": [{"type": "file", "channels": [0], "source": str(root / it.path)}], "sampling_rate": 16000,
             "num_samples": 32000, "duration": 2.0, "channel_ids": [0]}) + "\n" for it in items))
        (lh / "sup.jsonl").write_text("".join(json.dumps(
            {"id": f"{it.id}-{k}", "recording_id": it.id, "start": k * 1.0, "duration": 1.0, "channel": 0, "speaker": it.speaker,
             "custom": {"emotion": it.label}}) + "\n" for it in items for k in range(2)))
    if not (root / "votes.csv").exists():
        (root / "votes.csv").write_text("id,rater_labels\n" + "".join(f'c{i:02d},"happy;sad;{emotions[i % 3]}"\n' for i in range(12)))
    if not (root / "runV" / "results.parquet").exists():  # the corpus with listeners' votes, for listeners
        (root / "voted.csv").unlink(missing_ok=True)
        for argv in (["datasets", "import-votes", manifest, "--format", "generic", "--votes", root / "votes.csv", "--out",
                      root / "voted.csv"],
                     ["run", root / "voted.csv", "--out", root / "runV", "--model", "tiny", "--chunk", "4"]):
            done = workbench(argv, root)
            assert done.returncode == 0, done.stderr[-2000:]
    return {"manifest": manifest, "runA": root / "runA", "runB": root / "runB", "clip": root / "audio" / "c00.wav",
            "long": root / "long.wav", "audio": root / "audio", "hf": hf}


def commands(f: dict) -> dict:
    """command name -> (argv with {out}, the folder whose files are compared, folders to scan besides it)."""
    clips = [str(p) for p in sorted(Path(f["audio"]).glob("*.wav"))[:4]]
    run_a = str(f["runA"])
    return {
        "run": (["run", f["manifest"], "--out", "{out}", "--model", "tiny", "--chunk", "2", "--dtype", "float32"], "{out}"),
        "metrics": (["metrics", run_a, "--out", "{out}"], "{out}"),
        "compare": (["compare", run_a, str(f["runB"]), "--out", "{out}", "--bootstrap", "200"], "{out}"),
        "calibrate": (["calibrate", run_a, "--folds", "2", "--alpha", "0.4", "--bootstrap", "100", "--out", "{out}"], "{out}"),
        "explain": (["explain", f["clip"], "--model", "tiny", "--method", "all", "--steps", "8", "--out", "{out}"], "{out}"),
        "explain-worst": (["explain", "{copy}", "--worst", "2", "--method", "occlusion", "--steps", "4"], "{copy}"),
        "segment": (["segment", f["long"], "--model", "tiny", "--vad", "energy", "--out", "{out}"], "{out}"),
        "embeddings": (["embeddings", run_a, "--out", "{out}", "--project", "tsne"], "{out}"),
        "embeddings-neighbours": (["embeddings", run_a, "--neighbours", f["clip"], "--out", "{out}"], "{out}"),
        "features": (["features", "{copy}", "--set", "praat", "--out", "{out}"], "{copy}"),
        "finetune": (["finetune", run_a, "--out", "{out}", "--bootstrap", "20", "--folds", "2"], "{out}"),
        "sweep": (["sweep", f["clip"], "--kind", "trim", "--model", "tiny", "--out", "{out}", "--no-cache"], "{out}"),
        "report": (["report", "experiment_report", "-p", f"run_dir={run_a}", "--out", "{out}"], "{out}"),
        "demo": (["demo", "--out", "{out}", "--model", "tiny", "--no-report"], "{out}"),
        "infer": (["infer", "--model", "tiny", "--out", "{out}", *clips], "{out}"),
        "export-onnx": (["model", "export-onnx", "--model", "tiny", "--out", "{out}"], "{out}"),
        "make-tiny": (["model", "make-tiny", "{out}"], "{out}"),
        "manifest": (["manifest", f["audio"], "-o", "{out}/m.csv"], "{out}"),
        "export-lhotse": (["datasets", "export-lhotse", run_a, "--out", "{out}/sup.jsonl.gz"], "{out}"),
        "import-hf": (["datasets", "import-hf", f["hf"], "--out", "{out}/hf.csv"], "{out}"),
        "prepare": (["datasets", "prepare", "emodb", str(Path(f["runA"]).parent / "emodb"), "--out", "{out}/e.csv"], "{out}"),
        "features-egemaps": (["features", "{copy}", "--set", "egemaps", "--out", "{out}"], "{copy}"),
        "features-probe": (["features", "{copy}", "--set", "egemaps", "--probe", "--out", "{out}"], "{copy}"),
        "import-votes": (["datasets", "import-votes", f["manifest"], "--format", "generic", "--votes",
                          str(Path(f["runA"]).parent / "votes.csv"), "--out", "{out}/v.csv"], "{out}"),
        "calibrate-head": (["calibrate", str(Path(f["runA"]).parent / "ft-run"), "--folds", "2", "--alpha", "0.4", "--bootstrap",
                            "100", "--out", "{out}"], "{out}"),  # a fine-tuned head's run
        "fuse": (["fuse", str(Path(f["runA"]).parent / "runT"), "--folds", "2", "--bootstrap", "50", "--out", "{out}"], "{out}"),
        "probe": (["probe", run_a, "--folds", "2", "--bootstrap", "50", "--out", "{out}"], "{out}"),
        "import-emobox": (["datasets", "import-emobox", *sorted(str(p) for p in (Path(f["runA"]).parent / "emobox").glob("*.jsonl")),
                           "--root", str(Path(f["runA"]).parent), "--out", "{out}/e.csv"], "{out}"),
        "import-lhotse": (["datasets", "import-lhotse", "--recordings", str(Path(f["runA"]).parent / "lhotse" / "rec.jsonl"),
                           "--supervisions", str(Path(f["runA"]).parent / "lhotse" / "sup.jsonl"), "--out", "{out}/l.csv"], "{out}"),
        "listeners": (["listeners", str(Path(f["runA"]).parent / "runV"), "--bootstrap", "200", "--out", "{out}"], "{out}"),
        "model-info": (["model", "info", "--model", "tiny"], "{out}"),
        "similar": (["similar", f["clip"], clips[1], "--model", "tiny", "--no-cache"], "{out}"),
        "diagnose": (["diagnose", f["clip"], "--model", "tiny"], "{out}"),
    }


def fill(argv, out: Path, copy: Path) -> list[str]:
    return [str(a).replace("{out}", str(out)).replace("{copy}", str(copy)) for a in argv]


def damaged(folder: Path) -> list[str]:
    """Temporaries and files a reader would take as whole although they are not."""
    bad = []
    if not folder.exists():
        return bad
    for p in folder.rglob("*"):
        rel = str(p.relative_to(folder))
        if ".tmp-" in p.name or p.name.endswith((".tmp", ".part", ".partial")):
            bad.append(f"temporary {rel}")
            continue
        if not p.is_file() or ".tmp-" in rel:
            continue
        try:
            if p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".parquet":
                import pyarrow.parquet as pq

                pq.read_table(p)
            elif p.suffix == ".html" and b"</html>" not in p.read_bytes()[-4096:].lower():
                bad.append(f"html without </html> {rel}")
            elif p.suffix == ".png" and not p.read_bytes().endswith(b"IEND\xaeB`\x82"):
                bad.append(f"truncated png {rel}")
        except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
            bad.append(f"unreadable {rel}: {type(exc).__name__}")
    return bad


def files_of(folder: Path) -> set[str]:
    if not folder.exists():
        return set()
    return {STAMP.sub("STAMP", str(p.relative_to(folder))) for p in folder.rglob("*") if p.is_file()
            and not p.name.startswith(".") and "log" not in p.name}


def stop(argv: list[str], root: Path, moment: float, signum: int = signal.SIGINT, second: float | None = None):
    """Start ``workbench ARGV``, send ``signum`` to its group at ``moment``; (status or None if it ended first, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", *argv], cwd=root, env=env_for(root),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    # the moment counts from the exec: a signal between fork and exec is lost with the parent's handler (a driver
    # artefact, not the command's: no terminal can send one there)
    while proc.poll() is None and b"workbench.cli" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
        time.sleep(0.001)
    try:
        proc.wait(timeout=moment)
        return None, proc.stderr.read().decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        pass
    os.killpg(proc.pid, signum)
    if second is not None:
        time.sleep(second)
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        return "hung", err.decode("utf-8", "replace")
    return proc.returncode, err.decode("utf-8", "replace")


def judge(rc, err: str, signum: int, progress: set[str] = frozenset()) -> list[str]:
    """The stop's problems; ``progress``: the command's own lines of an uninterrupted run (printed before the stop)."""
    problems = []
    want = 128 + signum
    lines = [ln for ln in err.splitlines() if ln.strip() and plain(ln) not in progress]
    # before Python ran the package's first line: its own start-up ("Fatal Python error: init_import_site", or
    # init_sys_streams a moment earlier, as the slow suite met under load; or, with -m, "Could not import runpy module":
    # the signal landed while Python imported runpy, before it looked for the package, met at 0.02 s under load 7),
    # which no code of the package can reach
    if rc == -signal.SIGINT or (rc == 1 and ("Fatal Python error: init_" in err or "Could not import runpy module" in err)):
        return []
    if rc != want:
        problems.append(f"exit {rc} (want {want})")
    if "Traceback" in err:
        problems.append("traceback")
    if len(lines) != 1 or not lines[0].startswith("interrupted"):
        problems.append(f"{len(lines)} stderr lines: {' | '.join(lines)[-600:]}")
    return problems


def one(name, spec, root: Path, f: dict, moment, signum, second, clean_files, rerun: bool, idx: int,
        progress: set[str] = frozenset()) -> dict:
    argv_t, compared = spec
    base = root / "cases" / f"{name}-{idx}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    out, copy = base / "out", root / f"copy-{name}-{idx}"  # beside the audio: the run's rows name ../audio
    shutil.rmtree(copy, ignore_errors=True)
    if "{copy}" in " ".join(map(str, argv_t)):
        shutil.copytree(f["runA"], copy)
    argv = fill(argv_t, out, copy)
    rc, err = stop(argv, root, moment, signum, second)
    record = {"command": name, "moment": round(moment, 2), "signal": signal.Signals(signum).name, "double": second is not None,
              "rc": rc, "stderr": err[-800:]}
    if rc is None:
        record["ended_first"] = True
        return record
    problems = judge(rc, err, signum, progress) if rc != "hung" else ["hung 120 s after the signal"]
    target = Path(fill([compared], out, copy)[0])
    problems += damaged(target) + [f"cache: {d}" for d in damaged(root / "cache")]
    if rerun:
        done = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], cwd=root, env=env_for(root),
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            problems.append(f"rerun exit {done.returncode}: {done.stderr.strip()[-600:]}")
        else:
            got = files_of(target)
            if got != clean_files:
                problems.append(f"rerun files differ: missing {sorted(clean_files - got)[:6]} extra {sorted(got - clean_files)[:6]}")
        record["reran"] = True
    record["problems"] = problems
    return record


def drive(name, spec, root, f, n_moments, reruns, log) -> list[dict]:
    argv_t, compared = spec
    base = root / "cases" / f"{name}-clean"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    copy = root / f"copy-{name}-clean"
    argv = fill(argv_t, base / "out", copy)
    for _ in range(2):  # the second one's duration: warm caches (a report's, the ONNX export's) as the stops find them
        shutil.rmtree(base / "out", ignore_errors=True)
        if "{copy}" in " ".join(map(str, argv_t)):
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(f["runA"], copy)
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], cwd=root, env=env_for(root), capture_output=True,
                              text=True, timeout=900)
        took = time.monotonic() - t0
    if done.returncode != 0:
        rec = {"command": name, "clean_failed": done.returncode, "stderr": done.stderr[-1500:]}
        log(rec)
        return [rec]
    clean = files_of(Path(fill([compared], base / "out", copy)[0]))
    if n_moments < 0:
        log({"command": name, "clean_s": round(took, 1), "files": sorted(clean), "problems": []})
        return []
    moments = [0.02, 0.05, 0.1, 0.2, 0.4] + [took * k / (n_moments + 1) for k in range(1, n_moments + 1)]
    rerun_at = set(range(5, len(moments), max(1, n_moments // max(reruns, 1))))
    records = []
    plan = [(m, signal.SIGINT, None, i in rerun_at) for i, m in enumerate(moments)]
    plan += [(took / 2, signal.SIGTERM, None, True), (took / 2, signal.SIGINT, 0.3, True), (took / 3, signal.SIGINT, 0.05, True)]
    for i, (m, signum, second, rerun) in enumerate(plan):
        rec = one(name, spec, root, f, m, signum, second, clean, rerun, i, {plain(ln) for ln in done.stderr.splitlines()})
        rec["clean_s"] = round(took, 1)
        log(rec)
        records.append(rec)
    return records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/tmp/interrupt_driver")
    ap.add_argument("--only", default="")
    ap.add_argument("--moments", type=int, default=10)
    ap.add_argument("--reruns", type=int, default=3)
    args = ap.parse_args()
    # started with `&` from a script, this process ignores SIGINT, and so would every command it starts until the
    # command installs its handler: the start-up moments would test nothing
    signal.signal(signal.SIGINT, signal.default_int_handler)
    root = Path(args.root).resolve()
    f = prepare(root)
    table = commands(f)
    names = [n for n in args.only.split(",") if n] or list(table)
    out = (root / "results.jsonl").open("a")

    def log(rec):
        out.write(json.dumps(rec, default=str) + "\n")
        out.flush()
        flag = "ended first" if rec.get("ended_first") else ("; ".join(rec.get("problems", [])) or "ok")
        print(f"{rec['command']:14} {rec.get('clean_s', '')} {rec.get('signal', '')} {rec.get('moment', '')} double={rec.get('double')} -> "
              f"{rec.get('rc', rec.get('clean_failed'))} {flag[:300]}", flush=True)

    for name in names:
        drive(name, table[name], root, f, args.moments, args.reruns, log)


if __name__ == "__main__":
    main()
