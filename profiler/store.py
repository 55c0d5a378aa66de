"""The results database: one SQLite file per output folder (default OUT/runs.sqlite).

Every write commits at once, so a crash or Ctrl-C loses nothing already measured.

    meta      key/value: app name, schema_version
    runs      one row per `profile` run: start, end, status, metadata JSON
    configs   one row per (run, configuration): status pending/complete/failed, the
              attempt number, and when complete the summary row (JSON)
    windows   every measured window, kept even when its configuration never completed;
              a resumed run re-measures an incomplete configuration as a new attempt
    samples   the power timeline inside each window
    notes     free-text notes of a run (resumed sessions, skipped configurations)
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from profiler.errors import DataError

__all__ = ["APP", "SCHEMA_VERSION", "ResultsStore", "read_metadata", "resolve_db"]

logger = logging.getLogger(__name__)

APP = "energy-profiler"
SCHEMA_VERSION = 1
DB_NAME = "runs.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL, finished REAL, status TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (
    run_id INTEGER NOT NULL REFERENCES runs(run_id), config_key TEXT NOT NULL,
    config TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,
    row TEXT, error TEXT, completed REAL, PRIMARY KEY (run_id, config_key));
CREATE TABLE IF NOT EXISTS windows (
    window_id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
    config_key TEXT NOT NULL, attempt INTEGER NOT NULL, repeat INTEGER NOT NULL,
    order_index INTEGER NOT NULL, start_time REAL NOT NULL, duration_s REAL NOT NULL,
    batches INTEGER NOT NULL, items INTEGER NOT NULL, total_energy_j REAL NOT NULL,
    net_total_energy_j REAL NOT NULL, source TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    window_id INTEGER NOT NULL REFERENCES windows(window_id), time_s REAL NOT NULL,
    domain TEXT NOT NULL, power_w REAL NOT NULL, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notes (
    run_id INTEGER NOT NULL, time REAL NOT NULL, config_key TEXT, text TEXT NOT NULL);
"""


def resolve_db(path: str | Path) -> Path:
    """A runs.sqlite path, or the runs.sqlite inside a folder."""
    path = Path(path)
    return path / DB_NAME if path.is_dir() else path


def _dumps(value: Any) -> str:
    """JSON with NaN written as null (SQLite readers of other languages choke on NaN)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), default=str)


def _not_ours(path: Path, why: str) -> DataError:
    return DataError(
        f"{path}: not an {APP} results database ({why}); pass the runs.sqlite that "
        "`energy-profiler profile` wrote, or choose another --out folder"
    )


class ResultsStore:
    """Read and write one results database; `create=False` refuses a missing file."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = resolve_db(path)
        if not create:
            self._db = self._open_read_only()
            return
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if fresh:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path)
            self._check_or_init(fresh)
        except sqlite3.DatabaseError as exc:
            raise _not_ours(self.path, str(exc)) from exc

    def _open_read_only(self) -> sqlite3.Connection:
        """Connect with SQLite's read-only mode: reading never changes the file."""
        if not self.path.is_file():
            raise DataError(
                f"{self.path}: no results database here; run `energy-profiler profile "
                "--out FOLDER` first, or pass a folder holding runs.sqlite"
            )
        if self.path.stat().st_size == 0:
            raise _not_ours(self.path, "the file is empty")
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True)
        except sqlite3.Error as exc:
            raise DataError(
                f"{self.path}: cannot open ({exc}); check the file's permissions"
            ) from exc
        self._db = db
        try:
            self._check_or_init(fresh=False)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise _not_ours(self.path, str(exc)) from exc
        except DataError:
            db.close()
            raise
        return db

    def _check_or_init(self, fresh: bool) -> None:
        db = self._db
        if fresh:
            with db:
                db.executescript(_SCHEMA)
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("app", APP), ("schema_version", str(SCHEMA_VERSION))],
                )
            return
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        if "meta" not in tables:
            raise _not_ours(self.path, "no meta table")
        meta = dict(db.execute("SELECT key, value FROM meta"))
        if meta.get("app") != APP:
            raise _not_ours(self.path, f"app is {meta.get('app')!r}")
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise DataError(
                f"{self.path}: schema version {version} is newer than this "
                f"{APP} ({SCHEMA_VERSION}); upgrade energy-profiler to read it"
            )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs -------------------------------------------------------------------------
    def write_run(self, meta: Mapping[str, Any]) -> int:
        """Start a run with its metadata; returns its id."""
        with self._db:
            cur = self._db.execute(
                "INSERT INTO runs (started, status, metadata) VALUES (?, 'running', ?)",
                (time.time(), _dumps(meta)),
            )
        return int(cur.lastrowid)

    def update_metadata(self, run_id: int, extra: Mapping[str, Any]) -> None:
        """Merge `extra` into a run's metadata (status and id live in their columns)."""
        meta = self.read_metadata(run_id)
        meta.update(extra)
        for derived in ("status", "run_id"):  # added by read_metadata, not stored
            meta.pop(derived, None)
        with self._db:
            self._db.execute(
                "UPDATE runs SET metadata = ? WHERE run_id = ?", (_dumps(meta), run_id)
            )

    def finish_run(self, run_id: int, status: str) -> None:
        """Mark a run complete, interrupted or failed."""
        with self._db:
            self._db.execute(
                "UPDATE runs SET finished = ?, status = ? WHERE run_id = ?",
                (time.time(), status, run_id),
            )

    def latest_run(self) -> int | None:
        """The id of the newest run, or None in an empty database."""
        row = self._db.execute("SELECT MAX(run_id) FROM runs").fetchone()
        return None if row[0] is None else int(row[0])

    def runs(self) -> list[dict[str, Any]]:
        """Every run: id, start, end, status."""
        cur = self._db.execute("SELECT run_id, started, finished, status FROM runs")
        return [dict(zip(("run_id", "started", "finished", "status"), r)) for r in cur]

    def read_metadata(self, run_id: int | None = None) -> dict[str, Any]:
        """A run's metadata (the newest run by default); {} when there is none."""
        run_id = self.latest_run() if run_id is None else run_id
        row = self._db.execute(
            "SELECT metadata, status FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            return {}
        meta = json.loads(row[0])
        meta.setdefault("run_id", run_id)
        meta["status"] = row[1]
        return meta

    def add_note(self, run_id: int, text: str, config_key: str | None = None) -> None:
        """Append a note to a run."""
        with self._db:
            self._db.execute(
                "INSERT INTO notes VALUES (?, ?, ?, ?)",
                (run_id, time.time(), config_key, text),
            )

    def notes(self, run_id: int) -> list[str]:
        """A run's notes in order."""
        cur = self._db.execute(
            "SELECT text FROM notes WHERE run_id = ? ORDER BY rowid", (run_id,)
        )
        return [r[0] for r in cur]

    # configurations ---------------------------------------------------------------
    def begin_config(self, run_id: int, key: str, config: Mapping[str, Any]) -> int:
        """Register a configuration about to be measured; returns its attempt number."""
        row = self._db.execute(
            "SELECT attempt FROM configs WHERE run_id = ? AND config_key = ?",
            (run_id, key),
        ).fetchone()
        attempt = 1 if row is None else int(row[0]) + 1
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO configs (run_id, config_key, config, status, "
                "attempt) VALUES (?, ?, ?, 'pending', ?)",
                (run_id, key, _dumps(config), attempt),
            )
        return attempt

    def resume_config(
        self, run_id: int, key: str, config: Mapping[str, Any]
    ) -> tuple[int, list[dict[str, Any]]]:
        """Pick up a configuration interrupted mid-measurement, or begin it.

        Returns its attempt number and the windows that attempt already stored (as
        the dicts `write_window` saved), so that only the missing repeats are measured.
        """
        row = self._db.execute(
            "SELECT attempt, status FROM configs WHERE run_id = ? AND config_key = ?",
            (run_id, key),
        ).fetchone()
        if row is None or row[1] != "pending":
            return self.begin_config(run_id, key, config), []
        attempt = int(row[0])
        cur = self._db.execute(
            "SELECT data FROM windows WHERE run_id = ? AND config_key = ? AND "
            "attempt = ? ORDER BY repeat",
            (run_id, key, attempt),
        )
        return attempt, [json.loads(r[0]) for r in cur]

    def is_complete(self, run_id: int, key: str) -> bool:
        """True when the configuration is marked complete in the run."""
        row = self._db.execute(
            "SELECT status FROM configs WHERE run_id = ? AND config_key = ?",
            (run_id, key),
        ).fetchone()
        return row is not None and row[0] == "complete"

    def write_window(
        self,
        run_id: int,
        attempt: int,
        window: Any,
        timeline: Iterable[Mapping[str, Any]] = (),
    ) -> int:
        """Store one measured window (a `bench.WindowResult`) and its power samples."""
        with self._db:
            cur = self._db.execute(
                "INSERT INTO windows (run_id, config_key, attempt, repeat, order_index, "
                "start_time, duration_s, batches, items, total_energy_j, "
                "net_total_energy_j, source, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id, window.config_key, attempt, window.repeat,
                    window.order_index, window.start_time, window.duration_s,
                    window.batches, window.items, window.total_energy_j,
                    window.net_total_energy_j, window.source, _dumps(window.to_dict()),
                ),
            )  # fmt: skip
            window_id = int(cur.lastrowid)
            self._db.executemany(
                "INSERT INTO samples VALUES (?, ?, ?, ?, ?)",
                [
                    (window_id, s["time_s"], s["domain"], s["power_w"], s["source"])
                    for s in timeline
                ],
            )
        return window_id

    def complete_config(self, run_id: int, key: str, row: Mapping[str, Any]) -> None:
        """Mark a configuration complete with its summary row."""
        with self._db:
            self._db.execute(
                "UPDATE configs SET status = 'complete', row = ?, completed = ? "
                "WHERE run_id = ? AND config_key = ?",
                (_dumps(row), time.time(), run_id, key),
            )

    def fail_config(
        self, run_id: int, key: str, config: Mapping[str, Any], error: str
    ) -> None:
        """Record a configuration that could not be built or measured."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO configs (run_id, config_key, config, status, "
                "attempt, error) VALUES (?, ?, ?, 'failed', 0, ?)",
                (run_id, key, _dumps(config), error),
            )

    def write_result(
        self,
        run_id: int,
        row: Mapping[str, Any],
        measurements: Iterable[Any],
        timeline: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """All of one configuration at once: its windows, then its summary row.

        `row` must hold `config_key` and `config` (the `Config` fields). Timeline rows
        carry `window` (the repeat) to say which window they belong to.
        """
        key = row["config_key"]
        attempt = self.begin_config(run_id, key, row["config"])
        samples = list(timeline)
        for window in measurements:
            mine = [s for s in samples if s.get("window") == window.repeat]
            self.write_window(run_id, attempt, window, mine)
        self.complete_config(run_id, key, row)

    def done_keys(self, run_id: int | None = None) -> set[str]:
        """Keys of the configurations complete in a run (the newest by default)."""
        run_id = self.latest_run() if run_id is None else run_id
        cur = self._db.execute(
            "SELECT config_key FROM configs WHERE run_id = ? AND status = 'complete'",
            (run_id,),
        )
        return {r[0] for r in cur}

    def config_rows(self, run_id: int | None = None) -> list[dict[str, Any]]:
        """Summary rows of the complete configurations, in measurement order."""
        run_id = self.latest_run() if run_id is None else run_id
        cur = self._db.execute(
            "SELECT row FROM configs WHERE run_id = ? AND status = 'complete' "
            "ORDER BY completed",
            (run_id,),
        )
        return [json.loads(r[0]) for r in cur]

    def failed_configs(self, run_id: int | None = None) -> list[tuple[str, str]]:
        """(key, error) of configurations that could not be measured."""
        run_id = self.latest_run() if run_id is None else run_id
        cur = self._db.execute(
            "SELECT config_key, error FROM configs "
            "WHERE run_id = ? AND status = 'failed'",
            (run_id,),
        )
        return [(r[0], r[1]) for r in cur]

    def windows(
        self, run_id: int | None = None, *, current_only: bool = True
    ) -> list[dict[str, Any]]:
        """Stored windows; by default only those of each configuration's last attempt."""
        run_id = self.latest_run() if run_id is None else run_id
        sql = "SELECT w.window_id, w.attempt, w.data FROM windows w "
        if current_only:
            sql += (
                "JOIN configs c ON c.run_id = w.run_id AND c.config_key = w.config_key "
                "AND c.attempt = w.attempt "
            )
        sql += "WHERE w.run_id = ? ORDER BY w.order_index, w.window_id"
        out = []
        for window_id, attempt, data in self._db.execute(sql, (run_id,)):
            out.append({"window_id": window_id, "attempt": attempt, **json.loads(data)})
        return out

    def samples(self, run_id: int | None = None) -> list[tuple[Any, ...]]:
        """(config_key, repeat, time_s, domain, power_w, source) of current windows."""
        run_id = self.latest_run() if run_id is None else run_id
        cur = self._db.execute(
            "SELECT w.config_key, w.repeat, s.time_s, s.domain, s.power_w, s.source "
            "FROM samples s JOIN windows w ON w.window_id = s.window_id "
            "JOIN configs c ON c.run_id = w.run_id AND c.config_key = w.config_key "
            "AND c.attempt = w.attempt WHERE w.run_id = ? "
            "ORDER BY w.order_index, s.rowid",
            (run_id,),
        )
        return list(cur)

    def max_order_index(self, run_id: int) -> int:
        """The largest order index stored in a run, -1 when none."""
        row = self._db.execute(
            "SELECT MAX(order_index) FROM windows WHERE run_id = ?", (run_id,)
        ).fetchone()
        return -1 if row[0] is None else int(row[0])


def read_metadata(db_path: str | Path, run_id: int | None = None) -> dict[str, Any]:
    """A run's metadata from a database file or folder (the newest run by default)."""
    with ResultsStore(db_path, create=False) as store:
        return store.read_metadata(run_id)
