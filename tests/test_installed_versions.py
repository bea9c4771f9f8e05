"""workbench.versions reads only a distribution's Version header: it must give what importlib.metadata gives."""

from __future__ import annotations

import importlib.metadata as md

from workbench.paths import installed_version


def test_every_installed_distribution_has_the_version_importlib_metadata_gives():
    names = sorted({d.metadata["Name"] for d in md.distributions() if d.metadata["Name"]})
    assert len(names) > 20  # numpy, pandas, torch, onnxruntime, … are installed with the workbench
    wrong = [(n, installed_version(n), md.version(n)) for n in names if installed_version(n) != md.version(n)]
    assert wrong == []


def test_names_are_found_as_importlib_finds_them_and_an_absent_one_is_none():
    assert installed_version("praat-parselmouth") == md.version("praat_parselmouth")  # either spelling of a name
    assert installed_version("scikit-learn") == md.version("scikit_learn")
    assert installed_version("no-such-distribution-here") is None


def test_only_the_header_says_the_version_and_a_file_without_one_has_none(tmp_path, monkeypatch):
    for name, text in (("odd_pkg-1.2.3", "Metadata-Version: 2.1\nName: odd-pkg\nSummary: no version line\n\nbody\nVersion: 9.9\n"),
                       ("even_pkg-2.0", "Metadata-Version: 2.1\nName: even-pkg\nVersion: 2.0\nSummary: s\n\nVersion: 9.9\n")):
        info = tmp_path / f"{name}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    installed_version.cache_clear()
    try:  # the body's "Version: 9.9" is a line of the description, not the header
        assert installed_version("odd-pkg") is None and installed_version("even-pkg") == "2.0"
    finally:
        installed_version.cache_clear()


def test_hostile_metadata_files_give_none_without_hanging_or_raising(tmp_path):
    """A METADATA that is a pipe blocked the run for ever, a link to /dev/zero read until memory ran out, bytes that
    are not UTF-8 raised UnicodeDecodeError: each is an unknown version now (a child process, bounded in time and
    memory, so that the old code fails instead of hanging the suite); a Latin-1 summary keeps its Version header."""
    import os
    import subprocess
    import sys

    for name in ("fifo_pkg", "zero_pkg", "latin_pkg", "dir_pkg"):
        (tmp_path / f"{name}-1.0.dist-info").mkdir()
    os.mkfifo(tmp_path / "fifo_pkg-1.0.dist-info" / "METADATA")
    os.symlink("/dev/zero", tmp_path / "zero_pkg-1.0.dist-info" / "METADATA")
    (tmp_path / "latin_pkg-1.0.dist-info" / "METADATA").write_bytes(b"Metadata-Version: 2.1\nName: latin_pkg\nSummary: caf\xe9\nVersion: 1.0\n\n")
    (tmp_path / "dir_pkg-1.0.dist-info" / "METADATA").mkdir()
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
            "from workbench.paths import installed_version; "
            "print([installed_version(n) for n in ('fifo_pkg', 'zero_pkg', 'latin_pkg', 'dir_pkg')])")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("installed_version hung on a METADATA that is a pipe") from None
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[None, None, '1.0', None]"
