"""An id (or variant) a run has no row for is refused with what to pass instead, not only "check the id"."""

from __future__ import annotations

import numpy as np
import pytest
from test_probe import synthetic_row, write_run

from workbench.runs.artifacts import RunFolderError


def test_a_misspelt_item_id_names_the_closest_ids_and_a_missing_variant_names_the_ids_variants(tmp_path):
    # `workbench explain runs/demo --item spk_f1_angry_l` said only "fix: check the id and variant (results.parquet
    # lists them)": a newcomer had to open a parquet file to find the 53 ids
    rows = [synthetic_row(i, emotion="happy", pred="happy", variant=v, chain_hash=f"c{v}")
            for v in ("raw", "telephone") for i in ("spk_f1_angry_1", "spk_f1_angry_2", "spk_m1_sad_1")]
    rf = write_run(tmp_path / "run", rows, [np.zeros(4)] * len(rows))
    with pytest.raises(RunFolderError) as err:
        rf.row("spk_f1_angry_l")
    suggestion, _, rest = err.value.fix.partition("?")
    assert suggestion.startswith("did you mean ") and "'spk_f1_angry_1'" in suggestion, err.value.fix
    assert "The run has 3 item id(s)" in rest, err.value.fix
    with pytest.raises(RunFolderError) as err:
        rf.row("spk_m1_sad_1", "telephon")
    assert "was scored in the variant(s) ['raw', 'telephone']" in err.value.fix, err.value.fix
    with pytest.raises(RunFolderError) as err:
        rf.row("zzz")
    assert "did you mean" not in err.value.fix and "e.g. 'spk_f1_angry_1', 'spk_f1_angry_2', 'spk_m1_sad_1'" in err.value.fix


def test_an_id_or_variant_the_run_lacks_is_echoed_cut_to_a_line(tmp_path):
    """`workbench explain RUN --item <40,000 characters>` printed a 75 KB error: the id and its repr echoed whole."""
    rows = [synthetic_row(i, emotion="happy", pred="happy") for i in ("a1", "a2")]
    rf = write_run(tmp_path / "run", rows, [np.zeros(4)] * len(rows))
    for item, variant in (("\x1b[2Jab" * 10_000, None), ("a1", "v" * 50_000)):
        with pytest.raises(RunFolderError) as err:
            rf.row(item, variant)
        assert len(str(err.value)) + len(err.value.fix or "") < 1_000, len(str(err.value))
        assert "\x1b" not in str(err.value)
