"""Load the checkpoint a user hands the profiler, refusing what would run code.

Four kinds are understood, told apart by the file's content, not its extension:

- ``profiler``: the project's own format, a ``torch.save`` dict with ``format``,
  ``arch`` (a zoo class and its kwargs), ``state_dict``, ``input_shape`` and ``meta``,
  read with ``weights_only=True``;
- ``export``: a ``torch.export`` program (``.pt2``);
- ``torchscript``: a ``torch.jit`` archive (deprecated by torch; its warning is logged);
- ``pickle``: a whole pickled ``nn.Module``, only with ``trust_checkpoint=True``.
"""

from __future__ import annotations

import logging
import pickle
import pickletools
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from profiler.errors import CheckpointError, CheckpointRefused
from profiler.models.messages import first_line
from profiler.models.zoo import build

logger = logging.getLogger(__name__)

__all__ = ["FORMAT_TAG", "LoadedModel", "load_checkpoint", "save_checkpoint"]

FORMAT_TAG = "energy-profiler/1"
_EXPECTED = (
    "expected a torch.export program (.pt2), a TorchScript file, or an energy-profiler "
    "checkpoint (a torch.save dict with format, arch, state_dict, input_shape)"
)
_PICKLE_PROTO = 0x80
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to run, and what is known about where it came from."""

    module: nn.Module
    path: Path
    kind: str  # "profiler" | "export" | "torchscript" | "pickle"
    arch: Mapping[str, Any] | None
    input_shape: tuple[int, ...] | None
    name: str


def save_checkpoint(
    module: nn.Module,
    arch: Mapping[str, Any],
    path: str | Path,
    *,
    input_shape: Sequence[int],
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Save ``module`` in the project's format; ``meta`` must hold plain values only."""
    path = Path(path)
    payload = {
        "format": FORMAT_TAG,
        "arch": {"class": arch["class"], "kwargs": dict(arch.get("kwargs", {}))},
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "input_shape": [int(d) for d in input_shape],
        "meta": dict(meta or {}),
    }
    torch.save(payload, path)
    logger.info("saved %s checkpoint to %s", arch["class"], path)
    return path


def load_checkpoint(path: str | Path, *, trust_checkpoint: bool = False) -> LoadedModel:
    """Load a checkpoint of any supported kind; raise CheckpointError naming the file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; {_EXPECTED}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file; {_EXPECTED}")
    kind = _detect(path)
    logger.info("loading %s as a %s checkpoint", path, kind)
    if kind == "export":
        return _load_export(path)
    if kind == "torchscript":
        return _load_torchscript(path)
    return _load_saved(path, trust_checkpoint)


def _detect(path: Path) -> str:
    """Return "export", "torchscript" or "saved" from the file's content."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head == _ZIP_MAGIC:
        members = {n.split("/", 1)[-1] for n in _zip_names(path)}  # below the root
        if "constants.pkl" in members or any(m.startswith("code/") for m in members):
            return "torchscript"
        if any(m.startswith(("models/", "serialized_exported_program")) for m in members):
            return "export"
        if "data.pkl" in members:
            return "saved"
        raise CheckpointError(f"checkpoint {path} is a zip archive but not a torch file")
    if head[:1] == bytes([_PICKLE_PROTO]):
        return "saved"  # legacy (non-zip) torch.save format
    detail = "is empty" if not head else "is not a torch file"
    raise CheckpointError(f"checkpoint {path} {detail}; {_EXPECTED}")


def _zip_names(path: Path) -> list[str]:
    """List the members of a zip archive; a truncated archive is a CheckpointError."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({first_line(err)}); {_EXPECTED}"
        ) from err


def _load_export(path: Path) -> LoadedModel:
    """Load a torch.export program and unlift it into a callable module."""
    try:
        program = torch.export.load(path)
        module = program.module()
    except Exception as err:  # torch raises many types for a damaged archive
        raise CheckpointError(
            f"cannot load torch.export program {path}: {first_line(err)}"
        ) from err
    return LoadedModel(
        module, path, "export", None, _export_input_shape(program), path.stem
    )


def _export_input_shape(program: Any) -> tuple[int, ...] | None:
    """Per-item shape of the program's first user input, if its dims are static."""
    user_inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            value = node.meta.get("val")
            dims = getattr(value, "shape", None)
            if dims is None or len(dims) < 2:
                return None
            try:
                return tuple(int(d) for d in dims[1:])
            except TypeError:  # a symbolic dimension beyond the batch
                return None
    return None


def _load_torchscript(path: Path) -> LoadedModel:
    """Load a TorchScript archive, recording torch's deprecation warning in the log."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # torch.jit raises RuntimeError and others
        raise CheckpointError(
            f"cannot load TorchScript file {path}: {first_line(err)}"
        ) from err
    for warning in caught:
        logger.info("torch.jit.load %s: %s", path, warning.message)
    return LoadedModel(module, path, "torchscript", None, None, path.stem)


def _load_saved(path: Path, trust: bool) -> LoadedModel:
    """Load a torch.save file: the profiler format safely, a pickle only if trusted."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not _holds_objects(path):
            raise CheckpointError(
                f"checkpoint {path} is corrupt or not a checkpoint; {_EXPECTED}"
            ) from err
        if not trust:
            raise CheckpointRefused(
                f"checkpoint {path} is a pickled object, and unpickling runs arbitrary "
                "code; if you trust the file, pass --trust-checkpoint "
                "(trust_checkpoint=True)"
            ) from None
        return _load_pickle(path)
    except Exception as err:  # truncated files raise RuntimeError, EOFError, ...
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({first_line(err)}); {_EXPECTED}"
        ) from err
    return _from_dict(obj, path)


def _holds_objects(path: Path) -> bool:
    """True if the file's pickle parses and names globals (classes, functions).

    The pickle is read with pickletools, which decodes opcodes and executes nothing.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                data = archive.read(member)
        else:
            data = path.read_bytes()
        ops = [op.name for op, _, _ in pickletools.genops(data)]
    except Exception:  # any decoding failure means: not a pickle we understand
        return False
    return any(name in ("GLOBAL", "STACK_GLOBAL", "INST", "OBJ") for name in ops)


def _load_pickle(path: Path) -> LoadedModel:
    """Unpickle a whole module; the caller has established that the user trusts it."""
    logger.warning("unpickling %s with weights_only=False (trusted by the user)", path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # unpickling a foreign file can raise anything
        raise CheckpointError(f"cannot unpickle {path}: {first_line(err)}") from err
    if isinstance(obj, Mapping):
        return _from_dict(obj, path)
    if not isinstance(obj, nn.Module):
        raise CheckpointError(
            f"checkpoint {path} unpickled to a {type(obj).__name__}, not an nn.Module"
        )
    shape = getattr(obj, "input_shape", None)
    shape = tuple(int(d) for d in shape) if shape else None
    return LoadedModel(obj, path, "pickle", None, shape, path.stem)


def _from_dict(obj: Any, path: Path) -> LoadedModel:
    """Build a model from a dict in the profiler format, or explain what is missing."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"checkpoint {path} holds a {type(obj).__name__}; {_EXPECTED}"
        )
    if "arch" not in obj or "state_dict" not in obj:
        bare = obj and all(isinstance(v, torch.Tensor) for v in obj.values())
        what = "a bare state_dict without an architecture" if bare else "a dict"
        raise CheckpointError(
            f"checkpoint {path} holds {what}; expected an energy-profiler checkpoint "
            "with 'arch' and 'state_dict' (write one with "
            "profiler.models.save_checkpoint)"
        )
    if not str(obj.get("format", FORMAT_TAG)).startswith("energy-profiler/"):
        raise CheckpointError(f"checkpoint {path} has unknown format {obj['format']!r}")
    try:
        module = build(obj["arch"])
    except CheckpointError as err:
        raise CheckpointError(f"checkpoint {path}: {err}") from err
    _load_state(module, obj["state_dict"], path)
    module.eval()
    shape = obj.get("input_shape") or getattr(module, "input_shape", None)
    shape = tuple(int(d) for d in shape) if shape else None
    name = str(obj.get("meta", {}).get("name", path.stem))
    return LoadedModel(module, path, "profiler", dict(obj["arch"]), shape, name)


def _load_state(module: nn.Module, state: Any, path: Path) -> None:
    """Load a state_dict strictly; a mismatch with the arch is a CheckpointError."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"checkpoint {path}: state_dict is not a dict of tensors")
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, KeyError) as err:
        summary = " ".join(str(err).split())[:300]
        raise CheckpointError(
            f"checkpoint {path}: state_dict does not match its arch ({summary})"
        ) from err
