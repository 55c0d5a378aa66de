"""Run metadata: the machine, the software and the sensors a run was measured with.

Collected once per run, at the time the run starts; nothing happens at import.
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import sys
from collections.abc import Iterable
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

__all__ = ["cpu_model", "gpu_info", "hardware_info", "software_info", "sensor_info"]

logger = logging.getLogger(__name__)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` says."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError as exc:
        logger.debug("cannot read %s: %s", cpuinfo, exc)
    return platform.processor() or platform.machine() or "unknown"


def _nvml_driver() -> str | None:
    """The NVIDIA driver version through NVML, None when NVML is not usable."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
    except Exception as exc:  # NVML missing or broken: metadata only, never fatal
        logger.debug("NVML driver version unavailable: %s", exc)
        return None
    return version.decode() if isinstance(version, bytes) else str(version)


def gpu_info() -> list[dict[str, Any]]:
    """Model, memory and driver of each CUDA device torch can see (empty without)."""
    import torch

    if not torch.cuda.is_available():
        return []
    driver = _nvml_driver()
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append(
            {
                "index": index,
                "name": props.name,
                "memory_bytes": int(props.total_memory),
                "capability": f"{props.major}.{props.minor}",
                "driver": driver,
                "cuda": torch.version.cuda,
            }
        )
    return gpus


def hardware_info() -> dict[str, Any]:
    """CPU model, cores, RAM, GPUs and the host name."""
    import psutil

    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores_logical": psutil.cpu_count(logical=True),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "ram_bytes": int(psutil.virtual_memory().total),
        "gpus": gpu_info(),
    }


def _version(dist: str) -> str | None:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return None


def software_info() -> dict[str, Any]:
    """Versions of Python, torch and the packages that shape the measurements."""
    import torch

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "energy_profiler": _version("energy-profiler"),
        **{
            name: _version(name)
            for name in ("numpy", "pandas", "codecarbon", "nvidia-ml-py", "torch-pruning")
        },
    }


def sensor_info(domains: Iterable[Any], notes: Iterable[str] = ()) -> dict[str, Any]:
    """The sensor domains of a profiler and their sources."""
    rows = [
        {
            "name": d.name,
            "kind": d.kind,
            "source": d.source,
            "counted": d.counted,
            "update_period_s": d.update_period_s,
            "detail": d.detail,
        }
        for d in domains
    ]
    sources = sorted({r["source"] for r in rows if r["counted"]})
    return {"domains": rows, "source": "+".join(sources), "notes": list(notes)}
