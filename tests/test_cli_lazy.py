"""The command line imports only the module of the command it runs (issue #28 item 2), and still lists every command.

``workbench --help`` and an unknown command use the light listing of :data:`workbench.cli.COMMAND_TABLE`; the chosen
command's parser is the one its module builds.  The listing's help must be the module's own words.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import COMMAND_TABLE, COMMANDS, build_parser, chosen_command, handlers_of, main

REPO = Path(__file__).resolve().parent.parent
MODULES = sorted({f"workbench.cli.{c.module}" for c in COMMAND_TABLE} | {f"workbench.cli.{m}" for c in COMMAND_TABLE for m in c.handlers})


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_the_listing_says_what_each_module_registers_in_its_order():
    full = _subcommands(build_parser())
    registered = [(a.dest, a.help) for a in full._choices_actions]
    listed = [(c.name, c.help) for c in COMMAND_TABLE]
    assert listed == registered


def test_workbench_help_is_the_same_without_importing_the_commands():
    assert build_parser([]).format_help() == build_parser().format_help()


def test_a_chosen_command_gets_its_full_parser_and_the_others_stay_listed():
    parser = build_parser(["run"])
    choices = _subcommands(parser).choices
    assert list(choices) == [c.name for c in COMMAND_TABLE]
    assert "--no-cache" in choices["run"].format_help()
    args = parser.parse_args(["run", "m.csv", "--no-cache", "--workers", "0"])
    assert args.command == "run" and args.no_cache and args.workers == 0


@pytest.mark.parametrize("argv, name", [
    (["run", "m.csv"], "run"), (["-v", "--debug", "metrics", "r"], "metrics"), (["--help"], None), ([], None),
    (["nosuch", "x"], None), (["model", "info"], "model"),
])
def test_the_chosen_command_is_the_first_word(argv, name):
    assert chosen_command(argv) == name


def test_every_action_of_every_command_has_its_handler():
    by_command = {c.name: handlers_of(c) for c in COMMAND_TABLE}
    assert all(by_command.values())
    assert "datasets import-votes" in by_command["datasets"]  # its handler lives in the listeners module
    assert {k for h in by_command.values() for k in h} == set(COMMANDS)


def test_an_unknown_command_is_refused_with_the_list(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["nosuch"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "invalid choice: 'nosuch'" in err and "calibrate" in err


PROBE = """
import json, sys
from workbench.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert exc.code == 0, exc.code
print("LOADED", json.dumps(sorted(m for m in sys.modules if m.startswith("workbench.cli."))))
"""


@pytest.mark.parametrize("argv, module", [(["run", "--help"], "running"), (["--help"], None), (["metrics", "--help"], "analysis")])
def test_only_the_chosen_commands_module_is_imported(argv, module):
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120, cwd=str(REPO),
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)})
    line = next((x for x in proc.stdout.splitlines() if x.startswith("LOADED ")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-2000:]
    loaded = set(json.loads(line[len("LOADED "):])) & set(MODULES)
    expected = {f"workbench.cli.{module}"} if module else set()
    # a command module may import another for a shared option (run takes onnx's --backend): never the other commands'
    assert loaded == expected, f"`workbench {' '.join(argv)}` imported {sorted(loaded - expected)}"


# ------------------------------------------------------------------ OpenMP threads that wait without spinning

ENV_PROBE = """
import os, sys
from workbench.cli import main
try:
    main(["--version"])
except SystemExit:
    pass
print("POLICY", os.environ.get("OMP_WAIT_POLICY"), "torch" in sys.modules)
import torch  # loads libgomp, which reads the policy now
print("THREADS", torch.get_num_threads() >= 1)
"""


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE"), ("passive", "passive")])
def test_a_workbench_process_waits_passively_unless_the_user_chose(given, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    if given:
        env["OMP_WAIT_POLICY"] = given
    proc = subprocess.run([sys.executable, "-c", ENV_PROBE], capture_output=True, text=True, timeout=120, cwd=str(REPO), env=env)
    assert f"POLICY {expected} False" in proc.stdout, proc.stdout + proc.stderr[-2000:]  # set before torch was imported
    assert "THREADS True" in proc.stdout


def test_the_policy_is_not_set_once_torch_is_loaded(monkeypatch):
    import workbench.cli as cli

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch") or object())
    cli.share_the_cores()
    assert "OMP_WAIT_POLICY" not in os.environ  # too late to take effect: not claimed


ALLOC_PROBE = """
import ctypes, resource, sys
sys.path.insert(0, {repo!r})
from workbench.cli import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1].startswith("keep") else False
if sys.argv[1] == "keep-load":  # loading a model applies the same policy: it must not undo the caller's
    from workbench.model.network import load_model
    load_model("tiny")
libc = ctypes.CDLL(None)  # malloc as torch's CPU allocator calls it (numpy would ask for huge pages: fewer faults)
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
sizes = [mb << 20 for mb in (2, 8, 24, 288)]  # one block larger than the heap's spare top: once its own mmap
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):  # a pass: activations alive together, then freed; the next pass wants them again
    blocks = [libc.malloc(n) for n in sizes]
    for block, n in zip(blocks, sizes):
        ctypes.memset(block, 1, n)
    for block in blocks:
        libc.free(block)
print("KEPT", kept, "FAULTS", resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_workbench_process_keeps_freed_memory_instead_of_faulting_it_in_again():
    """By default glibc hands freed blocks of a few MB back to the kernel and the next pass faults fresh zeroed pages
    in for them; a block larger than the heap's spare top is its own mmap even with a raised threshold. Eight passes
    of 322 MB here: 607,188 faults by default, 598,480 with the threshold and top pad alone, 82,376 (about one pass)
    with every block from the heap, and as many after a model is loaded; the user's own tuning wins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "WORKBENCH_KEEP_FREED_MEMORY"}
    probe = ALLOC_PROBE.format(repo=str(REPO))

    def faults(mode, **extra):
        proc = subprocess.run([sys.executable, "-c", probe, mode], capture_output=True, text=True, timeout=120,
                              env={**env, **extra})
        kept, n = proc.stdout.split()[1], int(proc.stdout.split()[3])
        return kept, n

    kept, with_it = faults("keep")
    assert kept == "True"
    _, without = faults("default")
    assert without > 4 * with_it, (with_it, without)  # faulted in again every pass, or about once
    loaded = faults("keep-load")[1]
    assert without > 4 * loaded, (loaded, without)  # a model loaded after it keeps the process's policy
    assert faults("keep", WORKBENCH_KEEP_FREED_MEMORY="0")[0] == "False"
    assert faults("keep", MALLOC_TRIM_THRESHOLD_="0")[0] == "False"  # the user tunes it: left alone
