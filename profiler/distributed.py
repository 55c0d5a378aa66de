"""Sweeps across a Ray cluster: one task per configuration, one results database.

Each configuration becomes a Ray task. The task runs on a node the sweep's resources
allow, measures the node's idle power if this session has not yet done so there, builds
the variant and measures it with the single-machine sweep's own code, and returns its
rows: the summary, the windows, their power samples and what the node is (host, CPU,
GPU, sensors). The driver writes each result to the results database as it arrives, so
a killed driver loses nothing already returned, and `--resume` skips what is stored.

A configuration is measured on one node with that node's sensors, its repeats back to
back: there is no interleaving across configurations, because they run in separate
tasks, often on separate machines. (One task per repeat would rebuild and re-warm the
variant each time and could spread one configuration's windows over several nodes.)

Two measurements sharing a CPU package corrupt each other (RAPL and the estimate see the
whole package; NVML sees every GPU of the node). So by default a task asks Ray for all
the CPUs of a node and holds a node-wide lock while it measures; `share_cpus` opts out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import importlib.util
import json
import logging
import os
import socket
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler import bench, carbon, hardware, sweep, tables
from profiler.bench import Config
from profiler.errors import ConfigError, ProfilerError
from profiler.store import ResultsStore
from profiler.sweep import SweepEvent, SweepResult, SweepSpec

__all__ = [
    "INSTALL_HINT",
    "INTERLEAVING_NOTE",
    "LOCAL",
    "Placement",
    "check_reachable",
    "connect",
    "import_ray",
    "parse_resources",
    "run_distributed",
    "task_options",
]

logger = logging.getLogger(__name__)

LOCAL = "local"  # --ray local: start a Ray instance on this machine, loopback only
INSTALL_HINT = "pip install 'energy-profiler[ray]'"
INTERLEAVING_NOTE = (
    "ray: each configuration ran as one task with its repeats back to back; "
    "configurations were not interleaved"
)
#: Environment for a local instance: node address 127.0.0.1 (every server then listens
#: on loopback only) and no usage statistics sent anywhere.
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
#: Token authentication as Ray enables it by default, said explicitly so that Ray does
#: not print its "Token authentication is enabled" banner. Set only when ray is not yet
#: imported: Ray reads it at import, and a late value would reach only the servers.
LOCAL_AUTH_ENV = {"RAY_AUTH_MODE": "token"}
CONNECT_TIMEOUT_S = 5.0
DEVICE_KINDS = ("cpu", "cuda")
_NODE_LOCK = "energy-profiler-node.lock"  # held while a task measures (exclusive)
_IDLE_LOCK = "energy-profiler-idle.lock"  # held while the idle cache is read or made


@dataclass(frozen=True)
class Placement:
    """Where configurations may run: extra Ray resources, and CPU exclusivity."""

    resources: Mapping[str, float] = field(default_factory=dict)  # every task
    device_resources: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    share_cpus: bool = False

    def for_device(self, device: str) -> dict[str, float]:
        """The custom resources a configuration on `device` asks for."""
        kind = "cuda" if device.startswith("cuda") else "cpu"
        return {**self.resources, **self.device_resources.get(kind, {})}

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for the run's metadata."""
        return {
            "resources": dict(self.resources),
            "device_resources": {k: dict(v) for k, v in self.device_resources.items()},
            "share_cpus": self.share_cpus,
        }


def parse_resources(text: str | None, *, share_cpus: bool = False) -> Placement:
    """A Placement from --ray-resources JSON: {"name": amount} for every task, or
    {"cpu": {...}, "cuda": {...}} per device kind."""
    if not text:
        return Placement(share_cpus=share_cpus)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--ray-resources {text!r} is not JSON ({exc.msg}); write e.g. "
            '\'{"cpu_server": 1}\' or \'{"cuda": {"gpu_node": 1}}\''
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(f"--ray-resources {text!r}: expected a JSON object")
    common = {k: v for k, v in value.items() if k not in DEVICE_KINDS}
    per_device = {k: v for k, v in value.items() if k in DEVICE_KINDS}
    for amounts in (common, *per_device.values()):
        _check_amounts(amounts, text)
    return Placement(common, per_device, share_cpus)


def _check_amounts(amounts: Any, text: str) -> None:
    """Resource amounts must be positive numbers."""
    bad = not isinstance(amounts, dict) or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0
        for v in amounts.values()
    )
    if bad:
        raise ConfigError(
            f"--ray-resources {text!r}: amounts must be positive numbers, as in "
            "'{\"cpu_server\": 1}'"
        )


def require_ray() -> None:
    """A ConfigError naming the extra when Ray is not installed; imports nothing.

    Importing ray here would be too early: `connect` must set LOCAL_ENV first.
    """
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(f"--ray needs Ray, which is not installed here; {INSTALL_HINT}")


def import_ray() -> Any:
    """The ray module, or a ConfigError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"--ray needs Ray, which is not installed here; {INSTALL_HINT}"
        ) from None
    return ray


def connect(address: str, *, num_cpus: int | None = None) -> bool:
    """Connect to the cluster at `address`, or start a loopback-only local instance
    for "local"; returns True when this call started the connection."""
    if address != LOCAL:
        check_reachable(address)  # Ray itself retries for minutes
    if address == LOCAL:  # read when ray is first imported
        extra = LOCAL_AUTH_ENV if "ray" not in sys.modules else {}
        for name, value in {**LOCAL_ENV, **extra}.items():
            os.environ.setdefault(name, value)
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address != LOCAL:
        ray.init(address=address, configure_logging=False)
        return True
    ray.init(
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        num_cpus=num_cpus,
        configure_logging=False,
        log_to_driver=False,
    )
    node_ip = ray.util.get_node_ip_address()
    if node_ip != "127.0.0.1":
        ray.shutdown()
        raise ProfilerError(
            f"--ray local: Ray took the address {node_ip}, not 127.0.0.1 (ray was "
            "imported before RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 was set); start a "
            "cluster yourself with `ray start --head --node-ip-address 127.0.0.1` "
            "and pass its address"
        )
    return True


def check_reachable(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """ProfilerError unless a TCP connection to a `host:port` or `ray://host:port`
    address opens within `timeout_s`; other addresses ("auto") are left to Ray."""
    host, port = _host_port(address)
    if host is None or port is None:
        return
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout_s:g} s"
        raise ProfilerError(
            f"--ray {address}: cannot reach a Ray cluster at {host}:{port} ({reason}); "
            "check the address, e.g. `ray status` on the head node"
        ) from None


def _host_port(address: str) -> tuple[str | None, int | None]:
    """(host, port) of `host:port`, `[v6]:port` or `ray://host:port`; else Nones."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None, None
    return host.strip("[]"), int(port)


# --- on the node ------------------------------------------------------------------
@contextlib.contextmanager
def _file_lock(name: str) -> Iterator[None]:
    """An exclusive lock on a file in this node's temporary folder."""
    path = Path(tempfile.gettempdir()) / name
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _node_idle(prof: Any, spec: SweepSpec, token: str) -> tuple[dict[str, float], bool]:
    """This node's idle power for session `token`: measured by the first task to get
    here, read from the node's cache by the others; True when measured now."""
    cache = Path(tempfile.gettempdir()) / f"energy-profiler-idle-{token}.json"
    with _file_lock(_IDLE_LOCK):
        if cache.is_file():
            prof.idle_power_w = json.loads(cache.read_text(encoding="utf-8"))
            return dict(prof.idle_power_w), False
        idle = prof.measure_idle(spec.idle_s) if spec.idle_s > 0 else {}
        cache.write_text(json.dumps(idle), encoding="utf-8")
        return dict(idle), True


def _localize(spec: SweepSpec, folder: Path, files: Mapping[str, bytes]) -> SweepSpec:
    """The spec with its checkpoint (and data file) written into `folder`."""
    changes: dict[str, Any] = {}
    for option, data in files.items():
        original = Path(str(getattr(spec, option)))
        path = folder / original.name
        path.write_bytes(data)
        changes[option] = path if option == "checkpoint" else str(path)
    return dataclasses.replace(spec, **changes)


def _set_threads(spec: SweepSpec, share_cpus: bool) -> None:
    """torch threads as on one machine: --threads, else torch's default for a whole
    node (its physical cores), or one thread per task when CPUs are shared."""
    import psutil
    import torch

    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    elif share_cpus:
        torch.set_num_threads(1)
    else:
        torch.set_num_threads(psutil.cpu_count(logical=False) or 1)


def node_info(prof: Any, idle: Mapping[str, float], measured_idle: bool) -> dict:
    """What this node is: host, CPU, GPUs, sensors, idle power, Ray node id."""
    hw = hardware.hardware_info()
    sensors = hardware.sensor_info(prof.domains)
    info = {
        "hostname": hw["hostname"],
        "cpu_model": hw["cpu_model"],
        "gpus": hw["gpus"],
        "hardware": hw,
        "software": hardware.software_info(),
        "sensors": sensors,
        "source": sensors["source"],
        "idle_power_w": dict(idle),
        "idle_measured_by_this_task": measured_idle,
    }
    with contextlib.suppress(ImportError):
        import ray

        if ray.is_initialized():
            context = ray.get_runtime_context()
            info["node_id"] = context.get_node_id()
            info["assigned_gpus"] = [str(g) for g in ray.get_gpu_ids()]
    return info


def measure_on_node(
    spec: SweepSpec,
    config: Config,
    token: str,
    files: Mapping[str, bytes],
    *,
    share_cpus: bool = False,
    toolkit: Any = None,
    profiler_factory: Callable[[SweepSpec], Any] | None = None,
) -> dict[str, Any]:
    """Measure one configuration here with the single-machine sweep's code; returns
    its summary rows, windows, samples, failures and this node's description."""
    exclusive = contextlib.nullcontext() if share_cpus else _file_lock(_NODE_LOCK)
    with tempfile.TemporaryDirectory(prefix="energy-profiler-") as tmp, exclusive:
        local = _localize(spec, Path(tmp), files)
        _set_threads(local, share_cpus)
        factory = profiler_factory or sweep._default_profiler
        with factory(local) as prof, ResultsStore(Path(tmp) / "node.sqlite") as store:
            idle, measured = _node_idle(prof, local, token)
            info = node_info(prof, idle, measured)
            run_id = store.write_run({})
            _measure_here(local, store, run_id, prof, config, toolkit)
            return {
                "config_key": config.key(),
                "rows": store.config_rows(run_id),
                "windows": store.windows(run_id),
                "samples": store.samples(run_id),
                "failed": store.failed_configs(run_id),
                "node": info,
            }


def _measure_here(
    spec: SweepSpec, store: ResultsStore, run_id: int, prof: Any, config: Config, tk: Any
) -> None:
    """Load, build, calibrate and measure `config` into a node-local store."""
    tk = tk or sweep.default_toolkit()
    state = sweep._Sweep(spec, store, tk, lambda event: None)
    state.origin_s = getattr(prof, "start_time", None) or time.time()
    try:
        loaded = tk.load_checkpoint(
            spec.checkpoint, trust_checkpoint=spec.trust_checkpoint
        )
        dataset = tk.load_data(spec.data, input_shape=loaded.input_shape)
    except sweep.BUILD_ERRORS as exc:
        state.fail(run_id, config, exc)
        return
    with warnings.catch_warnings():  # failures travel back in the result instead
        warnings.simplefilter("ignore", UserWarning)
        sweep._measure(state, prof, run_id, [config], loaded, dataset)


# --- on the driver ----------------------------------------------------------------
def cluster_devices(ray: Any, devices: Sequence[str]) -> tuple[str, ...]:
    """Devices for a cluster: cpu, and cuda:0 (the GPU Ray gives a task) for any
    CUDA device; "all" is cpu plus cuda when some node has a GPU."""
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    out: list[str] = []
    for device in devices:
        device = device.strip().lower()
        if device == "all":
            out += ["cpu", "cuda:0"] if has_gpu else ["cpu"]
        elif device == "cpu":
            out.append("cpu")
        elif device == "cuda" or device.startswith("cuda:"):
            out.append("cuda:0")
        else:
            raise ConfigError(
                f"--device {device!r} is not a device; use cpu, cuda, cuda:N or all"
            )
    return tuple(dict.fromkeys(out))


def _node_cpus(nodes: Sequence[Mapping[str, Any]], needs: Mapping[str, float]) -> float:
    """The CPUs of the smallest alive node that has everything in `needs`."""
    fits = [
        n["Resources"].get("CPU", 0.0)
        for n in nodes
        if n.get("Alive") and all(n["Resources"].get(k, 0) >= v for k, v in needs.items())
    ]
    fits = [cpus for cpus in fits if cpus > 0]
    if not fits:
        raise ConfigError(
            f"no node of the Ray cluster offers {dict(needs)} and CPUs; add such a "
            "node, or change --ray-resources or --device"
        )
    return min(fits)


def task_options(
    config: Config, placement: Placement, nodes: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Ray options of a configuration's task: a whole GPU for CUDA, all of a node's
    CPUs unless shared, the placement's custom resources, no retries."""
    custom = placement.for_device(config.device)
    gpus = 1 if config.device.startswith("cuda") else 0
    needs = {**custom, **({"GPU": 1} if gpus else {})}
    if placement.share_cpus:
        _node_cpus(nodes, needs)  # fail now rather than wait forever
        cpus: float = config.threads or 1
    else:
        cpus = _node_cpus(nodes, needs)
    options: dict[str, Any] = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": 0}
    if custom:
        options["resources"] = dict(custom)
    return options


def _files(spec: SweepSpec) -> dict[str, bytes]:
    """The checkpoint (and a data file) the nodes need, read on the driver."""
    files = {"checkpoint": Path(spec.checkpoint).read_bytes()}
    data = Path(spec.data)
    if spec.data != "digits" and data.is_file():
        files["data"] = data.read_bytes()
    return files


def _metadata(
    ray: Any,
    spec: SweepSpec,
    loaded: Any,
    devices: Sequence[str],
    address: str,
    placement: Placement,
) -> dict[str, Any]:
    """The run's metadata: the driver, the settings, and (filled in later) the nodes."""
    return {
        "hardware": {"role": "driver (measurements ran on the nodes)",
                     **hardware.hardware_info()},
        "sensors": {"domains": [], "source": "", "notes": ["per node: see nodes"]},
        **sweep.run_settings(spec, loaded, devices),
        "distributed": {
            "engine": "ray",
            "ray_version": ray.__version__,
            "address": address,
            **placement.to_dict(),
            "interleaved": False,
            "note": INTERLEAVING_NOTE,
        },
        "nodes": {},
        "idle_power_w": {},
        "sessions": [{"started": time.time()}],
    }  # fmt: skip


class _Driver:
    """One session of a distributed sweep: the store, the run and the tallies."""

    def __init__(
        self,
        store: ResultsStore,
        run_id: int,
        total: int,
        repeats: int,
        on_event: Callable[[SweepEvent], None],
    ) -> None:
        self.store, self.run_id, self.on_event = store, run_id, on_event
        self.repeats, self.done, self.total = repeats, 0, total * repeats
        self.failed: list[tuple[str, str]] = []

    def emit(self, kind: str, message: str, key: str | None = None) -> None:
        self.on_event(SweepEvent(kind, message, self.done, self.total, key))

    def fail(self, config: Mapping[str, Any], key: str, error: str, node: str) -> None:
        text = (error.strip().splitlines() or ["task failed"])[-1]
        where = f" on {node}" if node else ""
        self.failed.append((key, f"{text}{where}"))
        self.store.fail_config(self.run_id, key, config, f"{text}{where}")
        warnings.warn(f"{key}: not measured{where}: {text}", stacklevel=3)
        self.emit("failed", f"{key}{where}: {text}", key)

    def store_result(self, config: Config, result: Mapping[str, Any]) -> None:
        """Write one task's rows to the results database, in arrival order."""
        info = result["node"]
        self._add_node(info)
        for key, error in result["failed"]:
            self.fail(config.to_dict(), key, error, info["hostname"])
        windows = [_window(w) for w in result["windows"]]
        samples = result["samples"]
        for row in result["rows"]:
            self._store_row(config, row, windows, samples, info)

    def _store_row(self, config, row, windows, samples, info) -> None:
        key = row["config_key"]
        first = self.store.max_order_index(self.run_id) + 1
        mine = sorted((w for w in windows if w.config_key == key), key=lambda w: w.repeat)
        mine = [dataclasses.replace(w, order_index=first + i) for i, w in enumerate(mine)]
        timeline = [
            {"window": s[1], "time_s": s[2], "domain": s[3], "power_w": s[4],
             "source": s[5]}
            for s in samples if s[0] == key
        ]  # fmt: skip
        full = {**row, **tables.node_columns(info, config.device), "order_index": first}
        full["notes"] = [*row.get("notes", []), INTERLEAVING_NOTE]
        self.store.write_result(self.run_id, full, mine, timeline)
        self.done += len(mine)
        self.emit("complete", f"{config.label()} complete on {info['hostname']}", key)

    def _add_node(self, info: Mapping[str, Any]) -> None:
        """Record a node in the run's metadata the first time it reports."""
        meta = self.store.read_metadata(self.run_id)
        nodes = meta.get("nodes", {})
        name = info.get("node_id") or info["hostname"]
        if name in nodes:
            return
        nodes[name] = {k: v for k, v in info.items() if k != "software"}
        self.store.update_metadata(self.run_id, {"nodes": nodes})


def _window(stored: Mapping[str, Any]) -> bench.WindowResult:
    """A WindowResult from a node store's window row."""
    names = {f.name for f in dataclasses.fields(bench.WindowResult)}
    values = {k: v for k, v in stored.items() if k in names}
    values["notes"] = tuple(values.get("notes", ()))
    return bench.WindowResult(**values)


def _open_run(store, meta, resume: bool, spec: SweepSpec) -> tuple[int, set[str]]:
    """Start a run, or pick up the newest one (--resume) made with the same settings."""
    run_id = store.latest_run() if resume else None
    if run_id is None:
        return store.write_run(meta), set()
    old = store.read_metadata(run_id)
    sweep.check_resumable(old.get("settings", {}), spec, store.path)
    sessions = [*old.get("sessions", []), {"started": time.time()}]
    store.update_metadata(run_id, {"sessions": sessions})
    done = store.done_keys(run_id)
    store.add_note(run_id, f"resumed with {len(done)} configurations complete")
    return run_id, done


def run_distributed(
    spec: SweepSpec,
    db_path: str | Path,
    *,
    address: str = LOCAL,
    placement: Placement | None = None,
    resume: bool = False,
    on_event: Callable[[SweepEvent], None] | None = None,
    toolkit: Any = None,
    profiler_factory: Callable[[SweepSpec], Any] | None = None,
) -> SweepResult:
    """Measure every planned configuration as a Ray task; store each as it arrives.

    Raises SweepInterrupted on Ctrl-C after cancelling the tasks still running.
    """
    started = time.monotonic()
    require_ray()  # not imported yet: connect() sets its environment first
    spec.validate()
    carbon.carbon_intensity_g_per_kwh(spec.country)  # a bad --country fails first
    placement = placement or Placement()
    tk = toolkit or sweep.default_toolkit()
    loaded, _ = sweep.load_inputs(spec, tk)  # a wrong shape fails once, not per task
    files = _files(spec)
    ours = connect(address)
    ray = import_ray()
    try:
        devices = cluster_devices(ray, spec.devices)
        configs = sweep.plan(spec, loaded.name, devices)
        meta = _metadata(ray, spec, loaded, devices, address, placement)
        with ResultsStore(db_path) as store:
            run_id, done = _open_run(store, meta, resume, spec)
            pending = [c for c in configs if c.key() not in done]
            driver = _Driver(store, run_id, len(pending), spec.repeats,
                             on_event or (lambda event: None))  # fmt: skip
            try:
                _dispatch(ray, driver, spec, pending, files, placement, toolkit,
                          profiler_factory)  # fmt: skip
            except KeyboardInterrupt:
                raise sweep.interrupted(store, run_id, configs) from None
            return sweep.finished(store, run_id, configs, pending, driver.failed, started)
    finally:
        if ours:
            ray.shutdown()


def _dispatch(
    ray: Any,
    driver: _Driver,
    spec: SweepSpec,
    pending: Sequence[Config],
    files: Mapping[str, bytes],
    placement: Placement,
    toolkit: Any,
    profiler_factory: Any,
) -> None:
    """Submit a task per configuration, then store each result as it arrives."""
    token = uuid.uuid4().hex  # one idle baseline per node per session
    remote = ray.remote(measure_on_node)
    files_ref = ray.put(dict(files))
    nodes = ray.nodes()
    running: dict[Any, Config] = {}
    for config in pending:
        try:
            options = task_options(config, placement, nodes)
        except ConfigError as exc:
            driver.fail(config.to_dict(), config.key(), str(exc), "")
            continue
        ref = remote.options(**options).remote(
            spec, config, token, files_ref, share_cpus=placement.share_cpus,
            toolkit=toolkit, profiler_factory=profiler_factory,
        )  # fmt: skip
        running[ref] = config
        driver.emit("build", f"submitted {config.label()}", config.key())
    try:
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                _collect(ray, driver, running.pop(ref), ref)
    finally:
        for ref in running:  # Ctrl-C or an error: stop what is still queued
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


def _collect(ray: Any, driver: _Driver, config: Config, ref: Any) -> None:
    """Store one finished task's result, or its failure."""
    try:
        result = ray.get(ref)
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None) or exc
        driver.fail(config.to_dict(), config.key(), _reason(cause), "")
        return
    driver.store_result(config, result)


def _reason(error: BaseException) -> str:
    """One line for a failed task: the exception type and message."""
    text = str(error).strip().splitlines()
    message = text[-1] if text else ""
    if isinstance(error, ProfilerError):
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
