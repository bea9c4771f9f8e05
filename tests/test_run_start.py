"""What every `workbench run` pays besides the model (issue #28).

A one-command process imports the run's table libraries with the collector paused and freezes them (issue #28: a
full collection in the middle of pandas' import held the GIL 0.05-0.12 s while the model waited); any other process
(a notebook, a program using the package) never freezes: its objects may become cyclic garbage later."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import gc, sys
    from workbench.model import memory
    if sys.argv[1] == "command":
        memory.collect_as_one_command()
    assert "xml.dom.minidom" not in sys.modules
    memory.import_long_lived("xml.dom.minidom")
    print("imported", "xml.dom.minidom" in sys.modules, "frozen", gc.get_freeze_count() > 0, "collector", gc.isenabled())
""")


def _run(mode: str) -> str:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_a_workbench_command_freezes_what_it_imported_and_keeps_the_collector_on():
    assert _run("command") == "imported True frozen True collector True"


def test_a_notebook_or_another_program_never_freezes():
    assert _run("library") == "imported True frozen False collector True"


def test_the_workbench_program_takes_the_one_command_policy():
    from workbench.cli import prepare_process
    from workbench.model import memory

    saved = dict(memory._state)
    try:
        memory._state.pop("freeze", None)
        prepare_process()
        assert memory._state.get("freeze") is True
    finally:
        memory._state.clear()
        memory._state.update(saved)


def test_the_cpu_name_comes_from_cpuinfo_without_a_subprocess(monkeypatch):
    """platform.processor() runs `uname -p` in a subprocess on Linux (10-30 ms of each run's start): cpuinfo has the name."""
    import platform

    from workbench.model import fastpath

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file() or "model name" not in cpuinfo.read_text(errors="replace"):
        import pytest

        pytest.skip("no /proc/cpuinfo with a model name: platform.processor() is the only source there")
    fastpath._cpu_name.cache_clear()
    monkeypatch.setattr(platform, "processor", lambda: (_ for _ in ()).throw(AssertionError("a subprocess was run")))
    try:
        name = fastpath.cpu_identity()["model"]
    finally:
        fastpath._cpu_name.cache_clear()
    wanted = next(line.split(":", 1)[1].strip() for line in cpuinfo.read_text(errors="replace").splitlines()
                  if line.startswith("model name"))
    assert name == wanted


def test_two_threads_pausing_the_collector_in_turn_leave_it_on():
    """A enters, B enters (it reads the collector off: A's pause), A leaves, B leaves: with each pause reading
    gc.isenabled() for itself, B restored "off" and the collector stayed off for the rest of the process."""
    import gc
    import threading

    from workbench.model.memory import collector_paused

    assert gc.isenabled()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with collector_paused():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with collector_paused():
            b_in.set()
            a_out.wait(5)
            seen["after a left"] = gc.isenabled()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"after a left": False} and gc.isenabled()
