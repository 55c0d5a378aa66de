"""Sweeps: planning, interleaved rounds, immediate writes, Ctrl-C and --resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes_harness import FakeProfiler, fake_toolkit

from profiler import sweep
from profiler.errors import ConfigError, DeviceUnavailable
from profiler.store import ResultsStore
from profiler.sweep import SweepSpec

FAST = {"repeats": 2, "min_window_s": 0.01, "idle_s": 0.01, "warmup_s": 0.001}


def _spec(**kw) -> SweepSpec:
    base = {"checkpoint": Path("x.pt"), "methods": ("magnitude",), "sparsities": (0.5,),
            "formats": ("dense", "csr"), **FAST}  # fmt: skip
    return SweepSpec(**{**base, **kw})


def _run(spec: SweepSpec, db: Path, prof: FakeProfiler, **kw) -> sweep.SweepResult:
    return sweep.run_sweep(
        spec, db, toolkit=fake_toolkit(), profiler_factory=lambda s: prof, **kw
    )


def test_plan_has_dense_baseline_per_device_and_batch() -> None:
    configs = sweep.plan(_spec(batch_sizes=(1, 8)), "m", ("cpu",))
    assert [(c.method, c.format, c.batch_size) for c in configs] == [
        ("dense", "dense", 1), ("magnitude", "dense", 1), ("magnitude", "csr", 1),
        ("dense", "dense", 8), ("magnitude", "dense", 8), ("magnitude", "csr", 8),
    ]  # fmt: skip


def test_resolve_devices_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert sweep.resolve_devices(["cpu", "all"]) == ("cpu",)
    with pytest.raises(DeviceUnavailable, match="CUDA is not available"):
        sweep.resolve_devices(["cuda"])
    with pytest.raises(ConfigError, match="--device 'tpu'"):
        sweep.resolve_devices(["tpu"])


def test_interleaved_rounds_and_immediate_storage(tmp_path: Path) -> None:
    prof = FakeProfiler()
    result = _run(_spec(), tmp_path / "runs.sqlite", prof)
    assert (result.complete, result.total, result.failed) == (3, 3, ())
    keys = list(dict.fromkeys(prof.names))
    assert prof.names == keys + keys  # A B C, A B C
    with ResultsStore(tmp_path / "runs.sqlite", create=False) as store:
        windows = store.windows()
        assert [w["order_index"] for w in windows] == list(range(6))
        assert all(w["duration_s"] >= 0.01 for w in windows)
        rows = store.config_rows()
        meta = store.read_metadata()
    assert {r["method"] for r in rows} == {"dense", "magnitude"}
    assert all(r["accuracy"] == 0.9 and r["repeats"] == 2 for r in rows)
    assert meta["status"] == "complete"
    assert meta["idle_power_w"] == {"cpu": 2.0}
    assert {"hardware", "software", "sensors", "settings", "carbon"} <= set(meta)


def test_failed_variant_is_recorded_and_others_go_on(tmp_path: Path) -> None:
    spec = _spec(methods=("broken", "magnitude"), formats=("dense",))
    with pytest.warns(UserWarning, match="this method always fails"):
        result = _run(spec, tmp_path / "r.sqlite", FakeProfiler())
    assert result.complete == 2 and len(result.failed) == 1
    with ResultsStore(tmp_path / "r.sqlite", create=False) as store:
        assert "broken" in store.failed_configs()[0][0]


def test_interrupt_keeps_every_stored_window(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    # windows: A0 B0 C0 A1 | B1 interrupted -> A complete, B and C not
    with pytest.raises(sweep.SweepInterrupted) as stop:
        _run(_spec(), db, FakeProfiler(interrupt_at=5))
    assert (stop.value.complete, stop.value.total) == (1, 3)
    with ResultsStore(db, create=False) as store:
        assert len(store.windows()) == 4
        assert len(store.done_keys()) == 1
        assert store.read_metadata()["status"] == "interrupted"


def test_resume_measures_only_the_missing_windows(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    # first session: A0 B0 C0 A1 stored, interrupted in B1
    with pytest.raises(sweep.SweepInterrupted):
        _run(_spec(), db, FakeProfiler(interrupt_at=5))
    with ResultsStore(db, create=False) as store:
        done = store.done_keys()
        before = {w["window_id"]: w for w in store.windows()}
    prof = FakeProfiler()
    result = _run(_spec(), db, prof, resume=True)
    assert (result.complete, result.skipped, result.kept_windows) == (3, 1, 2)
    assert not done & set(prof.names)  # the complete one is not measured again
    assert len(prof.names) == 2  # B1 and C1 only: B0 and C0 are kept
    with ResultsStore(db, create=False) as store:
        assert len(store.runs()) == 1
        assert len(store.windows(current_only=False)) == 4 + 2
        after = {w["window_id"]: w for w in store.windows()}
        assert len(after) == 6 and all(after[i] == w for i, w in before.items())
        rows = store.config_rows()
        assert len(rows) == 3 and all(r["repeats"] == 2 for r in rows)
        assert len(store.read_metadata()["sessions"]) == 2
        assert any("2 stored windows kept" in n for n in store.notes(result.run_id))


def test_without_resume_a_new_run_starts(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    _run(_spec(), db, FakeProfiler())
    prof = FakeProfiler()
    _run(_spec(), db, prof)
    assert len(prof.names) == 6
    with ResultsStore(db, create=False) as store:
        assert [r["run_id"] for r in store.runs()] == [1, 2]


def test_bad_options_fail_before_measuring(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--repeats"):
        _run(_spec(repeats=0), tmp_path / "r.sqlite", FakeProfiler())
    with pytest.raises(ConfigError, match="--country"):
        _run(_spec(country="ZZZ"), tmp_path / "r.sqlite", FakeProfiler())
    assert not (tmp_path / "r.sqlite").exists()


def test_events_count_windows(tmp_path: Path) -> None:
    events = []
    _run(_spec(), tmp_path / "r.sqlite", FakeProfiler(), on_event=events.append)
    windows = [e for e in events if e.kind == "window"]
    assert len(windows) == 6 and windows[-1].total == 6
    assert [e.done for e in windows] == list(range(6))


def test_unusable_sensor_leaves_no_database(tmp_path: Path) -> None:
    from profiler.errors import SensorUnavailable

    def no_sensor(spec: SweepSpec) -> FakeProfiler:
        raise SensorUnavailable("no RAPL zones under /nowhere; fix: pass --rapl-root")

    db = tmp_path / "runs.sqlite"
    with pytest.raises(SensorUnavailable):
        sweep.run_sweep(_spec(), db, toolkit=fake_toolkit(), profiler_factory=no_sensor)
    assert not db.exists()


@pytest.mark.parametrize(
    ("changed", "words"),
    [({"repeats": 3}, "repeats 2, not 3"), ({"seed": 7}, "seed 0, not 7"),
     ({"checkpoint": Path("other.pt")}, "checkpoint"),
     ({"data": "d.csv"}, "data digits")],
)  # fmt: skip
def test_resume_refuses_a_run_made_with_other_settings(
    tmp_path: Path, changed: dict, words: str
) -> None:
    db = tmp_path / "runs.sqlite"
    with pytest.raises(sweep.SweepInterrupted):
        _run(_spec(), db, FakeProfiler(interrupt_at=5))
    with ResultsStore(db, create=False) as store:
        before = len(store.windows(current_only=False))
    prof = FakeProfiler()
    with pytest.raises(ConfigError, match=f"--resume: .*{words}.*another --out"):
        _run(_spec(**changed), db, prof, resume=True)
    assert prof.names == []  # nothing measured
    with ResultsStore(db, create=False) as store:
        assert len(store.windows(current_only=False)) == before
        assert len(store.read_metadata()["sessions"]) == 1
    result = _run(_spec(), db, FakeProfiler(), resume=True)  # the same options resume
    assert result.complete == 3
