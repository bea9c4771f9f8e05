"""A row whose ``emotion`` contradicts its own ``label`` (``label=sad, emotion=happy``) is refused, never scored.

``datasets/README.md``: ``label`` is the corpus's own label and ``emotion`` "its emotion2vec+ counterpart".  Scoring
goes by ``emotion``, so a row where the two name different classes was scored against a class its label
contradicts, silently.  Reading refuses it now (as it refuses an unknown emotion), naming the file, the row and both
values, on every reader (CSV, JSONL, parquet) and before ``workbench run`` loads a model.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from test_corpora import wav
from workbench.cli import main
from workbench.data.corpora import LABEL_MAPS
from workbench.data.manifest import Item, Manifest, generic_emotion, read_manifest, validate
from workbench.errors import ConfigError

ROWS = [{"id": "a", "path": "a.wav", "label": "sad", "emotion": "happy"},
        {"id": "b", "path": "a.wav", "label": "W", "emotion": "angry"},  # a code (EmoDB's anger): no word to contradict
        {"id": "c", "path": "a.wav", "label": "exc", "emotion": "happy"},  # IEMOCAP's excited: happy, as the table says
        {"id": "d", "path": "a.wav", "label": "fru", "emotion": ""},  # no counterpart
        {"id": "e", "path": "a.wav", "label": "Anger", "emotion": "Sad "}]


def _write(tmp_path, ext: str):
    wav(tmp_path / "a.wav")
    p = tmp_path / f"m{ext}"
    if ext == ".csv":
        pd.DataFrame(ROWS).to_csv(p, index=False)
    elif ext == ".jsonl":
        p.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    else:
        pd.DataFrame(ROWS).to_parquet(p, index=False)
    return p


@pytest.mark.parametrize("ext", [".csv", ".jsonl", ".parquet"])
def test_a_label_contradicting_its_emotion_is_refused_naming_file_row_and_both_values(tmp_path, ext):
    p = _write(tmp_path, ext)
    with pytest.raises(ConfigError) as info:
        read_manifest(p)
    err = info.value
    assert str(p) in str(err)
    assert "2 rows whose label names another emotion than their emotion column" in err.message
    assert "row 1 (id a): label 'sad' = sad, emotion 'happy'" in err.message
    assert "row 5 (id e): label 'Anger' = angry, emotion 'sad'" in err.message
    assert "id b" not in err.message and "id c" not in err.message and "id d" not in err.message
    assert "set it to the class the label names" in err.fix


def test_rows_that_agree_are_read_as_before(tmp_path):
    wav(tmp_path / "a.wav")
    (tmp_path / "ok.csv").write_text("id,path,label,emotion\na,a.wav,sad,sad\nb,a.wav,W,angry\nc,a.wav,exc,happy\n"
                                      "d,a.wav,fru,\ne,a.wav,,happy\n")
    assert [it.emotion for it in read_manifest(tmp_path / "ok.csv")] == ["sad", "angry", "happy", "", "happy"]
    report = validate(Manifest([Item("x", "a.wav", label="Sadness", emotion="happy")], root=tmp_path))
    assert not report.ok and report.label_conflicts == ["row 1 (id x): label 'Sadness' = sad, emotion 'happy'"]


def test_workbench_run_refuses_it_before_the_model_loads(tmp_path, capsys):
    p = _write(tmp_path, ".csv")
    rc = main(["run", str(p), "--model", str(tmp_path / "no_such_checkpoint"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {p}: ") and "label 'sad' = sad, emotion 'happy'" in err, err
    assert "Traceback" not in err and "checkpoint" not in err and not (tmp_path / "run").exists()


def test_no_corpus_table_contradicts_the_common_names():
    """The check reads a label by the common English names; a corpus loader's own rows must never be refused by it."""
    for corpus, table in LABEL_MAPS.items():
        for label, key in table.items():
            said = generic_emotion(label)
            assert not (key and said and said != key), (corpus, label, key, said)



def test_an_explicit_label_map_the_row_names_is_said_not_refused(tmp_path, caplog):
    """import-hf/import-lhotse ``--map joy=surprised`` sends a label against its own name on purpose (an explicit map
    wins over the generic names): the row keeps the map in ``meta.label_map``, and reading says so instead of refusing."""
    from test_hf import _wav
    from workbench.data.hf import import_hf

    root = tmp_path / "af"
    for i, n in enumerate(["a", "b"]):
        _wav(root / "train" / f"{n}.wav", seed=i)
    (root / "train" / "metadata.csv").write_text("file_name,emotion\na.wav,joy\nb.wav,sadness\n")
    import_hf(root, tmp_path / "m.csv", label_map="joy=surprised")
    m = read_manifest(tmp_path / "m.csv")
    assert {it.label: (it.emotion, it.meta.get("label_map")) for it in m} == {"joy": ("surprised", "joy=surprised"),
                                                                             "sadness": ("sad", None)}
    note = next(n for n in m.notes if "explicit label map" in n)
    assert note.startswith("1 rows whose emotion an explicit label map set against the label's own name (row ")
    assert "label 'joy' = happy, emotion 'surprised' by the map joy=surprised" in note
    assert any("label 'joy' = happy" in r.getMessage() for r in caplog.records)
    # the same row without the map named (edited by hand) is refused
    wav(tmp_path / "a.wav")
    (tmp_path / "hand.csv").write_text("id,path,label,emotion\na,a.wav,joy,surprised\n")
    with pytest.raises(ConfigError, match="label 'joy' = happy, emotion 'surprised'"):
        read_manifest(tmp_path / "hand.csv")


CODED = [{"id": "w", "path": "a.wav", "label": "W", "emotion": "happy", "corpus": "emodb"},  # EmoDB anger as happy
         {"id": "l", "path": "a.wav", "label": "L", "emotion": "neutral", "corpus": "EmoDB"},  # boredom: no counterpart
         {"id": "r", "path": "a.wav", "label": "05", "emotion": "sad", "corpus": "ravdess"},  # RAVDESS angry
         {"id": "ok", "path": "a.wav", "label": "W", "emotion": "angry", "corpus": "emodb"},
         {"id": "ok2", "path": "a.wav", "label": "01", "emotion": "neutral", "corpus": "ravdess"},
         {"id": "ok3", "path": "a.wav", "label": "anger", "emotion": "angry", "corpus": "emodb"},  # EmoBox's word
         {"id": "bare", "path": "a.wav", "label": "W", "emotion": "happy"},  # no corpus named: a bare code, unchecked
         {"id": "other", "path": "a.wav", "label": "W", "emotion": "happy", "corpus": "my-corpus"}]  # no table: unchecked


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_a_corpus_code_is_read_by_the_table_of_the_corpus_the_row_names(tmp_path, ext):
    """``label=W`` (EmoDB's anger) with ``emotion=happy`` was read silently: a code names no English word.  A row that
    names its corpus (a ``corpus`` column, as every corpus loader writes it in meta) is checked by that corpus's table."""
    wav(tmp_path / "a.wav")
    p = tmp_path / f"m{ext}"
    if ext == ".csv":
        pd.DataFrame(CODED).to_csv(p, index=False)
    else:
        p.write_text("".join(json.dumps({k: v for k, v in r.items()}) + "\n" for r in CODED))
    with pytest.raises(ConfigError) as info:
        read_manifest(p)
    msg = info.value.message
    assert "3 rows whose label names another emotion than their emotion column" in msg, msg
    assert "row 1 (id w): label 'W' = angry in emodb, emotion 'happy'" in msg
    assert "row 2 (id l): label 'L' = no emotion2vec+ class in emodb, emotion 'neutral'" in msg
    assert "row 3 (id r): label '05' = angry in ravdess, emotion 'sad'" in msg
    for fine in ("ok", "ok2", "ok3", "bare", "other"):
        assert f"(id {fine})" not in msg


def test_a_corpus_loaders_manifest_written_and_read_back_is_checked_by_its_table(tmp_path):
    """The loaders keep the corpus in ``meta.corpus``; written and read back, a hand-edited emotion is caught."""
    from workbench.data.manifest import write_manifest

    wav(tmp_path / "a.wav")
    items = [Item("03a01Wa", "a.wav", label="W", emotion="angry", meta={"corpus": "emodb"}),
             Item("03a01Fa", "a.wav", label="F", emotion="happy", meta={"corpus": "emodb"})]
    write_manifest(Manifest(items, root=tmp_path), tmp_path / "m.csv")
    assert [it.emotion for it in read_manifest(tmp_path / "m.csv")] == ["angry", "happy"]
    text = (tmp_path / "m.csv").read_text().replace(",angry,", ",sad,")
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ConfigError, match=r"label 'W' = angry in emodb, emotion 'sad'"):
        read_manifest(tmp_path / "m.csv")
