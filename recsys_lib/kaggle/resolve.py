"""What pip would install from the bundle on a runtime, found without that interpreter.

`resolve_offline` runs pip's own resolver as the runtime's pip would run the bootstrap cell's
`pip install --no-index --find-links <bundle> recsys-lib`, from any Python:
`--python-version`, `--implementation cp` and `--platform` select the runtime's wheels, and
`--dry-run --target --report` says what would be installed. With those options pip cannot look at
the runtime's installed packages, so each one the runtime ships is represented by a
metadata-only stand-in wheel of exactly the shipped version, in a second find-links folder.
A shipped distribution then resolves to its stand-in unless the bundle offers another
version of it, which the result reports as a replacement (the real pip would replace an
installed torch, numpy or pandas only in that case, or when a requirement excludes the
shipped version, which makes the resolution here fail).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from recsys_lib.kaggle.runtimes import Runtime, normalise_name

__all__ = ["Resolution", "resolve_command", "resolve_offline", "write_stand_in_wheel"]


@dataclass(frozen=True)
class Resolution:
    """The outcome of installing a requirement from the bundle on a runtime.

    Attributes:
        runtime: the runtime resolved for.
        installs: distributions pip would take from the bundle, name -> version.
        keeps: shipped distributions left as they are, name -> version.
        replaces: shipped distributions the bundle would replace, name -> (shipped,
            bundle's version); empty when the bundle is right for the runtime.
    """

    runtime: Runtime
    installs: Mapping[str, str]
    keeps: Mapping[str, str]
    replaces: Mapping[str, tuple[str, str]]

    def to_text(self) -> str:
        """One line: the runtime, what is installed, what is replaced."""
        installs = ", ".join(f"{name} {version}" for name, version in self.installs.items())
        line = f"{self.runtime.name} (CPython {self.runtime.python}): installs {installs}"
        if self.replaces:
            line += "; REPLACES " + ", ".join(
                f"{name} {old} -> {new}" for name, (old, new) in self.replaces.items())
        else:
            core = [f"{name} {self.keeps[name]}" for name in ("torch", "numpy", "pandas")
                    if name in self.keeps]
            line += f"; keeps {len(self.keeps)} shipped packages"
            line += f" ({', '.join(core)}, ...)" if core else ""
        return line


def write_stand_in_wheel(name: str, version: str, dest: Path, *,
                         requires: Sequence[str] = (), tag: str = "py3-none-any") -> Path:
    """Write a metadata-only wheel (no modules) that stands for a distribution.

    Args:
        name: distribution name.
        version: its version.
        dest: folder of the wheel (created if missing).
        requires: its requirement strings (none for an installed package's stand-in).
        tag: the wheel's compatibility tag, "py3-none-any" or e.g.
            "cp312-cp312-manylinux2014_x86_64".

    Returns:
        Path of the wheel `name`-`version`-`tag`.whl.
    """
    dest.mkdir(parents=True, exist_ok=True)
    stem = f"{name.replace('-', '_')}-{version}"
    metadata = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                        *(f"Requires-Dist: {req}\n" for req in requires)])
    files = {
        f"{stem}.dist-info/METADATA": metadata.encode(),
        f"{stem}.dist-info/WHEEL": (f"Wheel-Version: 1.0\nGenerator: recsys_lib\n"
                                    f"Root-Is-Purelib: true\nTag: {tag}\n").encode(),
    }
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{stem}.dist-info/RECORD"] = ("\n".join([*record, f"{stem}.dist-info/RECORD,,"])
                                         + "\n").encode()
    path = dest / f"{stem}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def resolve_command(runtime: Runtime, find_links: list[Path], report: Path, target: Path,
                    requirement: str = "recsys-lib") -> list[str]:
    """The `pip install --dry-run` command that resolves `requirement` for `runtime` from
    the `find_links` folders only, writing pip's JSON installation report to `report`.

    `--target` (never written to in a dry run) is what lets pip 22-23 accept platform
    options, and makes it disregard the packages of the interpreter that runs it."""
    platforms = [arg for tag in runtime.platforms for arg in ("--platform", tag)]
    links = [arg for folder in find_links for arg in ("--find-links", str(folder))]
    return [
        sys.executable, "-m", "pip", "install", "--dry-run", "--target", str(target),
        "--no-index", *links, "--only-binary=:all:", "--python-version", runtime.python,
        "--implementation", "cp", *platforms, "--report", str(report), "--quiet",
        requirement,
    ]


def resolve_offline(dataset_dir: Path, runtime: Runtime, workdir: Path,
                    requirement: str = "recsys-lib") -> Resolution:
    """Resolve `requirement` from the bundle's dataset folder as `runtime`'s pip would.

    Args:
        dataset_dir: the bundle's dataset folder (the wheels).
        runtime: the runtime to resolve for; its `ships` become stand-in wheels.
        workdir: a scratch folder (stand-ins and the report go under it).
        requirement: what the bootstrap cell installs.

    Returns:
        What would be installed from the bundle, kept, and replaced.

    Raises:
        RuntimeError: pip found no resolution (a wheel missing for this runtime, or a
            requirement the shipped versions do not meet); the message names the runtime
            and holds the end of pip's output.
    """
    installed = (Path(workdir) / f"{runtime.name}-installed").resolve()
    for name, version in runtime.ships.items():
        write_stand_in_wheel(name, version, installed)
    report = Path(workdir) / f"{runtime.name}-report.json"
    command = resolve_command(runtime, [Path(dataset_dir), installed], report,
                              Path(workdir) / f"{runtime.name}-target", requirement)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{dataset_dir}: {requirement} does not install offline on "
                           f"{runtime.name} (CPython {runtime.python}):\n{tail}")
    installs, keeps, replaces = {}, {}, {}
    for item in json.loads(report.read_text())["install"]:
        name = normalise_name(item["metadata"]["name"])
        version = item["metadata"]["version"]
        source = Path(unquote(urlparse(item["download_info"]["url"]).path)).resolve().parent
        if source == installed:
            keeps[name] = version
        elif name in runtime.ships:
            replaces[name] = (runtime.ships[name], version)
        else:
            installs[name] = version
    return Resolution(runtime, dict(sorted(installs.items())), dict(sorted(keeps.items())),
                      dict(sorted(replaces.items())))


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
