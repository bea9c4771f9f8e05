"""Hostile and careless inputs, round nine: experiment files and report parameters written by someone else (binary
bytes, integers of thousands of digits, seeds numpy never takes, alias bombs and names given twice on the command line),
and names longer than a file system allows."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.cli import main
from workbench.errors import ConfigError
from workbench.views.report_run import parse_params, resolve_params

DEMO_MANIFEST = Path(__file__).resolve().parent.parent / "workbench" / "demo_data" / "manifest.csv"
#: nine lines of aliases, each nine times the one before: 9**9 strings once expanded
BOMB = "[&a [x,x,x,x,x,x,x,x,x]," + ",".join(
    f"&{b} [{','.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi")) + "]"


def _experiment(tmp_path, body: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(f"manifest: {DEMO_MANIFEST}\nmodel: tiny\n{body}", encoding="utf-8")
    return path


def _refused(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error:" in err and "fix:" in err and "unexpected" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("body, said", [
    ("seed: 0x" + "f" * 5000 + "\n", "line 3: the whole number '0xfffff"),  # 'unexpected ValueError' (str() of it)
    ("chunk_size: 0x" + "f" * 5000 + "\n", "line 3: the whole number"),  # 'unexpected ValueError' in the range message
    ("audio:\n  max_duration_s: 0x" + "f" * 5000 + "\n", "line 4: the whole number"),  # 'unexpected OverflowError' (float())
    ("seed: 99999999999999999999999\n", "line 3: the whole number '99999999999999999999999' is past"),
    ("seed: -1\n", "`seed` is -1; it must be a whole number from 0 to 4294967295"),  # kept, and read back as 0 by the reports
    ("seed: 4294967296\n", "`seed` is 4294967296"),
])
def test_an_experiment_with_a_number_no_setting_takes_is_refused_naming_it(tmp_path, capsys, body, said):
    err = _refused(capsys, ["run", str(_experiment(tmp_path, body)), "--out", str(tmp_path / "run")])
    assert said in err and str(tmp_path / "experiment.yaml") in err
    assert not (tmp_path / "run").exists()


def test_an_experiment_file_of_binary_bytes_is_refused_not_an_unexpected_error(tmp_path, capsys):
    """A NUL in the file: PyYAML's reader raised while it was built, outside the parser's try ('unexpected ReaderError')."""
    path = tmp_path / "experiment.yaml"
    path.write_bytes(b"manifest: m.csv\n\x00\x01\x02")
    err = _refused(capsys, ["run", str(path), "--out", str(tmp_path / "run")])
    assert str(path) in err and "is not valid YAML" in err and "#x0000" in err


def test_a_report_parameter_that_is_an_alias_bomb_or_a_huge_number_stays_the_text_typed():
    """`-p title=[&a …]` expanded to 9**9 strings (stopped after a minute at 3 GB); `-p title=0xfff…` (5,000 digits)
    ended in 'unexpected ValueError'. Both are text, as any value that is no YAML scalar was."""
    big = "0x" + "f" * 5000
    assert parse_params([f"title={BOMB}", f"top={big}", "n_boot=200", "probe_folds=None", "title2=*draft*"]) == {
        "title": BOMB, "top": big, "n_boot": 200, "probe_folds": None, "title2": "*draft*"}


def test_a_report_parameter_given_twice_is_refused_not_the_last_one_kept():
    with pytest.raises(ConfigError) as info:
        parse_params(["run_dir=runs/a", "run_dir=runs/b"])
    assert "run_dir is given twice ('runs/a', then 'runs/b')" in info.value.render()
    assert "-p run_dir=… once" in info.value.render()


def test_a_title_is_text_even_when_a_folder_has_its_name(tmp_path):
    """`-p title=runs` where runs/ existed titled the report '/home/…/runs'."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "ckpt").mkdir()
    assert resolve_params({"title": "runs", "model": "ckpt"}, cwd=tmp_path) == {"title": "runs", "model": str(tmp_path / "ckpt")}


def test_a_parameter_longer_than_a_file_name_is_text_not_an_unexpected_error(tmp_path):
    """Every string parameter was tried as a path: a 300-letter title or model ended in 'unexpected OSError'."""
    long = "m" * 300
    assert resolve_params({"title": long, "model": long}, cwd=tmp_path) == {"title": long, "model": long}


@pytest.mark.parametrize("command", [["metrics"], ["embeddings"], ["listeners"], ["calibrate"], ["run"], ["manifest", "-o", "x.csv"]])
def test_a_path_longer_than_the_file_system_allows_is_named_not_an_unexpected_os_error(tmp_path, capsys, command):
    long = str(tmp_path / ("m" * 300))
    argv = [command[0], long + (".csv" if command == ["run"] else ""), *command[1:]]
    if command == ["run"]:
        argv += ["--model", "tiny", "--out", str(tmp_path / "r")]
    err = _refused(capsys, argv)
    assert "is no possible path" in err and "longer than this file system allows" in err and "…" in err


def test_transcripts_without_a_word_are_refused_by_fuse_not_an_unexpected_error():
    """Transcripts of one letter or markup ('x', '<b>t</b>') left TF-IDF no vocabulary: `fuse` ended in 'unexpected
    ValueError: empty vocabulary'."""
    from workbench.analysis.fusion import text_label_information

    texts = ["x", "<b>t</b>", "x", "?!", "y", "\u202e"]
    with pytest.raises(ConfigError) as info:
        text_label_information(texts, ["a", "b", "a", "b", "a", "b"], ["s1", "s1", "s2", "s2", "s3", "s3"], n_permutations=5)
    said = info.value.render()
    assert "5 distinct transcripts ('<b>t</b>', '?!', 'x' …) hold no word of two or more letters" in said
    assert "fix: fill the manifest's text column" in said


# --------------------------------------------------------------- embeddings: hostile options on a run
@pytest.fixture
def six_items(tmp_path):
    import numpy as np
    from test_probe import synthetic_row, write_run

    rows = [synthetic_row(f"u{i}", emotion="angry" if i < 3 else "sad") for i in range(6)]
    rows[0]["id"] = "n" * 300  # an id no file name can hold
    return write_run(tmp_path / "run", rows, np.random.default_rng(2).standard_normal((6, 8)))


def test_embeddings_refuses_a_k_past_its_items_and_a_colour_column_it_lacks(tmp_path, capsys, six_items):
    """`--k 100000` of 6 items ended in sklearn's 'unexpected ValueError'; `--color-by spekaer` was skipped without a word."""
    err = _refused(capsys, ["embeddings", str(six_items.path), "--k", "6", "--out", str(tmp_path / "e")])
    assert "cannot cluster 6 embeddings into k=6 clusters" in err and "--k" in err
    err = _refused(capsys, ["embeddings", str(six_items.path), "--color-by", "spekaer", "speaker", "--out", str(tmp_path / "e")])
    assert "--color-by: the run has no column 'spekaer'" in err and "'speaker'" in err
    err = _refused(capsys, ["embeddings", str(six_items.path), "--cluster", "none", "--color-by", "cluster", "--out", str(tmp_path / "e")])
    assert "no column 'cluster'" in err
    assert not (tmp_path / "e").exists()  # refused before anything is written


def test_embeddings_neighbours_of_an_id_longer_than_a_file_name(tmp_path, capsys, six_items):
    """An id of 300 characters was tried as a file first: 'unexpected OSError: File name too long'."""
    code = main(["embeddings", str(six_items.path), "--neighbours", "n" * 300, "--top", "2", "--out", str(tmp_path / "e")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "nearest to " + "n" * 300 in out


# --------------------------------------------------------------- listener votes with nothing in them
def test_rater_labels_of_separators_only_are_no_judgement_not_an_item_with_zero_raters(tmp_path, capsys):
    """`;;;;` and ` ; ` were read as items with 0 raters: import-votes said 'listener judgements attached to 2 items',
    then `listeners` said the run's items carry no listener judgements."""
    from workbench.data.listeners import read_generic

    votes = tmp_path / "votes.csv"
    votes.write_text('id,rater_labels\na,";;;;"\nb,"sad;sad;angry"\nc," ; "\nd,""\n', encoding="utf-8")
    assert list(read_generic(votes).records) == ["b"]
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,path,label\na,a.wav,happy\nc,c.wav,sad\n", encoding="utf-8")
    for name in ("a.wav", "c.wav"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "empty.csv").write_text('id,rater_labels\na,";;"\nc," "\n', encoding="utf-8")
    err = _refused(capsys, ["datasets", "import-votes", str(manifest), "--format", "generic", "--votes", str(tmp_path / "empty.csv"),
                            "--out", str(tmp_path / "voted.csv")])
    assert "empty.csv: holds no vote: every row's rater_labels or votes_<class> cells are empty" in err
    assert "no manifest id matches" not in err and not (tmp_path / "voted.csv").exists()


# --------------------------------------------------------------- outputs the file system refuses
@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's sysfs, where no file can be created")
@pytest.mark.parametrize("command", [["manifest", str(DEMO_MANIFEST.parent), "-o", "/sys/kernel/wb_round9.csv"],
                                     ["model", "make-tiny", "/sys/kernel/wb_round9_ckpt"]])
def test_an_output_the_file_system_refuses_is_named_not_its_temporary_nor_unexpected(capsys, command):
    """A manifest or a checkpoint on a read-only mount (sysfs here: EACCES, a read-only mount: EROFS) ended in
    "unexpected OSError: … '.m.csv.tmp-26354-5c1648a1'": the temporary's name alone, and exit status 3."""
    err = _refused(capsys, command)
    assert f"error: {command[-1]}: cannot be used: " in err and ".tmp-" not in err


def test_a_file_size_limit_is_one_error_line_and_one_warning_about_the_log_never_a_traceback(tmp_path, tiny_model):
    """Under `ulimit -f` the log file printed '--- Logging error ---' and a traceback for every record and once more at
    exit, and the output that outgrew the limit ended in 'unexpected OSError: [Errno 27] File too large' (exit 3)."""
    import os
    import resource
    import subprocess
    import sys

    log = tmp_path / "workbench.log"
    log.write_bytes(b"x" * 40_000)  # past the limit already: every line the command logs fails

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))

    env = {**os.environ, "WORKBENCH_LOG": str(log), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-m", "workbench", "run", str(DEMO_MANIFEST), "--model", "tiny", "--dtype", "float32",
                           "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, preexec_fn=limit, timeout=600)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr, done.stderr
    assert "error: a file outgrew the file size limit (ulimit -f) while writing" in done.stderr
    assert done.stderr.count(f"warning: the log file {log} cannot be written (File too large)") == 1, done.stderr


def test_a_json_lines_manifest_with_a_number_of_5000_digits_is_refused_naming_the_line(tmp_path, capsys):
    """json.loads raises a bare ValueError for an integer past Python's 4,300 digits: 'unexpected ValueError' (exit 3)."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "path": "a.wav"}\n{"id": ' + "9" * 5000 + ', "path": "b.wav"}\n', encoding="utf-8")
    err = _refused(capsys, ["run", str(manifest), "--model", "tiny", "--out", str(tmp_path / "run")])
    assert f"{manifest}: line 2 is not valid JSON (a number of more digits than a reader takes (4,300))" in err


@pytest.mark.parametrize("value", ["abc", 0, 10**12, True, 2.5, None])
def test_a_count_parameter_of_a_report_that_is_no_count_is_refused_before_the_notebook_runs(value):
    """`-p n_boot=abc` ran the notebook up to the cell that reads it and left a _FAILED folder ('str' object cannot be
    interpreted as an integer); 10**12 resamples would run for ever."""
    from workbench.views.report_run import check_params

    with pytest.raises(ConfigError) as info:
        check_params("checkpoint_comparison", {"n_boot": value})
    assert "parameter n_boot=" in info.value.render() and "is not a whole number from 1 to 100,000" in info.value.render()
    assert "-p n_boot=1000 (the default)" in info.value.render()
    check_params("checkpoint_comparison", {"n_boot": 200, "top": 3})


def test_a_divergence_check_without_an_interval_shows_none_not_nan():
    """`listeners --bootstrap 0` (allowed: no intervals) printed 'Jensen-Shannon divergence 0.742 bits [nan, nan] is
    WORSE than a uniform guess' on the screen and the report."""
    import math

    import numpy as np

    from workbench.analysis.divergence_checks import uniform_checks, uniform_reference

    nan_ci = lambda f, a, b, **kw: (float("nan"), float("nan"))  # noqa: E731  (what a bootstrap of 0 resamples gives)
    jsd, jsd_uniform, ce = np.array([0.8, 0.7, 0.75]), np.array([0.7, 0.7, 0.7]), np.array([2.3, 2.2, 2.25])
    ref = uniform_reference(jsd, jsd_uniform, ce, 9, nan_ci)
    words = uniform_checks(ref, (0.75, (math.nan, math.nan)), (2.25, (math.nan, math.nan)))
    assert len(words) == 2 and not any("nan" in w for w in words), words
    assert words[0].startswith("Jensen-Shannon divergence 0.750 bits is WORSE than a uniform guess over 9 classes")


def test_an_experiment_reached_through_a_link_writes_its_out_folder_where_its_paths_start(tmp_path, capsys):
    """`out: run` of experiment.yaml reached through shared/exp.yaml -> ../own/experiment.yaml was refused as "resolves to
    own/run, outside the experiment file's folder shared": relative paths start at the file's own folder, the check
    started at the link's.  The check still holds there: `out: ../elsewhere` is refused."""
    (tmp_path / "own").mkdir()
    (tmp_path / "shared").mkdir()
    exp = tmp_path / "own" / "experiment.yaml"
    exp.write_text(f"manifest: {DEMO_MANIFEST}\nmodel: tiny\ndtype: float32\nout: run\n", encoding="utf-8")
    (tmp_path / "shared" / "exp.yaml").symlink_to(exp)
    assert main(["run", str(tmp_path / "shared" / "exp.yaml")]) == 0, capsys.readouterr().err
    assert (tmp_path / "own" / "run" / "results.parquet").is_file() and not (tmp_path / "shared" / "run").exists()
    exp.write_text(f"manifest: {DEMO_MANIFEST}\nmodel: tiny\nout: ../elsewhere\n", encoding="utf-8")
    err = _refused(capsys, ["run", str(tmp_path / "shared" / "exp.yaml")])
    assert f"outside the experiment file's folder {tmp_path / 'own'}" in err and not (tmp_path / "elsewhere").exists()
