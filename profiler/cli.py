"""The `energy-profiler` command: profile, report, sensors, run.

Thin by design: it parses options, calls the harness, tables and report, and prints.
A ProfilerError becomes one line on stderr and exit status 1; usage errors exit 2.
"""

from __future__ import annotations

import html
import logging
import shlex
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from profiler.errors import CheckpointError, ProfilerError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "digits-mlp-wide.pt"
EXIT_INTERRUPTED = 130
ESTIMATE_BANNER = (
    "Energy figures marked 'estimate' are ESTIMATES (this machine's CPU time x a "
    "per-thread share of a TDP figure), not measurements. CO2e is always an estimate."
)


class _Group(click.Group):
    """A click group turning ProfilerError and Ctrl-C into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProfilerError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


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
    from profiler import sweep

    run = _runner(
        opts.pop("ray_address"), opts.pop("ray_resources"), opts.pop("ray_share_cpus")
    )

    methods, formats = _model_choices()
    _known(opts["methods"], methods, "--method")
    _known(opts["formats"], formats, "--format")
    _known(opts["dtypes"], _dtype_choices(), "--dtype")
    sensors = opts.pop("sensors")
    spec = sweep.SweepSpec(
        checkpoint=checkpoint or default_checkpoint(),
        min_window_s=opts.pop("min_window"),
        idle_s=opts.pop("idle"),
        sensors="auto" if sensors == "auto" else tuple(sensors.split(",")),
        **opts,
    )
    db = out / "runs.sqlite"  # the folder is made when the run starts
    try:
        result = _with_progress(
            lambda on_event: run(spec, db, resume=resume, on_event=on_event)
        )
    except sweep.SweepInterrupted as stop:
        _write_csv(db, out)
        click.echo(
            f"interrupted: {stop.complete} of {stop.total} configurations complete and "
            f"stored in {stop.db_path}; every finished window is kept.",
            err=True,
        )
        click.echo(f"to continue: {_resume_command()}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    frame = _write_csv(db, out)
    report = _write_report([db], out / "report.html")
    _print_summary(frame, result)
    click.echo(f"wrote {out / 'results.csv'}, {db}, {report}")


def _runner(address: str | None, resources: str | None, share_cpus: bool) -> Callable:
    """run_sweep on this machine, or run_distributed through Ray with --ray."""
    if address is None:
        if resources is not None or share_cpus:
            raise click.UsageError("--ray-resources and --ray-share-cpus need --ray")
        from profiler.sweep import run_sweep

        return run_sweep
    from profiler import distributed

    placement = distributed.parse_resources(resources, share_cpus=share_cpus)
    distributed.import_ray()  # a missing extra fails before any work

    def run(spec: Any, db: Path, **kwargs: Any) -> Any:
        return distributed.run_distributed(
            spec, db, address=address, placement=placement, **kwargs
        )

    return run


def _resume_command() -> str:
    """The command line that was run, with --resume."""
    args = [Path(sys.argv[0]).name, *sys.argv[1:]]
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join(args)


def _with_progress(work: Callable[[Callable], Any]) -> Any:
    """Run `work(on_event)` under a rich progress bar on stderr."""
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
                progress.console.print(f"skipped: {event.message}", markup=False)

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
        half = (r.energy_per_inference_ci_high_j - r.energy_per_inference_ci_low_j) / 2
        table.add_row(
            _variant(r), f"{r.device} bs={r.batch_size}",
            _fmt(r.measured_sparsity, ".2f"), _fmt(r.energy_per_inference_j * 1e3),
            _fmt(half * 1e3, ".2g"), _fmt(r.energy_ratio_vs_dense, ".2f"),
            _fmt(r.latency_ms), _fmt(r.throughput_ips, ".0f"), _fmt(r.avg_power_w),
            _fmt(r.accuracy, ".3f"), _fmt(r.co2_per_inference_g * 1e6),
        )  # fmt: skip
    console.print(table)
    if est:
        console.print(ESTIMATE_BANNER, style="bold yellow")
    console.print(
        f"{result.complete} of {result.total} configurations complete "
        f"({result.skipped} from before, {len(result.failed)} failed) "
        f"in {result.wall_s:.0f} s"
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
    from profiler.store import ResultsStore

    for path in runs:
        ResultsStore(path, create=False).close()  # a clear error for a wrong file
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

    names = "auto" if sensor_names == "auto" else sensor_names.split(",")
    result = measure_command(list(command), sensors=names, rapl_root=rapl_root)
    for line in describe_command(result):
        click.echo(line, err=True)
    sys.exit(result.exit_code)


def describe_command(result: Any) -> list[str]:
    """What `run` prints after the command (to stderr, like `time`)."""
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
    lines += [f"note: {note}" for note in result.notes]
    return lines
