"""On a real NVIDIA GPU: the NVML energy counter against integrated power, same windows.

Runs an fp16 matmul load on cuda:0 for windows of 1, 5 and 10 s. Over each window it
reads the total-energy counter at the edges (through the package's NvmlSensor) and, in
a thread, samples power every 10 ms (the instant-power field where the GPU has it, else
nvmlDeviceGetPowerUsage, a one-second average on recent GPUs) and integrates it by the
trapezoid rule. Prints both figures and their difference in percent.

    python benchmarks/gpu_nvml_vs_power.py [--out FILE.csv]
"""

from __future__ import annotations

import argparse
import csv
import threading
import time

import torch

from profiler.sensors import nvml
from profiler.sensors.nvml import NvmlSensor

SAMPLE_S = 0.01


def _power_reader(pynvml, handle):
    """A function returning watts now, and the name of what it reads."""
    if nvml._instant_power_w(pynvml, handle) is not None:
        return (lambda: nvml._instant_power_w(pynvml, handle)), "instant field"
    return (lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1e3), "power usage (avg)"


def _integrate(read_w, stop: threading.Event, out: list[float]) -> None:
    last_t, last_w = time.perf_counter(), read_w()
    total = 0.0
    while not stop.is_set():
        time.sleep(SAMPLE_S)
        now, watts = time.perf_counter(), read_w()
        total += (watts + last_w) / 2 * (now - last_t)
        last_t, last_w = now, watts
    out.append(total)


def _load(seconds: float) -> None:
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(10):
            a @ a
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="also write the rows as CSV")
    args = parser.parse_args()

    sensor = NvmlSensor(environ={"CUDA_VISIBLE_DEVICES": "0"})
    pynvml = sensor._pynvml
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    read_w, what = _power_reader(pynvml, handle)
    name = sensor.domains()[0].name
    print(f"GPU {pynvml.nvmlDeviceGetName(handle)}; power sampled from {what}")
    _load(2.0)  # warm-up: clocks up, kernels chosen

    rows = []
    for seconds in (1.0, 5.0, 10.0):
        stop, integral = threading.Event(), []
        thread = threading.Thread(target=_integrate, args=(read_w, stop, integral))
        torch.cuda.synchronize()
        before = sensor.read_j()[name]
        thread.start()
        _load(seconds)
        after = sensor.read_j()[name]
        stop.set()
        thread.join()
        counter_j, power_j = after - before, integral[0]
        diff = (power_j - counter_j) / counter_j * 100
        rows.append((seconds, counter_j, power_j, diff))
        print(
            f"window {seconds:4.1f} s: counter {counter_j:9.2f} J, integrated power "
            f"{power_j:9.2f} J, difference {diff:+.2f}%"
        )
    sensor.close()
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as handle_out:
            writer = csv.writer(handle_out)
            writer.writerow(["window_s", "counter_j", "integrated_power_j", "diff_pct"])
            writer.writerows(rows)


if __name__ == "__main__":
    main()
