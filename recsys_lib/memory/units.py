"""The memory unit used across the package (MB = 2**20 bytes) and its one formatting rule."""

from __future__ import annotations

__all__ = ["MB", "format_mb", "to_mb"]

MB = 2**20


def to_mb(n_bytes: float) -> float:
    """Bytes to MB (2**20 bytes)."""
    return n_bytes / MB


def format_mb(value_mb: float, *, signed: bool = False) -> str:
    """MB as text: "20,123.4 MB" (one decimal, thousands separators); "+12.3 MB" if `signed`."""
    return f"{value_mb:+,.1f} MB" if signed else f"{value_mb:,.1f} MB"
