"""Sweeps through Ray: a local instance on loopback only, against a one-machine run."""

from __future__ import annotations

import dataclasses
import importlib.util
import ipaddress
import os
import sys
from pathlib import Path

import psutil
import pytest

from profiler import distributed, sweep, tables
from profiler.errors import ConfigError, ProfilerError
from profiler.models.load import save_checkpoint
from profiler.models.zoo import build
from profiler.store import ResultsStore
from profiler.sweep import SweepSpec

if importlib.util.find_spec("ray") is None:  # CI installs the [ray] extra
    pytest.skip("ray is not installed", allow_module_level=True)

FAST = {"repeats": 2, "min_window_s": 0.05, "idle_s": 0.05, "warmup_s": 0.01}
SAME = ("model", "method", "target_sparsity", "format", "device", "batch_size", "dtype")
EQUAL = ("accuracy", "measured_sparsity", "params", "nonzero_params", "format_bytes")
POSITIVE = ("energy_per_inference_j", "latency_ms", "throughput_ips", "avg_power_w")


def _listening(pids: set[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening socket of `pids`."""
    return [
        (c.pid, c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _ray_pids(session_dir: str) -> set[int]:
    """This process, its descendants, and any process naming the Ray session."""
    me = psutil.Process()
    pids = {me.pid, *(p.pid for p in me.children(recursive=True))}
    for proc in psutil.process_iter(["cmdline"]):
        if any(session_dir in part for part in proc.info["cmdline"] or ()):
            pids.add(proc.pid)
    return pids


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for the module, started as `--ray local` starts it."""
    names = [*distributed.LOCAL_ENV, *distributed.LOCAL_AUTH_ENV]
    saved = {k: os.environ.get(k) for k in names}
    assert distributed.connect(distributed.LOCAL, num_cpus=2)
    import ray

    yield ray
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    arch = {"class": "MLP", "kwargs": {"in_features": 64, "hidden": [16],
                                       "out_features": 10}}  # fmt: skip
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return save_checkpoint(build(arch), arch, path, input_shape=(64,))


def _spec(checkpoint: Path, **kw) -> SweepSpec:
    base = {"checkpoint": checkpoint, "methods": ("magnitude",), "sparsities": (0.5,),
            "formats": ("dense",), "sensors": "estimate", **FAST}  # fmt: skip
    return SweepSpec(**{**base, **kw})


@pytest.fixture(scope="module")
def both(ray_local, tiny: Path, tmp_path_factory: pytest.TempPathFactory):
    """The same sweep on this machine and through Ray: (local frame, ray frame, db)."""
    folder = tmp_path_factory.mktemp("runs")
    spec = _spec(tiny, formats=("dense", "csr"))
    sweep.run_sweep(spec, folder / "local.sqlite")
    result = distributed.run_distributed(spec, folder / "ray.sqlite")
    assert (result.complete, result.total, result.failed) == (3, 3, ())
    local = tables.results_frame(folder / "local.sqlite")
    remote = tables.results_frame(folder / "ray.sqlite")
    return local, remote, folder / "ray.sqlite"


def test_nothing_listens_beyond_loopback(ray_local, both) -> None:
    session = ray_local._private.worker._global_node.get_session_dir_path()
    sockets = _listening(_ray_pids(session))
    assert sockets, "found no Ray server socket at all: the check would be vacuous"
    outside = [s for s in sockets if not _is_loopback(s[1])]
    assert not outside, f"Ray listens beyond loopback: {outside}"


def test_ray_table_matches_the_one_machine_table(both) -> None:
    local, remote, _ = both
    assert list(remote.columns) == list(local.columns)
    key = list(SAME)
    local, remote = local.sort_values(key), remote.sort_values(key)
    assert local[key].values.tolist() == remote[key].values.tolist()
    for column in EQUAL:
        assert local[column].tolist() == pytest.approx(remote[column].tolist())
    for column in POSITIVE:
        assert (remote[column] > 0).all() and (local[column] > 0).all(), column


def test_every_row_names_its_node(both) -> None:
    _, remote, db = both
    assert remote["node"].map(bool).all()
    assert remote["node_cpu_model"].map(bool).all()
    assert set(remote["node_sensors"]) == {"cpu:estimate"}
    meta = ResultsStore(db, create=False).read_metadata()
    assert meta["distributed"]["interleaved"] is False
    (node,) = meta["nodes"].values()
    assert node["hostname"] == remote["node"].iloc[0]
    assert node["source"] == "estimate"
    assert node["idle_power_w"]  # measured on the node before its first config
    with ResultsStore(db, create=False) as store:
        assert len(store.windows()) == 3 * FAST["repeats"]


def test_a_failing_configuration_is_reported_and_the_sweep_goes_on(
    ray_local, tiny: Path, tmp_path: Path
) -> None:
    spec = _spec(tiny, methods=("no-such-method", "magnitude"))
    with pytest.warns(UserWarning, match="no-such-method"):
        result = distributed.run_distributed(spec, tmp_path / "r.sqlite")
    assert result.complete == 2
    ((key, error),) = result.failed
    assert "no-such-method" in key and "unknown sparsity method" in error
    with ResultsStore(tmp_path / "r.sqlite", create=False) as store:
        assert [k for k, _ in store.failed_configs()] == [key]
        assert len(store.done_keys()) == 2


def test_a_killed_driver_resumes_without_repeating_finished_work(
    ray_local, tiny: Path, tmp_path: Path
) -> None:
    db = tmp_path / "runs.sqlite"
    spec = _spec(tiny, formats=("dense", "csr"))
    stored: list[str] = []

    def kill_after_first(event: sweep.SweepEvent) -> None:
        if event.kind == "complete":
            stored.append(event.config_key)
            raise KeyboardInterrupt

    with pytest.raises(sweep.SweepInterrupted) as stop:
        distributed.run_distributed(spec, db, on_event=kill_after_first)
    assert stop.value.complete == 1
    with ResultsStore(db, create=False) as store:
        assert store.done_keys() == set(stored)
        before = store.windows()
    submitted: list[str] = []

    def record(event: sweep.SweepEvent) -> None:
        if event.kind == "build":
            submitted.append(event.config_key)

    result = distributed.run_distributed(spec, db, resume=True, on_event=record)
    assert (result.complete, result.skipped, result.failed) == (3, 1, ())
    assert stored[0] not in submitted and len(submitted) == 2
    with ResultsStore(db, create=False) as store:
        after = [w for w in store.windows() if w["config_key"] == stored[0]]
        assert after == [w for w in before if w["config_key"] == stored[0]]
        assert len(store.windows()) == 3 * FAST["repeats"]
    other = dataclasses.replace(spec, repeats=FAST["repeats"] + 1)
    with pytest.raises(ConfigError, match="--resume: .*other settings.*repeats"):
        distributed.run_distributed(other, db, resume=True)


def test_task_options_ask_for_a_whole_node_unless_shared() -> None:
    nodes = [{"Alive": True, "Resources": {"CPU": 16.0, "cpu_server": 1.0}},
             {"Alive": True, "Resources": {"CPU": 8.0, "GPU": 2.0}}]  # fmt: skip
    cpu = sweep.Config("m", "dense", 0.0, "dense", "cpu", 64)
    gpu = sweep.Config("m", "dense", 0.0, "dense", "cuda:0", 64)
    exclusive = distributed.Placement()
    assert distributed.task_options(cpu, exclusive, nodes)["num_cpus"] == 8.0
    options = distributed.task_options(gpu, exclusive, nodes)
    assert (options["num_cpus"], options["num_gpus"]) == (8.0, 1)
    placed = distributed.parse_resources('{"cpu": {"cpu_server": 1}}')
    options = distributed.task_options(cpu, placed, nodes)
    assert (options["num_cpus"], options["resources"]) == (16.0, {"cpu_server": 1})
    shared = distributed.parse_resources(None, share_cpus=True)
    assert distributed.task_options(cpu, shared, nodes)["num_cpus"] == 1
    with pytest.raises(ConfigError, match="no node of the Ray cluster offers"):
        distributed.task_options(gpu, placed, [nodes[0]])


@pytest.mark.parametrize("text", ["{", "[1]", '{"a": -1}', '{"cpu": 3}'])
def test_bad_resources_are_one_line_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="--ray-resources"):
        distributed.parse_resources(text)


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'energy-profiler\[ray\]'"):
        distributed.import_ray()


def _invoke(*args: str):
    from click.testing import CliRunner

    from profiler import cli

    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


CLI_FAST = ["--repeats", "2", "--min-window", "0.05", "--idle", "0.05",
            "--sensors", "estimate", "--method", "magnitude", "--sparsity", "0.5",
            "--format", "dense"]  # fmt: skip


def test_cli_profile_through_ray(ray_local, tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _invoke("profile", str(tiny), "--ray", "local", "--out", str(out), *CLI_FAST)
    assert result.exit_code == 0, result.output + result.stderr
    frame = tables.results_frame(out / "runs.sqlite")
    assert len(frame) == 2 and frame["node"].map(bool).all()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Results by hardware" in page and frame["node_hardware"].iloc[0] in page


def test_cli_without_ray_names_the_extra(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    result = _invoke("profile", str(tiny), "--ray", "local", "--out", str(tmp_path))
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "pip install 'energy-profiler[ray]'" in line


def test_cli_ray_options_need_ray(tiny: Path, tmp_path: Path) -> None:
    result = _invoke("profile", str(tiny), "--ray-share-cpus", "--out", str(tmp_path))
    assert result.exit_code == 2 and "need --ray" in result.stderr


def _closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_unreachable_address_fails_at_once(scheme: str) -> None:
    import time

    address = f"{scheme}127.0.0.1:{_closed_loopback_port()}"
    started = time.monotonic()
    with pytest.raises(ProfilerError) as caught:
        distributed.connect(address)
    assert time.monotonic() - started < 6
    message = str(caught.value)
    assert f"cannot reach a Ray cluster at {address.removeprefix('ray://')} (" in message
    assert "`ray status` on the head node" in message and "\n" not in message


def test_auto_and_local_are_not_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("probed")

    monkeypatch.setattr(socket, "create_connection", refuse)
    for address in ("auto", "local"):
        distributed.check_reachable(address)


def test_cli_unreachable_address_is_one_line(tiny: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from profiler import cli

    address = f"127.0.0.1:{_closed_loopback_port()}"
    args = ["profile", str(tiny), "--ray", address, "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(cli.main, args, catch_exceptions=False)
    assert result.exit_code == 1
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [
        f"error: --ray {address}: cannot reach a Ray cluster at {address} (Connection "
        "refused); check the address, e.g. `ray status` on the head node"
    ], result.stderr
