"""Every MovieLens layout read back from folders written by `write_ratings` (whose lines
`test_data_synthetic` checks against GroupLens's), input the writers do not produce (our
column names, extra columns, other file names), and every kind of bad input rejected with
a message naming the file, the line and the problem."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys_lib.data import readers
from recsys_lib.data.layouts import detect_layout, guess_release
from recsys_lib.data.loading import load_movies, load_ratings
from recsys_lib.data.schema import DataError

# The ratings every fixture below holds, in file order.
USERS = [1, 1, 2, 2, 3]
ITEMS = [10, 20, 10, 30, 20]
RATINGS = [4.0, 3.0, 5.0, 1.0, 2.0]
STAMPS = [964982703, 964981247, 964982224, 964983815, 964982931]
# Kaggle's rating.csv writes timestamps as UTC date-times; these are worked out by hand
# (2005-04-02: 12875 days after 1970-01-01; 23:53:47 = 86027 s).
KAGGLE_TIMES = [
    ("2005-04-02 23:53:47", 12875 * 86400 + 86027),
    ("1970-01-01 00:00:10", 10),
    ("2000-01-01 00:00:00", 946684800),
    ("2009-02-13 23:31:30", 1234567890),
    ("2005-04-02 00:00:00", 12875 * 86400),
]
UITEM_FLAGS = "|".join(["0"] * 19)


def expected(stamps: list[int] = STAMPS) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": np.array(USERS, dtype=np.int32),
            "item_id": np.array(ITEMS, dtype=np.int32),
            "rating": np.array(RATINGS, dtype=np.float32),
            "timestamp": np.array(stamps, dtype=np.int32),
        }
    )


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def rows(sep: str, rating_format: str = "{:g}") -> str:
    return "".join(
        f"{u}{sep}{i}{sep}{rating_format.format(r)}{sep}{t}\n"
        for u, i, r, t in zip(USERS, ITEMS, RATINGS, STAMPS, strict=True)
    )


def movies(titles: list[str], genres: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"item_id": np.array([10, 20][: len(titles)], np.int32), "title": titles, "genres": genres}
    )


LAYOUTS = ["ml-100k", "ml-1m", "csv", "kaggle-csv", "parquet"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_reads_back_exactly(movielens_dir, layout: str) -> None:
    folder = movielens_dir(layout, expected())
    ratings = load_ratings(folder)
    pd.testing.assert_frame_equal(ratings, expected())
    assert isinstance(ratings.index, pd.RangeIndex)
    assert ratings.attrs["source"]["layout"] == layout
    # The ratings file itself is accepted as the path too.
    by_file = load_ratings(detect_layout(folder)[1])
    pd.testing.assert_frame_equal(by_file, ratings)


def test_kaggle_date_times_are_read_as_utc_seconds(movielens_dir) -> None:
    stamps = [seconds for _, seconds in KAGGLE_TIMES]
    folder = movielens_dir("kaggle-csv", expected(stamps))
    lines = (folder / "rating.csv").read_text().splitlines()
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == [text for text, _ in KAGGLE_TIMES]
    pd.testing.assert_frame_equal(load_ratings(folder), expected(stamps))


def test_parquet_with_movielens_names_and_int64_ids(tmp_path: Path) -> None:
    table = pa.table(
        {
            "userId": pa.array(USERS, pa.int64()),
            "movieId": pa.array(ITEMS, pa.int32()),
            "rating": pa.array(RATINGS, pa.float64()),
            "timestamp": pa.array(STAMPS, pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "ratings.parquet")
    pd.testing.assert_frame_equal(load_ratings(tmp_path), expected())


def test_other_file_names_are_read_by_suffix(tmp_path: Path) -> None:
    file = write(tmp_path / "my_sample.csv", "userId,movieId,rating,timestamp\n" + rows(","))
    assert detect_layout(file) == ("csv", file, None)
    pd.testing.assert_frame_equal(load_ratings(file), expected())


def test_csv_with_our_names_extra_columns_and_any_order(tmp_path: Path) -> None:
    text = "timestamp,rating,extra,item_id,user_id\n" + "".join(
        f"{t},{r},x,{i},{u}\n" for u, i, r, t in zip(USERS, ITEMS, RATINGS, STAMPS, strict=True)
    )
    pd.testing.assert_frame_equal(load_ratings(write(tmp_path / "ratings.csv", text)), expected())


def test_parquet_with_our_names_and_timestamp_type(tmp_path: Path) -> None:
    times = np.array(STAMPS, dtype="datetime64[s]").astype("datetime64[ms]")
    table = pa.table(
        {
            "user_id": pa.array(USERS, pa.int32()),
            "item_id": pa.array(ITEMS, pa.int32()),
            "rating": pa.array(RATINGS, pa.float32()),
            "timestamp": pa.array(times),
            "comment": ["a", "b", "c", "d", "e"],
        }
    )
    pq.write_table(table, tmp_path / "ratings.parquet")
    pd.testing.assert_frame_equal(load_ratings(tmp_path), expected())


@pytest.mark.parametrize(
    ("layout", "titles", "genres", "read_genres"),
    [
        # u.item holds genre flags: a movie without genres is flagged "unknown".
        ("ml-100k", ["Café Society (1995)", "Heat (1995)"],
         ["Action|Comedy", "(no genres listed)"], ["Action|Comedy", "unknown"]),
        ("ml-1m", ["Amélie (2001)", "Star Wars: Episode IV (1977)"], ["Comedy|Romance", "Action"],
         None),
        ("csv", ["Shawshank Redemption, The (1994)", "Heat (1995)"],
         ["Crime|Drama", "(no genres listed)"], None),
        ("kaggle-csv", ["Heat (1995)"], ["Action|Crime"], None),
        ("parquet", ["Heat (1995)"], ["Action"], None),
    ],
)  # fmt: skip
def test_movies_of_each_layout(
    movielens_dir, layout: str, titles: list, genres: list, read_genres: list | None
) -> None:
    read = load_movies(movielens_dir(layout, movies=movies(titles, genres)))
    assert read["item_id"].dtype == np.int32
    assert read["item_id"].tolist() == [10, 20][: len(titles)]
    assert read["title"].tolist() == titles
    assert read["genres"].tolist() == (read_genres or genres)


def test_ml_100k_genre_names_come_from_u_genre(tmp_path: Path) -> None:
    write(tmp_path / "u.data", rows("\t"))
    action_comedy = "|".join("1" if g in (1, 5) else "0" for g in range(19))
    write(
        tmp_path / "u.item",
        f"10|Café Society (1995)|01-Jan-1995||http://imdb/x|{action_comedy}\n"
        f"20|Heat (1995)|01-Jan-1995||http://imdb/y|{UITEM_FLAGS}\n",
        encoding="latin-1",
    )
    assert load_movies(tmp_path)["genres"].tolist() == ["Action|Comedy", "(no genres listed)"]
    write(tmp_path / "u.genre", "".join(f"G{k}|{k}\n" for k in range(19)))
    assert load_movies(tmp_path)["genres"].tolist() == ["G1|G5", "(no genres listed)"]


def test_missing_movies_file_is_named(movielens_dir) -> None:
    folder = movielens_dir("csv", movies=False)
    with pytest.raises(DataError, match=r"no movies file next to ratings\.csv.*movies\.csv"):
        load_movies(folder)


def test_release_is_guessed_from_folder_names() -> None:
    assert guess_release(Path("/d/ml-10M100K/ratings.dat"), "ml-1m") == "ml-10m"
    assert guess_release(Path("/in/movielens-20m-dataset/x/rating.csv"), "kaggle-csv") == "ml-20m"
    assert guess_release(Path("/d/ml-latest-small/ratings.csv"), "csv") == "ml-latest-small"
    assert guess_release(Path("/d/anything/u.data"), "ml-100k") == "ml-100k"
    assert guess_release(Path("/d/mine/ratings.csv"), "csv") is None


# ---- bad input ------------------------------------------------------------------------


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope.*no such file or folder"):
        load_ratings(tmp_path / "nope")


def test_unknown_layout_lists_the_layouts_looked_for(tmp_path: Path) -> None:
    write(tmp_path / "data.txt", "1 2 3 4\n")
    with pytest.raises(DataError) as error:
        load_ratings(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message and "data.txt" in message
    for name in ("u.data", "ratings.dat", "ratings.csv", "rating.csv", "ratings.parquet"):
        assert name in message
    with pytest.raises(DataError, match=r"data\.txt: unknown ratings file layout"):
        load_ratings(tmp_path / "data.txt")


def test_misnamed_column_says_expected_and_found(tmp_path: Path) -> None:
    file = write(tmp_path / "ratings.csv", "user,movieId,rating,timestamp\n1,2,3.0,4\n")
    with pytest.raises(DataError) as error:
        load_ratings(file)
    message = str(error.value)
    assert "ratings.csv: missing column(s) userId or user_id" in message
    assert "expected userId, movieId, rating, timestamp" in message
    assert "found user, movieId, rating, timestamp" in message


def test_parquet_missing_column_and_wrong_type(tmp_path: Path) -> None:
    table = pa.table({"userId": [1], "movieId": [2], "rating": [3.0]})
    pq.write_table(table, tmp_path / "a.parquet")
    with pytest.raises(DataError, match=r"a\.parquet: missing column\(s\) timestamp"):
        load_ratings(tmp_path / "a.parquet")
    table = pa.table({"userId": [1], "movieId": [2], "rating": ["good"], "timestamp": [4]})
    pq.write_table(table, tmp_path / "b.parquet")
    with pytest.raises(DataError, match=r"b\.parquet: column 'rating' has type string"):
        load_ratings(tmp_path / "b.parquet")


HEADER = "userId,movieId,rating,timestamp\n"


@pytest.mark.parametrize(
    ("name", "text", "line", "problem"),
    [
        ("ratings.csv", HEADER + "1,2,3.0,4\n1,3,4.0,5\n1,4,2.0,6,7\n1,5,1.0,8\n", 4,
         "5 fields, expected 4 separated by ','"),
        ("ratings.csv", HEADER + "1,2,3.0,4\nx,3,4.0,5\n", 3, "user id"),
        ("ratings.csv", HEADER + "1,2,3.0,4\n1,3,,5\n", 3, "rating is missing"),
        ("ratings.csv", HEADER + "1,2,3.0,4\n1,3.5,3.0,5\n", 3, "item id"),
        ("ratings.csv", HEADER + "1,2,3.0,4\n1,3,3.0,99999999999\n", 3, "timestamp"),
        ("ratings.dat", "1::2::3::4\n1::3::4\n", 2, "3 fields, expected 4 separated by '::'"),
        ("ratings.dat", "1::2::3::4\n1:2:3::4::5\n", 2, "3 fields, expected 4"),
        ("u.data", "1\t2\t3\t4\n1\t2\t3\t4\n1\ttwo\t3\t4\n", 3, "item id"),
        ("rating.csv", HEADER + "1,2,3.0,2005-04-02 23:53:47\n1,3,3.0,yesterday\n", 3,
         "timestamp"),
        # Blank lines are skipped but still counted in line numbers.
        ("ratings.csv", HEADER + "1,2,3.0,4\n\n1,3,3.0,5\n1,3,3.0,5,\n", 5, "5 fields"),
    ],
)  # fmt: skip
def test_malformed_row_names_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, problem: str
) -> None:
    file = write(tmp_path / name, text)
    with pytest.raises(DataError) as error:
        load_ratings(file)
    message = str(error.value)
    bad_text = text.splitlines()[line - 1]
    assert message.startswith(f"{file}: line {line}: ")
    assert problem in message and repr(bad_text) in message


def test_malformed_parquet_row_names_row(tmp_path: Path) -> None:
    table = pa.table({"userId": [1, None, 3], "movieId": [1, 2, 3], "rating": [1.0, 2.0, 3.0],
                      "timestamp": [1, 2, 3]})  # fmt: skip
    pq.write_table(table, tmp_path / "ratings.parquet")
    with pytest.raises(DataError, match=r"ratings\.parquet: row 2: user id is missing"):
        load_ratings(tmp_path)
    skipped = load_ratings(tmp_path, on_bad_rows="skip")
    assert skipped["user_id"].tolist() == [1, 3]
    assert skipped.attrs["sample"]["n_bad_rows_skipped"] == 1


def test_skip_bad_rows_counts_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = rows(",").splitlines()
    lines = [HEADER.strip(), good[0], "oops", good[1], good[2], "1,2,3", good[3], "", good[4],
             "7,8,9.0,10,11"]  # fmt: skip
    file = write(tmp_path / "ratings.csv", "\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="recsys_lib.data.loading"):
        ratings = load_ratings(file, on_bad_rows="skip", chunk_rows=2)
    pd.testing.assert_frame_equal(ratings, expected())
    assert ratings.attrs["sample"]["n_bad_rows_skipped"] == 3
    assert ratings.attrs["sample"]["n_rows_read"] == 5
    assert "skipping 3 malformed rows" in caplog.text and "line 3" in caplog.text


def test_ratings_outside_the_release_scale(tmp_path: Path) -> None:
    text = "1\t2\t6\t4\n1\t3\t4\t5\n1\t4\t0\t6\n"
    write(tmp_path / "u.data", text)
    with pytest.raises(DataError) as error:
        load_ratings(tmp_path)
    message = str(error.value)
    assert f"{tmp_path / 'u.data'}: 2 ratings outside the ml-100k scale of 1-5 stars" in message
    assert "e.g. line 1: '1\\t2\\t6\\t4'" in message


def test_half_stars_are_fine_in_ml_10m_but_not_in_ml_1m(tmp_path: Path) -> None:
    text = "1::2::3.5::4\n1::3::0.5::5\n"
    assert len(load_ratings(write(tmp_path / "ml-10M100K" / "ratings.dat", text))) == 2
    with pytest.raises(DataError, match=r"1 ratings outside the ml-1m scale.*line 2"):
        load_ratings(write(tmp_path / "ml-1m" / "ratings.dat", text))


@pytest.mark.parametrize(("text", "problem"), [("", "the file is empty"), (HEADER, "no ratings")])
def test_empty_data(tmp_path: Path, text: str, problem: str) -> None:
    file = write(tmp_path / "ratings.csv", text)
    with pytest.raises(DataError, match=f"ratings.csv: {problem}"):
        load_ratings(file)


# ---- ids and timestamps at load -------------------------------------------------------
# -1 is the padding value of top-k arrays, so no id may take it; timestamps are unix
# seconds from 1970.

# (layout, unit and number of the 4th rating: csv files have a header line).
FOURTH_ROW = {"ml-100k": "line 4", "ml-1m": "line 4", "csv": "line 5",
              "kaggle-csv": "line 5", "parquet": "row 4"}  # fmt: skip


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_negative_item_id_is_an_error_naming_file_row_column_and_value(
    movielens_dir, layout: str
) -> None:
    folder = movielens_dir(layout, expected().assign(item_id=np.int32([10, 20, 10, -1, 20])))
    file = detect_layout(folder)[1]
    with pytest.raises(DataError) as error:
        load_ratings(folder)
    message = str(error.value)
    assert message.startswith(f"{file}: {FOURTH_ROW[layout]}: item id is missing, negative")
    column = {"csv": "column 2 'movieId'", "kaggle-csv": "column 2 'movieId'",
              "parquet": "column 'item_id'"}.get(layout, "column 2")  # fmt: skip
    assert f"({column}: " in message and "-1" in message
    assert "on_bad_rows='skip'" in message
    skipped = load_ratings(folder, on_bad_rows="skip")
    pd.testing.assert_frame_equal(skipped, expected().drop(index=3).reset_index(drop=True))
    assert skipped.attrs["sample"]["n_bad_rows_skipped"] == 1


@pytest.mark.parametrize(
    ("name", "text", "line", "problem"),
    [
        ("ratings.csv", HEADER + "1,2,3.0,4\n-3,2,3.0,4\n", 3,
         "user id is missing, negative or not an integer in the int32 range "
         "(column 1 'userId': '-3')"),
        ("ratings.csv", HEADER + "1,2,3.0,4\n1,3,3.0,-5\n", 3,
         "timestamp is missing, negative or not a time in 1970-2038"),
        ("ratings.dat", "1::2::3::4\n1::-2::3::4\n", 2, "item id is missing, negative"),
        ("u.data", "1\t2\t3\t4\n1\t2\t3\t-4\n", 2, "(column 4: '-4')"),
        ("rating.csv", HEADER + "1,2,3.0,2005-04-02 23:53:47\n1,3,3.0,1969-12-31 23:59:59\n",
         3, "(column 4 'timestamp': '1969-12-31 23:59:59')"),
        ("ratings.csv", HEADER + "1,2,3.0,4\n1,2.5,3.0,4\n", 3, "(column 2 'movieId': '2.5')"),
    ],
)  # fmt: skip
def test_negative_and_non_integer_ids_and_times_name_line_column_and_value(
    tmp_path: Path, name: str, text: str, line: int, problem: str
) -> None:
    file = write(tmp_path / name, text)
    with pytest.raises(DataError) as error:
        load_ratings(file)
    message = str(error.value)
    assert message.startswith(f"{file}: line {line}: ")
    assert problem in message and repr(text.splitlines()[line - 1]) in message


def test_a_negative_parquet_user_and_timestamp_name_the_row(tmp_path: Path) -> None:
    table = pa.table({"userId": [1, -7, 3, 4], "movieId": [1, 2, 3, 4],
                      "rating": [1.0, 2.0, 3.0, 4.0], "timestamp": [1, 2, -3, 4]})  # fmt: skip
    pq.write_table(table, tmp_path / "ratings.parquet")
    with pytest.raises(DataError, match=r"ratings\.parquet: row 2: user id .*'userId': -7\)"):
        load_ratings(tmp_path)
    skipped = load_ratings(tmp_path, on_bad_rows="skip", chunk_rows=3)
    assert skipped["user_id"].tolist() == [1, 4]
    assert skipped.attrs["sample"]["n_bad_rows_skipped"] == 2


# ---- a bad row late in a big file is found fast ---------------------------------------


def test_a_bad_last_line_is_scanned_for_from_its_chunk_only(
    movielens_dir, tiny_ratings: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = movielens_dir("csv", tiny_ratings)
    with open(folder / "ratings.csv", "a") as handle:
        handle.write("\n1,2,3.0\n")  # a blank line 202 (skipped), then a short line 203
    scanned: list[int] = []
    check_lines = readers.check_lines

    def counting(lines: list[str], fmt: readers.TextFormat) -> tuple[np.ndarray, np.ndarray]:
        scanned.append(len(lines))
        return check_lines(lines, fmt)

    monkeypatch.setattr(readers, "check_lines", counting)
    with pytest.raises(DataError, match=r"ratings\.csv: line 203: 3 fields, expected 4"):
        load_ratings(folder, chunk_rows=30)
    # The chunks of rows 1-180 parsed: the scan starts at line 182 (header + 180 + 1).
    assert scanned == [203 - 182 + 1]
    skipped = load_ratings(folder, chunk_rows=30, on_bad_rows="skip")
    pd.testing.assert_frame_equal(skipped, tiny_ratings)
    assert skipped.attrs["sample"]["n_bad_rows_skipped"] == 1


def test_a_batch_of_only_short_lines_is_reported_not_crashed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "SCAN_LINES", 2)
    file = write(tmp_path / "ratings.csv", HEADER + "1,2,3.0,4\n1,3,3.0,5\n1,4\n1,5\n")
    with pytest.raises(DataError, match=r"line 4: 2 fields, expected 4"):
        load_ratings(file)
    assert len(load_ratings(file, on_bad_rows="skip")) == 2


def test_a_bad_last_parquet_row_and_a_late_rating_outside_the_scale(movielens_dir) -> None:
    ratings = pd.concat([expected()] * 4, ignore_index=True)
    folder = movielens_dir("parquet", ratings.assign(user_id=np.int32([1] * 19 + [-1])))
    with pytest.raises(DataError, match=r"ratings\.parquet: row 20: user id"):
        load_ratings(folder, chunk_rows=3)
    folder = movielens_dir("ml-100k", ratings)
    with open(folder / "u.data", "a") as handle:
        handle.write("1\t2\t7\t4\n")
    with pytest.raises(DataError, match=r"1 ratings outside .*e\.g\. line 21: '1\\t2\\t7\\t4'"):
        load_ratings(folder, chunk_rows=3)


@pytest.mark.parametrize(
    ("line", "start"), [(1, (1, 0)), (2, (2, 4)), (3, (3, 5)), (4, (4, 9)), (9, (5, 13))]
)
def test_line_start_counts_newlines(tmp_path: Path, line: int, start: tuple[int, int]) -> None:
    file = write(tmp_path / "f.txt", "abc\n\nxyz\nend\n")  # lines start at bytes 0, 4, 5, 9
    assert readers._line_start(file, line) == start
