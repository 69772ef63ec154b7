"""Reading a dataset folder: every file read and validated, in the order of ``SPECS``
(parents before the files that refer to them); nothing is written anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInput
from .csvfile import read_csv_file
from .files import MANIFEST, SPECS, FileSpec
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
    manifest = read_manifest(folder)
    ctx = Context()
    for spec in SPECS:
        path = folder / spec.file
        if spec.file in manifest:
            check_against_manifest(path, spec.file, manifest[spec.file])
        if path.is_file():
            raw, lines = read_csv_file(path, spec)
            if spec.file in manifest and len(raw) != manifest[spec.file]["rows"]:
                raise BadInput(
                    f"has {len(raw)} rows where manifest.json says "
                    f"{manifest[spec.file]['rows']}; the folder is incomplete",
                    file=spec.file,
                )
        elif spec.required:
            raise BadInput(f"the dataset folder {str(folder)!r} has no {spec.file}", file=spec.file)
        else:
            raw, lines = _empty_raw(spec)
        frame = validate_file(spec, raw, lines, ctx)
        ctx.add(spec.table, _sorted(frame, spec))
    return ctx.frames


def read_manifest(folder: Path) -> dict[str, dict]:
    """The files ``manifest.json`` lists (none when there is no manifest: a hand-made
    folder), each with ``rows`` and ``sha256``."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        files = document["files"]
        return {
            str(name): {"rows": int(entry["rows"]), "sha256": str(entry["sha256"])}
            for name, entry in files.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise BadInput(
            "is not a dataset manifest (needs files with rows and sha256)", file=MANIFEST
        ) from None


def check_against_manifest(path: Path, name: str, entry: dict) -> None:
    """A file the manifest lists is there, whole and unaltered (bad input otherwise)."""
    from .export import file_digest

    if not path.is_file():
        raise BadInput("is missing; manifest.json lists it", file=name)
    if file_digest(path) != entry["sha256"]:
        raise BadInput(
            "is cut short or altered: its sha256 differs from manifest.json's", file=name
        )


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
