"""The results database: round trips, resume bookkeeping, refusing foreign files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_bench import _window

from profiler import store as store_mod
from profiler.errors import DataError
from profiler.store import ResultsStore


def test_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    with ResultsStore(db) as store:
        run_id = store.write_run({"hardware": {"cpu_model": "x"}, "n": 1})
        windows = [_window(0, 1.0, 0.5), _window(1, 2.0, 0.5)]
        timeline = [{"window": 0, "time_s": 1.0, "domain": "package-0", "power_w": 3.0,
                     "source": "rapl"}]  # fmt: skip
        row = {"config_key": "k", "config": {"model": "m"}, "energy_per_inference_j": 1.5}
        store.write_result(run_id, row, windows, timeline)
    with ResultsStore(db, create=False) as store:
        assert store.done_keys() == {"k"}
        assert store.config_rows() == [row]
        stored = store.windows()
        assert [w["repeat"] for w in stored] == [0, 1]
        assert stored[1]["energy_j"] == {"package-0": 1.6, "dram-0": pytest.approx(0.4)}
        assert store.samples() == [("k", 0, 1.0, "package-0", 3.0, "rapl")]
    meta = store_mod.read_metadata(tmp_path)  # a folder works too
    assert meta["hardware"] == {"cpu_model": "x"} and meta["run_id"] == run_id


def test_incomplete_config_is_not_done_and_new_attempt_supersedes(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "r.sqlite") as store:
        run_id = store.write_run({})
        assert store.begin_config(run_id, "k", {}) == 1
        store.write_window(run_id, 1, _window(0, 1.0, 0.5))
        assert store.done_keys(run_id) == set()
        assert store.begin_config(run_id, "k", {}) == 2
        store.write_window(run_id, 2, _window(0, 5.0, 0.5))
        assert len(store.windows(run_id, current_only=False)) == 2  # nothing lost
        assert [w["attempt"] for w in store.windows(run_id)] == [2]


def test_commits_each_write(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    store = ResultsStore(db)
    run_id = store.write_run({})
    store.begin_config(run_id, "k", {})
    store.write_window(run_id, 1, _window(0, 1.0, 0.5))
    # a second connection sees it without the first closing (as after a crash)
    other = sqlite3.connect(db)
    assert other.execute("SELECT COUNT(*) FROM windows").fetchone() == (1,)
    other.close()
    store.close()


def test_refuses_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("hello, I am not a database\n" * 100)
    with pytest.raises(DataError) as err:
        ResultsStore(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message and "--out" in message


def test_refuses_another_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(DataError, match="not an energy-profiler results database"):
        ResultsStore(path)


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(DataError, match="schema version 99"):
        ResultsStore(path)


def test_missing_database_when_reading(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no results database"):
        ResultsStore(tmp_path / "nope.sqlite", create=False)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 4096, b"not sqlite at all " * 50],
    ids=["empty", "zeros", "text"],
)
def test_reading_refuses_a_non_database_and_never_writes_it(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "empty.pt"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not an energy-profiler results database"):
        ResultsStore(path, create=False)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.pt"]


def test_reading_refuses_a_sqlite_file_without_our_schema_unchanged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other.sqlite"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(DataError, match="no meta table"):
        ResultsStore(path, create=False)
    assert path.read_bytes() == before


def test_reading_opens_read_only(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    ResultsStore(db).close()
    before = db.read_bytes()
    with ResultsStore(db, create=False) as store:
        assert store.latest_run() is None
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.write_run({})
    assert db.read_bytes() == before


def test_metadata_json_never_keeps_a_stale_status(tmp_path) -> None:
    import json
    import sqlite3

    from profiler.store import ResultsStore

    db = tmp_path / "runs.sqlite"
    with ResultsStore(db) as store:
        run_id = store.write_run({"settings": {}})
        store.finish_run(run_id, "interrupted")
        store.update_metadata(run_id, {"sessions": [1, 2]})
        store.finish_run(run_id, "complete")
        assert store.read_metadata(run_id)["status"] == "complete"
    raw = sqlite3.connect(db).execute("SELECT metadata FROM runs").fetchone()[0]
    assert "status" not in json.loads(raw) and json.loads(raw)["sessions"] == [1, 2]
