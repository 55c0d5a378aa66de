"""The command line, through click's CliRunner, on this machine's real sensors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from profiler import cli, sweep
from profiler.models.load import save_checkpoint
from profiler.models.zoo import build

FAST = ["--repeats", "2", "--min-window", "0.05", "--idle", "0.1"]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    arch = {"class": "MLP", "kwargs": {"in_features": 64, "hidden": [16],
                                       "out_features": 10}}  # fmt: skip
    return save_checkpoint(build(arch), arch, tmp_path / "tiny.pt", input_shape=(64,))


def _invoke(*args: str) -> object:
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


def test_sensors_exits_zero() -> None:
    result = _invoke("sensors")
    assert result.exit_code == 0, result.output
    assert "estimate" in result.output


def test_sensors_explains_a_missing_tree_with_a_fix(tmp_path: Path) -> None:
    result = _invoke("sensors", "--rapl-root", str(tmp_path / "no-such-tree"))
    assert result.exit_code == 0, result.output
    assert "rapl (no domain): NOT readable" in result.output
    assert f"no powercap tree at {tmp_path / 'no-such-tree'}" in result.output
    assert "--rapl-root" in result.output.split("fix: ", 1)[1]
    if importlib.util.find_spec("pyRAPL") is None:  # the extra's name survives printing
        assert "pip install 'energy-profiler[pyrapl]'" in result.output


def test_profile_writes_the_three_files(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _invoke("profile", str(tiny), "--method", "magnitude", "--sparsity", "0.5",
                     "--out", str(out), *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    for name in ("results.csv", "runs.sqlite", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert "dense" in result.output and "magnitude" in result.output
    if "estimate" in result.output:
        assert "ESTIMATE" in result.output


def test_resume_with_nothing_left_measures_nothing(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["profile", str(tiny), "--method", "magnitude", "--sparsity", "0.5",
            "--format", "dense", "--out", str(out), *FAST]  # fmt: skip
    assert _invoke(*args).exit_code == 0
    again = _invoke(*args, "--resume")
    assert again.exit_code == 0, again.stderr
    assert "2 from before" in again.output


def test_cuda_without_cuda_exits_nonzero(tiny: Path, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = _invoke("profile", str(tiny), "--device", "cuda", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "CUDA is not available" in _one_error_line(result)


def test_bad_checkpoint_path_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    result = _invoke("profile", str(missing), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert str(missing) in _one_error_line(result)


def test_unknown_country_is_one_line(tiny: Path, tmp_path: Path) -> None:
    result = _invoke("profile", str(tiny), "--country", "ZZZ", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "ZZZ" in _one_error_line(result)


@pytest.mark.parametrize(
    "args",
    [["--sparsity", "lots"], ["--method", "nonsense"], ["--format", "coo"],
     ["--batch-size", "x"]],
)  # fmt: skip
def test_usage_errors_exit_2(tiny: Path, args: list[str]) -> None:
    result = _invoke("profile", str(tiny), *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output + result.stderr


def test_ctrl_c_exits_130_and_says_how_to_resume(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(spec, db, **kw):
        from profiler.store import ResultsStore

        ResultsStore(db).close()
        raise sweep.SweepInterrupted(1, Path(db), 2, 5)

    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    result = _invoke("profile", str(tiny), "--out", str(tmp_path / "o"))
    assert result.exit_code == 130
    assert "2 of 5" in result.stderr and "--resume" in result.stderr


def test_report_of_a_foreign_file_is_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_text("not sqlite at all " * 50)
    result = _invoke("report", str(bogus), "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 1
    assert str(bogus) in _one_error_line(result)


def test_run_passes_exit_code_and_prints_energy() -> None:
    code = "import sys; sum(i * i for i in range(300000)); sys.exit(3)"
    result = _invoke("run", "--", sys.executable, "-c", code)
    assert result.exit_code == 3
    assert "energy:" in result.stderr and "J" in result.stderr
    assert "command CPU time" in result.stderr


def test_run_unknown_command_is_one_line() -> None:
    result = _invoke("run", "--", "no-such-command-xyz")
    assert result.exit_code == 1
    assert "no-such-command-xyz" in _one_error_line(result)
