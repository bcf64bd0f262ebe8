"""Reader of ratings stored as parquet, with MovieLens column names or ours.

pyarrow is an optional dependency (``pip install 'recsys-lib[parquet]'``); it is imported
only when a parquet file is read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys_lib.data.readers import (
    FIELD_OF,
    ITEM,
    OK,
    PROBLEMS,
    RATING,
    TIMESTAMP,
    USER,
    BadRows,
    ParseFailure,
    RatingsReader,
    collect_bad_rows,
    non_negative_int32,
)
from recsys_lib.data.schema import (
    RATING_ALIASES,
    RATING_COLUMNS,
    RATING_DTYPES,
    DataError,
    RatingScale,
    map_columns,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ParquetRatings"]

_CODES = {"user_id": USER, "item_id": ITEM, "rating": RATING, "timestamp": TIMESTAMP}
_EXPECTED_TYPES = {
    "user_id": "an integer type",
    "item_id": "an integer type",
    "rating": "a numeric type",
    "timestamp": "an integer type (unix seconds) or a timestamp type",
}


class ParquetRatings(RatingsReader):
    """Reader of ``ratings.parquet``: reads the needed columns, one row group slice at a time."""

    unit = "row"

    def __init__(self, file: Path, chunk_rows: int) -> None:
        super().__init__(file, chunk_rows)
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover - pyarrow is in the dev install
            raise DataError(
                f"{file}: reading parquet needs pyarrow (pip install 'recsys-lib[parquet]')"
            ) from exc
        try:
            self._parquet = pq.ParquetFile(file)
        except Exception as exc:  # pyarrow raises ArrowInvalid or OSError
            raise DataError(f"{file}: not a readable parquet file ({exc})") from exc
        schema = self._parquet.schema_arrow
        positions = map_columns(schema.names, RATING_ALIASES, file)
        names = [schema.names[p] for p in positions]
        self.names = dict(zip(RATING_COLUMNS, names, strict=True))
        for col, name in self.names.items():
            if not _type_ok(col, schema.field(name).type):
                raise DataError(
                    f"{file}: column {name!r} has type {schema.field(name).type}; "
                    f"expected {_EXPECTED_TYPES[col]}"
                )

    def _batches(
        self, columns: Sequence[str], *, after_rows: int = 0
    ) -> Iterator[tuple[int, pa.RecordBatch, dict[str, np.ndarray], np.ndarray]]:
        """(number of the first row, the raw batch, values as int64/float64, problem codes),
        leaving out batches that lie wholly in the first `after_rows` rows."""
        first = 1
        names = [self.names[col] for col in columns]
        for batch in self._parquet.iter_batches(batch_size=self.chunk_rows, columns=names):
            if first + batch.num_rows - 1 <= after_rows:
                first += batch.num_rows
                continue
            values, codes = {}, np.full(batch.num_rows, OK, dtype=np.int8)
            for col, name in zip(columns, names, strict=True):
                values[col], valid = _column_values(col, batch.column(name))
                codes = np.where((codes == OK) & ~valid, _CODES[col], codes).astype(np.int8)
            yield first, batch, values, codes
            first += batch.num_rows

    def chunks(
        self, columns: Sequence[str] = RATING_COLUMNS, *, skip: np.ndarray | None = None
    ) -> Iterator[pd.DataFrame]:
        for first, _, values, codes in self._batches(columns):
            keep = np.ones(len(codes), dtype=bool)
            if skip is not None:
                keep = ~np.isin(np.arange(first, first + len(codes)), skip)
            if (codes[keep] != OK).any():
                good_rows = first - 1 if len(columns) == len(RATING_COLUMNS) else 0
                raise ParseFailure(
                    f"{self.file}: a row has a missing or out-of-range value", good_rows=good_rows
                )
            yield pd.DataFrame(
                {col: values[col][keep].astype(RATING_DTYPES[col]) for col in columns}, copy=False
            )

    def find_bad_rows(self, *, first_only: bool, after_rows: int = 0) -> BadRows | None:
        batches = (
            (number, codes, partial(_describe, self.names, batch, codes))
            for number, batch, _, codes in self._batches(RATING_COLUMNS, after_rows=after_rows)
        )
        return collect_bad_rows(batches, self.unit, first_only=first_only)

    def first_outside(self, scale: RatingScale, *, after_rows: int = 0) -> tuple[int, str] | None:
        for number, batch, values, codes in self._batches(RATING_COLUMNS, after_rows=after_rows):
            outside = np.flatnonzero((codes == OK) & ~scale.contains(values["rating"]))
            if len(outside):
                return number + int(outside[0]), _row_text(batch, int(outside[0]))
        return None


def _type_ok(col: str, arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return True
    if col == "rating":
        return pa.types.is_floating(arrow_type)
    return col == "timestamp" and pa.types.is_timestamp(arrow_type)


def _column_values(col: str, array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The column as int64 (float64 for ratings) and a mask of the values that fit our schema."""
    import pyarrow as pa
    import pyarrow.compute as pc

    present = array.is_valid().to_numpy(zero_copy_only=False)
    if col == "rating":
        values = pc.fill_null(array.cast(pa.float64()), np.nan).to_numpy()
        return values, present & np.isfinite(values)
    if pa.types.is_timestamp(array.type):
        array = array.cast(pa.timestamp("s", tz=array.type.tz), safe=False)
    values = pc.fill_null(array.cast(pa.int64()), 0).to_numpy()
    return values, present & non_negative_int32(values)


def _describe(
    names: dict[str, str], batch: pa.RecordBatch, codes: np.ndarray, index: int
) -> tuple[str, str]:
    """Row `index` of `batch` as text, and what is wrong with it (problem, column, value)."""
    code = int(codes[index])
    name = names[RATING_COLUMNS[FIELD_OF[code]]]
    value = batch.column(name)[index].as_py()
    return _row_text(batch, index), f"{PROBLEMS[code]} (column {name!r}: {value!r})"


def _row_text(batch: pa.RecordBatch, index: int) -> str:
    row = batch.slice(index, 1).to_pylist()[0]
    return ", ".join(f"{name}={value}" for name, value in row.items())
