"""Platform detection, output folders, and the disk and session-time warnings."""

from __future__ import annotations

import shutil
import sys

import psutil
import pytest

from recsys_lib import environment as env

HOUR = 3600.0
_PLATFORM_VARS = ("KAGGLE_KERNEL_RUN_TYPE", env.SESSION_HOURS_ENV, env.OUTPUT_ENV,
                  env.KAGGLE_WORKING_ENV, env.KAGGLE_INPUT_ENV)


@pytest.fixture(autouse=True)
def local_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test as a plain local machine, whatever the CI sets."""
    for name in _PLATFORM_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)


@pytest.fixture
def on_kaggle(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.setenv(env.KAGGLE_WORKING_ENV, str(tmp_path / "working"))


def test_platform_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (env.is_kaggle(), env.is_colab(), env.platform_name()) == (False, False, "local")
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert (env.is_colab(), env.platform_name()) == (True, "colab")
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    assert (env.is_kaggle(), env.platform_name()) == (True, "kaggle")


def test_kaggle_folders_follow_env_vars(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    assert str(env.kaggle_input_root()) == "/kaggle/input"
    assert str(env.kaggle_working_dir()) == "/kaggle/working"
    monkeypatch.setenv(env.KAGGLE_INPUT_ENV, str(tmp_path / "in"))
    assert env.kaggle_input_root() == tmp_path / "in"


def test_output_root_local_kaggle_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path,
                                               ) -> None:
    assert str(env.output_root()) == "runs"
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert str(env.output_root()) == "/kaggle/working/runs"
    monkeypatch.setenv(env.KAGGLE_WORKING_ENV, str(tmp_path))
    assert env.output_root() == tmp_path / "runs"
    monkeypatch.setenv(env.OUTPUT_ENV, str(tmp_path / "mine"))
    assert env.output_root() == tmp_path / "mine"


def test_session_limit_local_hosted_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env.session_limit_hours() is None
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert env.session_limit_hours() == env.HOSTED_SESSION_HOURS == 12.0
    monkeypatch.setenv(env.SESSION_HOURS_ENV, "9")
    assert env.session_limit_hours() == 9.0


@pytest.mark.parametrize("value", ["nine", "0", "-3", "nan"])
def test_session_hours_env_must_be_positive(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(env.SESSION_HOURS_ENV, value)
    with pytest.raises(ValueError, match=f"RECSYS_SESSION_HOURS.*{value!r}"):
        env.session_limit_hours()


def test_session_start_is_pid1_else_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env.session_start_time() == psutil.Process(1).create_time()
    real_process = psutil.Process

    def no_pid1(pid: int | None = None) -> psutil.Process:
        if pid == 1:
            raise psutil.AccessDenied(1)
        return real_process(pid)

    monkeypatch.setattr(psutil, "Process", no_pid1)
    assert env.session_start_time() == real_process().create_time()


def test_seconds_left_counts_from_session_start(on_kaggle: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    start = env.session_start_time()
    assert env.session_seconds_left(now=start + 11.5 * HOUR) == pytest.approx(0.5 * HOUR)
    monkeypatch.setenv(env.SESSION_HOURS_ENV, "9")
    assert env.session_seconds_left(now=start + 10 * HOUR) == pytest.approx(-HOUR)


def test_no_session_clock_on_a_local_machine() -> None:
    start = env.session_start_time()
    assert env.session_seconds_left(now=start + 100 * HOUR) is None
    assert env.session_warnings(min_free_disk_mb=0, now=start + 100 * HOUR) == []


def test_time_warning_only_when_few_minutes_left(on_kaggle: None) -> None:
    start = env.session_start_time()
    assert env.session_warnings(min_free_disk_mb=0, now=start + 1 * HOUR) == []
    (warning,) = env.session_warnings(min_free_disk_mb=0, min_minutes_left=30,
                                      now=start + 11.7 * HOUR)
    assert "About 18 minutes left of the 12-hour kaggle session" in warning
    assert "started about 11.7 h ago" in warning
    (late,) = env.session_warnings(min_free_disk_mb=0, now=start + 13 * HOUR)
    assert late.startswith("About 0 minutes left")


def test_free_disk_measures_nearest_existing_folder(tmp_path) -> None:
    free_mb, folder = env.free_disk_mb(tmp_path / "not" / "yet")
    assert folder == tmp_path
    assert free_mb == pytest.approx(shutil.disk_usage(tmp_path).free / 2**20, rel=0.01)


def test_disk_warning_below_threshold(tmp_path) -> None:
    free_mb, _ = env.free_disk_mb(tmp_path)
    assert env.session_warnings(min_free_disk_mb=free_mb / 2, disk_path=tmp_path) == []
    (warning,) = env.session_warnings(min_free_disk_mb=free_mb * 2, disk_path=tmp_path)
    assert str(tmp_path) in warning and "free on the disk" in warning


def test_disk_checked_under_kaggle_working_by_default(on_kaggle: None, tmp_path) -> None:
    (warning,) = env.session_warnings(min_free_disk_mb=float("inf"))
    assert f"disk holding {tmp_path}" in warning  # working/runs does not exist yet
