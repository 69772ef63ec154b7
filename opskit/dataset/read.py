"""Reading a dataset folder: every file read and validated, in the order of ``SPECS``
(parents before the files that refer to them); nothing is written anywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInput
from .csvfile import read_csv_file
from .files import SPECS, FileSpec
from .validate import Context, validate_file


def _empty_raw(spec: FileSpec) -> tuple[pd.DataFrame, np.ndarray]:
    return pd.DataFrame({name: pd.Series([], dtype=object) for name in spec.names}), np.zeros(
        0, dtype=np.int64
    )


def dataset_folder(folder: str | Path) -> Path:
    folder = Path(folder)
    if not folder.exists():
        raise BadInput(f"dataset folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise BadInput(f"{str(folder)!r} is not a folder; a dataset is a folder of CSV files")
    return folder


def read_dataset(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Read and validate a dataset folder; nothing is written anywhere.

    Returns one frame per table, sorted by key. Raises ``BadInput`` naming the file,
    line and column of the first bad value.
    """
    folder = dataset_folder(folder)
    ctx = Context()
    for spec in SPECS:
        path = folder / spec.file
        if path.is_file():
            raw, lines = read_csv_file(path, spec)
        elif spec.required:
            raise BadInput(f"the dataset folder {str(folder)!r} has no {spec.file}", file=spec.file)
        else:
            raw, lines = _empty_raw(spec)
        frame = validate_file(spec, raw, lines, ctx)
        ctx.add(spec.table, _sorted(frame, spec))
    return ctx.frames


def _in_order(keys: list[np.ndarray]) -> bool:
    """Are the rows already sorted by these key columns? (An export is.)"""
    if len(keys[0]) < 2:
        return True
    decided = np.zeros(len(keys[0]) - 1, dtype=bool)
    for column in keys:
        before, after = column[:-1], column[1:]
        if (~decided & (before > after)).any():
            return False
        decided |= before < after
    return True


def _sorted(frame: pd.DataFrame, spec: FileSpec) -> pd.DataFrame:
    """Rows in key order (NULL first): deterministic ids, and index-friendly inserts."""
    keys = [frame[c].fillna("").to_numpy(dtype=object) for c in spec.key]
    if _in_order(keys):
        return frame.reset_index(drop=True)
    order = pd.DataFrame(dict(zip(spec.key, keys, strict=True))).sort_values(
        list(spec.key), kind="stable"
    )
    return frame.loc[order.index].reset_index(drop=True)
