"""WORKBENCH_* environment variables set to careless or hostile values: each is read as meant or refused naming the
variable, its value and the values it takes; none is silently read as its default."""

from __future__ import annotations

import pytest

from workbench.errors import ConfigError


@pytest.mark.parametrize("value, expected", [("on", True), (" 1 ", True), ("TRUE", True), ("yes", True), ("off", False),
                                             ("0", False), ("", False), ("No", False)])
def test_the_offline_switch_reads_on_and_off_as_huggingface_hub_does(monkeypatch, value, expected):
    from workbench.model.hub import offline

    for v in ("HF_HUB_OFFLINE", "MODELSCOPE_OFFLINE"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("WORKBENCH_OFFLINE", value)  # 'on' and ' 1 ' read as off before: the hub was asked
    assert offline() is expected


@pytest.mark.parametrize("value", ["offline", "y", "2", "of"])
def test_an_offline_switch_that_is_neither_on_nor_off_is_refused_with_the_values(monkeypatch, value):
    from workbench.model.hub import hub_unreachable

    monkeypatch.setenv("WORKBENCH_OFFLINE", value)
    with pytest.raises(ConfigError) as info:
        hub_unreachable("hf")  # before any connection is tried
    assert info.value.source == "WORKBENCH_OFFLINE" and repr(value) in str(info.value) and "1, true, yes, on" in str(info.value)


def test_hugging_faces_own_switch_on_with_spaces_and_capitals_is_offline(monkeypatch):
    from workbench.model.hub import offline

    monkeypatch.delenv("WORKBENCH_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", " ON ")
    assert offline()


@pytest.mark.parametrize("value", ["ten", "-5", "inf", "0", "nan"])
def test_an_onnx_budget_that_is_no_positive_number_is_refused_not_read_as_600(monkeypatch, value):
    from workbench.model.onnx_backend import time_budget_for

    monkeypatch.setenv("WORKBENCH_ONNX_BUDGET_S", value)
    with pytest.raises(ConfigError, match="not a number of seconds above 0") as info:
        time_budget_for({})
    assert info.value.source == "WORKBENCH_ONNX_BUDGET_S"


def test_an_onnx_budget_unset_or_given_is_used(monkeypatch):
    from workbench.model.onnx_backend import time_budget_for

    monkeypatch.setenv("WORKBENCH_ONNX_BUDGET_S", " 30 ")
    assert time_budget_for({}) == 30.0
    monkeypatch.delenv("WORKBENCH_ONNX_BUDGET_S")
    assert time_budget_for({}) == 600.0


def test_a_cache_written_with_a_tilde_is_the_home_folders_not_a_folder_named_tilde(tmp_path, monkeypatch):
    """WORKBENCH_CACHE="~/wb" (quoted in a .env file, so no shell expanded it) made a folder named '~' in each folder
    a command ran in."""
    from workbench.paths import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WORKBENCH_CACHE", "~/wb")
    assert cache_dir() == tmp_path / "home" / "wb"
    from workbench.logs import default_log_file

    monkeypatch.setenv("WORKBENCH_LOG", "~/wb.log")
    assert default_log_file() == tmp_path / "home" / "wb.log"


@pytest.mark.parametrize("inside", [False, True])
def test_a_cache_in_the_runs_folder_is_refused_naming_workbench_cache(tmp_path, monkeypatch, capsys, inside):
    """WORKBENCH_CACHE set to the --out folder: the log folder the cache made read as the user's 'other files (logs)';
    set inside a finished run, the cache's files were written among the run's on resume."""
    import numpy as np
    import soundfile as sf

    from workbench.cli import main

    sf.write(tmp_path / "a.wav", (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    (tmp_path / "m.csv").write_text("id,path\na,a.wav\n")
    out = tmp_path / "run"
    if inside:  # a run's folder (its config.yaml is not read: the cache is refused first)
        out.mkdir()
        (out / "config.yaml").write_text("manifest: m.csv\n")
    monkeypatch.setenv("WORKBENCH_CACHE", str(out / "cache" if inside else out))
    assert main(["run", str(tmp_path / "m.csv"), "--out", str(out), "--model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "holds the workbench's cache (WORKBENCH_CACHE=" in err and "set WORKBENCH_CACHE to a folder outside your runs" in err


@pytest.mark.parametrize("keep, malloc, alone", [("false", None, True), ("off", None, True), ("0", None, True), ("", None, False),
                                                 (None, None, False), ("1", None, False), (None, "on", True), (None, " TRUE", True)])
def test_the_allocator_switches_read_off_and_on_as_words(monkeypatch, keep, malloc, alone):
    """WORKBENCH_KEEP_FREED_MEMORY=false (or off) kept glibc tuned to hold up to 1.25 GB, as if on."""
    from workbench.model import memory

    for name, value in (("WORKBENCH_KEEP_FREED_MEMORY", keep), ("WORKBENCH_KEEP_MALLOC", malloc)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    for name in memory._MALLOC_ENV:
        monkeypatch.delenv(name, raising=False)
    assert memory.left_alone() is alone
