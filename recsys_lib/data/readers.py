"""Ratings readers yielding chunks of rows in our schema: the reader protocol, and the
delimited-text reader that the text layouts configure with their separator and header
(the layout table in `layouts` says which layout uses which reader).

The fast path parses with explicit dtypes and only the needed columns. When it meets a
row it cannot read it raises `ParseFailure`, carrying how many rows parsed well before
it; the caller then asks the reader to scan the file from there (`find_bad_rows`) for
the exact line numbers, which keeps the happy path fast and a late bad row quick to name.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from recsys_lib.data.schema import (
    RATING_ALIASES,
    RATING_COLUMNS,
    RATING_DTYPES,
    DataError,
    RatingScale,
    map_columns,
)

__all__ = [
    "BadRows",
    "ParseFailure",
    "RatingsReader",
    "TextFormat",
    "TextRatings",
    "check_lines",
    "collect_bad_rows",
    "datetime_seconds",
    "non_negative_int32",
]

SCAN_LINES = 500_000
_BLOCK_BYTES = 1 << 24  # bytes read at a time when counting lines
_NEWLINE = ord("\n")
_INT = r"\s*[+-]?\d+\s*"
_INT32 = np.iinfo(np.int32)
_DATETIME = re.compile(r"\s*\d{4}-\d{2}-\d{2}")
_BOM = ("\ufeff", "ï»¿")  # the UTF-8 byte order mark, decoded as UTF-8 or as latin-1

# Problem codes of a row, in the order they are checked.
OK, BLANK, FIELDS, USER, ITEM, RATING, TIMESTAMP = 0, -1, 1, 2, 3, 4, 5
PROBLEMS = {
    USER: "user id is missing, negative or not an integer in the int32 range",
    ITEM: "item id is missing, negative or not an integer in the int32 range",
    RATING: "rating is missing or not a number",
    TIMESTAMP: "timestamp is missing, negative or not a time in 1970-2038 "
    "(int32 unix seconds or date-time)",
}
# Which field of RATING_COLUMNS each problem code is about.
FIELD_OF = {USER: 0, ITEM: 1, RATING: 2, TIMESTAMP: 3}


class ParseFailure(DataError):
    """The fast parser met a row it could not read; `find_bad_rows` tells which.

    Attributes:
        good_rows: number of rows at the start of the file known to be well formed (those
            of the chunks parsed before the failing one), so the scan can start after them.
    """

    def __init__(self, message: str, *, good_rows: int = 0) -> None:
        super().__init__(message)
        self.good_rows = good_rows


@dataclass(frozen=True)
class BadRows:
    """Malformed rows of a ratings file.

    Attributes:
        numbers: sorted int64 array of 1-based line numbers (text files, header counted)
            or row numbers (parquet) of every malformed row found.
        unit: "line" or "row".
        first_text: the first malformed row as written in the file.
        first_reason: what is wrong with it.
    """

    numbers: np.ndarray
    unit: str
    first_text: str
    first_reason: str

    def message(self, file: Path) -> str:
        """One line naming the file, the first bad row's number, the problem and the row."""
        return f"{file}: {self.unit} {self.numbers[0]}: {self.first_reason}: {self.first_text!r}"


def collect_bad_rows(
    batches: Iterable[tuple[int, np.ndarray, Callable[[int], tuple[str, str]]]],
    unit: str,
    *,
    first_only: bool,
) -> BadRows | None:
    """Gather malformed rows from scanned batches.

    Args:
        batches: (number of the batch's first row, problem code per row, a function giving
            (row text, reason) for a row of the batch).
        unit: "line" or "row".
        first_only: stop at the first batch holding a bad row.

    Returns:
        The bad rows, or None when every row is readable.
    """
    found: list[np.ndarray] = []
    first: tuple[str, str] | None = None
    for number, codes, describe in batches:
        bad = np.flatnonzero(codes > OK)
        if len(bad) == 0:
            continue
        if first is None:
            first = describe(int(bad[0]))
        found.append(bad.astype(np.int64) + number)
        if first_only:
            break
    if first is None:
        return None
    return BadRows(np.concatenate(found), unit, *first)


def non_negative_int32(values: np.ndarray) -> np.ndarray:
    """Boolean mask of `values` (any numeric dtype, NaN allowed) in 0 .. int32 max: the
    range of ids (-1 is the padding value of top-k arrays) and of unix seconds."""
    return (values >= 0) & (values <= _INT32.max)


def datetime_seconds(values: pd.Series, *, errors: str = "raise") -> np.ndarray:
    """Unix seconds (float64, NaN where unparsable with errors="coerce") of ISO date-time
    strings such as "2005-04-02 23:53:47", read as UTC."""
    times = pd.to_datetime(values, format="ISO8601", utc=True, errors=errors)
    seconds = (times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    return seconds.to_numpy(dtype=np.float64, na_value=np.nan)


class RatingsReader(ABC):
    """Reads one ratings file in chunks of at most `chunk_rows` rows.

    Chunks are DataFrames with the requested columns of RATING_COLUMNS, in RATING_DTYPES
    (int32 ids, float32 ratings, int32 unix seconds) and a fresh RangeIndex.
    """

    unit: ClassVar[str]

    def __init__(self, file: Path, chunk_rows: int) -> None:
        self.file = file
        self.chunk_rows = chunk_rows

    @abstractmethod
    def chunks(
        self, columns: Sequence[str] = RATING_COLUMNS, *, skip: np.ndarray | None = None
    ) -> Iterator[pd.DataFrame]:
        """Chunks of rows in file order, leaving out the rows numbered in `skip`.

        Raises:
            ParseFailure: a row not in `skip` could not be read.
        """

    @abstractmethod
    def find_bad_rows(self, *, first_only: bool, after_rows: int = 0) -> BadRows | None:
        """Scan the file for malformed rows (all of them, or stop at the first), starting
        after its first `after_rows` rows, known good (see `ParseFailure.good_rows`)."""

    @abstractmethod
    def first_outside(self, scale: RatingScale, *, after_rows: int = 0) -> tuple[int, str] | None:
        """Number and text of the first well-formed row whose rating is outside `scale`,
        looking after the first `after_rows` rows (known to be inside it)."""


@dataclass(frozen=True)
class TextFormat:
    """How a delimited ratings file is written.

    Attributes:
        sep: field separator as written ("\\t", "::" or ",").
        n_fields: fields per row.
        positions: field index of user_id, item_id, rating and timestamp.
        header_lines: 1 when the first line names the columns, else 0.
        datetime_timestamps: timestamps are date-time strings rather than unix seconds.
        names: the header's column names (empty without a header).
    """

    sep: str
    n_fields: int
    positions: tuple[int, ...]
    header_lines: int
    datetime_timestamps: bool
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, file: Path, sep: str, *, header: bool) -> TextFormat:
        """Learn a file's format from its layout's separator and, when it has a header,
        from the header (column order) and the first row (unix seconds or date-times).
        Files without a header hold user, item, rating and unix seconds in that order."""
        first_lines = _first_lines(file, 2)
        if not first_lines:
            raise DataError(f"{file}: the file is empty (no ratings)")
        if not header:
            return cls(sep, 4, (0, 1, 2, 3), 0, datetime_timestamps=False)
        first = first_lines[0]
        for mark in _BOM:
            first = first.removeprefix(mark)
        names = [name.strip().strip('"') for name in first.split(sep)]
        positions = tuple(map_columns(names, RATING_ALIASES, file))
        first_row = first_lines[1].split(sep) if len(first_lines) > 1 else []
        stamp = first_row[positions[3]] if len(first_row) > positions[3] else ""
        return cls(sep, len(names), positions, 1, bool(_DATETIME.match(stamp)), tuple(names))


def _first_lines(file: Path, n: int) -> list[str]:
    with open(file, encoding="latin-1", newline="") as handle:
        return [line.rstrip("\r\n") for line in itertools.islice(handle, n)]


class TextRatings(RatingsReader):
    """Reader of the delimited layouts: u.data, ratings.dat, ratings.csv, rating.csv.

    Args:
        file: the ratings file.
        chunk_rows: rows parsed at a time.
        sep: the field separator ("\\t", "::", ",").
        header: the first line names the columns.
    """

    unit = "line"

    def __init__(self, file: Path, chunk_rows: int, *, sep: str, header: bool) -> None:
        super().__init__(file, chunk_rows)
        self.format = TextFormat.of(file, sep, header=header)

    def chunks(
        self, columns: Sequence[str] = RATING_COLUMNS, *, skip: np.ndarray | None = None
    ) -> Iterator[pd.DataFrame]:
        fmt = self.format
        # "::" is read as ":" by the fast C parser: fields land at even positions and the
        # odd ones must stay empty.
        stride = 2 if fmt.sep == "::" else 1
        wanted = {col: fmt.positions[RATING_COLUMNS.index(col)] * stride for col in columns}
        # Without usecols the parser rejects rows with too many fields; with it, it cannot.
        whole_rows = len(wanted) == len(RATING_COLUMNS) == fmt.n_fields
        dtype = {
            position: str if col == "timestamp" and fmt.datetime_timestamps else RATING_DTYPES[col]
            for col, position in wanted.items()
        }
        skiprows = list(range(fmt.header_lines))
        if skip is not None:
            skiprows.extend((skip - 1).tolist())
        # Rows of the chunks parsed so far; all well formed when every field was parsed.
        n_parsed = 0
        try:
            with pd.read_csv(
                self.file,
                sep=":" if stride == 2 else fmt.sep,
                header=None,
                names=range((fmt.n_fields - 1) * stride + 1),
                usecols=None if whole_rows else sorted(wanted.values()),
                dtype=dtype,
                skiprows=skiprows or None,
                chunksize=self.chunk_rows,
                encoding="latin-1",
                quoting=csv.QUOTE_NONE,
                engine="c",
            ) as reader:
                for raw in reader:
                    chunk = self._normalize(raw, wanted, check_gaps=whole_rows and stride == 2)
                    n_parsed += len(chunk)
                    yield chunk
        except (ValueError, OverflowError, TypeError) as exc:  # ParseFailure is a ValueError
            good_rows = n_parsed if whole_rows else 0
            raise ParseFailure(f"{self.file}: {exc}", good_rows=good_rows) from exc

    def _normalize(
        self, raw: pd.DataFrame, wanted: dict[str, int], *, check_gaps: bool
    ) -> pd.DataFrame:
        if check_gaps and raw[[1, 3, 5]].notna().to_numpy().any():
            raise ParseFailure(f"{self.file}: a row has single ':' separators")
        columns = {}
        for col, position in wanted.items():
            values = raw[position]
            if col == "timestamp" and self.format.datetime_timestamps:
                seconds = datetime_seconds(values)
                if not non_negative_int32(seconds).all():
                    raise ParseFailure(f"{self.file}: a date-time is missing or not in 1970-2038")
                columns[col] = seconds.astype(np.int32)
            else:
                columns[col] = values.to_numpy()
        if "rating" in columns and np.isnan(columns["rating"]).any():
            raise ParseFailure(f"{self.file}: a rating is missing or not a number")
        for col in ("user_id", "item_id", "timestamp"):
            if col in columns and (columns[col] < 0).any():
                raise ParseFailure(f"{self.file}: a {col} is negative")
        return pd.DataFrame(columns, copy=False)

    def _scan(self, after_rows: int) -> Iterator[tuple[int, list[str], np.ndarray, np.ndarray]]:
        """Batches of (number of the batch's first line, its lines, problem code per line,
        rating per line as float64, NaN where unreadable), from the line of row
        `after_rows` + 1 if no line were blank or skipped: no later than that row's line."""
        number, offset = _line_start(self.file, self.format.header_lines + after_rows + 1)
        with open(self.file, "rb") as raw:
            raw.seek(offset)
            handle = io.TextIOWrapper(raw, encoding="latin-1", newline="")
            while lines := [line.rstrip("\r\n") for line in itertools.islice(handle, SCAN_LINES)]:
                codes, ratings = check_lines(lines, self.format)
                yield number, lines, codes, ratings
                number += len(lines)

    def find_bad_rows(self, *, first_only: bool, after_rows: int = 0) -> BadRows | None:
        batches = (
            (number, codes,
             lambda i, lines=lines, codes=codes: (lines[i], self._reason(lines[i], int(codes[i]))))
            for number, lines, codes, _ in self._scan(after_rows)
        )
        return collect_bad_rows(batches, self.unit, first_only=first_only)

    def _reason(self, line: str, code: int) -> str:
        fmt = self.format
        fields = line.split(fmt.sep)
        if code == FIELDS:
            return f"{len(fields)} fields, expected {fmt.n_fields} separated by {fmt.sep!r}"
        position = fmt.positions[FIELD_OF[code]]
        name = f" {fmt.names[position]!r}" if fmt.names else ""
        return f"{PROBLEMS[code]} (column {position + 1}{name}: {fields[position]!r})"

    def first_outside(self, scale: RatingScale, *, after_rows: int = 0) -> tuple[int, str] | None:
        for number, lines, codes, ratings in self._scan(after_rows):
            outside = np.flatnonzero((codes == OK) & ~scale.contains(ratings))
            if len(outside):
                return number + int(outside[0]), lines[outside[0]]
        return None


def _line_start(file: Path, line: int) -> tuple[int, int]:
    """(number, byte offset) of the start of 1-based `line` of `file`, found by counting
    newlines in large binary blocks (fast: nothing is decoded); the number and offset
    just past the last newline when the file has fewer lines."""
    number, start, offset = 1, 0, 0
    with open(file, "rb") as handle:
        while number < line and (block := handle.read(_BLOCK_BYTES)):
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == _NEWLINE)
            ends = ends[: line - number]
            if len(ends):
                number += len(ends)
                start = offset + int(ends[-1]) + 1
            offset += len(block)
    return number, start


def check_lines(lines: list[str], fmt: TextFormat) -> tuple[np.ndarray, np.ndarray]:
    """Problem code of each raw line (OK, BLANK, FIELDS, USER, ...) and its rating.

    Returns:
        int8 codes and float64 ratings (NaN where unreadable), one per line.
    """
    text = pd.Series(lines, dtype="str")
    fields = text.str.split(fmt.sep, regex=False, expand=True)
    if fields.shape[1] < fmt.n_fields:  # added columns must stay strings, not float NaN
        fields = fields.reindex(columns=range(fmt.n_fields)).astype(text.dtype)
    codes = np.where(fields.notna().sum(axis=1).to_numpy() != fmt.n_fields, FIELDS, OK)
    ratings = pd.to_numeric(fields[fmt.positions[2]], errors="coerce").to_numpy(np.float64)
    checks = {
        USER: _int32_mask(fields[fmt.positions[0]]),
        ITEM: _int32_mask(fields[fmt.positions[1]]),
        RATING: np.isfinite(ratings),
        TIMESTAMP: (
            non_negative_int32(datetime_seconds(fields[fmt.positions[3]], errors="coerce"))
            if fmt.datetime_timestamps
            else _int32_mask(fields[fmt.positions[3]])
        ),
    }
    for code, valid in checks.items():
        codes = np.where((codes == OK) & ~valid, code, codes)
    codes = np.where((text == "").to_numpy(), BLANK, codes).astype(np.int8)
    return codes, np.where(codes == OK, ratings, np.nan)


def _int32_mask(values: pd.Series) -> np.ndarray:
    """Fields that are integers inside the int32 range."""
    is_int = values.str.fullmatch(_INT).fillna(False).to_numpy(dtype=bool)
    numbers = pd.to_numeric(values.where(is_int), errors="coerce").to_numpy(np.float64)
    return is_int & non_negative_int32(numbers)
