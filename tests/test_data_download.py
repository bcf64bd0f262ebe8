"""Release download against a local HTTP server: checksums, unsafe archives, failures."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from recsys_lib.data.download import DEFAULT_BASE_URL, RELEASES, download_release
from recsys_lib.data.loading import load_ratings
from recsys_lib.data.schema import DataError

TIMEOUT = 5.0  # seconds; every request to the local server is bounded


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the site folder; /short/* promises more bytes than it sends."""

    def do_GET(self) -> None:
        if self.path.startswith("/short/"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"PK only ten")
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(folder served, base URL) of an HTTP server on 127.0.0.1, stopped after the test."""
    folder = tmp_path / "site"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_Handler, directory=str(folder))
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=TIMEOUT)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def publish(folder: Path, name: str, data: bytes, md5: str | None = None) -> None:
    """Put <name>.zip on the site, with a GroupLens-style .md5 file next to it."""
    (folder / f"{name}.zip").write_bytes(data)
    if md5 is not None:
        (folder / f"{name}.zip.md5").write_text(f"MD5 ({name}.zip) = {md5}\n")


@pytest.fixture
def files(movielens_dir) -> dict[str, bytes]:
    """ratings.csv and movies.csv of a small csv-layout folder written by write_ratings."""
    folder = movielens_dir("csv")
    return {name: (folder / name).read_bytes() for name in ("ratings.csv", "movies.csv")}


def release_zip(files: dict[str, bytes], name: str = "ml-latest-small") -> bytes:
    return zip_bytes({f"{name}/{member}": data for member, data in files.items()})


def leftovers(cache: Path) -> list[str]:
    """Whatever a failed download left in the cache (nothing, when it cleaned up)."""
    return sorted(p.name for p in cache.rglob("*")) if cache.exists() else []


def test_downloads_verifies_and_unpacks(site, cache: Path, files, small_ratings) -> None:
    folder, base_url = site
    data = release_zip(files)
    publish(folder, "ml-latest-small", data, hashlib.md5(data).hexdigest())
    path = download_release("ml-latest-small", cache, base_url=base_url, timeout=TIMEOUT)
    assert path == cache / "ml-latest-small"
    assert (path / "ratings.csv").read_bytes() == files["ratings.csv"]
    assert (path / "movies.csv").read_bytes() == files["movies.csv"]
    pd.testing.assert_frame_equal(load_ratings(path), small_ratings)
    assert leftovers(cache) == ["ml-latest-small", "movies.csv", "ratings.csv"]


def test_a_cached_release_is_not_fetched_again(site, cache: Path, files) -> None:
    folder, base_url = site
    data = release_zip(files)
    publish(folder, "ml-latest-small", data, hashlib.md5(data).hexdigest())
    first = download_release("ml-latest-small", cache, base_url=base_url, timeout=TIMEOUT)
    (folder / "ml-latest-small.zip").unlink()
    assert download_release("ml-latest-small", cache, base_url=base_url) == first


def test_release_folder_is_named_after_the_release(site, cache: Path, movielens_dir) -> None:
    folder, base_url = site
    ratings_dat = (movielens_dir("ml-1m") / "ratings.dat").read_bytes()
    data = zip_bytes({"ml-10M100K/ratings.dat": ratings_dat})
    publish(folder, "ml-10m", data, hashlib.md5(data).hexdigest())
    path = download_release("ml-10m", cache, base_url=base_url, timeout=TIMEOUT)
    assert (path / "ratings.dat").read_bytes() == ratings_dat
    assert leftovers(cache) == ["ml-10m", "ratings.dat"]


def test_an_explicit_sha256_needs_no_published_checksum(site, cache: Path, files) -> None:
    folder, base_url = site
    data = release_zip(files)
    publish(folder, "ml-latest-small", data)
    path = download_release("ml-latest-small", cache, base_url=base_url, timeout=TIMEOUT,
                             expected_sha256=hashlib.sha256(data).hexdigest().upper())
    assert (path / "ratings.csv").read_bytes() == files["ratings.csv"]


def test_a_checksum_mismatch_names_both_digests_and_leaves_nothing(site, cache, files) -> None:
    folder, base_url = site
    data = release_zip(files)
    wrong = "0" * 32
    publish(folder, "ml-latest-small", data, wrong)
    with pytest.raises(DataError, match="checksum mismatch") as info:
        download_release("ml-latest-small", cache, base_url=base_url, timeout=TIMEOUT)
    assert wrong in str(info.value) and hashlib.md5(data).hexdigest() in str(info.value)
    assert leftovers(cache) == []


def test_the_table_digest_is_checked(site, cache: Path, files) -> None:
    folder, base_url = site
    data = release_zip(files, "ml-100k")
    publish(folder, "ml-100k", data, hashlib.md5(data).hexdigest())  # the table wins
    with pytest.raises(DataError, match="sha256 checksum mismatch") as info:
        download_release("ml-100k", cache, base_url=base_url, timeout=TIMEOUT)
    assert RELEASES["ml-100k"].sha256 in str(info.value)
    assert hashlib.sha256(data).hexdigest() in str(info.value)
    assert leftovers(cache) == []


@pytest.mark.parametrize("member", ["../evil.txt", "ml-latest-small/../../evil.txt",
                                    "/tmp/evil.txt", "C:/evil.txt", "..\\evil.txt"])
def test_members_escaping_the_folder_are_refused(site, cache: Path, files, tmp_path: Path,
                                                 member: str) -> None:
    folder, base_url = site
    data = zip_bytes({"ml-latest-small/ratings.csv": files["ratings.csv"], member: b"owned"})
    assert member in zipfile.ZipFile(io.BytesIO(data)).namelist()
    publish(folder, "ml-latest-small", data, hashlib.md5(data).hexdigest())
    with pytest.raises(DataError, match="unsafe member name") as info:
        download_release("ml-latest-small", cache, base_url=base_url, timeout=TIMEOUT)
    assert repr(member) in str(info.value)
    assert leftovers(cache) == []
    assert not (tmp_path / "evil.txt").exists()


def test_an_http_error_is_named_and_leaves_nothing(site, cache: Path) -> None:
    _, base_url = site
    with pytest.raises(DataError, match="HTTP error 404") as info:
        download_release("ml-latest-small", cache, base_url=base_url, timeout=TIMEOUT,
                         expected_md5="0" * 32)
    assert f"{base_url}/ml-latest-small.zip" in str(info.value)
    assert leftovers(cache) == []


def test_no_published_checksum_is_refused(site, cache: Path, files) -> None:
    folder, base_url = site
    publish(folder, "ml-latest-small", release_zip(files))
    with pytest.raises(DataError, match=r"404.*published checksum"):
        download_release("ml-latest-small", cache, base_url=base_url, timeout=TIMEOUT)
    assert leftovers(cache) == []


def test_a_download_that_breaks_off_leaves_nothing(site, cache: Path) -> None:
    _, base_url = site
    with pytest.raises(DataError, match="broke off"):
        download_release("ml-latest-small", cache, base_url=f"{base_url}/short",
                         timeout=TIMEOUT, expected_md5="0" * 32)
    assert leftovers(cache) == []


def test_a_file_that_is_not_a_zip_is_refused(site, cache: Path) -> None:
    folder, base_url = site
    data = b"<html>not a zip</html>"
    publish(folder, "ml-latest-small", data, hashlib.md5(data).hexdigest())
    with pytest.raises(DataError, match="not a valid zip"):
        download_release("ml-latest-small", cache, base_url=base_url, timeout=TIMEOUT)
    assert leftovers(cache) == []


def test_offline_says_so(cache: Path) -> None:
    with socket.socket() as probe:  # a port that nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DataError, match="offline"):
        download_release("ml-latest-small", cache, base_url=f"http://127.0.0.1:{port}",
                         timeout=TIMEOUT)
    assert leftovers(cache) == []


def test_unknown_release_and_bad_digest_arguments(cache: Path) -> None:
    with pytest.raises(ValueError, match="ml-100k, ml-1m, ml-10m"):
        download_release("ml-5m", cache)
    with pytest.raises(ValueError, match="64 hex digits"):
        download_release("ml-100k", cache, expected_sha256="abc")


def test_release_table_covers_the_grouplens_releases() -> None:
    assert {"ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m",
            "ml-latest-small"} <= set(RELEASES)
    for name, release in RELEASES.items():
        assert release.name == name and release.zip_mb > 0
        assert release.sha256 is None or len(bytes.fromhex(release.sha256)) == 32
    assert DEFAULT_BASE_URL == "https://files.grouplens.org/datasets/movielens"
