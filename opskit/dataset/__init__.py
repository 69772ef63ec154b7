"""The dataset folder: twelve CSV files in (``load_dataset``), the same twelve out
(``export_dataset``), and the bundled demo (``load_demo``).

Validated data is held as one DataFrame per table ("frames"): text as strings
(missing for NULL), booleans as ``bool``, times as naive UTC ``datetime64[us]``
(NaT for NULL), amounts as ``float``. The synthetic generator produces the same
frames, and ``write_frames`` is the one writer for both.

- ``files``: the files, their columns and keys (``SPECS``);
- ``csvfile``: one file read as text, with the physical line of each row;
- ``validate``: the checks of one file's values and references, with the file, line
  and column of the first bad value;
- ``read``: a folder read and validated (``read_dataset``);
- ``load``: validated frames written in one transaction (``write_frames``,
  ``load_dataset``);
- ``export``: the database written as a folder (``export_dataset``);
- ``demo``: the bundled demo (``DEMO_DIR``, ``load_demo``);
- ``timetext``: times as text, for the database and for the files.
"""

from .demo import DEMO_DIR, load_demo
from .export import export_dataset
from .files import SPEC, SPECS, Col, FileSpec
from .load import load_dataset, write_frames
from .read import read_dataset

__all__ = [
    "DEMO_DIR",
    "SPEC",
    "SPECS",
    "Col",
    "FileSpec",
    "export_dataset",
    "load_dataset",
    "load_demo",
    "read_dataset",
    "write_frames",
]
