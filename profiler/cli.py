"""The `energy-profiler` command: profile, report, sensors, run.

Thin by design: it parses options, calls the harness, tables and report, and prints.
Every error is one line `error: ...` on stderr. A usage mistake (an unknown option, a
bad option value, a ConfigError while the options are checked) exits 2; a failure (a
ProfilerError such as a missing checkpoint or sensor, or an OSError on a user's path)
exits 1. `run` exits 127 when the command is not found and 126 when it cannot be
executed, as shells do. The options and paths are checked before any sensor opens.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import shlex
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from profiler.errors import CheckpointError, ConfigError, DataError, ProfilerError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "digits-mlp-wide.pt"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127
EXIT_INTERRUPTED = 130
SENSOR_HINT = "use auto or a comma list of rapl, nvml, estimate"
DEVICE_NAME = re.compile(r"cpu|all|cuda(:\d+)?")
NOT_MEASURED = r".*: not measured"  # the sweep's per-failure warning; listed at the end
ESTIMATE_BANNER = (
    "Energy figures marked 'estimate' are ESTIMATES (this machine's CPU time x a "
    "per-thread share of a TDP figure), not measurements. CO2e is always an estimate."
)


class _Group(click.Group):
    """A click group turning every error and Ctrl-C into one line and an exit code."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:  # the group's own options
            _usage_exit(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's options and arguments
            _usage_exit(exc)
        except ProfilerError as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(describe_os_error(exc))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str, code: int = EXIT_FAILURE) -> None:
    """One `error:` line on stderr, then exit with `code`."""
    click.echo(f"error: {_one_line(message)}", err=True)
    raise click.exceptions.Exit(code)


def _usage_exit(exc: click.UsageError) -> None:
    """A usage mistake as one line and exit 2 (click's help page for no arguments)."""
    no_args = getattr(click.exceptions, "NoArgsIsHelpError", None)
    if no_args is not None and isinstance(exc, no_args):
        raise exc
    hint = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
    _fail(f"{exc.format_message().rstrip('.')}{hint}", EXIT_USAGE)


def describe_os_error(exc: OSError) -> str:
    """An OSError on a user's path as one line naming the path and the fix."""
    path = exc.filename if exc.filename is not None else ""
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a folder; give a file path"
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return (
            f"{path}: a file is in the way where a folder is needed; choose another "
            "path or remove the file"
        )
    if isinstance(exc, PermissionError):
        return f"{path}: permission denied; choose a path you can write, or fix its mode"
    if isinstance(exc, FileNotFoundError):
        return f"{path}: no such file or folder; check the path"
    reason = exc.strerror or str(exc)
    return f"{path}: {reason}; check the path and the free space" if path else reason


@contextlib.contextmanager
def _usage_errors() -> Iterator[None]:
    """ConfigError while the options are checked is a usage mistake (exit 2)."""
    try:
        yield
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _comma(kind: Callable[[str], Any], name: str) -> Callable[..., tuple]:
    """A click callback parsing a comma list of `kind`."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple:
        if value is None:
            return ()
        try:
            return tuple(kind(v.strip()) for v in value.split(",") if v.strip())
        except ValueError:
            raise click.BadParameter(
                f"expected a comma list of {name}: {value!r}"
            ) from None

    return parse


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings as one line each on stderr."""
    click.echo(f"warning: {message}", err=True)


@click.group(cls=_Group)
@click.version_option(package_name="energy-profiler")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Measure whether sparse ML inference saves energy."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    warnings.showwarning = _show_warning


def default_checkpoint() -> Path:
    """models/digits-mlp-wide.pt under the current folder or the source tree."""
    roots = [Path.cwd(), Path(__file__).resolve().parent.parent]
    for root in roots:
        path = root / "models" / DEFAULT_MODEL
        if path.is_file():
            return path
    where = " or ".join(str(r / "models") for r in roots)
    raise CheckpointError(
        f"no CHECKPOINT given and {DEFAULT_MODEL} is not in {where}; pass a checkpoint "
        "path, or run the command from the repository root"
    )


def _known(
    values: tuple[str, ...], allowed: Sequence[str], option: str
) -> tuple[str, ...]:
    """Reject names not in `allowed` as a usage error."""
    bad = [v for v in values if v not in allowed]
    if bad:
        raise click.BadParameter(
            f"{', '.join(bad)} not known; choose from {', '.join(allowed)}",
            param_hint=option,
        )
    return values


def _model_choices() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sparsity methods and formats the models package offers."""
    from profiler.models.formats import FORMATS
    from profiler.models.sparsify import METHODS

    return tuple(METHODS), tuple(FORMATS)


def _dtype_choices() -> tuple[str, ...]:
    """Precisions the models package offers."""
    from profiler.models.precision import DTYPES

    return DTYPES


@main.command()
@click.argument("checkpoint", required=False, type=click.Path(path_type=Path))
@click.option("--data", default="digits", show_default=True, help="digits, or .pt/.csv")
@click.option(
    "--method",
    "methods",
    default="magnitude,structured",
    show_default=True,
    callback=_comma(str, "method names"),
    help="Sparsity methods, comma list.",
)
@click.option(
    "--sparsity",
    "sparsities",
    default="0.5,0.9,0.95",
    show_default=True,
    callback=_comma(float, "fractions"),
    help="Target sparsities (fraction of weights removed), comma list.",
)
@click.option(
    "--format",
    "formats",
    default="dense,csr",
    show_default=True,
    callback=_comma(str, "formats"),
    help="Execution formats: dense, csr, auto; comma list.",
)
@click.option(
    "--device",
    "devices",
    default="cpu",
    show_default=True,
    callback=_comma(str, "devices"),
    help="cpu, cuda, cuda:N or all; comma list.",
)
@click.option(
    "--batch-size",
    "batch_sizes",
    default="64",
    show_default=True,
    callback=_comma(int, "integers"),
    help="Batch sizes, comma list.",
)
@click.option(
    "--dtype",
    "dtypes",
    default="fp32",
    show_default=True,
    callback=_comma(str, "dtypes"),
    help="Precisions: fp32, bf16, fp16, int8 (dynamic, Linear only); comma list. "
    "Dense fp32 is always measured as the baseline.",
)
@click.option("--repeats", default=5, show_default=True, help="Windows per config.")
@click.option(
    "--min-window",
    type=float,
    default=None,
    help="Seconds per window [default: 100x the sensors' update period, >= 0.5 s; "
    ">= 5 s with NVML].",
)
@click.option("--idle", default=3.0, show_default=True, help="Idle baseline seconds.")
@click.option("--country", default=None, help="ISO3 code for CO2e [default: world].")
@click.option("--out", default="out", show_default=True, type=click.Path(path_type=Path))
@click.option("--resume", is_flag=True, help="Continue the newest run in OUT.")
@click.option("--rapl-root", default=None, help="powercap root [/sys/class/powercap].")
@click.option("--trust-checkpoint", is_flag=True, help="Allow pickled modules.")
@click.option(
    "--sensors",
    default="auto",
    show_default=True,
    help="auto, or a comma list of rapl, nvml, estimate.",
)
@click.option("--threads", type=int, default=None, help="torch threads [torch's].")
@click.option("--seed", default=0, show_default=True)
@click.option("--finetune-epochs", default=0, show_default=True, help="After pruning.")
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="Run each configuration as a Ray task on the cluster at ADDRESS, or 'local' "
    "to start one here (loopback only); results land in OUT as they arrive. Each "
    "task takes all of a node's CPUs (and a whole GPU for CUDA), because two "
    "measurements sharing a CPU package corrupt each other. Needs "
    "pip install 'energy-profiler[ray]'.",
)
@click.option(
    "--ray-resources",
    default=None,
    metavar="JSON",
    help="Ray custom resources every task asks for, e.g. '{\"cpu_server\": 1}', or "
    'per device kind: \'{"cpu": {"cpu_server": 1}, "cuda": {"gpu_node": 1}}\'.',
)
@click.option(
    "--ray-share-cpus",
    is_flag=True,
    help="Let tasks share a node's CPUs (one CPU each, or --threads): faster, but "
    "measurements running together on a node corrupt each other's energy.",
)
def profile(checkpoint: Path | None, out: Path, resume: bool, **opts: Any) -> None:
    """Profile CHECKPOINT dense and sparse [default: models/digits-mlp-wide.pt]."""
    from profiler import carbon, sweep

    run = _runner(
        opts.pop("ray_address"), opts.pop("ray_resources"), opts.pop("ray_share_cpus")
    )
    methods, formats = _model_choices()
    _known(opts["methods"], methods, "--method")
    _known(opts["formats"], formats, "--format")
    _known(opts["dtypes"], _dtype_choices(), "--dtype")
    sensors = parse_sensors(opts.pop("sensors"))
    check_profile_options(opts)
    check_training_data(opts)
    checkpoint = check_profile_paths(checkpoint, opts["data"], out)
    with _usage_errors():
        spec = sweep.SweepSpec(
            checkpoint=checkpoint,
            min_window_s=opts.pop("min_window"),
            idle_s=opts.pop("idle"),
            sensors=sensors if sensors == "auto" else tuple(sensors),
            **opts,
        )
        spec.validate()
        carbon.carbon_intensity_g_per_kwh(spec.country)  # an unknown --country
    db = out / "runs.sqlite"
    failures: list[str] = []
    try:
        with warnings.catch_warnings():  # each failure is listed once, at the end
            warnings.filterwarnings("ignore", message=NOT_MEASURED)
            result = _with_progress(
                lambda on_event: run(spec, db, resume=resume, on_event=on_event),
                failures,
            )
    except sweep.SweepInterrupted as stop:
        _write_csv(db, out)
        for failure in failures:
            click.echo(f"failed: {failure}", err=True)
        kept = _stored_windows(stop.db_path, stop.run_id)
        click.echo(
            f"interrupted: {stop.complete} of {stop.total} configurations complete and "
            f"stored in {stop.db_path}; every finished window is kept "
            f"({kept} {'window' if kept == 1 else 'windows'} kept).",
            err=True,
        )
        click.echo(f"to continue: {_resume_command()}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    frame = _write_csv(db, out)
    if result.complete == 0:
        _fail(nothing_measured(result, out / "results.csv"))
    report = _write_report([db], out / "report.html")
    _print_summary(frame, result)
    click.echo(f"wrote {out / 'results.csv'}, {db}, {report}")


def nothing_measured(result: Any, csv: Path) -> str:
    """The error of a run where every configuration failed, naming the first failure."""
    first = ""
    if result.failed:
        key, error = result.failed[0]
        first = f"; the first failure: {key}: {error}"
    return (
        f"nothing could be measured: all {result.total} configurations failed{first} "
        f"(the failures are recorded in {csv} and {result.db_path})"
    )


def _stored_windows(db: Path, run_id: int) -> int:
    """How many windows of `run_id` the database holds (0 if it cannot be read)."""
    from profiler.store import ResultsStore

    try:
        with ResultsStore(db, create=False) as store:
            return len(store.windows(run_id))
    except (ProfilerError, OSError) as exc:
        logger.info("cannot count the windows in %s: %s", db, exc)
        return 0


def parse_sensors(value: str, option: str = "--sensors") -> str | list[str]:
    """ "auto" or a list of known sensor names, else a usage error naming the option."""
    from profiler.sensors import KNOWN

    names = [v.strip() for v in value.split(",") if v.strip()]
    if names == ["auto"]:
        return "auto"
    bad = [n for n in names if n not in KNOWN]
    if not names or bad:
        which = f" {', '.join(bad)}" if len(names) > 1 else ""
        raise click.UsageError(f"{option} {value}: unknown sensor{which}; {SENSOR_HINT}")
    return names


def _number(value: float) -> str:
    return format(value, "g")


def check_profile_options(opts: dict[str, Any]) -> None:
    """Usage errors (exit 2) for option values `profile` cannot use, naming the option."""
    problems = []
    for value in opts["sparsities"]:
        if not 0 < value < 1:
            problems.append(
                f"--sparsity {_number(value)}: a target sparsity is the fraction of "
                "weights removed; give values strictly between 0 and 1, e.g. 0.5,0.9"
            )
    if opts["methods"] and not opts["sparsities"]:
        problems.append("--sparsity: give at least one value, e.g. 0.5,0.9")
    for value in opts["batch_sizes"] or (0,):
        if value < 1:
            problems.append(f"--batch-size {value}: give positive integers, e.g. 32,64")
    if not opts["devices"]:
        problems.append("--device: give cpu, cuda, cuda:N or all")
    for device in opts["devices"]:
        if not DEVICE_NAME.fullmatch(device.strip().lower()):
            problems.append(
                f"--device {device}: not a device name; give cpu, cuda, cuda:N or all"
            )
    checks = [
        ("--repeats", opts["repeats"], lambda v: v >= 1, "give at least 1"),
        ("--min-window", opts["min_window"], lambda v: v > 0, "give positive seconds"),
        ("--idle", opts["idle"], lambda v: v >= 0, "give 0 or more seconds"),
        ("--threads", opts["threads"], lambda v: v >= 1, "give at least 1"),
        (
            "--finetune-epochs",
            opts["finetune_epochs"],
            lambda v: v >= 0,
            "give 0 (no fine-tuning) or a positive number of epochs",
        ),
    ]
    for option, value, ok, fix in checks:
        if value is not None and not ok(value):
            problems.append(f"{option} {_number(value)}: {fix}")
    if problems:
        raise click.UsageError(problems[0])


def check_training_data(opts: dict[str, Any]) -> None:
    """A usage error (exit 2) when a method or fine-tuning needs training data but
    --data is a user file, which is used whole as the test split."""
    from profiler.models.sparsify import METHODS, TRAINED_METHODS

    if opts["data"] == "digits":
        return
    split = "but a --data file is used whole as the test split"
    trained = [m for m in opts["methods"] if m in TRAINED_METHODS]
    if trained:
        plain = [m for m in METHODS if m not in TRAINED_METHODS and m != "dense"]
        raise click.UsageError(
            f"--method {','.join(trained)} needs training data, {split}; use --data "
            f"digits, or a method without training ({', '.join(plain)})"
        )
    if opts["finetune_epochs"] and opts["methods"]:
        raise click.UsageError(
            f"--finetune-epochs {opts['finetune_epochs']} needs training data, {split}; "
            "use --data digits, or --finetune-epochs 0"
        )


def check_profile_paths(checkpoint: Path | None, data: str, out: Path) -> Path:
    """The checkpoint to profile; failures (exit 1) for missing inputs or a bad --out."""
    checkpoint = checkpoint or default_checkpoint()
    if not checkpoint.exists():
        raise CheckpointError(
            f"checkpoint {checkpoint} does not exist; pass the path of a checkpoint "
            "file, e.g. models/digits-mlp.pt"
        )
    if data != "digits" and not Path(data).is_file():
        raise DataError(f"data {data} does not exist; use 'digits' or a .pt/.csv file")
    if out.exists() and not out.is_dir():
        raise ProfilerError(
            f"--out {out} is a file, but OUT is the folder the results go to (made if "
            "missing); choose another --out or remove the file"
        )
    out.mkdir(parents=True, exist_ok=True)  # an unusable --out fails before any sensor
    return checkpoint


def _runner(address: str | None, resources: str | None, share_cpus: bool) -> Callable:
    """run_sweep on this machine, or run_distributed through Ray with --ray."""
    if address is None:
        if resources is not None or share_cpus:
            raise click.UsageError("--ray-resources and --ray-share-cpus need --ray")
        from profiler.sweep import run_sweep

        return run_sweep
    from profiler import distributed

    with _usage_errors():
        placement = distributed.parse_resources(resources, share_cpus=share_cpus)
    distributed.require_ray()  # a missing extra fails (exit 1) before any work

    def run(spec: Any, db: Path, **kwargs: Any) -> Any:
        return distributed.run_distributed(
            spec, db, address=address, placement=placement, **kwargs
        )

    return run


def _resume_command() -> str:
    """The command line that was run, with --resume."""
    args = [*_program(), *sys.argv[1:]]
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join(args)


def _program() -> list[str]:
    """How this command was started: `python -m profiler` or the script's name."""
    name = Path(sys.argv[0]).name
    if name == "__main__.py":
        return ["python", "-m", "profiler"]
    return [name or "energy-profiler"]


def _with_progress(
    work: Callable[[Callable], Any], failures: list[str] | None = None
) -> Any:
    """Run `work(on_event)` under a rich progress bar on stderr; the message of each
    failed configuration is appended to `failures` (the summary lists them)."""
    failures = [] if failures is None else failures
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:  # a log or a pipe: no live bar, no stray blank line

        def quiet(event: Any) -> None:
            if event.kind == "failed":
                failures.append(event.message)

        return work(quiet)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("starting", total=None)

        def on_event(event: Any) -> None:
            total = event.total or None
            progress.update(
                task, description=event.message, completed=event.done, total=total
            )
            if event.kind == "failed":
                failures.append(event.message)

        return work(on_event)


def _write_csv(db: Path, out: Path) -> Any:
    """results.csv from the database; returns the frame."""
    from profiler import tables

    frame = tables.results_frame(db)
    tables.write_csv(frame, out)
    return frame


def _write_report(runs: list[Path], out: Path) -> Path:
    """The HTML report, or a minimal table page while the report module is missing."""
    try:
        from profiler.report.html import render_report
    except ImportError as exc:
        logger.info("report module unavailable (%s); writing a minimal page", exc)
        return _minimal_report(runs[0], out)
    return render_report(runs, out)


def _minimal_report(db: Path, out: Path) -> Path:
    """A plain, escaped HTML table of the results."""
    from profiler import tables

    frame = tables.results_frame(db)
    table = frame.to_html(index=False, escape=True, na_rep="")
    page = (
        "<!doctype html><meta charset='utf-8'><title>energy-profiler results</title>"
        f"<p>{html.escape(ESTIMATE_BANNER)}</p>{table}"
    )
    out.write_text(page, encoding="utf-8")
    return out


def _fmt(value: Any, spec: str = ".3g") -> str:
    """A number for the summary table; blank when missing."""
    try:
        if value is None or value != value:
            return ""
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def half_width(low: Any, high: Any) -> float | None:
    """Half the CI's width; None when a bound is missing (one repeat gives no CI)."""
    try:
        half = (float(high) - float(low)) / 2
    except (TypeError, ValueError):
        return None
    return half if half == half else None


def _scaled(value: Any, factor: float) -> Any:
    """`value * factor`, or the missing value as it is."""
    try:
        return float(value) * factor
    except (TypeError, ValueError):
        return value


def _variant(r: Any) -> str:
    """ "dense" or "magnitude 90% csr", with the dtype when it is not fp32."""
    dtype = getattr(r, "dtype", "fp32") or "fp32"
    suffix = "" if dtype == "fp32" else f" {dtype}"
    if r.method == "dense":
        return f"dense{suffix}"
    return f"{r.method} {r.target_sparsity:.0%} {r.format}{suffix}"


def _print_summary(frame: Any, result: Any) -> None:
    """The results as a rich table on stdout, estimates labelled."""
    import shutil

    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(shutil.get_terminal_size().columns, 132))
    sources = sorted(set(frame["source"]))
    est = " (est.)" if any("estimate" in s for s in sources) else ""
    mark = est.replace("est.", "ESTIMATE")
    table = Table(
        title="per inference: mean and 95% CI half-width over repeats",
        caption=f"energy source: {', '.join(sources)}{mark}; CO2e is an estimate",
    )
    heads = (
        "variant", "device", "sparsity", f"mJ{est}", "+-CI", "vs dense", "ms/batch",
        "inf/s", f"W{est}", "acc", "ugCO2e",
    )  # fmt: skip
    for head in heads:
        left = head in heads[:2]
        table.add_column(head, justify="left" if left else "right", no_wrap=True)
    for r in frame.itertuples():
        half = half_width(
            r.energy_per_inference_ci_low_j, r.energy_per_inference_ci_high_j
        )
        table.add_row(
            _variant(r), f"{r.device} bs={r.batch_size}",
            _fmt(r.measured_sparsity, ".2f"),
            _fmt(_scaled(r.energy_per_inference_j, 1e3)),
            "n/a" if half is None else _fmt(half * 1e3, ".2g"),
            _fmt(r.energy_ratio_vs_dense, ".2f"),
            _fmt(r.latency_ms), _fmt(r.throughput_ips, ".0f"), _fmt(r.avg_power_w),
            _fmt(r.accuracy, ".3f"), _fmt(_scaled(r.co2_per_inference_g, 1e6)),
        )  # fmt: skip
    console.print(table)
    if est:
        console.print(ESTIMATE_BANNER, style="bold yellow")
    console.print(
        f"{result.complete} of {result.total} configurations complete "
        f"({result.skipped} from before, {len(result.failed)} failed) "
        f"in {result.wall_s:.0f} s"
        + (
            f"; {result.kept_windows} windows measured before the interrupt were kept"
            if getattr(result, "kept_windows", 0)
            else ""
        )
    )
    for key, error in result.failed:
        console.print(f"failed: {key}: {error}", markup=False)


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", default="report.html", type=click.Path(path_type=Path))
def report(runs: tuple[Path, ...], out: Path) -> None:
    """Write the HTML report of RUNS (a runs.sqlite or an output folder; two compare)."""
    if len(runs) > 2:
        raise click.UsageError("give one RUNS, or two to compare")
    from profiler.store import ResultsStore, resolve_db

    if out.is_dir():
        raise ProfilerError(
            f"-o {out} is a folder; give the report's file name, e.g. -o "
            f"{out / 'report.html'}"
        )
    for path in runs:
        ResultsStore(path, create=False).close()  # read-only: a clear error, no write
        if resolve_db(path).resolve() == out.resolve():
            raise ProfilerError(
                f"-o {out} is the results database being reported; give another file, "
                "e.g. -o report.html"
            )
    click.echo(f"wrote {_write_report(list(runs), out)}")


@main.command()
@click.option("--rapl-root", default=None, help="powercap root [/sys/class/powercap].")
def sensors(rapl_root: str | None) -> None:
    """List every sensor and domain: readable or not, why, and how to fix it."""
    from profiler.sensors import probe_sensors

    statuses = probe_sensors(rapl_root=rapl_root)
    for line in describe_sensors(statuses):
        click.echo(line)


def describe_sensors(statuses: Sequence[Any]) -> list[str]:
    """Plain lines for `sensors`: one block per sensor or domain, then a verdict."""
    lines = []
    for s in statuses:
        state = "readable" if s.readable else "NOT readable"
        lines.append(f"{s.sensor} {s.domain or '(no domain)'}: {state}")
        lines += [f"    {key}: {value}" for key, value in _status_parts(s) if value]
    measured = [s for s in statuses if s.readable and s.sensor in ("rapl", "nvml")]
    if not measured:
        lines.append(
            "No energy counter is readable here: every figure will be an estimate "
            "(source 'estimate')."
        )
    return lines


def _status_parts(status: Any) -> list[tuple[str, str]]:
    why = "why" if not status.readable else "note"
    return [(why, status.reason), ("fix", status.fix), ("path", status.path)]


@main.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--sensors", "sensor_names", default="auto", help="auto, or rapl,nvml,estimate."
)
@click.option("--rapl-root", default=None, help="powercap root [/sys/class/powercap].")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(sensor_names: str, rapl_root: str | None, command: tuple[str, ...]) -> None:
    """Measure a whole COMMAND, like `time`: energy: run -- COMMAND [ARGS]."""
    from profiler.bench import measure_command

    names = parse_sensors(sensor_names)
    problem = command_problem(command[0])
    if problem is not None:
        _fail(problem[1], problem[0])
    shown: list[str] = []

    def show(message: Any, *args: Any, **kwargs: Any) -> None:
        shown.append(str(message))
        _show_warning(message, *args, **kwargs)

    with warnings.catch_warnings():  # a note already shown as a warning is not repeated
        warnings.showwarning = show
        result = measure_command(list(command), sensors=names, rapl_root=rapl_root)
    for line in describe_command(result, shown=shown):
        click.echo(line, err=True)
    sys.exit(result.exit_code)


def command_problem(name: str) -> tuple[int, str] | None:
    """(exit status, message) as a shell gives them when `name` cannot run, else None.

    127: not found; 126: found but not executable (no x bit, or a folder).
    """
    if os.sep not in name and not (os.altsep and os.altsep in name):
        if shutil.which(name) is not None:
            return None
        if not any(
            os.path.isfile(os.path.join(d, name))
            for d in os.environ.get("PATH", "").split(os.pathsep)
            if d
        ):
            return EXIT_NOT_FOUND, (
                f"command not found: {name}; check the name or give its full path"
            )
        return EXIT_CANNOT_EXECUTE, (
            f"cannot execute {name}: permission denied; make it executable "
            f"(chmod +x) or run it through its interpreter"
        )
    path = Path(name)
    if not path.exists():
        return EXIT_NOT_FOUND, f"command not found: {name}; check the path"
    if path.is_dir():
        return EXIT_CANNOT_EXECUTE, f"cannot execute {name}: it is a folder"
    if not os.access(path, os.X_OK):
        return EXIT_CANNOT_EXECUTE, (
            f"cannot execute {name}: permission denied; make it executable "
            f"(chmod +x {shlex.quote(name)}) or run it through its interpreter"
        )
    return None


def describe_command(result: Any, *, shown: Sequence[str] = ()) -> list[str]:
    """What `run` prints after the command (to stderr, like `time`); notes already
    printed as warnings (`shown`) are left out."""
    estimate = " (ESTIMATE)" if "estimate" in result.source else ""
    lines = [
        f"command: {shlex.join(result.command)} (exit {result.exit_code})",
        f"duration: {result.duration_s:.3f} s, "
        f"command CPU time {result.child_cpu_s:.3f} s",
        f"energy: {result.total_energy_j:.3f} J{estimate}, average power "
        f"{result.avg_power_w:.2f} W, source {result.source}",
    ]
    for domain, joules in sorted(result.energy_j.items()):
        lines.append(f"  {domain:<12} {joules:10.3f} J  {result.sources.get(domain, '')}")
    for domain, joules in sorted(result.overlap_energy_j.items()):
        lines.append(f"  {domain:<12} {joules:10.3f} J  (overlaps the above; not added)")
    lines += [f"note: {note}" for note in result.notes if note not in shown]
    return lines
