"""The profiler's own cost, beside codecarbon's offline tracker, measured in one run.

    /work/venv/bin/python benchmarks/overhead.py [--quick]

(a) empty window open+close vs OfflineEmissionsTracker start+stop (and its task
start+stop); (b) perturbation of a CPU-bound torch workload, interleaved; (c) the
sampler thread's CPU seconds per wall second; (d) Profiler start-up and `import
profiler` in a fresh interpreter. Sockets are guarded: any non-loopback connection or
name lookup raises and is counted (codecarbon's offline tracker should make none).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fakerapl import scratch_dir, two_socket_tree  # noqa: E402

BLOCKED: list[str] = []
LOOPBACK = ("127.", "::1", "localhost")


def guard_network() -> None:
    """Refuse every connection and name lookup that is not loopback, and record it."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def loopback(address) -> bool:
        host = address[0] if isinstance(address, tuple) else str(address)
        return isinstance(host, str) and host.startswith(LOOPBACK)

    def connect(self, address):
        if self.family != socket.AF_UNIX and not loopback(address):
            BLOCKED.append(f"connect {address!r}")
            raise OSError(f"benchmark network guard: blocked connect to {address!r}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family != socket.AF_UNIX and not loopback(address):
            BLOCKED.append(f"connect_ex {address!r}")
            return 111
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not loopback((host,)):
            BLOCKED.append(f"getaddrinfo {host!r}")
            raise socket.gaierror(f"benchmark network guard: blocked lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo


def median_us(fn: Callable[[], None], n: int) -> tuple[float, float, float]:
    """(median, p10, p90) microseconds of `fn()` over `n` calls, after 10 warm-ups."""
    for _ in range(10):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) / 1e3)
    return quantiles(times)


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """(median, p10, p90)."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return statistics.median(values), deciles[0], deciles[-1]


def row(label: str, med: float, lo: float, hi: float, unit: str) -> None:
    print(f"  {label:<46} {med:>12.1f} {unit:<3} (p10 {lo:.1f}, p90 {hi:.1f})")


# (a) window vs codecarbon ---------------------------------------------------------
def window_cost(n: int) -> dict[str, float]:
    from profiler import Profiler

    print(f"(a) empty window open+close, median of {n}; codecarbon offline tracker")
    out = {}
    with Profiler() as prof:

        def empty() -> None:
            with prof.window("empty"):
                pass

        med, lo, hi = median_us(empty, n)
        prof.measurements.clear()
        row(
            f"window, default sensors ({'+'.join(sorted(prof_sources(prof)))})",
            med,
            lo,
            hi,
            "us",
        )
        out["window_us"] = med
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        cap, _ = two_socket_tree(Path(tmp), max_uj=262_143_328_850)
        cap.start()
        try:
            with Profiler(["rapl"], rapl_root=str(cap.root)) as prof:
                doms = [d.name for d in prof.domains]

                def empty_rapl() -> None:
                    with prof.window("empty"):
                        pass

                med, lo, hi = median_us(empty_rapl, n // 4)
            row(f"window, fake RAPL tree ({len(doms)} counters)", med, lo, hi, "us")
            out["window_rapl_us"] = med
        finally:
            cap.stop()
    out.update(codecarbon_cost())
    return out


def prof_sources(prof) -> set[str]:
    return {d.source for d in prof.domains if d.counted}


def codecarbon_cost(repeats: int = 5, tasks: int = 200) -> dict[str, float]:
    from codecarbon import OfflineEmissionsTracker

    def tracker() -> OfflineEmissionsTracker:
        return OfflineEmissionsTracker(
            country_iso_code="FRA", save_to_file=False, log_level="error"
        )

    new_s, start_s, stop_s = [], [], []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        cc = tracker()
        t1 = time.perf_counter()
        cc.start()
        t2 = time.perf_counter()
        cc.stop()
        t3 = time.perf_counter()
        new_s.append((t1 - t0) * 1e6)
        start_s.append((t2 - t1) * 1e6)
        stop_s.append((t3 - t2) * 1e6)
    both = [a + b for a, b in zip(start_s, stop_s)]
    first_us = both.pop(0)
    print(
        f"  codecarbon first start+stop in this process {first_us:>12.1f} us  "
        f"(start {start_s[0]:.0f}, stop {stop_s[0]:.0f}; the CPU probe is cached)"
    )
    del new_s[0], start_s[0], stop_s[0]
    row(f"codecarbon construct, later, median of {repeats}", *quantiles(new_s), "us")
    row(f"codecarbon start, later, median of {repeats}", *quantiles(start_s), "us")
    row(f"codecarbon stop, later, median of {repeats}", *quantiles(stop_s), "us")
    row(f"codecarbon start+stop, later, median of {repeats}", *quantiles(both), "us")
    cc = tracker()
    cc.start()
    counter = iter(range(10**9))

    def task() -> None:
        name = f"t{next(counter)}"
        cc.start_task(name)
        cc.stop_task(name)

    task_us = median_us(task, tasks)
    cc.stop()
    row(f"codecarbon task start+stop, median of {tasks}", *task_us, "us")
    return {
        "cc_first_us": first_us,
        "cc_start_stop_us": statistics.median(both),
        "cc_task_us": task_us[0],
    }


# (b) perturbation -------------------------------------------------------------------
def workload() -> None:
    """Fixed CPU-bound torch work: 60 matmuls of 256x256 plus tanh (~30 ms, 1 thread)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(256, 256, generator=gen)
    b = torch.randn(256, 256, generator=gen) / 16
    with torch.no_grad():
        for _ in range(60):
            a = torch.tanh(a @ b)


def perturbation(pairs: int) -> dict[str, float]:
    from profiler import Profiler

    print(f"(b) perturbation: workload alone (A) vs inside a Profiler window (B) at the "
          f"default interval, {pairs} pairs, order AB BA AB ...")  # fmt: skip
    for _ in range(3):
        workload()
    wall = {"A": [], "B": []}
    cpu = {"A": [], "B": []}

    def timed(key: str) -> None:
        c0, t0 = time.thread_time(), time.perf_counter()
        workload()
        wall[key].append(time.perf_counter() - t0)
        cpu[key].append(time.thread_time() - c0)

    def run_profiled() -> None:
        with Profiler() as prof, prof.window("work"):
            timed("B")

    for i in range(pairs):
        order = ("A", "B") if i % 2 == 0 else ("B", "A")
        for key in order:
            run_profiled() if key == "B" else timed("A")
    out = {}
    for label, data in (("wall", wall), ("main-thread CPU", cpu)):
        ratios = [b / a for a, b in zip(data["A"], data["B"])]
        med_a, med_b = statistics.median(data["A"]), statistics.median(data["B"])
        row(f"A {label}: workload alone", *(x * 1e3 for x in quantiles(data["A"])), "ms")
        row(f"B {label}: inside a window", *(x * 1e3 for x in quantiles(data["B"])), "ms")
        r_med, r_lo, r_hi = quantiles(ratios)
        best = min(data["B"]) / min(data["A"])
        print(f"  {label} ratio B/A: of medians {med_b / med_a:.4f}, of minima "
              f"{best:.4f}; per pair median {r_med:.4f} (p10 {r_lo:.4f}, "
              f"p90 {r_hi:.4f})")  # fmt: skip
        out.setdefault("perturbation_ratio", r_med)
        out.setdefault("perturbation_spread", r_hi - r_lo)
    return out


# (c) sampler CPU ---------------------------------------------------------------------
def sampler_cpu(seconds: float, rapl_root: str | None = None, **kwargs) -> float:
    """CPU seconds per wall second of the sampler thread (its own CPU clock)."""
    from profiler import Profiler

    sensors = ["rapl"] if rapl_root else "auto"
    with Profiler(sensors, rapl_root=rapl_root, **kwargs):
        thread = next(t for t in threading.enumerate() if t.name == "profiler-sampler")
        clock = time.pthread_getcpuclockid(thread.ident)
        c0, w0 = time.clock_gettime(clock), time.perf_counter()
        time.sleep(seconds)
        c1, w1 = time.clock_gettime(clock), time.perf_counter()
    return (c1 - c0) / (w1 - w0)


def sampler_table(seconds: float) -> dict[str, float]:
    from profiler.measure import DEFAULT_INTERVAL_S

    print(f"(c) sampler thread CPU per wall second, {seconds:g} s each (main thread "
          "sleeping)")  # fmt: skip
    out = {}
    for interval in (DEFAULT_INTERVAL_S, 0.01, 0.001):
        share = sampler_cpu(seconds, interval_s=interval)
        tag = " (default)" if interval == DEFAULT_INTERVAL_S else ""
        print(f"  estimate sensor, interval {interval * 1e3:g} ms{tag:<10} "
              f"{share * 100:>8.3f} % of one core")  # fmt: skip
        out.setdefault("sampler_cpu", share)
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        cap, _ = two_socket_tree(Path(tmp), max_uj=262_143_328_850)
        cap.start()
        try:
            share = sampler_cpu(seconds, rapl_root=str(cap.root))
        finally:
            cap.stop()
    print(f"  fake RAPL tree (7 counters), default interval    {share * 100:>8.3f} % "
          "of one core")  # fmt: skip
    out["sampler_cpu_rapl"] = share
    return out


# (d) start-up ------------------------------------------------------------------------
FRESH = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import profiler
t1 = time.perf_counter()
heavy = sorted(m for m in ("torch", "pandas", "numpy", "codecarbon", "pynvml")
               if m in sys.modules)
prof = profiler.Profiler()
t2 = time.perf_counter()
prof.start()
t3 = time.perf_counter()
prof.stop()
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "start_s": t3 - t2, "stop_s": t4 - t3,
                  "heavy": heavy}))
"""


def startup(fresh: int, warm: int) -> dict[str, float]:
    from profiler import Profiler

    print(f"(d) start-up: fresh interpreter x{fresh} (first start), then warm x{warm}")
    runs = []
    for _ in range(fresh):
        done = subprocess.run(
            [sys.executable, "-c", FRESH], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    imp = [r["import_s"] * 1e3 for r in runs]
    first = [r["start_s"] * 1e3 for r in runs]
    row("`import profiler`, fresh interpreter", *quantiles(imp), "ms")
    print(f"  modules loaded by it among torch/pandas/numpy/codecarbon/pynvml: "
          f"{runs[0]['heavy'] or 'none'}")  # fmt: skip
    row("first Profiler().start(), fresh interpreter", *quantiles(first), "ms")
    starts, stops = [], []
    for _ in range(warm):
        prof = Profiler()
        t0 = time.perf_counter()
        prof.start()
        t1 = time.perf_counter()
        prof.stop()
        starts.append((t1 - t0) * 1e3)
        stops.append((time.perf_counter() - t1) * 1e3)
    row("warm Profiler().start()", *quantiles(starts), "ms")
    row("warm Profiler.stop()", *quantiles(stops), "ms")
    return {
        "import_ms": statistics.median(imp),
        "first_start_ms": statistics.median(first),
        "warm_start_ms": statistics.median(starts),
    }


def goals(f: dict[str, float]) -> None:
    print("goals")
    checks = [
        ("empty window <= 50 us", f["window_us"], 50, "us"),
        ("first Profiler start <= 50 ms", f["first_start_ms"], 50, "ms"),
        ("warm Profiler start <= 50 ms", f["warm_start_ms"], 50, "ms"),
        ("perturbation <= 1 %", abs(f["perturbation_ratio"] - 1) * 100, 1, "%"),
        ("sampler CPU <= 1 % of a core", f["sampler_cpu"] * 100, 1, "%"),
    ]
    noisy = f["perturbation_spread"] > 0.2
    for label, value, limit, unit in checks:
        verdict = "met" if value <= limit else "MISSED"
        if label.startswith("perturbation") and noisy:
            verdict = f"INCONCLUSIVE (pair p10-p90 {f['perturbation_spread']:.2f})"
        print(f"  {label:<34} {value:>10.3f} {unit:<3} {verdict}")
    pairs = (
        ("cc_first_us", "first start+stop"),
        ("cc_start_stop_us", "later start+stop"),
        ("cc_task_us", "task start+stop"),
    )
    for key, label in pairs:
        ratio = f[key] / f["window_us"]
        verdict = "met" if ratio >= 100 else "MISSED"
        print(
            f"  >= 100x cheaper than codecarbon {label:<11} {ratio:>10.0f} x   {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (~30 s)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    guard_network()
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}, load average "
          f"{os.getloadavg()[0]:.2f} (other processes share these cores)")  # fmt: skip
    q = args.quick
    figures = window_cost(5000 if q else 20000)
    figures.update(perturbation(10 if q else 40))
    figures.update(sampler_table(1.0 if q else 4.0))
    figures.update(startup(3 if q else 7, 10 if q else 40))
    goals(figures)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print(f"network: {len(BLOCKED)} non-loopback attempts blocked {BLOCKED[:3]}")


if __name__ == "__main__":
    main()
