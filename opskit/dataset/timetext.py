"""Times as text, built digit by digit in a numpy byte buffer: the database's wire
format when loading, and ISO 8601 with ``Z`` when exporting.
"""

from __future__ import annotations

import numpy as np


def _digits(buf: np.ndarray, column: int, values: np.ndarray, width: int) -> None:
    for i in range(width):
        buf[:, column + width - 1 - i] = ord("0") + (values // 10**i) % 10


def time_strings(values, *, sep: str, suffix: str, always_micro: bool) -> np.ndarray:
    """datetime64 values as text, built digit by digit in a byte buffer (no Python loop).

    ``YYYY-MM-DD{sep}HH:MM:SS[.ffffff]{suffix}``; NaT gives None. The fraction is
    written always (``always_micro``) or only where there is one.
    """
    array = np.asarray(values, dtype="datetime64[us]")
    missing = np.isnat(array)
    ticks = np.where(missing, 0, array.astype(np.int64))
    seconds, micro = np.divmod(ticks, 1_000_000)
    days, of_day = np.divmod(seconds, 86_400)
    dates = days.astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    hour, rest = np.divmod(of_day, 3600)
    minute, second = np.divmod(rest, 60)
    width = 26 + len(suffix)
    buf = np.empty((len(array), width), dtype=np.uint8)
    _digits(buf, 0, dates.astype("datetime64[Y]").astype(np.int64) + 1970, 4)
    buf[:, 4] = buf[:, 7] = ord("-")
    _digits(buf, 5, months.astype(np.int64) % 12 + 1, 2)
    _digits(buf, 8, (dates - months).astype(np.int64) + 1, 2)
    buf[:, 10] = ord(sep)
    _digits(buf, 11, hour, 2)
    buf[:, 13] = buf[:, 16] = ord(":")
    _digits(buf, 14, minute, 2)
    _digits(buf, 17, second, 2)
    buf[:, 19] = ord(".")
    _digits(buf, 20, micro, 6)
    for i, char in enumerate(suffix):
        buf[:, 26 + i] = ord(char)

    def as_text(rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows)
        return rows.view(f"S{rows.shape[1]}").ravel().astype(f"U{rows.shape[1]}").astype(object)

    if always_micro:
        out = as_text(buf)
    else:
        short = np.concatenate((buf[:, :19], buf[:, 26:]), axis=1)
        out = as_text(short)
        fraction = (micro != 0) & ~missing
        if fraction.any():
            out[fraction] = as_text(buf[fraction])
    out[missing] = None
    return out
