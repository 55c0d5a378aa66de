"""Train the three reference checkpoints on digits with fixed seeds.

Run from the repository root:  python models/make_reference.py [--out models]
Each checkpoint records its test accuracy and how it was trained in its meta.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from profiler.models import accuracy, build, load_data, save_checkpoint
from profiler.models.sparsify.finetune import train

SEED = 0
REFERENCES = {
    "digits-mlp": {
        "arch": {
            "class": "MLP",
            "kwargs": {"in_features": 64, "hidden": [64], "out_features": 10},
        },
        "input_shape": [64],
        "epochs": 100,
        "lr": 1e-3,
    },
    "digits-mlp-wide": {
        "arch": {
            "class": "MLP",
            "kwargs": {"in_features": 64, "hidden": [2048, 2048], "out_features": 10},
        },
        "input_shape": [64],
        "epochs": 15,
        "lr": 1e-4,
    },
    "digits-cnn": {
        "arch": {
            "class": "SmallCNN",
            "kwargs": {
                "in_channels": 1,
                "image_size": 8,
                "channels": [16, 32],
                "num_classes": 10,
            },
        },
        "input_shape": [1, 8, 8],
        "epochs": 40,
        "lr": 2e-3,
    },
}
BATCH_SIZE = 64


def make(name: str, spec: dict, out: Path) -> float:
    """Train one reference model, save it, return its test accuracy."""
    torch.manual_seed(SEED)
    data = load_data("digits", input_shape=spec["input_shape"])
    model = build(spec["arch"])
    start = time.perf_counter()
    loss = train(
        model,
        data.x_train,
        data.y_train,
        epochs=spec["epochs"],
        seed=SEED,
        lr=spec["lr"],
        batch_size=BATCH_SIZE,
    )
    seconds = time.perf_counter() - start
    test_acc = accuracy(model, data.x_test, data.y_test)
    meta = {
        "name": name,
        "dataset": "digits (sklearn load_digits, stratified 75/25 split, random_state=0)",
        "test_accuracy": round(test_acc, 4),
        "train": f"Adam lr={spec['lr']}, batch {BATCH_SIZE}, {spec['epochs']} epochs, "
        f"cross-entropy, seed {SEED}",
        "final_train_loss": round(loss, 5),
    }
    save_checkpoint(
        model,
        spec["arch"],
        out / f"{name}.pt",
        input_shape=spec["input_shape"],
        meta=meta,
    )
    params = sum(p.numel() for p in model.parameters())
    print(
        f"{name}: {params} params, test accuracy {test_acc:.4f}, "
        f"trained in {seconds:.1f} s"
    )
    return test_acc


def main() -> None:
    """Parse arguments and make every reference checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--only", choices=sorted(REFERENCES), action="append")
    args = parser.parse_args()
    for name in args.only or REFERENCES:
        make(name, REFERENCES[name], args.out)


if __name__ == "__main__":
    main()
