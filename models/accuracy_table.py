"""Test accuracy against sparsity for each method, before and after fine-tuning.

Run from the repository root:  python models/accuracy_table.py [--readme]
With --readme the table replaces the marked section of models/README.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from profiler.errors import DeviceUnavailable
from profiler.models import accuracy, load_checkpoint, load_data, sparsify

HERE = Path(__file__).parent
MODELS = ("digits-mlp", "digits-mlp-wide", "digits-cnn")
METHODS = ("magnitude", "structured", "l1", "greedy", "semi-structured")
SPARSITIES = (0.5, 0.7, 0.9, 0.95)
FINETUNE_EPOCHS = 5
SEED = 0
START, END = "<!-- accuracy-table:start -->", "<!-- accuracy-table:end -->"


def cell(model, method: str, sparsity: float, data, epochs: int) -> str:
    """Test accuracy of one variant, with the measured sparsity if it is off target."""
    try:
        sparse, record = sparsify(
            model, method, sparsity, data=data, finetune_epochs=epochs, seed=SEED
        )
    except DeviceUnavailable:
        return "needs CUDA"
    acc = accuracy(sparse, data.x_test, data.y_test)
    off = abs(record.measured_sparsity - sparsity) > 0.005
    return f"{acc:.3f}" + (f" (at {record.measured_sparsity:.3f})" if off else "")


def table(name: str) -> list[str]:
    """Markdown lines of one model's table."""
    loaded = load_checkpoint(HERE / f"{name}.pt")
    data = load_data("digits", input_shape=loaded.input_shape)
    dense = accuracy(loaded.module, data.x_test, data.y_test)
    heads = [f"{s:.0%} / +{FINETUNE_EPOCHS} ep" for s in SPARSITIES]
    lines = [
        f"**{name}** (dense test accuracy {dense:.3f})",
        "",
        "| method | " + " | ".join(heads) + " |",
        "|---" * (len(SPARSITIES) + 1) + "|",
    ]
    for method in METHODS:
        cells = []
        for sparsity in SPARSITIES:
            pair = [
                cell(loaded.module, method, sparsity, data, epochs)
                for epochs in (0, FINETUNE_EPOCHS)
            ]
            cells.append(pair[0] if pair[0] == pair[1] else " / ".join(pair))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def update_readme(text: str) -> None:
    """Replace the marked section of models/README.md with ``text``."""
    readme = HERE / "README.md"
    before, rest = readme.read_text().split(START, 1)
    after = rest.split(END, 1)[1]
    readme.write_text(f"{before}{START}\n{text}{END}{after}")


def main() -> None:
    """Build every model's table and print it (and write it into the README)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="update models/README.md")
    parser.add_argument("--only", choices=MODELS, action="append")
    args = parser.parse_args()
    start = time.perf_counter()
    lines = []
    for name in args.only or MODELS:
        block = table(name)
        print("\n".join(block), flush=True)
        lines += block
    seconds = time.perf_counter() - start
    footer = (
        f"Each cell: test accuracy before / after {FINETUNE_EPOCHS} epochs of "
        "fine-tuning that keeps the sparsity pattern; one value when both agree. "
        "Sparsity is the fraction of Linear/Conv weights removed or zero relative to "
        "the dense model; "
        "'(at x)' gives the measured sparsity where it is more than 0.5 points off. "
        f"Seed {SEED}; produced by `python models/accuracy_table.py --readme` "
        f"in {seconds:.0f} s on the development machine (2 CPU cores).\n"
    )
    text = "\n".join(lines) + "\n" + footer
    if args.readme:
        update_readme(text)
    print(footer)


if __name__ == "__main__":
    main()
