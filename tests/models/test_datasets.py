"""Digits, user .pt and .csv files, accuracy, agreement, and shape checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from profiler.errors import DataError
from profiler.models import MLP, accuracy, agreement, check_input, load_data


def test_digits_split_is_fixed_stratified_and_scaled(digits) -> None:
    again = load_data("digits")
    assert digits.x_train.shape == (1347, 64) and digits.x_test.shape == (450, 64)
    assert torch.equal(digits.x_test, again.x_test) and torch.equal(
        digits.y_test, again.y_test
    )
    assert digits.x_train.dtype == torch.float32 and digits.y_test.dtype == torch.long
    assert float(digits.x_train.min()) >= 0.0 and float(digits.x_train.max()) <= 1.0
    counts = torch.bincount(digits.y_test, minlength=10)
    assert int(counts.min()) >= 43 and int(counts.max()) <= 47  # stratified


def test_digits_reshaped_for_cnn() -> None:
    data = load_data("digits", input_shape=(1, 8, 8))
    assert data.x_train.shape[1:] == (1, 8, 8) and data.x_test.shape[1:] == (1, 8, 8)


def test_reshape_that_cannot_fit() -> None:
    with pytest.raises(DataError, match=r"cannot be shaped"):
        load_data("digits", input_shape=(3, 8, 8))


def test_pt_file_with_and_without_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.pt"
    torch.save({"inputs": torch.rand(6, 64), "labels": torch.arange(6)}, path)
    data = load_data(path)
    assert data.y_test.tolist() == list(range(6)) and data.x_train is None
    torch.save({"inputs": torch.rand(6, 64)}, path)
    assert load_data(str(path)).y_test is None


def test_csv_with_and_without_label_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n0.1,0.2,1\n0.3,0.4,0\n")
    data = load_data(path)
    assert data.x_test.shape == (2, 2) and data.y_test.tolist() == [1, 0]
    path.write_text("a,b\n0.1,0.2\n0.3,0.4\n")
    assert load_data(path).y_test is None


def test_csv_without_label_column_names_the_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    header = ",".join(f"f{i}" for i in range(64)) + ",digit"
    path.write_text(header + "\n" + ",".join(["0.5"] * 64 + ["3"]) + "\n")
    with pytest.raises(DataError) as err:
        load_data(path, input_shape=(64,))
    message = str(err.value)
    assert f"data {path} has no 'label' column" in message
    assert "its 65 columns are all used as features" in message
    assert "the model takes 64" in message and "\n" not in message
    path.write_text(header.replace("digit", "label") + "\n" + "0.5," * 64 + "3\n")
    assert load_data(path, input_shape=(64,)).y_test.tolist() == [3]


def test_csv_without_labels_that_fits_is_unlabelled(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,c,d\n0.1,0.2,0.3,0.4\n")
    data = load_data(path, input_shape=(1, 2, 2))
    assert data.y_test is None and data.x_test.shape == (1, 1, 2, 2)


@pytest.mark.parametrize(
    "content, words",
    [("a,b,label\n", "has a header but no rows"), ("", "is empty")],
    ids=["header-only", "zero-bytes"],
)
def test_csv_without_rows_says_so(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        load_data(path, input_shape=(2,))
    assert f"data {path} {words}" in str(err.value)
    assert "one row per item" in str(err.value) and "'label'" in str(err.value)


class _Hostile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_hostile_pt_data_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"inputs": _Hostile(marker)}, path)
    with pytest.raises(DataError) as err:
        load_data(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "name, content",
    [
        ("junk.pt", b"\x00\x01 not torch"),
        ("nolabel.pt", None),
        ("words.csv", b"a,label\nhello,1\n"),
        ("onlylabel.csv", b"label\n1\n"),
        ("badlabels.csv", b"a,label\n0.1,0.5\n"),
    ],
)
def test_bad_data_files(tmp_path: Path, name: str, content: bytes | None) -> None:
    path = tmp_path / name
    if content is None:
        torch.save({"x": torch.rand(2, 3)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(DataError) as err:
        load_data(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "none.pt")


def test_label_count_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "d.pt"
    torch.save({"inputs": torch.rand(4, 64), "labels": torch.arange(3)}, path)
    with pytest.raises(DataError, match="3 labels for 4 inputs"):
        load_data(path)


def test_check_input_names_source(tiny_mlp: MLP) -> None:
    check_input(tiny_mlp, torch.rand(3, 64), source="ok.pt")
    with pytest.raises(DataError, match=r"data wrong\.csv with items of shape \(5,\)"):
        check_input(tiny_mlp, torch.rand(3, 5), source="wrong.csv")


def test_accuracy_and_agreement(tiny_mlp: MLP, digits) -> None:
    x = digits.x_test
    with torch.no_grad():
        predicted = tiny_mlp(x).argmax(1)
    assert accuracy(tiny_mlp, x, predicted, batch_size=64) == 1.0
    assert agreement(tiny_mlp, tiny_mlp, x) == (1.0, 0.0)
    other = MLP(64, [8], 10)
    top1, diff = agreement(other, tiny_mlp, x)
    assert 0.0 <= top1 < 1.0 and diff > 0.0


def test_fixed_batch_export_names_the_batch_not_the_data(tmp_path: Path) -> None:
    from profiler.models.load import load_checkpoint

    path = tmp_path / "fixed.pt2"
    model = MLP(64, [8], 10).eval()
    torch.export.save(torch.export.export(model, (torch.zeros(4, 64),)), path)
    loaded = load_checkpoint(path)
    x = torch.rand(6, 64)
    with pytest.raises(DataError) as caught:
        check_input(loaded.module, x, source="digits", model_name=str(path))
    message = str(caught.value)
    assert message.startswith(f"{path} accepts only batch size 4: export it with")
    assert "torch.export.Dim" in message and "does not fit" not in message
    assert "\n" not in message


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_torchscript_file_as_data_says_it_is_a_model(tmp_path: Path) -> None:
    import warnings

    path = tmp_path / "model_ts.pt"
    torch.jit.script(MLP(64, [8], 10)).save(str(path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError) as error:
            load_data(path)
    assert str(error.value) == (
        f"data {path} is a TorchScript model, not a data file; expected a .pt dict "
        "with 'inputs' (and 'labels') or a CSV"
    )
    assert not caught  # no torch warning leaks


def test_checkpoint_file_as_data_says_it_is_a_model(tmp_path: Path) -> None:
    from profiler.models.load import save_checkpoint
    from profiler.models.zoo import build

    arch = {"class": "MLP", "kwargs": {"in_features": 64, "hidden": [8],
                                       "out_features": 10}}  # fmt: skip
    path = save_checkpoint(build(arch), arch, tmp_path / "m.pt", input_shape=(64,))
    with pytest.raises(DataError, match=r"is an energy-profiler checkpoint, not a data"):
        load_data(path)


def test_training_method_on_a_user_file_explains_the_split(tmp_path: Path) -> None:
    from profiler.errors import ConfigError
    from profiler.models.sparsify import sparsify

    path = tmp_path / "d.pt"
    torch.save({"inputs": torch.rand(6, 64), "labels": torch.arange(6)}, path)
    with pytest.raises(ConfigError, match=r"used whole as the test split\); pass "
                                          r"data=load_data\('digits'\)"):  # fmt: skip
        sparsify(MLP(64, [8], 10), "l1", 0.5, data=load_data(path))
