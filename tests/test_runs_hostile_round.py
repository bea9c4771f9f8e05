"""A run's account of missing rows when its parts are moved away while it runs."""

from __future__ import annotations

import pandas as pd

from test_runs import make_dataset
from workbench.runs.driver import run


def test_parts_moved_away_mid_run_is_told_as_such_not_as_a_rejected_part(tmp_path, tiny_model, caplog):
    """`mv RUN/parts RUN/parts.x` while a run writes: the next part recreates parts/ and the run finishes with the moved
    parts' rows missing.  It said 'a part was rejected while they were assembled (log.txt says why)' — nothing was
    rejected and log.txt gave no reason.  It now says that parts this run wrote are gone from parts/; a resume scores
    their rows and the results are whole."""
    manifest = make_dataset(tmp_path, n=8, bad=False)
    out = tmp_path / "run"
    moved = []

    def move_parts(event, rows, *, completed, total):
        if completed >= 4 and not moved:
            (out / "parts").rename(out / "parts.x")
            moved.append(completed)

    with caplog.at_level("WARNING"):
        res = run(manifest, out_dir=out, model=tiny_model, chunk_size=2, hook=move_parts, use_cache=False)
    assert res.n_rows == 8 - moved[0]
    log = (out / "log.txt").read_text(encoding="utf-8")
    assert "rejected" not in log and "rejected" not in caplog.text
    assert f"{moved[0]} of 8 rows are missing from the results" in log
    assert "2 parts of this run are no longer in parts/ (moved or deleted while it ran)" in log
    again = run(manifest, out_dir=out, model=tiny_model, chunk_size=2, use_cache=False)
    assert again.n_rows == 8 and again.n_resumed == 8 - moved[0]
    assert list(pd.read_parquet(out / "results.parquet")["id"]) == [f"c{i:03d}" for i in range(8)]
    assert "missing" not in (out / "log.txt").read_text(encoding="utf-8").split("resuming:")[-1]


def test_a_part_damaged_and_a_part_moved_are_each_told(tmp_path, tiny_model):
    manifest = make_dataset(tmp_path, n=6, bad=False)
    out = tmp_path / "run"

    def damage_and_move(event, rows, *, completed, total):
        if completed == 4:
            (out / "parts" / "part-00001.parquet").write_bytes(b"not a parquet file")
            (out / "parts" / "part-00002.parquet").rename(tmp_path / "elsewhere.parquet")

    res = run(manifest, out_dir=out, model=tiny_model, chunk_size=2, hook=damage_and_move, use_cache=False)
    assert res.n_rows == 2
    log = (out / "log.txt").read_text(encoding="utf-8")
    assert "4 of 6 rows are missing from the results" in log
    assert "1 part was rejected while they were assembled (log.txt says why)" in log
    assert "1 part of this run is no longer in parts/" in log
