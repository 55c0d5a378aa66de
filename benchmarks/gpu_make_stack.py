"""Write a 4096-wide stack of Linear layers and random inputs for the GPU check.

    python benchmarks/gpu_make_stack.py OUTDIR

Writes OUTDIR/stack-4096.pt (the project's checkpoint format: MLP 4096-4096-4096-4096,
ReLU between layers, seed 0) and OUTDIR/stack-4096-inputs.pt (1024 random inputs, no
labels: accuracy is then agreement with the dense model).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from profiler.models.load import save_checkpoint
from profiler.models.zoo import build

WIDTH = 4096


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    arch = {
        "class": "MLP",
        "kwargs": {"in_features": WIDTH, "hidden": [WIDTH, WIDTH], "out_features": WIDTH},
    }
    model = build(arch)
    save_checkpoint(model, arch, out / "stack-4096.pt", input_shape=[WIDTH])
    torch.save({"inputs": torch.randn(1024, WIDTH)}, out / "stack-4096-inputs.pt")
    print(f"wrote {out / 'stack-4096.pt'} and {out / 'stack-4096-inputs.pt'}")


if __name__ == "__main__":
    main()
