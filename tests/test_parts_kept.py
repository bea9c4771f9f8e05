"""finalize takes the parts this writer made whole from memory (issue #28: reading them back cost a short run's end
~0.15 s), and reads from disk any part whose files changed since: the table is the one on disk either way."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from test_parts_background import _rows, _writer
from workbench.runs import writer as writer_module
from workbench.runs.writer import RunWriter


def _mixed_rows(ids):
    rows = _rows(ids)
    rows[-1].update(status="failed", error="unreadable", pred=None, confidence=float("nan"))  # None and NaN round-trip
    return rows


def _write_three(w: RunWriter) -> list:
    paths = []
    for k, ids in enumerate((["a", "b"], ["c"], ["d", "e", "f"])):
        embs = [np.full(4, k + j, np.float32) for j in range(len(ids) - 1)] + [None]
        paths.append(w.write_part(_mixed_rows(ids), embs))
    return paths


def _three_parts_counting_reads(tmp_path, monkeypatch) -> tuple[RunWriter, list]:
    """A writer that made three parts whole, and the list of parquet files read from disk from now on."""
    w = _writer(tmp_path / "run")
    _write_three(w)
    reads: list = []
    real = pd.read_parquet
    monkeypatch.setattr(pd, "read_parquet", lambda *a, **k: reads.append(a) or real(*a, **k))
    return w, reads


def _written_by(path) -> list:
    w = _writer(path)
    _write_three(w)
    return list(w._written.values())


def _finalize(w: RunWriter):
    order = {i: n for n, i in enumerate("abcdef")}
    w.finalize(item_order=order, variant_order={"raw": 0}, summary=lambda df: {"rows": len(df)})
    return w.folder._results, np.load(w.path / "embeddings.npy")


def test_finalize_after_writing_reads_no_part_back_and_gives_the_table_the_disk_gives(tmp_path, monkeypatch):
    w, reads = _three_parts_counting_reads(tmp_path, monkeypatch)
    kept, kept_emb = _finalize(w)
    assert reads == []  # every part came from memory
    fresh, fresh_emb = _finalize(_writer(tmp_path / "run"))  # a new writer (a resumed run): every part read from disk
    assert len(reads) == 3
    pd.testing.assert_frame_equal(kept, fresh)
    np.testing.assert_array_equal(kept_emb, fresh_emb)
    assert kept["status"].tolist() == ["ok", "failed", "failed", "ok", "ok", "failed"]


def test_a_part_replaced_on_disk_after_it_was_written_is_read_from_disk(tmp_path):
    w = _writer(tmp_path / "run")
    first = _write_three(w)[0]
    table = pq.read_table(first)
    confidence = table.column("confidence").to_pandas() + 0.5
    edited = table.set_column(table.schema.get_field_index("confidence"), "confidence", pa.array(confidence))
    tmp = first.with_name(".edited.parquet")
    pq.write_table(edited, tmp)
    os.replace(tmp, first)  # another inode under the part's name
    results, _ = _finalize(w)
    assert results.loc[results["id"] == "a", "confidence"].item() == _rows(["a"])[0]["confidence"] + 0.5


def test_past_the_memory_bound_the_later_parts_are_read_back(tmp_path, monkeypatch):
    sizes = [table.nbytes + mat.nbytes for _, table, mat in _written_by(tmp_path / "sizes")]
    monkeypatch.setattr(writer_module, "WRITTEN_KEPT_BYTES", sizes[0] + sizes[1])  # parts 1 and 2, not 3
    w, reads = _three_parts_counting_reads(tmp_path, monkeypatch)
    results, emb = _finalize(w)
    assert [p[0].name for p in reads] == ["part-00003.parquet"] and len(results) == 6 and emb.shape == (6, 4)


def test_embeddings_swapped_while_their_part_was_being_made_whole_are_read_from_disk(tmp_path):
    """The .emb.npy is written first, the parquet (under the background writer's lock) after: an .emb.npy put in its
    place in between was stamped as the part's own, and finalize assembled the embeddings in memory, not the disk's."""
    w = _writer(tmp_path / "run")

    def commit(whole):
        emb = w.path / "parts" / "part-00001.emb.npy"
        other = emb.with_name(".other.npy")
        np.save(other, np.full((2, 4), 7, np.float32))
        os.replace(other, emb)
        whole()

    w.write_part(_rows(["a", "b"]), [np.ones(4, np.float32)] * 2, commit=commit)
    _, emb = _finalize(w)
    np.testing.assert_array_equal(emb, np.load(w.path / "parts" / "part-00001.emb.npy"))
    assert (emb == 7).all()


def test_the_memory_bound_counts_the_tables_not_only_the_embeddings(tmp_path, monkeypatch):
    """Parts of failed rows hold no embeddings (0 bytes): every table was kept however large the run."""
    monkeypatch.setattr(writer_module, "WRITTEN_KEPT_BYTES", 1000)
    w = _writer(tmp_path / "run")
    for k in range(3):
        rows = _mixed_rows([f"{k}-{j}" for j in range(20)])
        for r in rows:
            r.update(status="failed", error="x" * 200, pred=None, confidence=float("nan"))
        w.write_part(rows, [None] * len(rows))
    assert w._written_bytes <= 1000 and len(w._written) < 3


def test_the_table_the_run_hands_on_is_the_one_results_parquet_gives(tmp_path):
    """A part of failed rows only (its numbers all empty) concatenated with a part of scored rows made object columns
    of None and floats: the run's own reader (RunResult.results(), the closing summary) and the summary got them,
    while results.parquet (and every later command) has float64 with NaN."""
    w = _writer(tmp_path / "run")
    failed = _rows(["a", "b"])
    for r in failed:
        r.update(status="failed", error="unreadable", pred=None, confidence=None, snr=None)
    scored = _rows(["c", "d"])
    for r in scored:
        r.update(snr=12.5)
    w.write_part(failed, [None, None])
    w.write_part(scored, [np.ones(4, np.float32)] * 2)
    seen = []
    order = {i: n for n, i in enumerate("abcd")}
    w.finalize(item_order=order, variant_order={"raw": 0}, summary=lambda df: seen.append(df) or {"rows": len(df)})
    disk = pd.read_parquet(w.path / "results.parquet")
    pd.testing.assert_frame_equal(w.folder._results, disk)
    pd.testing.assert_frame_equal(seen[0], disk)
    assert disk["confidence"].dtype == np.float64


def test_an_embeddings_file_of_another_width_put_in_a_part_is_rejected_not_padded(tmp_path):
    """A part's .emb.npy replaced by one of 8 values a row (another model's) was taken, and finalize padded every
    other part's embeddings to 8 with NaN: the run's real embeddings were lost without a word."""
    w = _writer(tmp_path / "run")
    paths = _write_three(w)
    np.save(paths[2].with_name("part-00003.emb.npy"), np.zeros((3, 8), np.float32))
    for writer, rejected in ((w, ["part-00003.parquet"]), (_writer(tmp_path / "run"), [])):  # then a resumed run's
        results, emb = _finalize(writer)
        assert emb.shape == (3, 4) and list(results["id"]) == ["a", "b", "c"] and np.isfinite(emb[0]).all()
        assert writer.rejected == rejected  # moved aside the first time
    assert any(p.name.endswith("part-00003.parquet") for p in (tmp_path / "run" / "parts" / "rejected").iterdir())


def test_a_same_size_edit_in_one_tick_of_a_coarse_clock_is_read_from_disk(tmp_path, monkeypatch):
    """On a file system whose timestamps are coarse (1-2 s), an edit in place of the same size within the tick of the
    write keeps device, inode, size, mtime and ctime: the bytes' digest tells it apart."""
    w = _writer(tmp_path / "run")
    _write_three(w)
    times = {fp[:2]: fp[3:5] for stamps, _, _ in w._written.values() for fp in stamps}  # (dev, inode) → as written
    real = writer_module._stamp
    monkeypatch.setattr(writer_module, "_stamp", lambda path: None if (s := real(path)) is None else (*s[:3], *times.get(s[:2], s[3:5])))
    emb = w.path / "parts" / "part-00001.emb.npy"
    data = np.load(emb)
    with open(emb, "r+b") as f:  # the same size: the array's values written over in place, within "the same tick"
        f.seek(len(emb.read_bytes()) - data.nbytes)
        f.write(np.full_like(data, 5.0).tobytes())
    _, embs = _finalize(w)
    np.testing.assert_array_equal(embs[:2], np.full((2, 4), 5.0, np.float32))
