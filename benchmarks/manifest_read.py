#!/usr/bin/env python3
"""Reading a large manifest: ``read_manifest`` on a generated table of N rows (default 10^6), wall seconds and peak
RSS, each in a fresh process (CPU seconds beside the wall seconds: on a shared machine the wall clock counts the
others' load too), for this checkout and for an older commit (``--before``, default ``ca24a1b``: the code
before the manifest reader was reworked) in the same run on the same file.

The table looks like a corpus cut into segments: ``id, path, label, emotion, speaker, split, start, duration`` and one
extra column (kept in ``meta``), ``--files`` distinct audio files (empty files: the reader only checks that each is a
regular file), every row valid.  ``--bad`` plants that many bad rows (a start that is not a number) and checks that
both readers refuse the file naming the same rows.  ``--profile`` prints the 15 costliest functions (cProfile) of
each reader.

    python benchmarks/manifest_read.py [--rows 1000000] [--files 1000] [--format csv|jsonl] [--before ca24a1b]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMOTIONS = ("angry", "happy", "neutral", "sad", "surprised")


def generate(folder: Path, rows: int, n_files: int, fmt: str, bad: int) -> Path:
    audio = folder / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        (audio / f"f{i}.wav").touch()
    bad_rows = set(range(7, rows, max(1, rows // bad))[:bad]) if bad else set()
    path = folder / f"manifest.{fmt}"
    with open(path, "w", encoding="utf-8") as f:
        if fmt == "csv":
            f.write("id,path,label,emotion,speaker,split,start,duration,corpus_label\n")
        for i in range(rows):
            e = EMOTIONS[i % 5]
            start = "soon" if i in bad_rows else f"{(i % 50) * 1.5}"
            cells = (f"utt{i:07d}", f"audio/f{i % n_files}.wav", e, e, f"spk{i % 300}", "train", start, f"{1.0 + i % 7}", f"L{i % 9}")
            if fmt == "csv":
                f.write(",".join(cells) + "\n")
            else:
                keys = ("id", "path", "label", "emotion", "speaker", "split", "start", "duration", "corpus_label")
                f.write(json.dumps(dict(zip(keys, cells))) + "\n")
    return path


def child(path: str, profile: bool) -> None:
    """Read ``path`` once in this process and print one JSON line: seconds, peak RSS, items or the refusal."""
    import resource

    from workbench.data.manifest import read_manifest
    from workbench.errors import ConfigError

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t, cpu = time.perf_counter(), time.process_time()
    out: dict = {}
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    try:
        out["items"] = len(read_manifest(path))
    except ConfigError as exc:
        out["refused"] = str(exc)[:400]
    if prof is not None:
        prof.disable()
    out["seconds"], out["cpu_seconds"] = time.perf_counter() - t, time.process_time() - cpu
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_after_import_mb"] = base
    if prof is not None:
        import io
        import pstats

        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(15)
        out["profile"] = s.getvalue()
    print(json.dumps(out))


def measure(code: Path, manifest: Path, profile: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code), WORKBENCH_LOG_LEVEL="ERROR")
    r = subprocess.run([sys.executable, __file__, "--child", str(manifest)] + (["--profile"] if profile else []),
                       env=env, capture_output=True, text=True, cwd=manifest.parent)
    if r.returncode:
        raise SystemExit(f"the reader in {code} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=1000, help="distinct audio files the rows name")
    ap.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    ap.add_argument("--before", default="ca24a1b", help="git commit of the reader to compare against ('' for none)")
    ap.add_argument("--bad", type=int, default=0, help="bad rows to plant (both readers must name the same ones)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.profile)
        return
    with tempfile.TemporaryDirectory(prefix="manifest_bench_") as tmp:
        tmp = Path(tmp)
        manifest = generate(tmp / "data", args.rows, args.files, args.format, args.bad)
        print(f"{args.rows:,} rows ({args.format}, {manifest.stat().st_size / 1e6:.0f} MB, {args.files} distinct files, "
              f"{args.bad} bad rows); load average {os.getloadavg()[0]:.2f}")
        codes = {"after (this checkout)": ROOT}
        if args.before:
            old = tmp / "before"
            old.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "workbench"], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
            codes = {f"before ({args.before})": old, **codes}
        results = {name: measure(code, manifest, args.profile) for name, code in codes.items()}
        for name, r in results.items():
            what = f"{r['items']:,} items" if "items" in r else f"refused: {r['refused'][:160]}"
            print(f"{name:28s} {r['seconds']:7.2f} s wall, {r['cpu_seconds']:6.2f} s CPU   peak RSS {r['peak_rss_mb']:7.0f} MB "
                  f"(after import {r['rss_after_import_mb']:.0f} MB)   {what}")
            if args.profile:
                print(r["profile"])
        if len(results) == 2:
            before, after = results.values()
            print(f"speed-up {before['seconds'] / after['seconds']:.2f}x wall, {before['cpu_seconds'] / after['cpu_seconds']:.2f}x CPU, peak RSS {before['peak_rss_mb']:.0f} -> "
                  f"{after['peak_rss_mb']:.0f} MB; same outcome: {before.get('items', before.get('refused')) == after.get('items', after.get('refused'))}")
        print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
