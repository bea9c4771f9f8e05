"""Files beside a corpus's audio, and settings files, written by someone else: a FIFO, a /dev/zero link, an encoding
the reader guessed wrong, a cell that is no number.  Each is refused or named, never a hang, a fill of memory, an
'unexpected' crash or a silently empty column."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from test_runs import make_dataset
from workbench.data.corpora import crema_d, esd, iemocap
from workbench.data.corpora.emobox import import_emobox
from workbench.data.hf import import_hf
from workbench.data.manifest import read_manifest
from workbench.data.votes import csv_rows
from workbench.errors import ConfigError, ModelError
from workbench.model.generated import TRAINING_CARD, read_training_card
from workbench.runs.artifacts import RunFolderError
from workbench.runs.driver import run
from workbench.runs.folder import RunFolder
from workbench.runs.experiment import Experiment
from workbench.serialize import read_bytes_capped

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def _wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * np.sin(np.arange(16000) / 5.0)).astype(np.float32), 16000)
    return path


def _unblock_later(fifo: Path, after: float = 3.0) -> threading.Thread:
    """A writer that opens and closes ``fifo`` after ``after`` seconds: a reader blocked on it then reads an empty
    file instead of waiting for ever (so that the old code fails this test instead of hanging it)."""
    def write():
        time.sleep(after)
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass  # no reader: the new code never opened it for a blocking read

    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


@needs_fifo
def test_an_experiment_file_that_is_a_fifo_is_refused_at_once(tmp_path):
    """`workbench run exp.yaml` with a FIFO as the experiment file waited for a writer for ever."""
    fifo = tmp_path / "exp.yaml"
    os.mkfifo(fifo)
    _unblock_later(fifo)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="named pipe"):
        Experiment.load(fifo)
    assert time.monotonic() - started < 2.5, "the reader waited on the FIFO"


def test_a_settings_file_linked_to_a_device_is_refused_by_what_it_is():
    with pytest.raises(ConfigError, match="is a device, not a regular file"):
        read_bytes_capped("/dev/zero", max_bytes=1000)



def test_a_file_larger_than_the_cap_is_refused_by_its_size_unread(tmp_path, monkeypatch):
    """A 2 GB labels file was read up to the cap (512 MB, 3 s) before it was refused (hostile15)."""
    big = tmp_path / "labels_consensus.json"
    with open(big, "wb") as f:
        f.truncate(1 << 30)  # sparse: 1 GiB without writing it
    monkeypatch.setattr("workbench.serialize._read_upto", lambda *a: pytest.fail("read before refusing"))
    with pytest.raises(ConfigError, match="holds 1,073,741,824 bytes; the cap for a labels file is 1,000"):
        read_bytes_capped(big, max_bytes=1000, what="a labels file")

def _crema(tmp_path: Path, demographics: bytes) -> Path:
    root = tmp_path / "crema"
    _wav(root / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    (root / "VideoDemographics.csv").write_bytes(demographics)
    return root


def test_crema_d_demographics_in_latin1_is_a_clear_error(tmp_path):
    """A Latin-1 VideoDemographics.csv ended `datasets prepare crema-d` in 'unexpected UnicodeDecodeError'."""
    root = _crema(tmp_path, b"ActorID,Age,Sex,Race\n1001,51,Male,Caucasi\xe9n\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text") as err:
        crema_d.prepare(root)
    assert "VideoDemographics.csv" in str(err.value)


def test_crema_d_age_that_is_no_number_is_left_out_and_named(tmp_path):
    """An Age of 'fifty' ended the reader in 'unexpected ValueError' (int('fifty'))."""
    root = _crema(tmp_path, b"ActorID,Age,Sex\n1001,fifty,Male\n")
    m = crema_d.prepare(root)
    (it,) = list(m)
    assert "age" not in it.meta and it.gender == "male"
    assert any("Age='fifty'" in n for n in m.notes)


def test_crema_d_actor_listed_twice_is_refused(tmp_path):
    """Two rows for one actor: the last one silently gave the sex and age."""
    root = _crema(tmp_path, b"ActorID,Age,Sex\n1001,51,Male\n1001,40,Female\n")
    with pytest.raises(ConfigError, match="more than once: '1001'"):
        crema_d.prepare(root)


def test_crema_d_demographics_linked_to_dev_zero_is_refused(tmp_path):
    """A VideoDemographics.csv linked to /dev/zero was read whole ('unexpected MemoryError', or the OOM killer)."""
    root = tmp_path / "crema"
    _wav(root / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    (root / "VideoDemographics.csv").symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="is a device"):
        crema_d.prepare(root)


def test_esd_gb18030_texts_of_even_length_are_not_read_as_utf16(tmp_path):
    """UTF-16 was tried before GB18030 without a byte-order mark: a Mandarin speaker's file of an even number of
    bytes decoded as UTF-16 garbage without a tab, and every text of that speaker was silently empty."""
    root = tmp_path / "esd"
    _wav(root / "0001" / "Angry" / "0001_000351.wav")
    raw = "0001_000351\t打开窗户\t生气\n".encode("gb18030")
    assert len(raw) % 2 == 0
    (root / "0001" / "0001.txt").write_bytes(raw)
    (it,) = list(esd.prepare(root))
    assert it.text == "打开窗户"


def test_esd_text_file_linked_to_dev_zero_is_named_not_read(tmp_path):
    root = tmp_path / "esd"
    _wav(root / "0002" / "Happy" / "0002_000001.wav")
    (root / "0002" / "0002.txt").symlink_to("/dev/zero")
    m = esd.prepare(root)
    assert [it.text for it in m] == [""]
    assert any("0002/0002.txt" in n and "device" in n for n in m.notes)


def test_iemocap_transcription_linked_to_dev_zero_is_refused(tmp_path):
    """The transcriptions were read with read_text: a /dev/zero link filled memory."""
    sess = tmp_path / "iem" / "Session1"
    _wav(sess / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav")
    (sess / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (sess / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n")
    (sess / "dialog" / "transcriptions").mkdir(parents=True)
    (sess / "dialog" / "transcriptions" / "Ses01F_impro01.txt").symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="is a device"):
        iemocap.prepare(tmp_path / "iem")


# --------------------------------------------------------------- JSON nested deeper than the parser goes
DEEP = "[" * 5000  # a few kB; json raises RecursionError at the interpreter's recursion limit (1,000)


def test_a_manifest_meta_cell_nested_too_deeply_is_refused_by_row(tmp_path):
    """A CSV manifest whose meta cell is 5,000 '[' (under the 10,000-character cell cap) ended `workbench run` in
    'unexpected RecursionError'."""
    _wav(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text(f'id,path,label,meta\na,a.wav,happy,"{DEEP}"\n')
    with pytest.raises(ConfigError, match="meta"):
        read_manifest(tmp_path / "m.csv")


def test_a_jsonl_manifest_line_nested_too_deeply_is_refused_by_line(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"id": "a", "path": "a.wav", "x": ' + DEEP + "\n")
    with pytest.raises(ConfigError, match="line 1 is not valid JSON"):
        read_manifest(tmp_path / "m.jsonl")


def test_a_checkpoint_whose_training_card_nests_too_deeply_is_refused(tmp_path):
    """A head folder written by someone else, with a training_card.json or configuration.json of '[[[[…', ended
    `model info`, `infer` and `run` in 'unexpected RecursionError'."""
    (tmp_path / TRAINING_CARD).write_text(DEEP)
    with pytest.raises(ModelError, match="nested deeper"):
        read_training_card(tmp_path)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("run")
    manifest = make_dataset(root, n=2, bad=False)
    return run(manifest, out_dir=root / "run", model=tiny_model, cache_dir=root / "cache").run_dir


def test_a_run_folder_whose_summary_or_output_nests_too_deeply_is_refused(small_run, tmp_path):
    """summary.json or a derived output of '[[[[…' in a run folder: 'unexpected RecursionError' from `metrics`."""
    folder = tmp_path / "run"
    shutil.copytree(small_run, folder)
    (folder / "summary.json").write_text(DEEP)
    with pytest.raises(RunFolderError, match="cannot read summary.json"):
        RunFolder.open(folder).summary
    shutil.copy(small_run / "summary.json", folder / "summary.json")
    (folder / "calibration.json").write_text(DEEP)
    with pytest.raises(RunFolderError, match="cannot read calibration.json"):
        RunFolder.open(folder).artifact("calibration.json")


def test_iemocap_evaluation_line_of_dashes_does_not_hang_prepare(tmp_path):
    """A line of 2 MB of dashes after a '[' in an EmoEvaluation file: the 'shaped like a summary line' pattern tried
    every dash as the separator (quadratic: 100 kB took 6 s, 2 MB about 40 minutes).  Run under a watchdog of
    minutes, not timed: the old pattern never finishes inside it, the new one reads the file at once."""
    import subprocess
    import sys

    sess = tmp_path / "iem" / "Session1"
    _wav(sess / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav")
    (sess / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (sess / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n[" + "-" * 2_000_000 + "\n")
    code = ("import sys; from workbench.data.corpora import iemocap; "
            "print(len(list(iemocap.prepare(sys.argv[1]))))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "iem")], capture_output=True, text=True,
                              timeout=180, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("iemocap.prepare did not finish a 2 MB line within the watchdog")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


# --------------------------------------------------------------- an audiofolder's metadata file, from someone else
def _audiofolder(tmp_path: Path, name: str, content: bytes | None) -> Path:
    root = tmp_path / "af"
    _wav(root / "a.wav")
    if content is not None:
        (root / name).write_bytes(content)
    return root


def test_audiofolder_metadata_in_latin1_is_a_clear_error(tmp_path):
    """'unexpected UnicodeDecodeError' from `datasets import-hf FOLDER` (csv.DictReader on the open file)."""
    root = _audiofolder(tmp_path, "metadata.csv", b"file_name,label,note\na.wav,happy,caf\xe9\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text") as err:
        import_hf(root, out=tmp_path / "m.csv")
    assert "metadata.csv" in str(err.value)


def test_audiofolder_metadata_line_that_is_no_object_is_named(tmp_path):
    """A metadata.jsonl line [1, 2] ended in 'unexpected TypeError' (list.pop('file_name', None))."""
    root = _audiofolder(tmp_path, "metadata.jsonl", b"[1, 2]\n")
    with pytest.raises(ConfigError, match="line 1 is a JSON list, not an object"):
        import_hf(root, out=tmp_path / "m.csv")


@needs_fifo
def test_audiofolder_metadata_that_is_a_fifo_is_refused_at_once(tmp_path):
    root = _audiofolder(tmp_path, "metadata.csv", None)
    os.mkfifo(root / "metadata.csv")
    _unblock_later(root / "metadata.csv")
    with pytest.raises(ConfigError, match="named pipe"):
        import_hf(root, out=tmp_path / "m.csv")


# --------------------------------------------------------------- a header that names a column twice
def test_a_manifest_naming_a_column_twice_is_refused(tmp_path):
    """`label` twice: the second column's labels were taken without a word (a silently relabelled run)."""
    _wav(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text("id,path,label,label\na,a.wav,happy,angry\n")
    with pytest.raises(ConfigError, match=r"names 1 column\(s\) twice: 'label' \(columns 3 and 4\)"):
        read_manifest(tmp_path / "m.csv")


def test_a_votes_table_naming_a_column_twice_is_refused(tmp_path):
    """`votes_happy` twice: item a's five happy votes were replaced by the later column's 0 (n_raters 0)."""
    (tmp_path / "v.csv").write_text("id,votes_happy,votes_angry,votes_happy\na,5,0,0\n")
    with pytest.raises(ConfigError, match="'votes_happy' \\(columns 2 and 4\\)"):
        csv_rows(tmp_path / "v.csv", ("id",))


def test_trailing_blank_columns_are_not_repeated_names(tmp_path):
    (tmp_path / "v.csv").write_text("id,votes_happy,,\na,5,,\n")
    header, rows = csv_rows(tmp_path / "v.csv", ("id",))
    assert rows[0]["votes_happy"] == "5"


def test_a_run_table_with_a_repeated_row_is_refused(small_run, tmp_path):
    """results.parquet with one (id, variant) row twice (two runs' tables merged, a row copied by hand): `metrics`
    printed '3 scored' for a run of 2 items and counted the copied item twice in WA, UAR and ECE."""
    import numpy as np
    import pandas as pd

    folder = tmp_path / "run"
    shutil.copytree(small_run, folder)
    table = pd.read_parquet(folder / "results.parquet")
    pd.concat([table, table.iloc[[0]]], ignore_index=True).to_parquet(folder / "results.parquet", index=False)
    emb = np.load(folder / "embeddings.npy")
    np.save(folder / "embeddings.npy", np.concatenate([emb, emb[:1]]))
    with pytest.raises(RunFolderError, match=r"1 repeated row\(s\) of one id and variant"):
        RunFolder.open(folder).results()


# --------------------------------------------------------------- EmoBox: a key listed again
def _fold_file(folder: Path, split: str, fold: int, **rec) -> Path:
    p = folder / f"iemocap_{split}_fold_{fold}.jsonl"
    p.write_text(json.dumps({"key": "a", "wav": "a.wav", "emo": "hap", **rec}) + "\n")
    return p


def test_emobox_key_relabelled_in_another_fold_is_refused(tmp_path):
    """'a' is hap in fold 1 and ang in fold 2: the manifest kept hap without a word."""
    files = [_fold_file(tmp_path, "train", 1), _fold_file(tmp_path, "test", 2, emo="ang")]
    with pytest.raises(ConfigError, match="lists 'a' again with wav 'a.wav' and emo 'ang'") as err:
        import_emobox(files, root=tmp_path)
    assert "iemocap_train_fold_1.jsonl, line 1" in str(err.value)


def test_emobox_key_in_train_and_test_of_one_fold_is_refused(tmp_path):
    """The same key in fold 1's train and test files: meta.folds said only 'test', and the probe trained on it."""
    files = [_fold_file(tmp_path, "train", 1), _fold_file(tmp_path, "test", 1)]
    with pytest.raises(ConfigError, match="test split of fold 1.*train split of the same fold"):
        import_emobox(files, root=tmp_path)


def test_emobox_key_in_two_folds_keeps_both(tmp_path):
    files = [_fold_file(tmp_path, "train", 1), _fold_file(tmp_path, "test", 2)]
    (it,) = list(import_emobox(files, root=tmp_path))
    assert it.meta["folds"] == {"1": "train", "2": "test"}


# --------------------------------------------------------------- a head's labels are data in figures
@pytest.fixture(scope="module")
def dollar_head(tmp_path_factory) -> Path:
    """A head written by someone else whose tokens.txt names classes '$\\frac{$' and '$x^2$' (legal labels)."""
    from workbench.model.generated import ensure_random_checkpoint

    head = tmp_path_factory.mktemp("dollar") / "head"
    shutil.copytree(ensure_random_checkpoint("tiny"), head)
    tokens = (head / "tokens.txt").read_text(encoding="utf-8").splitlines()
    (head / "tokens.txt").write_text("\n".join(["$\\frac{$", "$x^2$", *tokens[2:]]) + "\n", encoding="utf-8")
    return head


def test_segment_figure_of_a_head_whose_labels_hold_dollar_signs(tmp_path, dollar_head):
    """`workbench segment` scored the whole file, then ended in 'unexpected ValueError' (mathtext could not parse a
    tick label), and '$x^2$' would have been drawn as a formula."""
    from workbench.cli import main
    from workbench.demo import DEMO_DATA

    out = tmp_path / "seg"
    assert main(["segment", str(DEMO_DATA / "happy_en_44k.wav"), "--model", str(dollar_head), "--device", "cpu",
                 "--dtype", "float32", "--vad", "energy", "--out", str(out)]) == 0
    assert (out / "heatmap.png").stat().st_size > 5000


def test_metrics_and_sweep_figures_of_a_head_whose_labels_hold_dollar_signs(tmp_path, dollar_head):
    """`metrics` (the confusion figure's ticks, the small-classes flag in its title) and `sweep` (its legend) ended in
    'unexpected ValueError' after their work was done."""
    from workbench.cli import main

    _wav(tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text("id,path,label\na,a.wav,$x^2$\nb,a.wav,$\\frac{$\nc,a.wav,sad\n")
    common = ["--model", str(dollar_head), "--device", "cpu", "--dtype", "float32"]
    assert main(["run", str(tmp_path / "m.csv"), *common, "--no-cache", "--out", str(tmp_path / "run")]) == 0
    assert main(["metrics", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "confusion_raw.png").is_file()
    assert main(["sweep", str(tmp_path / "a.wav"), "--kind", "trim", *common, "--no-cache", "--out", str(tmp_path / "sw")]) == 0
    assert (tmp_path / "sw" / "sweep.png").is_file()


# --------------------------------------------------------------- variants: unknown keys
def test_a_variant_with_a_misspelt_steps_key_is_refused(tmp_path):
    """`step:` for `steps:` gave the variant no steps: 'tel' scored the raw audio under its name (a silent wrong
    comparison), in a variants file and in an experiment file."""
    from workbench.audio.variants import load_variants

    (tmp_path / "v.yaml").write_text("variants:\n  - name: tel\n    step:\n      - name: telephone\n")
    with pytest.raises(ConfigError, match=r"variant 'tel' has unknown key\(s\) \['step'\]; a variant has \['name', 'steps'"):
        load_variants(tmp_path / "v.yaml")
    (tmp_path / "exp.yaml").write_text("manifest: m.csv\nvariants:\n  - name: tel\n    step: [{name: telephone}]\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['step'\]"):
        Experiment.load(tmp_path / "exp.yaml")


def test_a_variants_file_with_keys_beside_variants_is_refused(tmp_path):
    from workbench.audio.variants import load_variants

    (tmp_path / "v.yaml").write_text("variants:\n  tel:\n    - name: telephone\nseed: 3\n")
    with pytest.raises(ConfigError, match=r"has key\(s\) \['seed'\] beside `variants:`"):
        load_variants(tmp_path / "v.yaml")


def test_a_lhotse_gzip_bomb_is_refused_before_lhotse_reads_it(tmp_path):
    """A gzip of about 500 kB holding one line over the 512 MB table cap: lhotse held the line and parsed it (a 51 kB
    gzip of a 50 MB line took 347 MB; this one would take several GB)."""
    import gzip

    from workbench.data.lhotse_io import import_lhotse
    from workbench.serialize import TABLE_MAX_BYTES

    bomb = tmp_path / "cuts.jsonl.gz"
    block = b"a" * (1 << 20)
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        f.write(b'{"id": "a", "x": "')
        for _ in range(TABLE_MAX_BYTES // len(block) + 1):
            f.write(block)
    with pytest.raises(ConfigError, match="holds more than 512,000,000 bytes once decompressed"):
        import_lhotse(cuts=bomb, out=tmp_path / "m.csv")


def test_a_label_map_naming_a_label_twice_is_refused(tmp_path):
    """{"hap": "happy", "hap": "sad"}: json kept the last, so hap was mapped to sad without a word."""
    files = [_fold_file(tmp_path, "train", 1)]
    (tmp_path / "map.json").write_text('{"hap": "happy", "ang": "angry", "hap": "sad"}')
    with pytest.raises(ConfigError, match="names the key 'hap' twice"):
        import_emobox(files, root=tmp_path, label_map=tmp_path / "map.json")


def test_a_report_folder_that_is_a_link_is_not_written_through(tmp_path, small_run):
    """reports/<template> planted as a link (committed in a cloned repository): `workbench report` made its dated
    folder where the link pointed and wrote the notebook, HTML, log and FAILED marker there."""
    from workbench.files import UnsafePathError
    from workbench.views.report_run import run_report

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "reports"
    out.mkdir()
    (out / "experiment_report").symlink_to(elsewhere)
    with pytest.raises(UnsafePathError, match="experiment_report"):
        run_report("experiment_report", {"run_dir": str(small_run)}, out=out, timeout=120)
    assert list(elsewhere.iterdir()) == []


def test_compare_figure_of_a_variant_named_with_dollar_signs(tmp_path):
    """A variants file (written by someone else) naming a variant '$\\frac{$': `compare` computed everything, then
    ended in 'unexpected ValueError' from mathtext in the figure's axis label and title."""
    from workbench.cli import main

    for k in range(6):
        _wav(tmp_path / f"c{k}.wav")
    (tmp_path / "m.csv").write_text("id,path,label\n" + "".join(f"c{k},c{k}.wav,{('sad', 'happy')[k % 2]}\n" for k in range(6)))
    (tmp_path / "v.yaml").write_text('variants:\n  - name: raw\n  - name: "$\\\\frac{$"\n    steps: [{name: telephone}]\n')
    assert main(["run", str(tmp_path / "m.csv"), "--model", "tiny", "--device", "cpu", "--dtype", "float32", "--no-cache",
                 "--variants", str(tmp_path / "v.yaml"), "--out", str(tmp_path / "run")]) == 0
    assert main(["compare", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "compare_1.png").is_file()


def test_iemocap_turn_listed_twice_in_an_evaluation_file_is_left_out_with_both_lines_named(tmp_path, caplog):
    """Two summary lines for Ses01F_impro01_F000 (neu, then ang) wrote two rows with one id, an invalid manifest, and a
    warning whose fix ('give every row its own non-empty id') was wrong for an evaluation file."""
    sess = tmp_path / "iem" / "Session1"
    for turn in ("Ses01F_impro01_F000", "Ses01F_impro01_M001"):
        _wav(sess / "sentences" / "wav" / "Ses01F_impro01" / f"{turn}.wav")
    (sess / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (sess / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n\n"
        "[9.0000 - 10.0000]\tSes01F_impro01_M001\tsad\t[2.5000, 2.5000, 2.5000]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tang\t[2.5000, 2.5000, 2.5000]\n")
    m = iemocap.prepare(tmp_path / "iem")
    assert [(it.id, it.label) for it in m] == [("Ses01F_impro01_M001", "sad")]
    note = " ".join(m.notes)
    assert "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt lines 1 and 5 list Ses01F_impro01_F000 twice (neu, then ang)" in note
    assert "left out" in note and "own non-empty id" not in caplog.text


@pytest.mark.parametrize("name, content, where, char", [
    ("metadata.csv", "file_name,label\nb.wav,sad\na.wav,hap\x00py\n", "metadata.csv, row 2 after the header", "'\\x00'"),
    ("metadata.jsonl", '{"file_name": "b.wav", "label": "sad"}\n\n{"file_name": "a.wav", "label": "hap\\u001bpy"}\n',
     "metadata.jsonl, line 3", "'\\x1b'"),
])
def test_import_hf_refuses_a_label_holding_a_control_character(tmp_path, name, content, where, char):
    """An audiofolder whose metadata.csv held `a.wav,hap\\x00py` wrote the label hap\\x00py into the manifest."""
    folder = tmp_path / "af"
    _wav(folder / "a.wav"), _wav(folder / "b.wav")
    (folder / name).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        import_hf(str(folder), tmp_path / "m.csv")
    text = str(err.value)
    assert where in text and f"holds the control character {char}" in text and "column 'label'" in text, text
    assert not (tmp_path / "m.csv").exists()


def test_import_hf_refuses_a_folder_name_label_holding_a_control_character(tmp_path):
    folder = tmp_path / "af"
    _wav(folder / "hap\x1bpy" / "a.wav")
    with pytest.raises(ConfigError) as err:
        import_hf(str(folder), tmp_path / "m.csv")
    assert "(a folder name as label)" in str(err.value) and "holds the control character '\\x1b'" in str(err.value)


def test_iemocap_votes_of_a_turn_listed_twice_are_left_out_with_both_lines_named(tmp_path, caplog):
    """Two blocks for Ses01F_impro01_F000 (neu with Neutral votes, then ang with Anger votes): read_evaluation kept the
    last block's votes without a word, where prepare leaves the turn out."""
    ef = tmp_path / "EmoEvaluation" / "Ses01F_impro01.txt"
    ef.parent.mkdir()
    ef.write_text(
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E1:\tNeutral;\t()\nC-E2:\tNeutral;\t()\n\n"
        "[9.0000 - 10.0000]\tSes01F_impro01_M001\tsad\t[2.5000, 2.5000, 2.5000]\n"
        "C-E1:\tSadness;\t()\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tang\t[2.5000, 2.5000, 2.5000]\n"
        "C-E1:\tAnger;\t()\nC-E2:\tAnger;\t()\n")
    report = iemocap.read_evaluation(ef.parent)
    assert list(report.records) == ["Ses01F_impro01_M001"]
    summary = report.summary()
    assert f"{ef} lines 1 and 8 list Ses01F_impro01_F000 twice (neu, then ang)" in summary
    assert "1 turn listed more than once" in summary and "left out" in summary
    assert "Ses01F_impro01_F000" in caplog.text


def test_a_run_folder_csv_or_json_output_over_the_cap_is_refused_unread(small_run, tmp_path):
    """A .csv or .json output of 600 MB (sparse: no disk used) in a run folder: RunFolder.artifact read it whole, with
    no cap, unlike every other file someone else writes (a 600 MB file of NUL bytes went to pandas in one piece)."""
    from workbench.serialize import TABLE_MAX_BYTES

    folder = tmp_path / "run"
    shutil.copytree(small_run, folder)
    for name in ("stats.csv", "calibration.json"):
        with open(folder / name, "wb") as f:
            f.truncate(600_000_000)
        with pytest.raises(RunFolderError, match=f"{name} is 600,000,000 bytes; the cap .* is {TABLE_MAX_BYTES:,}"):
            RunFolder.open(folder).artifact(name)
    (folder / "stats.csv").write_text("a,b\n1,2\n")  # a small one still reads
    assert RunFolder.open(folder).artifact("stats.csv").to_dict("records") == [{"a": 1, "b": 2}]


def test_an_explain_cache_entry_over_the_cap_is_recomputed_with_its_size_and_the_cap_named(small_run, tmp_path):
    """An explain cache envelope of 70 MB (sparse): read_cached read it whole before its checksum was checked."""
    from workbench.explain.cache import Rendered, cache_key, entry_names, read_cached, write_cached

    folder = tmp_path / "run"
    shutil.copytree(small_run, folder)
    rf = RunFolder.open(folder)
    key = cache_key(rf.results().iloc[0].to_dict(), model={"checksum": "ab" * 32, "dtype": "float32"},
                    settings={"steps": 4})
    write_cached(rf, key, Rendered({"target": "happy"}, b"png-bytes", None, ["line"]))
    assert read_cached(rf, key)[0] is not None
    name = entry_names(key)["json"]
    with open(folder / name, "r+b") as f:
        f.truncate(70_000_000)
    got, note = read_cached(rf, key)
    assert got is None and f"{name} is 70,000,000 bytes, over the cap of 67,108,864" in note, note
