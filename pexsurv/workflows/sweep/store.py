"""The sweep store: one JSON file per finished scenario, written atomically, and an index
rebuilt from those files.

Why not one shared index (or one zarr array) that every finished scenario updates? Because
an update in place is a read-modify-write of a shared mutable file: a ``kill -9`` in the
middle of it leaves a torn file, and two writers race. Here a scenario's record is written
to a temporary file beside its final name, flushed to disk and renamed over it
(``os.replace``, atomic on POSIX): at any instant a record file is either absent or
complete. Nothing else is ever modified in place. The index (``index.json``) is a *cache*
rebuilt from the record files (also written atomically); a missing or stale index is
simply rebuilt, so it can never disagree with the records for long, and never corrupts
them. Leftover ``*.tmp`` files of a killed writer are ignored and removed on the next open.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pexsurv._files import replace_atomically

__all__ = ["Store", "StoreError", "write_json_atomically"]

_RECORDS = "scenarios"
_INDEX = "index.json"
_PLAN = "plan.json"


class StoreError(ValueError):
    """A sweep store that cannot be used as asked (the message names the file and the fix)."""


def write_json_atomically(obj: Any, path: Path) -> Path:
    """Write ``obj`` as JSON to ``path`` through a flushed temporary file and a rename: a
    crash at any moment leaves the old file or the new one, never a torn one.

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> p = write_json_atomically({"a": 1.5}, folder / "x.json")
    >>> json.loads(p.read_text())
    {'a': 1.5}
    """
    # allow_nan: a failed fit's numbers are NaN; Python's json reads them back.
    text = json.dumps(obj, sort_keys=True, allow_nan=True)
    return replace_atomically(path, lambda tmp: tmp.write_text(text))


class Store:
    """A folder of finished scenarios: ``scenarios/<key>.json`` (one record each),
    ``plan.json`` (the planned scenarios, written before any fit) and ``index.json``
    (rebuilt from the records).

    Parameters
    ----------
    path : str or Path
        The folder (created when missing).

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> store.put({"key": "abc", "hr_median": 0.7})
    >>> store.finished()
    {'abc'}
    >>> store.rebuild_index()[0]["hr_median"]
    0.7
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"store {self.path}: exists and is not a folder; give a folder")
        (self.path / _RECORDS).mkdir(parents=True, exist_ok=True)
        for stale in (self.path / _RECORDS).glob(".*.tmp"):  # a killed writer's leftovers
            stale.unlink(missing_ok=True)

    def _file(self, key: str) -> Path:
        return self.path / _RECORDS / f"{key}.json"

    def put(self, record: Mapping[str, Any]) -> None:
        """Write one finished scenario (its ``key`` names the file), atomically."""
        write_json_atomically(dict(record), self._file(str(record["key"])))

    def finished(self) -> set[str]:
        """Keys of the scenarios with a complete record."""
        return {p.stem for p in (self.path / _RECORDS).glob("*.json")}

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, in key order."""
        for p in sorted((self.path / _RECORDS).glob("*.json")):
            try:
                yield json.loads(p.read_text())
            except json.JSONDecodeError as exc:  # only a file edited by hand can get here
                raise StoreError(f"{p}: not a complete record ({exc}); delete it and resume "
                                 "to refit that scenario") from exc

    def rebuild_index(self) -> list[dict[str, Any]]:
        """Rebuild ``index.json`` from the record files and return the records."""
        records = list(self.records())
        write_json_atomically(records, self.path / _INDEX)
        return records

    def write_plan(self, plan: Mapping[str, Any]) -> None:
        """Record the planned scenarios (keys and settings), before any fit."""
        write_json_atomically(dict(plan), self.path / _PLAN)

    def read_plan(self) -> dict[str, Any] | None:
        """The plan written by :meth:`write_plan`, or None."""
        p = self.path / _PLAN
        return json.loads(p.read_text()) if p.is_file() else None
