"""Evaluation data and accuracy: digits built in, or a user's .pt / .csv file.

``digits`` is scikit-learn's bundled 8x8 digits (no download), split once with a fixed
stratified split, scaled to [0, 1]. A user file is used whole as the test split; without
labels, :func:`agreement` compares a model with the dense one instead of with labels.
"""

from __future__ import annotations

import logging
import pickle
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from profiler.errors import DataError
from profiler.models.messages import first_line

logger = logging.getLogger(__name__)

__all__ = ["Dataset", "accuracy", "agreement", "check_input", "load_data", "predict"]

DIGITS_TEST_SIZE = 0.25
DIGITS_SEED = 0
_PT_EXPECTED = "expected a torch.save dict with an 'inputs' tensor and optional 'labels'"
_CSV_EXPECTED = "expected numeric feature columns and an optional integer 'label' column"
_CSV_ROWS = "numeric feature values and, in a 'label' column, the integer class"
_DATA_EXPECTED = "expected a .pt dict with 'inputs' (and 'labels') or a CSV"
_FIXED_BATCH = re.compile(r"size\(\)\[0\] == (\d+)")


@dataclass(frozen=True)
class Dataset:
    """Inputs and labels; train parts are None for user files, labels may be None."""

    name: str
    x_train: Tensor | None
    y_train: Tensor | None
    x_test: Tensor
    y_test: Tensor | None

    @property
    def has_labels(self) -> bool:
        """True if the test split has labels, so accuracy can be measured."""
        return self.y_test is not None


def load_data(spec: str | Path, *, input_shape: Sequence[int] | None = None) -> Dataset:
    """Load ``"digits"`` or a .pt/.csv file; reshape inputs to ``input_shape``."""
    text = str(spec)
    if text == "digits":
        data = _digits()
    else:
        path = Path(text)
        if not path.is_file():
            raise DataError(
                f"data {path} does not exist; use 'digits' or a .pt/.csv file"
            )
        if path.suffix.lower() == ".csv":
            return _csv_reshaped(path, input_shape)
        data = _from_pt(path)
    return _reshaped(data, input_shape) if input_shape else data


def _csv_reshaped(path: Path, input_shape: Sequence[int] | None) -> Dataset:
    """A CSV as a Dataset; a shape mismatch without a 'label' column says so."""
    data = _from_csv(path)
    if not input_shape:
        return data
    try:
        return _reshaped(data, input_shape)
    except DataError:
        if data.has_labels:
            raise
        columns = data.x_test[0].numel()
        raise DataError(
            f"data {path} has no 'label' column; its {columns} columns are all used "
            f"as features, but the model takes {_prod(input_shape)}: name the label "
            "column 'label', or drop the extra columns"
        ) from None


def _digits() -> Dataset:
    """The bundled digits, stratified split 75/25 with a fixed seed, scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        bunch.data / 16.0,
        bunch.target,
        test_size=DIGITS_TEST_SIZE,
        random_state=DIGITS_SEED,
        stratify=bunch.target,
    )
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.tensor(a, dtype=torch.long)  # noqa: E731
    return Dataset("digits", as_x(x_tr), as_y(y_tr), as_x(x_te), as_y(y_te))


def _from_pt(path: Path) -> Dataset:
    """Read a .pt file holding ``inputs`` and optional ``labels``; never runs code."""
    model = _model_kind(path)
    if model is not None:
        raise DataError(f"data {path} is {model}, not a data file; {_DATA_EXPECTED}")
    try:
        with warnings.catch_warnings():  # torch's own warnings are no use here
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise DataError(
            f"data {path} is not a torch file or holds pickled objects (refused: "
            f"unpickling runs arbitrary code); {_PT_EXPECTED}"
        ) from None
    except Exception as err:  # truncation, random bytes
        raise DataError(
            f"data {path} is truncated or corrupt ({first_line(err)[:80]}); "
            f"{_PT_EXPECTED}"
        ) from None
    if isinstance(obj, dict) and {"arch", "state_dict"} <= set(obj):
        raise DataError(
            f"data {path} is an energy-profiler checkpoint, not a data file; "
            f"{_DATA_EXPECTED}"
        )
    if not isinstance(obj, dict) or not isinstance(obj.get("inputs"), Tensor):
        raise DataError(f"data {path} has no 'inputs' tensor; {_PT_EXPECTED}")
    labels = obj.get("labels")
    if labels is not None and not isinstance(labels, Tensor):
        raise DataError(f"data {path}: 'labels' is not a tensor; {_PT_EXPECTED}")
    return _checked(path, obj["inputs"], labels)


def _model_kind(path: Path) -> str | None:
    """ "a TorchScript model" or "a torch.export program" for such a zip, else None."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {n.split("/", 1)[-1] for n in archive.namelist()}
    except (zipfile.BadZipFile, OSError):
        return None  # not a zip: torch.load says what it is
    if "constants.pkl" in names or any(n.startswith("code/") for n in names):
        return "a TorchScript model"
    if any(n.startswith(("models/", "serialized_exported_program")) for n in names):
        return "a torch.export program"
    return None


def _from_csv(path: Path) -> Dataset:
    """Read a CSV of numeric features with an optional ``label`` column."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"data {path} is empty; expected a header line, then one row per item: "
            f"{_CSV_ROWS}"
        ) from None
    except Exception as err:  # pandas raises ParserError, UnicodeDecodeError, ...
        raise DataError(f"data {path} is not a readable CSV; {_CSV_EXPECTED}") from err
    if frame.empty and frame.shape[1] > 0:
        raise DataError(
            f"data {path} has a header but no rows; expected one row per item: "
            f"{_CSV_ROWS}"
        )
    labels = None
    if "label" in frame.columns:
        labels = torch.tensor(_numeric(frame.pop("label"), path).to_numpy())
    if frame.shape[1] == 0:
        raise DataError(f"data {path} has no feature columns; {_CSV_EXPECTED}")
    values = frame.apply(lambda col: _numeric(col, path)).to_numpy(dtype="float32")
    return _checked(path, torch.tensor(values), labels)


def _numeric(column: Any, path: Path) -> Any:
    """Return the column as numbers, or raise DataError naming it."""
    import pandas as pd

    converted = pd.to_numeric(column, errors="coerce")
    if converted.isna().any():
        raise DataError(
            f"data {path}: column {column.name!r} has non-numeric or missing values; "
            f"{_CSV_EXPECTED}"
        )
    return converted


def _checked(path: Path, inputs: Tensor, labels: Tensor | None) -> Dataset:
    """Validate dtypes and lengths, and wrap a user file as a test-only Dataset."""
    if inputs.ndim < 2 or len(inputs) == 0:
        raise DataError(f"data {path}: inputs must be a non-empty batch (N, ...)")
    if not (inputs.is_floating_point() or inputs.dtype in (torch.int32, torch.int64)):
        raise DataError(f"data {path}: inputs have dtype {inputs.dtype}, expected floats")
    if labels is not None:
        if labels.is_floating_point() and not torch.equal(labels, labels.round()):
            raise DataError(f"data {path}: labels must be integer class indices")
        if labels.shape != (len(inputs),):
            raise DataError(
                f"data {path}: {labels.numel()} labels for {len(inputs)} inputs; "
                "expected one integer label per input"
            )
        labels = labels.long()
    return Dataset(path.stem, None, None, inputs.float(), labels)


def _reshaped(data: Dataset, shape: Sequence[int]) -> Dataset:
    """Reshape every input split to (N, *shape), or raise DataError."""
    shape = tuple(int(d) for d in shape)

    def fit(x: Tensor | None) -> Tensor | None:
        if x is None:
            return None
        per_item = x[0].numel()
        if per_item != _prod(shape):
            raise DataError(
                f"data {data.name}: items of {tuple(x.shape[1:])} ({per_item} values) "
                f"cannot be shaped as the model's input {shape}"
            )
        return x.reshape(len(x), *shape)

    return Dataset(
        data.name, fit(data.x_train), data.y_train, fit(data.x_test), data.y_test
    )


def _prod(shape: Sequence[int]) -> int:
    """Product of a shape's dimensions."""
    total = 1
    for dim in shape:
        total *= dim
    return total


def check_input(
    model: nn.Module, x: Tensor, *, source: str, model_name: str = "the model"
) -> None:
    """Run the model on two items; raise DataError naming ``source`` if it fails.

    A torch.export program exported with a fixed batch size fails here whatever the
    data; the message says so (naming ``model_name``) instead of blaming the data.
    """
    try:
        with torch.no_grad():
            out = model(x[:2])
    except Exception as err:  # shape errors surface as RuntimeError, ValueError, ...
        fixed = _FIXED_BATCH.search(str(err))
        if fixed is not None and int(fixed.group(1)) != len(x[:2]):
            raise DataError(
                f"{model_name} accepts only batch size {fixed.group(1)}: export it "
                "with a dynamic batch dimension (torch.export.Dim) to profile other "
                "batch sizes (profiling also runs it on other batch sizes to count "
                "accuracy and activations)"
            ) from None
        raise DataError(
            f"data {source} with items of shape {tuple(x.shape[1:])} does not fit the "
            f"model ({first_line(err)[:160]}); give data of the model's input shape"
        ) from None
    if not isinstance(out, Tensor) or out.ndim != 2:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise DataError(
            f"data {source}: the model returned {got}, expected logits (N, classes)"
        )


def predict(
    model: nn.Module, x: Tensor, *, batch_size: int = 256, device: str = "cpu"
) -> Tensor:
    """Logits of ``model`` on ``x`` in batches under no_grad, returned on the CPU."""
    _set_eval(model)
    outputs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            outputs.append(model(x[start : start + batch_size].to(device)).float().cpu())
    return torch.cat(outputs)


def accuracy(
    model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 256, device: str = "cpu"
) -> float:
    """Top-1 accuracy (0..1) of ``model`` on ``x`` against labels ``y``."""
    logits = predict(model, x, batch_size=batch_size, device=device)
    return float((logits.argmax(1) == y.cpu()).float().mean())


def agreement(
    model: nn.Module,
    reference: nn.Module,
    x: Tensor,
    *,
    batch_size: int = 256,
    device: str = "cpu",
) -> tuple[float, float]:
    """Top-1 agreement (0..1) and mean absolute logit difference against ``reference``."""
    ours = predict(model, x, batch_size=batch_size, device=device)
    theirs = predict(reference, x, batch_size=batch_size, device=device)
    top1 = float((ours.argmax(1) == theirs.argmax(1)).float().mean())
    return top1, float((ours - theirs).abs().mean())


def _set_eval(model: nn.Module) -> None:
    """Put a module in eval mode; unlifted torch.export modules refuse and need not."""
    try:
        model.eval()
    except (NotImplementedError, RuntimeError):
        logger.debug("module %s does not support eval(); left as is", type(model))
