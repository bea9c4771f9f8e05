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


def test_a_metadata_file_without_a_version_header_falls_back_to_the_full_parser(tmp_path, monkeypatch):
    info = tmp_path / "odd_pkg-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: odd-pkg\nSummary: no version line\n\nbody\nVersion: 9.9\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    installed_version.cache_clear()
    try:
        assert installed_version("odd-pkg") == md.version("odd-pkg")  # the header has none; the body's line is not one
    finally:
        installed_version.cache_clear()
