"""How much memory a parquet file someone else wrote would take once read, judged from its footer before it is read.

Parquet stores a column of repeated strings as a dictionary and run lengths: 300,000 rows of one 4,000-character
note take 0.5 MB on disk and 1.2 GB once read (2.8 GB at the peak of ``workbench run`` on a 1.2 MB manifest).
:func:`check_parquet` adds up what every column chunk unpacks to (the footer's uncompressed sizes; for a
dictionary-encoded text column, each row's string length, read one column at a time as the dictionary and its
indices, a few bytes a row) and refuses the file over the cap, naming the file, the fact and the fix.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import ConfigError

#: what one value of a fixed-width column takes at most once read (int64, float64, timestamps)
_CELL_BYTES = 8
#: a file over ``max_bytes`` once read is still read when it unpacks to at most this many times its stored size (a
#: large run's results.parquet of millions of rows, compressed a few times over); a bomb unpacks thousands of times
MAX_RATIO = 100


def check_parquet(source: Any, *, max_bytes: int, max_rows: int, name: str, what: str = "a table") -> None:
    """Raise :class:`ConfigError` when the parquet file ``source`` (a path or a binary file object) would hold more than
    ``max_rows`` rows, or take more than ``max_bytes`` bytes once read and more than :data:`MAX_RATIO` times what its
    columns take stored; a file that is no parquet passes (its reader says what is wrong).  ``name`` is the file as the
    message names it."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(source)
        meta = pf.metadata
    except Exception:  # noqa: BLE001 — not parquet: the reader that follows says so
        return
    fix = "check that this is the file you meant; a table of that size is read in parts (split it)."
    if meta.num_rows > max_rows:
        raise ConfigError(f"holds {meta.num_rows:,} rows; the cap for {what} is {max_rows:,}.", source=name, fix=fix)
    total, stored, dictionary_text = 0, 0, set()
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            col = group.column(c)
            total += max(int(col.total_uncompressed_size), int(col.num_values) * _CELL_BYTES)
            stored += int(col.total_compressed_size)
            if col.physical_type == "BYTE_ARRAY" and col.has_dictionary_page:
                dictionary_text.add(col.path_in_schema)
    limit = max(max_bytes, MAX_RATIO * stored)
    for column in sorted(dictionary_text):
        if total > limit:
            break
        total += _text_bytes(source, column)
    if total > limit:
        raise ConfigError(f"would take more than {limit:,} bytes once read, {total / max(stored, 1):,.0f} times what its "
                          f"columns take stored (repeated values are stored once); the cap for {what} is {max_bytes:,} "
                          f"bytes, or {MAX_RATIO} times the stored size.", source=name, fix=fix)


def _text_bytes(source: Any, column: str) -> int:
    """The bytes the strings of one dictionary-encoded column take once read, from its dictionary and indices."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(source, read_dictionary=[column]).read(columns=[column])
    except Exception:  # noqa: BLE001 — a nested or odd column: the footer's figure stands
        return 0
    total = 0
    for chunk in table.column(0).chunks:
        if isinstance(chunk, pa.DictionaryArray):
            lengths = pc.binary_length(chunk.dictionary)
            total += int(pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0)
    return total
