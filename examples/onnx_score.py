#!/usr/bin/env python3
"""Score audio files with an exported emotion2vec+ model, with only onnxruntime, numpy and soundfile.

    pip install onnxruntime numpy soundfile
    python onnx_score.py EXPORT_DIR clip.wav [more.wav ...] [--json] [--int8]

EXPORT_DIR is what ``workbench model export-onnx --out EXPORT_DIR`` wrote (model.onnx and
model.json).  Files must be 16 kHz (the graph does not resample); stereo is averaged to mono.
All files are scored in one padded batch; the graph normalises each waveform itself.
Prints, per file, the top emotion and the scores in model.json's label order (the nine emotion2vec+
classes, or a fine-tuned head's own) (``--json``: one JSON object per line with ``file``, ``emotion``,
``scores``, ``embedding_norm``).  ``--int8`` scores with the int8 graph (``export-onnx --int8`` wrote it).
A graph that failed export-onnx's check, or whose bytes changed since it, is refused, and so is a folder whose
export stopped before its check ended.  ``--help`` prints this
text; any other option is refused.  A file name that starts with ``-`` goes after ``--``.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soundfile as sf


OPTIONS = ("--json", "--int8", "--help", "-h")


def load_16k_mono(path, sample_rate):
    try:
        samples, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, OSError, RuntimeError) as exc:  # missing, a folder, not audio: said, not a traceback
        raise SystemExit(f"error: {path}: cannot read it as audio ({exc}); check the path and that it is a WAV, FLAC or Ogg file")
    if sr != sample_rate:
        raise SystemExit(f"{path}: {sr} Hz; resample to {sample_rate} Hz first (e.g. sox in.wav -r {sample_rate} out.wav)")
    return samples.mean(axis=1)


def graph_sha256(path):
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise SystemExit(f"error: {path}: cannot read it ({exc.strerror}); export the model again")
    return digest.hexdigest()


def main(argv):
    cut = argv.index("--") if "--" in argv else len(argv)
    options, args = [a for a in argv[:cut] if a.startswith("-")], [a for a in argv[:cut] if not a.startswith("-")] + argv[cut + 1:]
    unknown = [a for a in options if a not in OPTIONS]
    if unknown:
        raise SystemExit(f"error: unknown option {unknown[0]}; the options are {', '.join(OPTIONS)} (a file name that starts with "
                         "'-' goes after --)")
    if "--help" in options or "-h" in options:
        print(__doc__)
        return
    as_json = "--json" in options
    if len(args) < 2:
        raise SystemExit(__doc__)
    folder, files = Path(args[0]), args[1:]
    try:
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: {folder / 'model.json'}: cannot read it ({exc}); EXPORT_DIR is the folder "
                         "`workbench model export-onnx --out EXPORT_DIR` wrote")
    if isinstance(meta.get("check"), dict) and meta["check"].get("pending"):  # export-onnx stopped before its check ended
        raise SystemExit(f"error: {folder}: the export into it did not finish (it stopped before its check against PyTorch "
                         f"ended), so its graphs are unchecked; export it again: {meta['check'].get('redo')}")
    if meta.get("random_weights"):
        print("!! " + meta.get("warning", "random weights: predictions mean nothing"), file=sys.stderr)
    graph = "int8" if "--int8" in options else "float32"
    name = meta.get("int8_file") if graph == "int8" else meta["file"]
    if not name:
        raise SystemExit(f"error: {folder}: has no int8 graph; export it with `workbench model export-onnx --int8`, or leave out --int8")
    check = (meta.get("check") or {}).get("graphs", {}).get(graph)
    if check is not None and check.get("ok") is not True:  # export-onnx's check of this graph against PyTorch
        raise SystemExit(f"{folder / 'model.json'}: {name} FAILED its check at export "
                         f"({'; '.join(check.get('failed') or [])}); export the model again")
    if check is not None and check.get("sha256") and graph_sha256(folder / name) != check["sha256"]:
        raise SystemExit(f"error: {folder / name}: changed since export-onnx checked it; export the model again")
    session_options = ort.SessionOptions()
    session_options.log_severity_level = 3
    session = ort.InferenceSession(str(folder / name), sess_options=session_options, providers=["CPUExecutionProvider"])

    waves = [load_16k_mono(f, meta["sample_rate"]) for f in files]
    for f, w in zip(files, waves):
        if len(w) < meta["min_samples"]:
            raise SystemExit(f"{f}: {len(w)} samples; the model needs at least {meta['min_samples']}")
    lengths = np.array([len(w) for w in waves], dtype=np.int64)
    batch = np.zeros((len(waves), int(lengths.max())), dtype=np.float32)  # zero padding at the end
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w
    scores, embedding = session.run(["scores", "embedding"], {"waveforms": batch, "lengths": lengths})

    labels = meta["labels"]
    for f, s, e in zip(files, scores, embedding):
        top = labels[int(np.argmax(s))]
        if as_json:
            print(json.dumps({"file": f, "emotion": top, "scores": {k: float(v) for k, v in zip(labels, s)},
                              "embedding_norm": float(np.linalg.norm(e))}))
        else:
            print(f"{f}: {top} ({float(np.max(s)):.3f})  " + "  ".join(f"{k} {v:.3f}" for k, v in zip(labels, s)))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BrokenPipeError:  # the reader stopped reading (`| head`): quietly, as the workbench does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
