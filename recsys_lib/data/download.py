"""Opt-in download of a GroupLens MovieLens release into the local cache.

A release is fetched only when asked (`download_release`, or ``download=True`` in the
loaders). The zip is checked against a known digest (an argument, the `RELEASES` table,
or the ``<name>.zip.md5`` GroupLens publishes next to it) before anything is extracted,
archive members that would land outside the target folder are refused, and nothing
half-written is ever left behind: the zip goes to a temporary file and the release to a
temporary folder in the cache, which is renamed into place only when complete.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from recsys_lib import environment
from recsys_lib.data.schema import DataError

__all__ = ["DEFAULT_BASE_URL", "RELEASES", "Release", "download_release"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
_BLOCK_BYTES = 1 << 20
_MD5_MAX_BYTES = 4096
_MD5_PATTERN = re.compile(r"\b([0-9a-fA-F]{32})\b")


@dataclass(frozen=True)
class Release:
    """A MovieLens release on files.grouplens.org.

    Attributes:
        name: the release, also the zip's stem and the cache folder's name.
        zip_mb: approximate size of the zip, MB (2**20 bytes).
        sha256: expected SHA-256 of the zip, when known; None means the published
            ``<name>.zip.md5`` is fetched and checked instead. Releases that GroupLens
            updates ("latest") have none.
    """

    name: str
    zip_mb: float
    sha256: str | None = None


# SHA-256 of the frozen releases as TensorFlow Datasets records them (url_checksums).
_SHA256 = {
    "ml-100k": "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
    "ml-1m": "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
    "ml-20m": "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
    "ml-25m": "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
}
_ZIP_MB = {"ml-100k": 4.7, "ml-1m": 5.6, "ml-10m": 63.0, "ml-20m": 189.5, "ml-25m": 249.8,
           "ml-32m": 239.0, "ml-latest-small": 0.9, "ml-latest": 335.0}
RELEASES: dict[str, Release] = {
    name: Release(name, size, _SHA256.get(name)) for name, size in _ZIP_MB.items()
}


def download_release(
    name: str,
    cache_dir: Path | None = None,
    *,
    base_url: str | None = None,
    timeout: float = 60.0,
    expected_sha256: str | None = None,
    expected_md5: str | None = None,
) -> Path:
    """Fetch, verify and unpack a MovieLens release into the cache (once).

    Args:
        name: a key of `RELEASES`, e.g. "ml-latest-small".
        cache_dir: folder holding releases; None uses `recsys_lib.environment.cache_dir()`.
        base_url: where ``<name>.zip`` lives; None is files.grouplens.org.
        timeout: seconds to wait on the server at each step (connect, each read).
        expected_sha256: hex SHA-256 the zip must have (overrides the table).
        expected_md5: hex MD5 the zip must have, when no SHA-256 is given.

    Returns:
        The release folder, ``cache_dir / name`` (the zip's top folder, renamed). When it
        exists already nothing is downloaded.

    Raises:
        ValueError: an unknown release name, or an expected digest that is not hex of
            the right length.
        DataError: the server cannot be reached (offline), answers with an HTTP error,
            publishes no checksum, sends a file whose digest differs (both digests are
            named) or a bad zip, the archive holds a member whose name would escape the
            folder, or the disk lacks room. Nothing is left in the cache then.
    """
    release = RELEASES.get(name)
    if release is None:
        raise ValueError(f"unknown MovieLens release {name!r}; expected one of "
                         f"{', '.join(RELEASES)}")
    root = Path(cache_dir) if cache_dir is not None else environment.cache_dir()
    target = root / name
    if target.is_dir():
        logger.info("%s is in the cache at %s; not downloading", name, target)
        return target
    url = f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/{name}.zip"
    algorithm, expected = _expected_digest(release, url, expected_sha256, expected_md5, timeout)
    root.mkdir(parents=True, exist_ok=True)
    handle, part_name = tempfile.mkstemp(dir=root, prefix=f".{name}-", suffix=".zip.part")
    zip_part, unpacked = Path(part_name), None
    try:
        with os.fdopen(handle, "wb") as out:
            digest = _fetch(url, out, algorithm, timeout, root)
        if digest != expected:
            raise DataError(f"{url}: {algorithm} checksum mismatch: expected {expected}, got "
                            f"{digest}; the download was discarded")
        logger.info("%s: %s checksum verified", url, algorithm)
        unpacked = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}-"))
        _extract(zip_part, unpacked, url)
        _install(unpacked, target)
    finally:
        zip_part.unlink(missing_ok=True)
        if unpacked is not None:
            shutil.rmtree(unpacked, ignore_errors=True)
    logger.info("%s is ready at %s", name, target)
    return target


def _expected_digest(release: Release, url: str, sha256: str | None, md5: str | None,
                     timeout: float) -> tuple[str, str]:
    """(algorithm, lower-case hex digest): the arguments, else the table, else `url`.md5."""
    for algorithm, value, length in (("sha256", sha256, 64), ("md5", md5, 32),
                                     ("sha256", release.sha256, 64)):
        if value is not None:
            if not re.fullmatch(rf"[0-9a-fA-F]{{{length}}}", value):
                raise ValueError(f"expected {algorithm} must be {length} hex digits, got {value!r}")
            return algorithm, value.lower()
    md5_url = f"{url}.md5"
    with _open(md5_url, timeout, what="the published checksum") as response:
        text = response.read(_MD5_MAX_BYTES).decode("ascii", errors="replace")
    match = _MD5_PATTERN.search(text)
    if match is None:
        raise DataError(f"{md5_url}: no MD5 digest in the file (read {text[:80]!r}); pass "
                        "expected_sha256= or expected_md5= to verify the zip another way")
    return "md5", match.group(1).lower()


def _open(url: str, timeout: float, what: str) -> Any:
    """urlopen (a response to use as a context manager) with DataErrors that say offline
    or which HTTP status."""
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DataError(f"{url}: HTTP error {exc.code} ({exc.reason}) while fetching "
                        f"{what}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"could not reach {url} ({reason}); are you offline? Attach or "
                        "copy the data set and pass its folder instead") from exc


def _fetch(url: str, out: BinaryIO, algorithm: str, timeout: float, root: Path) -> str:
    """Stream `url` into `out` with a progress bar; return its hex digest."""
    from recsys_lib.progress import progress_bar  # here: tqdm is slow to import, rarely needed

    hasher = hashlib.new(algorithm)
    with _open(url, timeout, what="the release") as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > shutil.disk_usage(root).free:
            raise DataError(f"{url}: the zip needs {total / 2**20:.1f} MB but {root} has "
                            f"{shutil.disk_usage(root).free / 2**20:.1f} MB free")
        received = 0
        with progress_bar(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=url.rsplit("/", 1)[-1]) as bar:
            while True:
                try:
                    block = response.read(_BLOCK_BYTES)
                except (OSError, http.client.HTTPException) as exc:
                    raise DataError(f"{url}: the download broke off after {received} bytes "
                                    f"({exc})") from exc
                if not block:
                    break
                hasher.update(block)
                out.write(block)
                received += len(block)
                bar.update(len(block))
    if total is not None and received != total:
        raise DataError(f"{url}: the download broke off: got {received} of {total} bytes")
    return hasher.hexdigest()


def _extract(zip_path: Path, folder: Path, url: str) -> None:
    """Unpack the zip into `folder` after checking every member name and the free disk."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{url}: not a valid zip archive ({exc})") from exc
    with archive:
        members = archive.infolist()
        for member in members:
            _check_member(member.filename, folder, url)
        needed = sum(member.file_size for member in members)
        free = shutil.disk_usage(folder).free
        if needed > free:
            raise DataError(f"{url}: unpacking needs {needed / 2**20:.1f} MB but {folder} has "
                            f"{free / 2**20:.1f} MB free")
        archive.extractall(folder)


def _check_member(name: str, folder: Path, url: str) -> None:
    """Refuse absolute names, drive letters and '..' parts (paths out of `folder`)."""
    parts = name.replace("\\", "/").split("/")
    unsafe = name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts
    if unsafe or not (folder / name).resolve().is_relative_to(folder.resolve()):
        raise DataError(f"{url}: unsafe member name {name!r} in the archive (absolute or "
                        "with '..', it would be written outside the release folder); "
                        "nothing was extracted")


def _install(unpacked: Path, target: Path) -> None:
    """Rename the release (the zip's single top folder, else all of it) to `target`."""
    entries = list(unpacked.iterdir())
    source = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
    try:
        os.rename(source, target)
    except OSError:
        if not target.is_dir():
            raise
        logger.info("%s appeared meanwhile (another download); keeping it", target)
