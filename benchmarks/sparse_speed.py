"""Latency and energy of sparse execution against dense, variants interleaved in one run.

    /work/venv/bin/python benchmarks/sparse_speed.py [--quick] [--repeats N]

Models: models/digits-mlp-wide.pt (64-2048-2048-10, batch 256) and one 4096x4096
Linear layer at batch 64. Variants per sparsity (50, 90, 95, 99 %): magnitude kept in
dense format, magnitude in csr, structured (dense format, layers shrunk), and magnitude
in auto format. Within one sparsity level dense and the four variants are timed in
rotating order, each in its own Profiler window of enough calls to last ~0.1 s;
figures are medians over the repeats, under torch.no_grad. Energy comes from whatever
sensor Profiler() picks: without RAPL that is the estimate (CPU time x per-thread TDP),
so energy ratios then mostly mirror latency.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from profiler import Profiler
from profiler.models.formats import to_format
from profiler.models.load import load_checkpoint
from profiler.models.sparsify import sparsify

ROOT = Path(__file__).resolve().parents[1]
WIDE = ROOT / "models" / "digits-mlp-wide.pt"
LEVELS = (0.5, 0.9, 0.95, 0.99)
VARIANTS = ("dense", "magnitude/dense", "magnitude/csr", "structured", "auto")
WINDOW_S = 0.1


def row_structured(layer: nn.Linear, sparsity: float) -> nn.Module:
    """Keep the output rows of largest L2 norm so that `sparsity` of weights go.

    Done here for the single layer: the package's structured method keeps the output
    layer's width (and needs a chain of >= 2 layers)."""
    keep = max(1, round(layer.out_features * (1.0 - sparsity)))
    rows = layer.weight.detach().norm(dim=1).topk(keep).indices.sort().values
    small = nn.Linear(layer.in_features, keep)
    with torch.no_grad():
        small.weight.copy_(layer.weight[rows])
        small.bias.copy_(layer.bias[rows])
    return nn.Sequential(small).eval()


def build(model: nn.Module, level: float, x: torch.Tensor, single: bool):
    """The variants at one sparsity level; returns {name: (module, description)}."""
    mag, rec = sparsify(model, "magnitude", level)
    out = {"dense": (model, "dense")}
    out["magnitude/dense"] = (mag, f"measured {rec.measured_sparsity:.3f}")
    csr, _ = to_format(mag, "csr", x)
    out["magnitude/csr"] = (csr, "csr")
    if single:
        out["structured"] = (row_structured(model[0], level), "rows removed")
    else:
        st, srec = sparsify(model, "structured", level)
        out["structured"] = (st, f"measured {srec.measured_sparsity:.3f}")
    auto, frec = to_format(mag, "auto", x)
    chosen = ",".join(frec.per_layer.values())
    out["auto"] = (auto, f"chose {chosen}")
    return out


def calls_for(fn: Callable[[], None]) -> int:
    """Calls per window so that a window lasts about WINDOW_S."""
    fn()
    t0 = time.perf_counter()
    fn()
    one_s = time.perf_counter() - t0
    return max(1, round(WINDOW_S / max(one_s, 1e-6)))


def time_level(prof: Profiler, variants, x, repeats: int):
    """Median latency (s per call) and energy (J per call) of each variant."""
    fns = {name: (lambda m=module: m(x)) for name, (module, _) in variants.items()}
    lat: dict[str, list[float]] = {name: [] for name in fns}
    energy: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    with torch.no_grad():
        calls = {name: calls_for(fn) for name, fn in fns.items()}
        for rep in range(repeats):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                fn, n = fns[name], calls[name]
                with prof.window(name, items=n) as win:
                    for _ in range(n):
                        fn()
                lat[name].append(win.measurement.duration_s / n)
                energy[name].append(win.measurement.total_energy_j / n)
    med = {n: (statistics.median(lat[n]), statistics.median(energy[n])) for n in names}
    spread = {n: _spread(lat[n]) for n in names}
    return med, spread


def _spread(values: list[float]) -> float:
    """(max - min) / median: how much one variant's repeats disagree."""
    return (max(values) - min(values)) / statistics.median(values)


def bench_model(prof, label: str, model, x, single: bool, repeats: int, levels):
    print(f"\n== {label}, input {tuple(x.shape)}, {repeats} repeats per variant")
    head = "ms/call  lat ratio  energy ratio (estimate)  spread  note"
    print(f"  {'level':>5} {'variant':<16} {head}")
    results = {}
    for level in levels:
        variants = build(model, level, x, single)
        med, spread = time_level(prof, variants, x, repeats)
        d_lat, d_j = med["dense"]
        for name in VARIANTS:
            lat_s, j = med[name]
            note = variants[name][1]
            results[(level, name)] = lat_s / d_lat
            print(f"  {level * 100:>4g}% {name:<16} {lat_s * 1e3:>7.3f} "
                  f"{lat_s / d_lat:>10.3f} {j / d_j:>13.3f} {spread[name]:>17.2f}"
                  f"  {note}")  # fmt: skip
        del variants
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, 50/90/99 %%")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    repeats = args.repeats or (3 if args.quick else 7)
    levels = (0.5, 0.9, 0.99) if args.quick else LEVELS
    torch.manual_seed(0)
    t_start = time.perf_counter()
    wide = load_checkpoint(WIDE).module.eval()
    single = nn.Sequential(nn.Linear(4096, 4096)).eval()
    with Profiler() as prof:
        sources = sorted({d.source for d in prof.domains if d.counted})
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load "
              f"average {os.getloadavg()[0]:.2f} (shared cores); energy sensor: "
              f"{'+'.join(sources)}")  # fmt: skip
        if sources == ["estimate"]:
            print("  energy is the ESTIMATE: process CPU time x per-thread TDP, so the "
                  "energy ratios mostly mirror latency")  # fmt: skip
        print("  ratios are variant / dense at the same level, dense timed beside "
              "them; spread = (max-min)/median of the variant's repeats")  # fmt: skip
        wide_r = bench_model(
            prof, "digits-mlp-wide", wide, torch.randn(256, 64), False, repeats, levels
        )
        one_r = bench_model(
            prof, "Linear 4096x4096", single, torch.randn(64, 4096), True, repeats, levels
        )
    goals(wide_r, one_r)
    print(f"\nwall time {time.perf_counter() - t_start:.0f} s, load average at the end "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip


def goals(wide_r: dict, one_r: dict) -> None:
    print("\ngoals")
    st = wide_r[(0.5, "structured")]
    print(f"  structured 50% on the wide model <= 0.6 of dense: {st:.3f} "
          f"{'met' if st <= 0.6 else 'MISSED'}")  # fmt: skip
    for label, res in (("wide", wide_r), ("4096", one_r)):
        worst = max((r, lvl) for (lvl, v), r in res.items() if v == "auto")
        verdict = "met" if worst[0] <= 1.05 else "MISSED"
        print(f"  auto never > 1.05 x dense ({label}): worst {worst[0]:.3f} at "
              f"{worst[1] * 100:g}% {verdict}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
