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


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


@needs_fifo
def test_a_log_file_that_is_a_fifo_nobody_reads_does_not_hang_the_command(tmp_path):
    """WORKBENCH_LOG naming a FIFO hung every command at the log's open (it waited for a reader for ever; hostile15).
    Run in a child so that the old hang is a failed test, not a stuck suite."""
    import subprocess
    import sys

    fifo = tmp_path / "wb.log"
    os.mkfifo(fifo)
    code = ("import logging\nfrom workbench.logs import routed_logs\nwith routed_logs():\n"
            "    logging.getLogger('workbench.test').warning('a line')\nprint('done')\n")
    env = {**os.environ, "WORKBENCH_LOG": str(fifo), "WORKBENCH_CACHE": str(tmp_path / "cache")}
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the log's open waited for a reader of the FIFO")
    assert out.returncode == 0 and out.stdout == "done\n", out.stderr
    assert "is a named pipe (FIFO) that no process reads" in out.stderr and "a line" in out.stderr


@needs_fifo
def test_a_log_file_that_is_a_fifo_someone_reads_takes_the_lines(tmp_path, monkeypatch):
    from workbench.logs import routed_logs

    fifo = tmp_path / "wb.log"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        monkeypatch.setenv("WORKBENCH_LOG", str(fifo))
        with routed_logs():
            logging.getLogger("workbench.test").warning("piped")
        assert b"piped" in os.read(reader, 65536)
    finally:
        os.close(reader)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no UNIX sockets here")
def test_a_log_file_that_is_a_socket_is_named_a_socket(tmp_path, monkeypatch, capsys):
    import socket

    from workbench.logs import routed_logs

    path = tmp_path / "wb.log"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        monkeypatch.setenv("WORKBENCH_LOG", str(path))
        with routed_logs():
            logging.getLogger("workbench.test").warning("a line")
    assert "(it is a socket, which is no file to write lines into)" in capsys.readouterr().err
