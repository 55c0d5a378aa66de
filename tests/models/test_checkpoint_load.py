"""Loading every supported kind, and refusing bad or hostile files with one line."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from profiler.errors import CheckpointError, CheckpointRefused
from profiler.models import MLP, load_checkpoint, save_checkpoint


def _same_output(a: nn.Module, b: nn.Module, shape: tuple[int, ...] = (5, 64)) -> bool:
    x = torch.rand(*shape)
    with torch.no_grad():
        return torch.allclose(a(x), b(x), atol=1e-6)


def _one_line(err: pytest.ExceptionInfo, path: Path) -> str:
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_profiler_format_round_trip(
    tiny_checkpoint: Path, tiny_mlp: MLP, tiny_arch: dict
) -> None:
    loaded = load_checkpoint(tiny_checkpoint)
    assert loaded.kind == "profiler" and loaded.input_shape == (64,)
    assert loaded.arch == tiny_arch and loaded.name == "tiny"
    assert _same_output(loaded.module, tiny_mlp)


def test_export_program(tmp_path: Path, tiny_mlp: MLP) -> None:
    batch = torch.export.Dim("batch")
    program = torch.export.export(
        tiny_mlp, (torch.zeros(2, 64),), dynamic_shapes=({0: batch},)
    )
    path = tmp_path / "tiny.pt2"
    torch.export.save(program, path)
    loaded = load_checkpoint(path)
    assert loaded.kind == "export" and loaded.input_shape == (64,)
    assert _same_output(loaded.module, tiny_mlp, (7, 64))


def test_torchscript_loads_without_deprecation_error(
    tmp_path: Path, tiny_mlp: MLP
) -> None:
    path = tmp_path / "tiny.ts"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(tiny_mlp).save(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as under -W error
        loaded = load_checkpoint(path)
    assert loaded.kind == "torchscript" and loaded.input_shape is None
    assert _same_output(loaded.module, tiny_mlp)


def test_pickled_module_refused_without_flag(tmp_path: Path, tiny_mlp: MLP) -> None:
    path = tmp_path / "whole.pt"
    torch.save(tiny_mlp, path)
    with pytest.raises(CheckpointRefused) as err:
        load_checkpoint(path)
    message = _one_line(err, path)
    assert "arbitrary code" in message and "--trust-checkpoint" in message
    assert "trust_checkpoint=True" in message
    loaded = load_checkpoint(path, trust_checkpoint=True)
    assert loaded.kind == "pickle" and loaded.input_shape == (64,)
    assert _same_output(loaded.module, tiny_mlp)


class _Hostile:
    """Unpickling this would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("how", ["torch.save", "raw pickle"])
def test_hostile_pickle_is_not_executed(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "hostile.pt"
    if how == "torch.save":
        torch.save({"state_dict": _Hostile(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(_Hostile(marker)))
    with pytest.raises(CheckpointRefused) as err:
        load_checkpoint(path)
    _one_line(err, path)
    assert not marker.exists()


def _write_random(path: Path) -> None:
    path.write_bytes(bytes(range(7, 256)) * 8)


def _write_text(path: Path) -> None:
    path.write_text("this is a text file, not weights\n")


def _write_empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("writer", [_write_random, _write_text, _write_empty])
def test_not_a_checkpoint(tmp_path: Path, writer) -> None:
    path = tmp_path / "junk.pt"
    writer(path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "expected" in _one_line(err, path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="does not exist") as err:
        load_checkpoint(path)
    _one_line(err, path)


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_file(tiny_checkpoint: Path, keep: float) -> None:
    data = tiny_checkpoint.read_bytes()
    tiny_checkpoint.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tiny_checkpoint)
    _one_line(err, tiny_checkpoint)


def test_truncated_pickle_legacy(tmp_path: Path, tiny_mlp: MLP) -> None:
    path = tmp_path / "legacy.pt"
    torch.save(tiny_mlp.state_dict(), path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    _one_line(err, path)


def _profiler_dict(tiny_mlp: MLP, **changes) -> dict:
    payload = {
        "format": "energy-profiler/1",
        "arch": {
            "class": "MLP",
            "kwargs": {"in_features": 64, "hidden": [32, 24], "out_features": 10},
        },
        "state_dict": tiny_mlp.state_dict(),
        "input_shape": [64],
        "meta": {},
    }
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"arch": {"class": "Evil", "kwargs": {}}}, "not in the model zoo"),
        ({"arch": {"class": "MLP", "kwargs": {"depth": 2}}}, "cannot build MLP"),
        (
            {
                "arch": {
                    "class": "MLP",
                    "kwargs": {"in_features": 64, "hidden": [7], "out_features": 10},
                }
            },
            "does not match its arch",
        ),
        ({"format": "other/9"}, "unknown format"),
    ],
)
def test_bad_profiler_dict(
    tmp_path: Path, tiny_mlp: MLP, changes: dict, words: str
) -> None:
    path = tmp_path / "bad.pt"
    torch.save(_profiler_dict(tiny_mlp, **changes), path)
    with pytest.raises(CheckpointError, match=words) as err:
        load_checkpoint(path)
    _one_line(err, path)


def test_bare_state_dict_says_what_is_expected(tmp_path: Path, tiny_mlp: MLP) -> None:
    path = tmp_path / "sd.pt"
    torch.save(tiny_mlp.state_dict(), path)
    with pytest.raises(CheckpointError, match="bare state_dict") as err:
        load_checkpoint(path)
    assert "'arch'" in _one_line(err, path)


def test_save_checkpoint_is_weights_only(tiny_checkpoint: Path) -> None:
    payload = torch.load(tiny_checkpoint, weights_only=True)
    assert payload["format"].startswith("energy-profiler/")
    assert set(payload) == {"format", "arch", "state_dict", "input_shape", "meta"}


def test_save_then_load_tuple_shape(
    tmp_path: Path, tiny_mlp: MLP, tiny_arch: dict
) -> None:
    path = save_checkpoint(tiny_mlp, tiny_arch, tmp_path / "m.pt", input_shape=(64,))
    assert load_checkpoint(path).input_shape == (64,)


def test_zip_that_is_not_torch(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "other.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="not a torch file") as err:
        load_checkpoint(path)
    _one_line(err, path)


def test_directory_is_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a file"):
        load_checkpoint(tmp_path)
