#!/usr/bin/env bash
# One prepared check of the GPU paths on a machine with an NVIDIA GPU (issue 7).
# About 6 minutes on one GPU. Writes everything into one folder:
#
#   benchmarks/gpu_check.sh [OUTDIR]        (default: reports/gpu-check)
#
# It prints the GPU and driver, runs `energy-profiler sensors`, profiles on cuda the
# reference model digits-mlp-wide.pt (fp32; dense, magnitude and structured, in dense
# and csr) and a 4096-wide fp16 stack of Linear layers at batch 1 and 256 (dense,
# magnitude, structured and semi-structured 2:4), writes both reports, and compares the
# NVML energy counter with integrated power samples over the same windows.
# The package must be importable (pip install -e ., or PYTHONPATH=. with its
# dependencies present); EP overrides the command (default: python -m profiler).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-reports/gpu-check}
ep=${EP:-python -m profiler}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

{
    nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv
    python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
        torch.cuda.get_device_name(0))"
} 2>&1 | tee "$out/gpu.txt"

$ep sensors 2>&1 | tee "$out/sensors.txt"

$ep profile models/digits-mlp-wide.pt --device cuda --method magnitude,structured \
    --sparsity 0.5,0.9 --format dense,csr --batch-size 256 --repeats 3 --idle 2 \
    --out "$out/wide" 2>&1 | tee "$out/wide.log"

python benchmarks/gpu_make_stack.py "$out/stack" 2>&1 | tee "$out/stack.log"
$ep profile "$out/stack/stack-4096.pt" --data "$out/stack/stack-4096-inputs.pt" \
    --device cuda --dtype fp16 --method magnitude,structured,semi-structured \
    --sparsity 0.5 --format dense --batch-size 1,256 --repeats 3 --idle 2 \
    --out "$out/stack" 2>&1 | tee -a "$out/stack.log"
rm -f "$out/stack/stack-4096.pt" "$out/stack/stack-4096-inputs.pt"  # 200 MB, remade

python benchmarks/gpu_nvml_vs_power.py --out "$out/nvml_vs_power.csv" 2>&1 \
    | tee "$out/nvml_vs_power.txt"
echo "gpu check written to $out"
