"""The model zoo: architectures a profiler checkpoint may name.

A checkpoint in the project's own format stores ``{"class": name, "kwargs": {...}}``;
:func:`build` turns that description back into a module. Only classes listed in
:data:`ZOO` can be built, so a checkpoint can never name arbitrary code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from profiler.errors import CheckpointError
from profiler.models.messages import first_line

logger = logging.getLogger(__name__)

__all__ = ["MLP", "SmallCNN", "ZOO", "build"]


class MLP(nn.Module):
    """A multilayer perceptron with ReLU between its Linear layers.

    Inputs of any per-item shape are flattened, so 8x8 images work as 64 features.
    """

    def __init__(self, in_features: int, hidden: list[int], out_features: int) -> None:
        super().__init__()
        widths = [in_features, *hidden]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], out_features))
        self.layers = nn.Sequential(*layers)
        self.input_shape: tuple[int, ...] = (in_features,)

    def forward(self, x: Tensor) -> Tensor:
        """Return logits for a batch ``x`` of shape (N, ...)."""
        return self.layers(x.flatten(1))


class SmallCNN(nn.Module):
    """Blocks of 3x3 conv, ReLU and 2x2 max-pool, then one Linear classifier."""

    def __init__(
        self, in_channels: int, image_size: int, channels: list[int], num_classes: int
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        size, width_in = image_size, in_channels
        for width_out in channels:
            blocks += [nn.Conv2d(width_in, width_out, 3, padding=1), nn.ReLU()]
            if size >= 2:
                blocks.append(nn.MaxPool2d(2))
                size //= 2
            width_in = width_out
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Linear(width_in * size * size, num_classes)
        self.input_shape: tuple[int, ...] = (in_channels, image_size, image_size)

    def forward(self, x: Tensor) -> Tensor:
        """Return logits for a batch ``x`` of shape (N, C, H, W)."""
        return self.classifier(self.features(x).flatten(1))


ZOO: Mapping[str, type[nn.Module]] = {"MLP": MLP, "SmallCNN": SmallCNN}


def build(arch: Mapping[str, Any]) -> nn.Module:
    """Build the zoo model described by ``{"class": name, "kwargs": {...}}``.

    Raises CheckpointError for an unknown class or arguments the class rejects.
    """
    if not isinstance(arch, Mapping) or "class" not in arch:
        raise CheckpointError(
            f"architecture {arch!r} is not a dict with 'class' and 'kwargs'; "
            f"expected e.g. {{'class': 'MLP', 'kwargs': {{...}}}}"
        )
    name, kwargs = arch["class"], arch.get("kwargs", {})
    if name not in ZOO:
        raise CheckpointError(
            f"architecture class {name!r} is not in the model zoo; "
            f"expected one of {sorted(ZOO)}"
        )
    if not isinstance(kwargs, Mapping):
        raise CheckpointError(f"architecture kwargs for {name} must be a dict")
    try:
        model = ZOO[name](**kwargs)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"cannot build {name} from kwargs {dict(kwargs)!r}: {first_line(err)}"
        ) from err
    logger.debug("built %s with %s", name, kwargs)
    return model
