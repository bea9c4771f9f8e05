"""One speaker, one written form (workbench.data.manifest_columns): speaker ids are compared as text, so '1' in one row
and '1.0' in another were two speakers in every per-speaker figure, interval and fold.  Text forms that read as one
speaker are refused with each form's first row named; a number read from a typed source is written as the user wrote
it (a parquet integer column with an empty cell reached pandas as 1.0)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from workbench.data.manifest import Item, Manifest, read_manifest
from workbench.errors import ConfigError


def _clips(folder, names="abcd"):
    for n in names:
        sf.write(folder / f"{n}.wav", np.zeros(1600, dtype=np.float32), 16000)


def test_a_csv_writing_one_speaker_as_1_1_0_01_and_space_1_is_refused_naming_each_form(tmp_path):
    _clips(tmp_path)
    (tmp_path / "m.csv").write_text("id,path,speaker\na,a.wav,1\nb,b.wav,1.0\nc,c.wav,01\nd,d.wav, 1\n")
    with pytest.raises(ConfigError) as info:
        read_manifest(tmp_path / "m.csv")
    msg = str(info.value)
    assert "speaker 1 written 2 ways: '1' (row 1, id a), '1.0' (row 2, id b) (refused at row 2;" in msg
    assert "write each speaker one way" in msg and "format the column as text" in msg
    for later, form in (("c", "01"), ("d", " 1")):  # each other form is refused as well
        (tmp_path / "m.csv").write_text(f"id,path,speaker\na,a.wav,1\n{later},{later}.wav,{form}\n")
        with pytest.raises(ConfigError, match=f"speaker 1 written 2 ways: '1' \\(row 1, id a\\), '{form}' \\(row 2, id {later}\\)"):
            read_manifest(tmp_path / "m.csv")


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_the_second_form_is_refused_at_its_row_before_the_rest_is_read(tmp_path, kind):
    """The refusal came after the whole file was read and checked (10^6 rows: 14 s): a row after the conflict that
    cannot be read (a start that is no number) was refused instead, so the first conflict must stop the reading."""
    _clips(tmp_path)
    rows = [{"id": "a", "path": "a.wav", "speaker": "7"}, {"id": "b", "path": "b.wav", "speaker": "x"},
            {"id": "c", "path": "c.wav", "speaker": "07"}] + [{"id": f"r{i}", "path": "d.wav", "speaker": "y", "start": "soon"}
                                                                 for i in range(3)]
    path = tmp_path / f"m.{kind}"
    if kind == "csv":
        path.write_text("id,path,speaker,start\n" + "".join(f"{r['id']},{r['path']},{r['speaker']},{r.get('start', '')}\n" for r in rows))
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        import pandas as pd

        pd.DataFrame(rows).to_parquet(path)
    with pytest.raises(ConfigError) as info:
        read_manifest(path)
    msg = str(info.value)
    assert "speaker 7 written 2 ways: '7' (row 1, id a), '07' (row 3, id c) (refused at row 3; the rows after it were not read)" in msg
    assert "cannot be read" not in msg and len(msg) < 600


def test_a_name_with_a_trailing_space_is_the_same_speaker_refused_and_distinct_ids_stay_apart(tmp_path):
    _clips(tmp_path)
    (tmp_path / "m.csv").write_text("id,path,speaker\na,a.wav,spk1\nb,b.wav,spk1 \nc,c.wav,x\nd,d.wav,y\n")
    with pytest.raises(ConfigError, match=r"speaker spk1 written 2 ways: 'spk1' \(row 1, id a\), 'spk1 ' \(row 2, id b\)"):
        read_manifest(tmp_path / "m.csv")
    # other speakers stay apart: 1 and 10, a case, two ids past a float's precision (equal as floats)
    (tmp_path / "ok.csv").write_text("id,path,speaker\na,a.wav,1\nb,b.wav,10\nc,c.wav,12345678901234567890\n"
                                     "d,d.wav,12345678901234567891\n")
    assert [it.speaker for it in read_manifest(tmp_path / "ok.csv")] == ["1", "10", "12345678901234567890", "12345678901234567891"]


def test_json_numbers_1_and_1_0_are_one_speaker_written_1(tmp_path):
    _clips(tmp_path)
    rows = [{"id": "a", "path": "a.wav", "speaker": 1}, {"id": "b", "path": "b.wav", "speaker": 1.0},
            {"id": "c", "path": "c.wav", "speaker": 2.5}, {"id": "d", "path": "d.wav", "speaker": None}]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [it.speaker for it in read_manifest(tmp_path / "m.jsonl")] == ["1", "1", "2.5", ""]


def test_a_parquet_integer_speaker_column_with_an_empty_cell_keeps_the_integers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    _clips(tmp_path)
    table = pa.table({"id": list("abcd"), "path": [f"{n}.wav" for n in "abcd"],
                      "speaker": pa.array([1, 2, None, 3], type=pa.int64())})  # no pandas metadata: pandas reads floats
    pq.write_table(table, tmp_path / "m.parquet")
    assert [it.speaker for it in read_manifest(tmp_path / "m.parquet")] == ["1", "2", "", "3"]


def test_a_manifest_built_in_python_with_one_speaker_in_two_forms_is_refused_by_run(tmp_path):
    from workbench.runs.driver import run

    _clips(tmp_path, "a")
    manifest = Manifest([Item(id="x", path="a.wav", speaker="7"), Item(id="y", path="a.wav", speaker="7.0")],
                        root=tmp_path, name="built")
    with pytest.raises(ConfigError) as info:
        run(manifest, out_dir=tmp_path / "run", model="tiny")
    assert "speaker 7 written 2 ways: '7' (row 1, id x), '7.0' (row 2, id y)" in str(info.value) and info.value.source == "built"
    assert not (tmp_path / "run").exists()


def test_a_parquet_integer_id_past_a_floats_precision_with_an_empty_cell_stays_that_id(tmp_path):
    """pandas makes an integer column with an empty cell floats: speaker 12345678901234567 came back 12345678901234568."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _clips(tmp_path, "ab")
    big = 12345678901234567
    pq.write_table(pa.table({"id": ["a", "b"], "path": ["a.wav", "b.wav"], "speaker": pa.array([big, None], type=pa.int64())}),
                   tmp_path / "m.parquet")
    assert [it.speaker for it in read_manifest(tmp_path / "m.parquet")] == [str(big), ""]


def test_one_speaker_in_thousands_of_forms_is_refused_with_a_few_of_them_listed():
    """One speaker written 10,000 ways (leading zeros, trailing ones) across 10^6 rows made a 1.26 MB refusal that
    listed every form (hostile15): a few are listed, the rest counted."""
    from workbench.data.manifest_columns import speaker_forms

    items = [Item(id=f"u{i}", path="a.wav", speaker="0" * i + "1") for i in range(1000)]
    [entry] = speaker_forms(items)
    assert entry.startswith("speaker 1 written 1000 ways: '1' (row 1, id u0), '01' (row 2, id u1)")
    shown = entry.count("(row ")
    assert shown <= 10 and entry.endswith(f" … and {1000 - shown} more") and len(entry) < 1000


def test_a_speaker_form_of_thousands_of_characters_is_cut_in_the_refusal():
    """A form (or an id) may be 10,000 characters long: each was printed whole, so ten such speakers made a refusal of
    hundreds of kilobytes (hostile15)."""
    from workbench.data.manifest_columns import speaker_forms

    long_id = "i" * 9_000
    [entry] = speaker_forms([Item(id="a", path="a.wav", speaker="1"), Item(id=long_id, path="b.wav", speaker="0" * 9_000 + "1")])
    assert entry.startswith("speaker 1 written 2 ways: '1' (row 1, id a), '000") and len(entry) < 400


def test_speaker_cells_of_spaces_only_are_named_blank_in_the_refusal(tmp_path):
    """' ' in one row and '  ' in another read as one speaker, and the refusal named it as nothing: "speaker  written 2
    ways" (two spaces, no name), the reader left to guess which speaker was meant."""
    _clips(tmp_path)
    (tmp_path / "m.csv").write_text("id,path,speaker\na,a.wav, \nb,b.wav,  \n")
    with pytest.raises(ConfigError, match=r"speaker \(blank: spaces only, which is no speaker; empty those cells\) written 2 "
                                          r"ways: ' ' \(row 1, id a\), '  ' \(row 2, id b\)"):
        read_manifest(tmp_path / "m.csv")
