"""The sweep store (pexsurv/workflows/sweep/store.py): which records exist decides what a
resumed sweep skips, and the record files are what it reports; a record under a wrong name,
a lost one or a torn file would silently report the wrong number (issue 18; record in
benchmarks/mutation.md, section ``pexsurv/workflows/sweep/store.py``).

The module is loaded from its file (tests/isolated.py): it needs only the standard library
and ``pexsurv._files``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from isolated import load

store = load("pexsurv/workflows/sweep/store.py")
Store, StoreError, write_json_atomically = store.Store, store.StoreError, store.write_json_atomically


def test_json_is_written_with_sorted_keys_and_nan_allowed(tmp_path):
    path = write_json_atomically({"b": 1, "a": {"d": float("nan"), "c": 2.5}}, tmp_path / "x.json")
    assert path == tmp_path / "x.json"
    assert path.read_text() == '{"a": {"c": 2.5, "d": NaN}, "b": 1}'
    assert math.isnan(json.loads(path.read_text())["a"]["d"])
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary file left


def test_layout_of_the_folder(tmp_path):
    folder = tmp_path / "deep" / "sweep"  # created with its parents
    s = Store(folder)
    assert s.path == folder and isinstance(s.path, Path)
    assert (folder / "scenarios").is_dir()
    s.put({"key": "k1", "hr_median": 0.7})
    s.write_plan({"dims": [["a", [1]]]})
    s.rebuild_index()
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [
        "index.json", "plan.json", "scenarios", "scenarios/k1.json"]
    assert json.loads((folder / "scenarios" / "k1.json").read_text()) == {"hr_median": 0.7,
                                                                            "key": "k1"}
    Store(str(folder))  # re-opening an existing store (a str path) is fine
    assert Store(folder).finished() == {"k1"}


def test_a_file_is_not_a_store(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(StoreError) as info:
        Store(path)
    assert str(info.value) == f"store {path}: exists and is not a folder; give a folder"
    assert isinstance(info.value, ValueError)


def test_opening_removes_a_killed_writers_temporary_files_only(tmp_path):
    s = Store(tmp_path)
    s.put({"key": "a"})
    records = tmp_path / "scenarios"
    (records / ".b.json.x1y2.tmp").write_text('{"key": "b", "tor')
    (records / ".c.json.tmp").write_text("{")
    (records / "notes.tmp").write_text("kept: not a writer's temporary file")
    (tmp_path / ".index.json.z.tmp").write_text("[")  # outside scenarios/: not touched
    Store(tmp_path)
    assert sorted(p.name for p in records.iterdir()) == ["a.json", "notes.tmp"]
    assert (tmp_path / ".index.json.z.tmp").exists()
    assert Store(tmp_path).finished() == {"a"}


def test_put_names_the_file_by_key_and_finished_lists_complete_records(tmp_path):
    s = Store(tmp_path)
    assert s.finished() == set()
    record = {"key": 17, "hr_median": 0.5, "p_hr_lt": {"1.0": 0.9}}
    s.put(record)
    s.put({"key": "b2", "error": "boom"})
    assert s.finished() == {"17", "b2"}
    assert json.loads((tmp_path / "scenarios" / "17.json").read_text()) == record
    s.put({"key": 17, "hr_median": 0.6})  # overwritten (resume=False refits)
    assert [r["hr_median"] for r in s.records() if r["key"] == 17] == [0.6]
    (tmp_path / "scenarios" / ".x.json.123.tmp").write_text("{")  # in flight: not finished
    assert s.finished() == {"17", "b2"}


def test_put_copies_a_mapping(tmp_path):
    from types import MappingProxyType

    s = Store(tmp_path)
    s.put(MappingProxyType({"key": "m", "v": 1}))
    assert list(s.records()) == [{"key": "m", "v": 1}]


def test_records_in_key_order_and_index_rebuilt_from_them(tmp_path):
    s = Store(tmp_path)
    for key in ("c", "a", "b"):
        s.put({"key": key, "v": ord(key)})
    got = list(s.records())
    assert [r["key"] for r in got] == ["a", "b", "c"]
    index = s.rebuild_index()
    assert index == got
    assert json.loads((tmp_path / "index.json").read_text()) == got
    (tmp_path / "scenarios" / "b.json").unlink()
    assert [r["key"] for r in s.rebuild_index()] == ["a", "c"]
    assert [r["key"] for r in json.loads((tmp_path / "index.json").read_text())] == ["a", "c"]


def test_a_torn_record_is_named_with_the_fix(tmp_path):
    s = Store(tmp_path)
    s.put({"key": "a"})
    bad = tmp_path / "scenarios" / "b.json"
    bad.write_text('{"key": "b", "hr')
    with pytest.raises(StoreError) as info:
        list(s.records())
    text = str(info.value)
    assert text.startswith(f"{bad}: not a complete record (")
    assert text.endswith("); delete it and resume to refit that scenario")
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


def test_plan_round_trip(tmp_path):
    s = Store(tmp_path)
    assert s.read_plan() is None
    (tmp_path / "plan.json").mkdir()  # not a file: still no plan
    assert s.read_plan() is None
    (tmp_path / "plan.json").rmdir()
    plan = {"dims": [["sd", [1.0, 0.5]]], "thresholds": [1.0], "scenarios": []}
    s.write_plan(plan)
    assert s.read_plan() == plan
    assert (tmp_path / "plan.json").read_text() == json.dumps(plan, sort_keys=True)


def test_a_temporary_file_removed_by_another_opener_meanwhile_is_fine(tmp_path, monkeypatch):
    """Two processes may open one store at once (``load_sweep`` while the sweep runs): the
    other may remove a stale temporary file between this one's listing and its unlink."""
    records = tmp_path / "scenarios"
    records.mkdir()
    real_glob = Path.glob

    def glob_with_a_vanished_file(self, pattern):
        found = list(real_glob(self, pattern))
        return found + [self / ".gone.json.1.tmp"] if pattern == ".*.tmp" else found

    monkeypatch.setattr(Path, "glob", glob_with_a_vanished_file)
    Store(tmp_path)
