"""Run many configurations in interleaved rounds and store each window as it lands.

Round r measures repeat r of every configuration (A B C, A B C, ...), so that drift in
temperature, clocks or background load affects all variants alike. A configuration is
marked complete when its last repeat is stored; a resumed run skips complete
configurations and measures incomplete ones again (their earlier windows stay stored).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from profiler import bench, carbon, hardware
from profiler.bench import DENSE_METHOD, Config, Target
from profiler.errors import ConfigError, DeviceUnavailable, ProfilerError
from profiler.store import ResultsStore

__all__ = [
    "SweepEvent",
    "SweepInterrupted",
    "SweepResult",
    "SweepSpec",
    "plan",
    "resolve_devices",
    "run_sweep",
]

logger = logging.getLogger(__name__)

#: Errors a model variant may raise while it is built or run; the sweep records them
#: against the configuration and goes on with the others.
BUILD_ERRORS = (ProfilerError, RuntimeError, ValueError, TypeError, NotImplementedError)
STATS_ITEMS = 512  # test items used for model statistics (activation sparsity)
BASELINE_DTYPE = "fp32"
HALF_DTYPES = ("fp16", "bf16")
SEMI_STRUCTURED = "semi-structured"
_DTYPES = ("fp32", "bf16", "fp16", "int8")  # profiler.models.precision.DTYPES


def _csv(values: Sequence[Any]) -> str:
    """Values as the user typed them: a comma list."""
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


@dataclass(frozen=True)
class SweepSpec:
    """Everything a `profile` run is asked to do."""

    checkpoint: Path
    data: str = "digits"
    methods: tuple[str, ...] = ("magnitude", "structured")
    sparsities: tuple[float, ...] = (0.5, 0.9, 0.95)
    formats: tuple[str, ...] = ("dense", "csr")
    devices: tuple[str, ...] = ("cpu",)
    batch_sizes: tuple[int, ...] = (64,)
    dtypes: tuple[str, ...] = ("fp32",)
    repeats: int = 5
    min_window_s: float | None = None  # None: from the sensors' update periods
    idle_s: float = 3.0
    warmup_s: float = 0.2
    threads: int | None = None
    seed: int = 0
    country: str | None = None
    sensors: str | tuple[str, ...] = "auto"
    rapl_root: str | None = None
    trust_checkpoint: bool = False
    finetune_epochs: int = 0

    def validate(self) -> None:
        """Raise ConfigError for values that make no sense."""
        if self.repeats < 1:
            raise ConfigError(f"--repeats {self.repeats}: give at least 1")
        if self.min_window_s is not None and self.min_window_s <= 0:
            raise ConfigError(
                f"--min-window {self.min_window_s}: give a positive number of seconds"
            )
        if self.idle_s < 0:
            raise ConfigError(f"--idle {self.idle_s}: give 0 or more seconds")
        if any(b < 1 for b in self.batch_sizes) or not self.batch_sizes:
            raise ConfigError(
                f"--batch-size {_csv(self.batch_sizes)}: each must be 1 or more"
            )
        if any(not 0 < s < 1 for s in self.sparsities):
            raise ConfigError(
                f"--sparsity {_csv(self.sparsities)}: every level must lie strictly "
                "between 0 and 1 (the fraction of weights removed)"
            )
        if not self.dtypes or any(d not in _DTYPES for d in self.dtypes):
            raise ConfigError(
                f"--dtype {_csv(self.dtypes)}: use a comma list of {', '.join(_DTYPES)}"
            )
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads {self.threads}: give at least 1")

    def settings(self) -> dict[str, Any]:
        """The spec as plain values, for the run's metadata."""
        out = dataclasses.asdict(self)
        out["checkpoint"] = str(Path(self.checkpoint).resolve())
        if out["data"] != "digits":
            out["data"] = str(Path(out["data"]).resolve())
        return out


#: Settings that change what a stored window means: a run resumes only with the same.
#: (Methods, levels, formats, dtypes, batch sizes and devices may differ: they add or
#: leave out configurations, each identified by its key.)
RESUME_SETTINGS = (
    "checkpoint", "data", "repeats", "min_window_s", "finetune_epochs", "seed",
    "sensors", "rapl_root", "warmup_s",
)  # fmt: skip


def check_resumable(stored: Mapping[str, Any], spec: SweepSpec, db: Path) -> None:
    """Raise ConfigError when `spec` differs from a stored run's settings."""
    now = spec.settings()
    differ = [
        f"{key} {_shown(stored.get(key))}, not {_shown(now[key])}"
        for key in RESUME_SETTINGS
        if key in stored and _comparable(stored[key]) != _comparable(now[key])
    ]
    if differ:
        raise ConfigError(
            f"--resume: {db} holds a run made with other settings ({'; '.join(differ)}); "
            "give the same options to resume it, or another --out for a new run"
        )


def _comparable(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class SweepEvent:
    """Progress of a sweep, for a progress bar; `done`/`total` count windows."""

    kind: str  # "start", "build", "calibrate", "window", "complete", "failed"
    message: str
    done: int
    total: int
    config_key: str | None = None


@dataclass(frozen=True)
class SweepResult:
    """What a finished sweep did."""

    run_id: int
    db_path: Path
    complete: int  # configurations complete in the run, this session and before
    total: int  # configurations planned
    skipped: int  # complete before this session (--resume)
    failed: tuple[tuple[str, str], ...]  # (config key, error)
    wall_s: float
    kept_windows: int = 0  # windows of interrupted configurations kept (--resume)


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep; everything stored so far is kept."""

    def __init__(self, run_id: int, db_path: Path, complete: int, total: int) -> None:
        super().__init__(f"interrupted: {complete} of {total} configurations complete")
        self.run_id = run_id
        self.db_path = db_path
        self.complete = complete
        self.total = total


def resolve_devices(devices: Iterable[str]) -> tuple[str, ...]:
    """Expand "all" and check that every CUDA device asked for exists."""
    import torch

    available = torch.cuda.is_available()
    count = torch.cuda.device_count() if available else 0
    out: list[str] = []
    for device in devices:
        device = device.strip().lower()
        if device == "all":
            out += ["cpu", *(f"cuda:{i}" for i in range(count))]
        elif device == "cpu":
            out.append("cpu")
        elif device == "cuda" or device.startswith("cuda:"):
            out.append(_check_cuda(device, count))
        else:
            raise ConfigError(
                f"--device {device!r} is not a device; use cpu, cuda, cuda:N or all"
            )
    return tuple(dict.fromkeys(out))


def _check_cuda(device: str, count: int) -> str:
    """ "cuda:N" for a device that exists, else DeviceUnavailable."""
    if count == 0:
        raise DeviceUnavailable(
            f"--device {device}: CUDA is not available here (torch {_torch_version()} "
            "sees no GPU); use --device cpu, or a CUDA build of torch on a machine "
            "with an NVIDIA GPU"
        )
    index_text = device.partition(":")[2] or "0"
    if not index_text.isdigit() or int(index_text) >= count:
        raise DeviceUnavailable(
            f"--device {device}: no such GPU (this machine has cuda:0 to "
            f"cuda:{count - 1}); pick one of those or --device all"
        )
    return f"cuda:{int(index_text)}"


def _torch_version() -> str:
    import torch

    return torch.__version__


def plan(spec: SweepSpec, model: str, devices: Sequence[str]) -> list[Config]:
    """Per device and batch: the dense fp32 baseline, then per dtype a dense baseline
    and every (method, sparsity, format)."""
    configs = []
    for device in devices:
        for batch_size in spec.batch_sizes:
            common = {"device": device, "batch_size": batch_size, "threads": spec.threads}
            configs.append(Config(model, DENSE_METHOD, 0.0, "dense", **common))
            for dtype in spec.dtypes:
                typed = {**common, "dtype": dtype}
                configs.append(Config(model, DENSE_METHOD, 0.0, "dense", **typed))
                for method in spec.methods:
                    for sparsity in spec.sparsities:
                        for fmt in spec.formats:
                            configs.append(Config(model, method, sparsity, fmt, **typed))
    return list(dict.fromkeys(configs))


def default_toolkit() -> SimpleNamespace:
    """The model functions the sweep uses (tests pass stand-ins with the same names)."""
    from profiler.models.data import accuracy, agreement, check_input, load_data
    from profiler.models.formats import to_format
    from profiler.models.load import load_checkpoint
    from profiler.models.precision import to_precision
    from profiler.models.sparsify import sparsify
    from profiler.models.stats import model_stats

    return SimpleNamespace(
        load_checkpoint=load_checkpoint,
        load_data=load_data,
        check_input=check_input,
        accuracy=accuracy,
        agreement=agreement,
        sparsify=sparsify,
        to_format=to_format,
        to_precision=to_precision,
        model_stats=model_stats,
    )


def _plain(obj: Any) -> Any:
    """A dataclass (or anything) as JSON-friendly values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _batch(x: Any, batch_size: int, device: str, dtype: str = "fp32") -> Any:
    """`batch_size` test items (repeated when the split is smaller), on `device`, cast
    to the input dtype ("fp32", "bf16", "fp16") the model's precision asks for."""
    reps = math.ceil(batch_size / len(x))
    rows = x.repeat(reps, *([1] * (x.dim() - 1))) if reps > 1 else x
    return _cast(rows[:batch_size].float(), dtype).to(device).contiguous()


def _cast(x: Any, dtype: str | None) -> Any:
    """`x` as floating `dtype` (None or "fp32": unchanged)."""
    if dtype in (None, BASELINE_DTYPE):
        return x
    from profiler.models.precision import torch_dtype

    return x.to(torch_dtype(dtype))


def _to_precision(tk: Any) -> Callable[..., Any]:
    """The toolkit's precision conversion (stand-in toolkits may lack one)."""
    convert = getattr(tk, "to_precision", None)
    if convert is None:
        from profiler.models.precision import to_precision as convert
    return convert


_FP32_INFO = {"bytes_per_weight": 4, "input_dtype": BASELINE_DTYPE}


class _CastInput:
    """A module called with its inputs cast to `dtype` (for agreement with fp32)."""

    def __init__(self, module: Any, dtype: str) -> None:
        self.module, self.dtype = module, dtype

    def eval(self) -> _CastInput:
        """Put the wrapped module in eval mode."""
        self.module.eval()
        return self

    def __call__(self, x: Any) -> Any:
        return self.module(_cast(x, self.dtype))


class _Variants:
    """Builds each model variant once, with its statistics and accuracy."""

    def __init__(self, tk: Any, spec: SweepSpec, module: Any, dataset: Any) -> None:
        self.tk, self.spec, self.dense, self.data = tk, spec, module, dataset
        self._modules: dict[tuple, tuple[Any, dict[str, Any]]] = {}
        self._quality: dict[tuple, dict[str, Any]] = {}
        self._dense_counts: dict[str, dict[str, int]] = {}

    def _dense_on(self, device: str) -> Any:
        key = (DENSE_METHOD, 0.0, "dense", device, BASELINE_DTYPE)
        if key not in self._modules:
            module = copy.deepcopy(self.dense).to(device)
            self._modules[key] = (module, dict(_FP32_INFO))
        return self._modules[key][0]

    def _example(self, device: str, dtype: str = BASELINE_DTYPE) -> Any:
        items = min(STATS_ITEMS, len(self.data.x_test))
        return _batch(self.data.x_test, items, device, dtype)

    def module(self, config: Config) -> tuple[Any, dict[str, Any]]:
        """The runnable module of a configuration, and what building it recorded."""
        key = (*config.variant, config.device, config.dtype)
        if key in self._modules:
            return self._modules[key]
        if config.method == SEMI_STRUCTURED:
            self._modules[key] = self._semi_structured(config)
            return self._modules[key]
        if config.dtype != BASELINE_DTYPE:
            base = dataclasses.replace(config, dtype=BASELINE_DTYPE)
            module, info = self.module(base)
            convert = _to_precision(self.tk)
            typed, record = convert(module, config.dtype, device=config.device)
            info = {
                **info,
                "precision": _plain(record),
                "bytes_per_weight": record.bytes_per_weight,
                "input_dtype": record.input_dtype,
            }
            self._modules[key] = (typed, info)
            return self._modules[key]
        dense = self._dense_on(config.device)
        if config.method == DENSE_METHOD:
            return self._modules[key]
        sparse, record = self._sparsify(dense, config)
        example = _batch(self.data.x_test, config.batch_size, config.device)
        formatted, fmt_record = self.tk.to_format(sparse, config.format, example)
        info = {
            "sparsify": _plain(record),
            "format_record": _plain(fmt_record),
            **_FP32_INFO,
        }
        self._modules[key] = (formatted, info)
        return self._modules[key]

    def _sparsify(self, model: Any, config: Config) -> tuple[Any, Any]:
        """The configuration's sparsity method applied to `model`, with the sweep's
        data, fine-tuning and seed."""
        return self.tk.sparsify(
            model,
            config.method,
            config.target_sparsity,
            data=self.data,
            device=config.device,
            finetune_epochs=self.spec.finetune_epochs,
            seed=self.spec.seed,
        )

    def _semi_structured(self, config: Config) -> tuple[Any, dict[str, Any]]:
        """2:4 runs in half precision on its own kernels: cast first, then prune."""
        if not config.device.startswith("cuda"):
            raise DeviceUnavailable(
                f"{config.label()}: semi-structured 2:4 sparsity needs a CUDA GPU; "
                f"not supported on {config.device}"
            )
        if config.dtype not in HALF_DTYPES or config.format != "dense":
            raise ConfigError(
                f"{config.label()}: semi-structured 2:4 runs in fp16 or bf16 on its own "
                f"kernels, not {config.dtype} in {config.format} format; use --dtype "
                "fp16 (or bf16) and --format dense"
            )
        dense = self._dense_on(config.device)
        typed, precision = _to_precision(self.tk)(
            dense, config.dtype, device=config.device
        )
        sparse, record = self._sparsify(typed, config)
        return sparse, {
            "sparsify": _plain(record),
            "precision": _plain(precision),
            "bytes_per_weight": precision.bytes_per_weight,
            "input_dtype": precision.input_dtype,
        }

    def quality(
        self, config: Config, module: Any, input_dtype: str = BASELINE_DTYPE
    ) -> dict[str, Any]:
        """Model statistics and accuracy (or agreement with dense), once per variant
        and dtype; inputs are cast to `input_dtype`."""
        key = (*config.variant, config.dtype)
        if key in self._quality:
            return self._quality[key]
        device = config.device
        example = self._example(device, input_dtype)
        if device not in self._dense_counts:
            dense_example = self._example(device)
            dense = self.tk.model_stats(self._dense_on(device), dense_example)
            self._dense_counts[device] = {"dense_params": dense.params}
            if getattr(dense, "weights", 0):  # weights only, biases left out
                self._dense_counts[device]["dense_weights"] = dense.weights
        stats = self.tk.model_stats(module, example, **self._dense_counts[device])
        out = _plain(stats)
        out["measured_sparsity"] = stats.weight_sparsity
        out.update(self._accuracy(module, device, input_dtype))
        self._quality[key] = out
        return out

    def _accuracy(self, module: Any, device: str, input_dtype: str) -> dict[str, Any]:
        """Accuracy on the test split (or agreement with dense fp32), same data for
        every dtype; the inputs are cast for the model, the reference sees fp32."""
        data = self.data
        x = _cast(data.x_test.float(), input_dtype)
        if data.y_test is not None:
            acc = self.tk.accuracy(module, x, data.y_test, device=device)
            return {"accuracy": acc, "agreement_top1": None, "agreement_logit_diff": None}
        if input_dtype != BASELINE_DTYPE:
            module = _CastInput(module, input_dtype)
        top1, diff = self.tk.agreement(
            module, self._dense_on(device), data.x_test, device=device
        )
        return {"accuracy": None, "agreement_top1": top1, "agreement_logit_diff": diff}


class _Sweep:
    """One session of a sweep: state shared by its steps."""

    def __init__(
        self,
        spec: SweepSpec,
        store: ResultsStore,
        tk: Any,
        on_event: Callable[[SweepEvent], None],
    ) -> None:
        self.spec, self.store, self.tk, self.on_event = spec, store, tk, on_event
        self.done_windows = 0
        self.total_windows = 0
        self.failed: list[tuple[str, str]] = []
        self.kept_windows = 0
        self.origin_s = time.time()  # unix time of the profiler's start (timeline zero)

    def emit(self, kind: str, message: str, key: str | None = None) -> None:
        self.on_event(
            SweepEvent(kind, message, self.done_windows, self.total_windows, key)
        )

    def fail(self, run_id: int, config: Config, error: BaseException | str) -> None:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        self.failed.append((config.key(), text))
        self.store.fail_config(run_id, config.key(), config.to_dict(), text)
        warnings.warn(f"{config.label()}: not measured: {text}", stacklevel=2)
        self.emit("failed", f"{config.label()}: {text}", config.key())

    def build(
        self, run_id: int, configs: Sequence[Config], variants: _Variants
    ) -> list[tuple[Target, dict[str, Any]]]:
        """A ready Target and its quality figures for every configuration that builds."""
        built = []
        for config in configs:
            self.emit("build", f"preparing {config.label()}", config.key())
            try:
                module, info = variants.module(config)
                input_dtype = info.get("input_dtype", BASELINE_DTYPE)
                quality = {**variants.quality(config, module, input_dtype), **info}
                x_test = variants.data.x_test
                batch = _batch(x_test, config.batch_size, config.device, input_dtype)
                built.append((Target(config, module, batch), quality))
            except BUILD_ERRORS as exc:
                self.fail(run_id, config, exc)
        return built

    def calibrate(self, run_id: int, targets: Sequence[Target], min_window_s: float):
        """Warm up each target and size its windows; drop those that fail to run."""
        ready = []
        for target in targets:
            config = target.config
            self.emit("calibrate", f"warming up {config.label()}", config.key())
            try:
                per_batch = bench.warm_up(target, seconds=self.spec.warmup_s)
            except BUILD_ERRORS as exc:
                self.fail(run_id, config, exc)
                continue
            target.batches_per_window = bench.batches_for(per_batch, min_window_s)
            ready.append(target)
        return ready

    def rounds(
        self,
        prof: Any,
        run_id: int,
        targets: list[tuple[Target, dict[str, Any]]],
        min_window_s: float,
    ) -> None:
        """Interleaved rounds: repeat r of every configuration, then r + 1.

        A configuration interrupted in an earlier session keeps the windows it stored;
        only its missing repeats are measured.
        """
        order_index = self.store.max_order_index(run_id) + 1
        windows: dict[str, list[bench.WindowResult]] = {}
        attempts: dict[str, int] = {}
        for target, _ in targets:
            key = target.config.key()
            attempt, stored = self.store.resume_config(
                run_id, key, target.config.to_dict()
            )
            attempts[key] = attempt
            windows[key] = [bench.WindowResult.from_dict(w) for w in stored]
        kept = sum(min(len(w), self.spec.repeats) for w in windows.values())
        self.kept_windows += kept
        if kept:
            self.store.add_note(run_id, f"resumed: {kept} stored windows kept")
            self.total_windows -= kept
            self.emit("start", f"keeping {kept} windows measured before the interrupt")
        repeats = self.spec.repeats
        for repeat in range(repeats):
            for target, quality in list(targets):
                key = target.config.key()
                if len(windows[key]) > repeat:
                    continue  # measured before the interrupt
                if not self._measure_one(prof, run_id, target, attempts[key],
                                         windows[key], repeat, order_index,
                                         min_window_s):  # fmt: skip
                    targets.remove((target, quality))
                    continue
                order_index += 1
                if len(windows[key]) == repeats:
                    self.complete(run_id, target, quality, windows[key])
        for target, quality in targets:  # all windows stored before the interrupt
            key = target.config.key()
            if len(windows[key]) >= repeats and not self.store.is_complete(run_id, key):
                self.complete(run_id, target, quality, windows[key][:repeats])

    def _measure_one(
        self,
        prof: Any,
        run_id: int,
        target: Target,
        attempt: int,
        done: list[bench.WindowResult],
        repeat: int,
        order_index: int,
        min_window_s: float,
    ) -> bool:
        """Measure and store one window of `target`; False when it failed."""
        config = target.config
        label = f"{config.label()} [{repeat + 1}/{self.spec.repeats}]"
        self.emit("window", label, config.key())
        try:
            window = bench.measure_window(
                prof, target, repeat=repeat, order_index=order_index,
                min_window_s=min_window_s,
            )  # fmt: skip
        except BUILD_ERRORS as exc:
            self.fail(run_id, config, exc)
            return False
        samples = window_samples(prof, window, self.origin_s)
        self.store.write_window(run_id, attempt, window, samples)
        done.append(window)
        bench.adapt_batches(target, window, min_window_s)
        self.done_windows += 1
        return True

    def complete(
        self,
        run_id: int,
        target: Target,
        quality: Mapping[str, Any],
        windows: Sequence[bench.WindowResult],
    ) -> None:
        """Summarise a configuration's windows and mark it complete in the store."""
        import torch

        config = target.config
        summary = bench.summarize(windows, config.batch_size)
        row = {
            **quality,
            **summary.to_dict(),
            **config.to_dict(),
            "config": config.to_dict(),
            "threads": torch.get_num_threads(),
            "batches_per_window": windows[-1].batches,
            "order_index": windows[0].order_index,
            "first_start_time": windows[0].start_time,
        }
        self.store.complete_config(run_id, config.key(), row)
        self.emit("complete", f"{config.label()} complete", config.key())


def window_samples(
    prof: Any, window: bench.WindowResult, origin_s: float
) -> list[dict[str, Any]]:
    """The profiler's power samples that end inside `window`, in unix seconds.

    `Profiler.timeline()` counts seconds from the profiler's start; `origin_s` is the
    unix time of that start (`Profiler.start_time`).
    """
    frame = prof.timeline()
    if frame is None or len(frame) == 0:
        return []
    unix = frame["time_s"] + origin_s
    end = window.start_time + window.duration_s
    inside = frame[(unix >= window.start_time) & (unix <= end)]
    return [
        {
            "time_s": float(r.time_s) + origin_s,
            "domain": r.domain,
            "power_w": float(r.power_w),
            "source": r.source,
        }
        for r in inside.itertuples()
    ]


def run_settings(spec: SweepSpec, loaded: Any, devices: Sequence[str]) -> dict:
    """What every run's metadata holds wherever it is measured: software, settings,
    the model and the carbon intensity."""
    return {
        "software": hardware.software_info(),
        "settings": {**spec.settings(), "devices": list(devices)},
        "model": {
            "name": loaded.name,
            "path": str(loaded.path),
            "kind": loaded.kind,
            "input_shape": list(loaded.input_shape or []) or None,
        },
        "carbon": {
            "country": spec.country,
            "intensity_g_per_kwh": carbon.carbon_intensity_g_per_kwh(spec.country),
            "source": carbon.intensity_source(spec.country),
        },
    }


def _metadata(spec: SweepSpec, prof: Any, loaded: Any, devices: Sequence[str]) -> dict:
    """Hardware, software, sensors, settings and the carbon intensity of a run."""
    return {
        "hardware": hardware.hardware_info(),
        "sensors": hardware.sensor_info(prof.domains),
        **run_settings(spec, loaded, devices),
        "idle_power_w": dict(prof.idle_power_w),
        "sessions": [{"started": time.time(), "idle_power_w": dict(prof.idle_power_w)}],
    }


def _default_profiler(spec: SweepSpec) -> Any:
    from profiler.measure import Profiler

    sensors = spec.sensors if isinstance(spec.sensors, str) else list(spec.sensors)
    return Profiler(sensors, rapl_root=spec.rapl_root)


def run_sweep(
    spec: SweepSpec,
    db_path: str | Path,
    *,
    resume: bool = False,
    on_event: Callable[[SweepEvent], None] | None = None,
    toolkit: Any = None,
    profiler_factory: Callable[[SweepSpec], Any] | None = None,
) -> SweepResult:
    """Measure every planned configuration, writing each window to `db_path` at once.

    Raises SweepInterrupted on Ctrl-C after marking the run interrupted.
    """
    started = time.monotonic()
    spec.validate()
    carbon.carbon_intensity_g_per_kwh(spec.country)  # a bad --country fails first
    devices = resolve_devices(spec.devices)
    tk = toolkit or default_toolkit()
    if spec.threads is not None:
        import torch

        torch.set_num_threads(spec.threads)
    loaded, dataset = load_inputs(spec, tk)
    configs = plan(spec, loaded.name, devices)
    factory = profiler_factory or _default_profiler
    # the sensors open first: a sensor that cannot be used leaves no database behind
    with factory(spec) as prof, ResultsStore(db_path) as store:
        sweep = _Sweep(spec, store, tk, on_event or (lambda event: None))
        sweep.origin_s = getattr(prof, "start_time", None) or time.time()
        run_id, done = _open_run(store, spec, prof, loaded, devices, resume, sweep)
        pending = [c for c in configs if c.key() not in done]
        sweep.total_windows = len(pending) * spec.repeats
        try:
            _measure(sweep, prof, run_id, pending, loaded, dataset)
        except KeyboardInterrupt:
            raise interrupted(store, run_id, configs) from None
        return finished(
            store, run_id, configs, pending, sweep.failed, started, sweep.kept_windows
        )


def load_inputs(spec: SweepSpec, tk: Any) -> tuple[Any, Any]:
    """The checkpoint and the data, checked against each other once, before measuring."""
    loaded = tk.load_checkpoint(spec.checkpoint, trust_checkpoint=spec.trust_checkpoint)
    dataset = tk.load_data(spec.data, input_shape=loaded.input_shape)
    tk.check_input(
        loaded.module, dataset.x_test[:2].float(), source=spec.data,
        model_name=str(spec.checkpoint),
    )  # fmt: skip
    return loaded, dataset


def _complete_count(store: ResultsStore, run_id: int, configs: Sequence[Config]) -> int:
    return len(store.done_keys(run_id) & {c.key() for c in configs})


def interrupted(
    store: ResultsStore, run_id: int, configs: Sequence[Config]
) -> SweepInterrupted:
    """Mark the run interrupted; the exception to raise for Ctrl-C."""
    store.finish_run(run_id, "interrupted")
    complete = _complete_count(store, run_id, configs)
    return SweepInterrupted(run_id, store.path, complete, len(configs))


def finished(
    store: ResultsStore,
    run_id: int,
    configs: Sequence[Config],
    pending: Sequence[Config],
    failed: Sequence[tuple[str, str]],
    started: float,
    kept_windows: int = 0,
) -> SweepResult:
    """Mark the run complete and say what this session did."""
    store.finish_run(run_id, "complete")
    return SweepResult(
        run_id=run_id,
        db_path=store.path,
        complete=_complete_count(store, run_id, configs),
        total=len(configs),
        skipped=len(configs) - len(pending),
        failed=tuple(failed),
        wall_s=time.monotonic() - started,
        kept_windows=kept_windows,
    )


def _open_run(
    store: ResultsStore,
    spec: SweepSpec,
    prof: Any,
    loaded: Any,
    devices: Sequence[str],
    resume: bool,
    sweep: _Sweep,
) -> tuple[int, set[str]]:
    """Measure idle power, then start a run or pick up the newest one (--resume).

    A run resumes only with the settings it was made with (`RESUME_SETTINGS`).
    """
    run_id = store.latest_run() if resume else None
    meta = store.read_metadata(run_id) if run_id is not None else {}
    if run_id is not None:
        check_resumable(meta.get("settings", {}), spec, store.path)
    if spec.idle_s > 0:
        sweep.emit("start", f"measuring idle power for {spec.idle_s:g} s")
        prof.measure_idle(spec.idle_s)
    if run_id is None:
        if resume:
            logger.info("--resume: %s holds no run yet; starting one", store.path)
        return store.write_run(_metadata(spec, prof, loaded, devices)), set()
    session = {"started": time.time(), "idle_power_w": dict(prof.idle_power_w)}
    store.update_metadata(run_id, {"sessions": [*meta.get("sessions", []), session]})
    done = store.done_keys(run_id)
    store.add_note(run_id, f"resumed with {len(done)} configurations complete")
    return run_id, done


def _measure(
    sweep: _Sweep,
    prof: Any,
    run_id: int,
    pending: Sequence[Config],
    loaded: Any,
    dataset: Any,
) -> None:
    """Build, calibrate and measure the pending configurations."""
    if not pending:
        return
    spec = sweep.spec
    min_window_s = spec.min_window_s or bench.default_min_window_s(prof.domains)
    variants = _Variants(sweep.tk, spec, loaded.module, dataset)
    built = sweep.build(run_id, pending, variants)
    quality = {id(t): q for t, q in built}
    ready = sweep.calibrate(run_id, [t for t, _ in built], min_window_s)
    sweep.total_windows = len(ready) * spec.repeats
    sweep.rounds(prof, run_id, [(t, quality[id(t)]) for t in ready], min_window_s)
