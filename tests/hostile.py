#!/usr/bin/env python3
"""A generated corpus of hostile inputs (never committed as binaries) and the harness that counts what they do.

Each generator writes its cases under a folder the caller gives and returns them as :class:`Case`
values.  A case that would run code names a *marker* file the code creates: the marker must never
appear.  The harness (``python tests/hostile.py``) runs every case through the commands that read it
and counts inputs tried, refused clearly (non-zero exit with an ``error:`` line and a ``fix:``), code
executed (markers found), files written outside their folder (a before/after listing of a temporary
root and of /tmp), network connections made unasked (a listener on 127.0.0.1 that every URI in the
corpus points at), and the peak memory of the largest input.

    python tests/hostile.py [--keep DIR]
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class Case:
    """One hostile input: what it is, where it lies, and the marker its code would create."""

    kind: str  # checkpoint | run_folder | experiment | data
    name: str
    path: Path
    marker: Path | None = None
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------
def _marker_code(marker: Path) -> str:
    # what an attacker's code would do: leave a trace we can look for
    return f"open({str(marker)!r}, 'w').write('code ran')\n"


def _copy_checkpoint(base: Path, dst: Path) -> Path:
    shutil.copytree(base, dst)
    return dst


def _edit_config(folder: Path, **changes) -> None:
    cfg = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    cfg.update(changes)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")


class _Payload:
    """A pickle that runs code when unpickled (what a hostile model.pt carries)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def hostile_checkpoints(base: Path, root: Path) -> list[Case]:
    """Copies of the tiny checkpoint ``base`` made hostile, under ``root``; each names a marker file."""
    root.mkdir(parents=True, exist_ok=True)
    markers = root / "markers"
    markers.mkdir(exist_ok=True)
    cases = []

    def case(name: str) -> tuple[Path, Path]:
        d = _copy_checkpoint(base, root / name)
        return d, markers / f"{name}.ran"

    d, m = case("remote_code")
    (d / "x.py").write_text(_marker_code(m), encoding="utf-8")
    _edit_config(d, trust_remote_code=True, remote_code=str(d / "x.py"))
    cases.append(Case("checkpoint", "trust_remote_code + remote_code: x.py", d, m))

    d, m = case("remote_code_default")
    (d / "model.py").write_text(_marker_code(m), encoding="utf-8")  # FunASR's default remote_code is "model"
    _edit_config(d, trust_remote_code=True)
    cases.append(Case("checkpoint", "trust_remote_code alone (imports ./model.py)", d, m))

    d, m = case("remote_code_only")
    (d / "x.py").write_text(_marker_code(m), encoding="utf-8")
    _edit_config(d, remote_code=str(d / "x.py"))
    cases.append(Case("checkpoint", "remote_code without trust_remote_code", d, m))

    d, m = case("requirements")
    (d / "setup.py").write_text(_marker_code(m), encoding="utf-8")
    (d / "requirements.txt").write_text(f"-e {d}\n", encoding="utf-8")  # pip would run setup.py
    cases.append(Case("checkpoint", "requirements.txt (pip -e of a setup.py)", d, m))

    d, m = case("pickle")
    import torch

    state = torch.load(base / "model.pt", weights_only=True)
    state["payload"] = _Payload(m)
    with open(d / "model.pt", "wb") as f:
        pickle.dump(state, f)  # a legacy (non-zip) pickle holding code
    cases.append(Case("checkpoint", "pickled payload in model.pt (legacy format)", d, m))

    d, m = case("pickle_zip")
    state = torch.load(base / "model.pt", weights_only=True)
    state["payload"] = _Payload(m)
    torch.save(state, d / "model.pt")
    cases.append(Case("checkpoint", "pickled payload in model.pt (torch zip format)", d, m))

    d, m = case("vad_model")
    _edit_config(d, vad_model="http://127.0.0.1:{port}/vad")
    cases.append(Case("checkpoint", "vad_model: a second model from the network", d, m))

    d, m = case("init_param")
    _edit_config(d, init_param="/etc/passwd")
    cases.append(Case("checkpoint", "init_param outside the folder", d, m))

    d, m = case("frontend")
    _edit_config(d, frontend="WavFrontend", frontend_conf={"cmvn_file": "/etc/passwd"})
    cases.append(Case("checkpoint", "frontend from FunASR's tables", d, m))

    d, m = case("other_model")
    _edit_config(d, model="SenseVoiceSmall")
    cases.append(Case("checkpoint", "model: another FunASR class", d, m))

    d, m = case("unknown_key")
    _edit_config(d, please_run="rm -rf /")
    cases.append(Case("checkpoint", "unknown top-level key", d, m))

    d, m = case("tokenizer")
    _edit_config(d, tokenizer="SentencepiecesTokenizer", tokenizer_conf={"bpemodel": "/etc/passwd"})
    cases.append(Case("checkpoint", "another tokenizer", d, m))

    d, m = case("configuration_json")
    (d / "evil.yaml").write_text(yaml.safe_dump({"model": "Emotion2vec", "trust_remote_code": True,
                                                 "remote_code": str(d / "x.py")}), encoding="utf-8")
    (d / "x.py").write_text(_marker_code(m), encoding="utf-8")
    (d / "configuration.json").write_text(json.dumps({"file_path_metas": {"config": "evil.yaml", "init_param": "model.pt"}}),
                                          encoding="utf-8")
    cases.append(Case("checkpoint", "configuration.json naming a config that asks for remote code", d, m))

    d, m = case("configuration_json_outside")
    (d / "configuration.json").write_text(json.dumps({"file_path_metas": {"config": "../remote_code/config.yaml"}}),
                                          encoding="utf-8")
    cases.append(Case("checkpoint", "configuration.json naming a config outside the folder", d, m))

    d, m = case("yaml_tag")
    (d / "config.yaml").write_text("model: !!python/object/apply:os.system ['touch " + str(m) + "']\n", encoding="utf-8")
    cases.append(Case("checkpoint", "config.yaml with a python YAML tag", d, m))

    d, m = case("not_mapping")
    (d / "config.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    cases.append(Case("checkpoint", "config.yaml that is a list", d, m))
    return cases


# ---------------------------------------------------------------------------
# run folders
# ---------------------------------------------------------------------------
#: every file or folder the workbench writes in a run folder (derived outputs included)
RUN_FOLDER_FILES = (".lock", "log.txt", "config.yaml", "experiment.yaml", "results.parquet", "embeddings.npy", "summary.json",
                    "metrics.json", "metrics_restricted.json", "artifacts.json", "confusion_raw.png", "reliability_raw.png",
                    "breakdown_speaker_raw.png", "parts", "parts/rejected", "parts/part-00001.parquet", "frame_embeddings")


def hostile_run_folders(finished_run: Path, root: Path) -> list[Case]:
    """Copies of a finished run with one planted link each, pointing at a victim outside the folder.

    ``extra["victim"]`` is the outside file (or folder) and ``extra["content"]`` what it must still hold.
    """
    cases = []
    for i, name in enumerate(RUN_FOLDER_FILES):
        d = root / f"link_{i:02d}"
        shutil.copytree(finished_run, d, symlinks=True)
        victim = root / "outside" / f"victim_{i:02d}"
        victim.parent.mkdir(parents=True, exist_ok=True)
        target = d / name
        if name in ("parts", "parts/rejected", "frame_embeddings"):
            victim.mkdir()
            (victim / "keep.txt").write_text("precious", encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            content = None
        else:
            victim.write_text("precious", encoding="utf-8")
            if target.exists() or target.is_symlink():
                target.unlink()
            content = "precious"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(victim, target)
        cases.append(Case("run_folder", f"{name} is a link outside", d, None, {"victim": victim, "content": content, "link": name}))
    return cases


def foreign_part_run(finished_run: Path, other_run: Path, root: Path, *, duplicate: bool = False) -> Case:
    """A copy of ``finished_run`` without its final tables, with a part of ``other_run`` copied (not linked) in,
    or (``duplicate``) a second copy of one of its own parts."""
    d = root / ("duplicate_part" if duplicate else "foreign_part")
    shutil.copytree(finished_run, d)
    for name in ("results.parquet", "embeddings.npy", "summary.json"):
        (d / name).unlink()
    src_dir = d / "parts" if duplicate else other_run / "parts"
    src = sorted(src_dir.glob("part-*.parquet"))[0]
    shutil.copy(src, d / "parts" / "part-00099.parquet")
    shutil.copy(src.with_name(src.name.replace(".parquet", ".emb.npy")), d / "parts" / "part-00099.emb.npy")
    return Case("run_folder", "duplicate part" if duplicate else "part of another run", d)


# ---------------------------------------------------------------------------
# data strings
# ---------------------------------------------------------------------------
#: strings that end up in file names, log lines, HTML and figures
HOSTILE_STRINGS = ("$\\frac{a}{$", "$\\alpha$", "<script>alert(1)</script>", "a\nb\rc", "nul\x00byte", "tel/8k",
                   "../../x", "..", "\u202eevil", "ünïcödé", "x" * 300)


# ---------------------------------------------------------------------------
# a listener that counts connections
# ---------------------------------------------------------------------------
class Listener:
    """A TCP listener on 127.0.0.1 that accepts and counts connections (every URI in the corpus points here)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


# ---------------------------------------------------------------------------
# experiment files
# ---------------------------------------------------------------------------
def hostile_experiments(manifest: Path, root: Path, uri: str) -> list[Case]:
    """Experiment files that try to reach ``uri``, write outside their folder, or smuggle wrong types and YAML tags.

    ``extra["refused"]`` says whether ``workbench run FILE`` must refuse it (exit 2) or run it without
    doing what it asks (exit 0, a note, no connection).
    """
    root.mkdir(parents=True, exist_ok=True)
    marker = root / "yaml_tag.ran"
    base = {"manifest": str(manifest), "model": "tiny", "chunk_size": 8}
    specs = [
        ("tracking_uri", {"tracking": {"mlflow": {"uri": uri, "experiment": "x"}}}, False),
        ("tracking_no_uri", {"tracking": {"mlflow": {"uri": None}}}, False),
        ("out_escapes", {"out": "../../../../tmp/hostile_out_escape"}, True),
        ("out_absolute", {"out": "/tmp/hostile_out_absolute"}, True),
        ("seed_string", {"seed": "abc"}, True),
        ("frame_embeddings_string", {"frame_embeddings": "yes"}, True),
        ("chunk_size_string", {"chunk_size": "64"}, True),
        ("chunk_size_zero", {"chunk_size": 0}, True),
        ("tracking_unknown_backend", {"tracking": {"wandb": {"uri": uri}}}, True),
        ("tracking_bad_shape", {"tracking": {"mlflow": {"uri": uri, "token": "x"}}}, True),
        ("report_notebook_path", {"reports": [str(root / "evil.ipynb")]}, True),
        ("unknown_key", {"callback": "os.system"}, True),
    ]
    cases = []
    for name, extra, refused in specs:
        p = root / f"{name}.yaml"
        p.write_text(yaml.safe_dump({**base, **extra}, sort_keys=False), encoding="utf-8")
        cases.append(Case("experiment", name, p, None, {"refused": refused}))
    p = root / "yaml_tag.yaml"
    p.write_text(f"manifest: {manifest}\nmodel: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    cases.append(Case("experiment", "yaml_tag", p, marker, {"refused": True}))
    return cases
