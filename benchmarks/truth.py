"""Energy error of Profiler windows on fake RAPL trees driven by a known power trace.

    /work/venv/bin/python benchmarks/truth.py [--quick]

A driver thread rewrites every `energy_uj` about every 1 ms, like the hardware, with
the exact integral of a step trace quantised to the raw unit (2^-16 J) and wrapped at
`max_energy_range_uj`. The tree has two packages (core and dram subzones), psys and an
MMIO copy of package 0, all behind the kernel's doubled links. Windows are measured
with the real Profiler (sensors=["rapl"]); the truth is the integral of the trace over
the window's edges, computed here from the trace alone.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fakerapl import scratch_dir, two_socket_tree  # noqa: E402

from profiler import Profiler  # noqa: E402

COUNTED = ("package-0", "package-1", "dram-0", "dram-1")
SCENARIOS = (
    # label, max_energy_range_uj
    ("no wrap (range 262 kJ)", 262_143_328_850),
    ("wraps (range 20 J)", 20_000_000),
    ("fast wraps (range 3 J)", 3_000_000),
)


def run_scenario(label: str, max_uj: int, lengths_s: list[float], repeats: int):
    """Measure windows; return rows of (length, measured J, true J, per-domain errors)."""
    with tempfile.TemporaryDirectory(dir=scratch_dir()) as tmp:
        cap, expected = two_socket_tree(Path(tmp), max_uj)
        cap.start()
        rows, notes = [], set()
        try:
            with Profiler(["rapl"], rapl_root=str(cap.root)) as prof:
                domains = {d.name: d.counted for d in prof.domains}
                for _ in range(repeats):
                    for length_s in lengths_s:
                        wraps0 = {k: z.wraps for k, z in cap.zones.items()}
                        t0 = cap.now_s()
                        with prof.window(f"{length_s:g}s") as win:
                            time.sleep(length_s)
                        t1 = cap.now_s()
                        m = win.measurement
                        notes.update(m.notes)
                        truth = {
                            d: cap.energy_j(link, t0, t1) for d, link in expected.items()
                        }
                        seen = {**m.energy_j, **m.overlap_energy_j}
                        wraps = sum(z.wraps - wraps0[k] for k, z in cap.zones.items())
                        rows.append((length_s, m, truth, seen, wraps))
        finally:
            cap.stop()
    gaps = cap.tick_gaps_s
    return domains, rows, notes, gaps


def report(label: str, domains, rows, notes, gaps) -> float:
    """Print one scenario; return the worst total error in percent at >= 1 s."""
    print(f"\n== {label}")
    counted = sorted(d for d, c in domains.items() if c)
    shown = sorted(d for d, c in domains.items() if not c)
    print(f"  counted: {', '.join(counted)}; reported only: {', '.join(shown)}")
    if tuple(sorted(COUNTED)) != tuple(counted):
        print(f"  DEFECT: counted domains should be {', '.join(COUNTED)}")
    gaps_ms = sorted(g * 1e3 for g in gaps)
    p99 = gaps_ms[int(len(gaps_ms) * 0.99)]
    med = statistics.median(gaps_ms)
    print(f"  driver updates: {len(gaps)}, gap median {med:.2f} ms, p99 {p99:.2f} ms")
    print(f"  {'window':>7} {'wraps':>6} {'true J':>10} {'measured J':>11} "
          f"{'total err %':>11} {'worst domain err %':>24}")  # fmt: skip
    worst_long = 0.0
    for length_s, m, truth, seen, wraps in rows:
        true_total = sum(truth[d] for d in COUNTED)
        err = (m.total_energy_j - true_total) / true_total * 100
        dom_err = {d: (seen.get(d, float("nan")) - t) / t * 100 for d, t in truth.items()}
        name, worst = max(dom_err.items(), key=lambda kv: abs(kv[1]))
        print(f"  {length_s:>6g}s {wraps:>6} {true_total:>10.3f} "
              f"{m.total_energy_j:>11.3f} {err:>+11.4f} {worst:>+14.4f} "
              f"({name})")  # fmt: skip
        if length_s >= 1.0:
            worst_long = max(worst_long, abs(err), abs(worst))
    extra = sorted(n for n in notes if not n.startswith("estimate"))
    if extra:
        print("  notes: " + " | ".join(extra[:4]))
    return worst_long


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat (~15 s)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    lengths_s = [0.05, 0.2, 1.0, 3.0]
    repeats = 1 if args.quick else 3
    print(
        "error = (measured - integral of the trace) / integral, percent; total over "
        "counted domains, and the worst single domain (core/psys included)"
    )
    worst = []
    for label, max_uj in SCENARIOS:
        worst.append(report(label, *run_scenario(label, max_uj, lengths_s, repeats)))
    verdict = "met" if max(worst) <= 0.5 else "MISSED"
    print(f"\ngoal: error <= 0.5 % on windows >= 1 s: worst {max(worst):.4f} % {verdict}")
    print(
        "short windows carry up to one counter update (~1 ms of power) at each edge: "
        "about 2 ms / length"
    )


if __name__ == "__main__":
    main()
