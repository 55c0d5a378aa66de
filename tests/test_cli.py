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
    assert result.exit_code == 2  # a usage mistake, found before anything is measured
    assert "ZZZ" in _one_error_line(result)
    assert not (tmp_path / "runs.sqlite").exists()


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


def _only_error_line(result) -> str:
    """stderr is exactly one `error:` line: no blank line, usage block or warning."""
    assert "Traceback" not in result.output + result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    return result.stderr.strip()


@pytest.mark.parametrize(
    "name, code",
    [("no-such-command-xyz", 127), ("/nonexistent/cmd", 127)],
)
def test_run_unknown_command_exits_127(name: str, code: int) -> None:
    result = _invoke("run", "--", name)
    assert result.exit_code == code
    assert f"command not found: {name};" in _only_error_line(result)


def test_run_not_executable_exits_126(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    for target in (script, tmp_path):
        result = _invoke("run", "--", str(target))
        assert result.exit_code == 126, target
        assert f"cannot execute {target}" in _only_error_line(result)


def test_one_repeat_prints_na_for_the_missing_ci(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _invoke("profile", str(tiny), "--method", "magnitude", "--sparsity", "0.5",
                     "--format", "dense", "--out", str(out), "--repeats", "1",
                     "--min-window", "0.05", "--idle", "0.1")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert "n/a" in result.output and "2 of 2 configurations complete" in result.output
    for name in ("results.csv", "runs.sqlite", "report.html"):
        assert (out / name).stat().st_size > 0, name


def test_half_width_is_none_without_bounds() -> None:
    assert cli.half_width(1.0, 3.0) == 1.0
    assert cli.half_width(None, 3.0) is None
    assert cli.half_width(float("nan"), 3.0) is None


def test_out_that_is_a_file_is_one_line(tiny: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    result = _invoke("profile", str(tiny), "--out", str(afile), *FAST)
    assert result.exit_code == 1
    line = _only_error_line(result)
    assert f"--out {afile} is a file" in line and "choose another --out" in line
    assert afile.read_text() == "keep me"


def test_out_below_a_file_is_one_line(tiny: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    result = _invoke("profile", str(tiny), "--out", str(afile / "sub"), *FAST)
    assert result.exit_code == 1
    assert str(afile) in _only_error_line(result)


def test_os_errors_become_one_line() -> None:
    exc = PermissionError(13, "Permission denied", "/ro/report.html")
    assert cli.describe_os_error(exc).startswith("/ro/report.html: permission denied;")
    exc = IsADirectoryError(21, "Is a directory", "/tmp")
    assert cli.describe_os_error(exc) == "/tmp is a folder; give a file path"


@pytest.fixture
def runs_db(tmp_path: Path) -> Path:
    from profiler.store import ResultsStore

    db = tmp_path / "o" / "runs.sqlite"
    ResultsStore(db).close()
    return db


def test_report_to_a_folder_is_one_line(runs_db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    result = _invoke("report", str(runs_db), "-o", str(folder))
    assert result.exit_code == 1
    line = _only_error_line(result)
    assert f"-o {folder} is a folder" in line and str(folder / "report.html") in line


def test_report_never_overwrites_its_input(runs_db: Path) -> None:
    before = runs_db.read_bytes()
    result = _invoke("report", str(runs_db.parent), "-o", str(runs_db))
    assert result.exit_code == 1
    assert "is the results database being reported" in _only_error_line(result)
    assert runs_db.read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"not sqlite at all " * 50])
def test_report_of_a_non_database_leaves_it_unchanged(
    tmp_path: Path, content: bytes
) -> None:
    source = tmp_path / "empty.pt"
    source.write_bytes(content)
    result = _invoke("report", str(source), "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 1
    assert str(source) in _only_error_line(result)
    assert source.read_bytes() == content
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--sparsity", "1.5"], "error: --sparsity 1.5: "),
        (["--sparsity", "0"], "error: --sparsity 0: "),
        (["--sensors", "bogus"], "error: --sensors bogus: unknown sensor; use auto or "
                                 "a comma list of rapl, nvml, estimate"),
        (["--finetune-epochs", "-1"], "error: --finetune-epochs -1: "),
        (["--repeats", "0"], "error: --repeats 0: "),
        (["--batch-size", "0"], "error: --batch-size 0: "),
        (["--idle", "-1"], "error: --idle -1: "),
        (["--bogus"], "error: No such option '--bogus'"),
        (["--sparsity", "lots"], "error: Invalid value for '--sparsity'"),
        (["--ray", "local", "--ray-resources", "x"], "error: --ray-resources 'x'"),
    ],
)  # fmt: skip
def test_usage_mistakes_are_one_line_and_exit_2(
    tiny: Path, tmp_path: Path, args: list[str], words: str
) -> None:
    out = tmp_path / "o"
    result = _invoke("profile", str(tiny), "--out", str(out), *args)
    assert result.exit_code == 2
    line = _only_error_line(result)
    assert line.startswith(words), line
    assert "got (" not in line and "['" not in line, line  # no Python reprs
    assert not out.exists()


def test_usage_mistake_of_run_and_group_is_one_line() -> None:
    for args in (["run", "--sensors", "nope", "--", "true"], ["--bogus"], ["nosuch"]):
        result = _invoke(*args)
        assert result.exit_code == 2, args
        _only_error_line(result)


def test_help_still_works() -> None:
    for args in (["--help"], ["profile", "--help"], ["run", "--help"]):
        result = _invoke(*args)
        assert result.exit_code == 0 and "Usage:" in result.output, args


def test_missing_checkpoint_is_the_only_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    result = _invoke("profile", str(missing), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert str(missing) in _only_error_line(result)  # no sensor warning before it


def test_missing_data_is_the_only_line(tiny: Path, tmp_path: Path) -> None:
    result = _invoke("profile", str(tiny), "--data", str(tmp_path / "no.csv"))
    assert result.exit_code == 1
    assert "no.csv does not exist" in _only_error_line(result)


def _warm_up_failing(only_sparse: bool):
    real = sweep.bench.warm_up

    def warm_up(target, **kwargs):
        if only_sparse and target.config.method == "dense":
            return real(target, **kwargs)
        raise RuntimeError("stand-in failure")

    return warm_up


def test_every_configuration_failing_exits_1_without_a_report(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep.bench, "warm_up", _warm_up_failing(only_sparse=False))
    out = tmp_path / "out"
    result = _invoke("profile", str(tiny), "--method", "magnitude", "--sparsity", "0.5",
                     "--format", "dense", "--out", str(out), *FAST)  # fmt: skip
    assert result.exit_code == 1, result.output + result.stderr
    line = _one_error_line(result)
    assert "not measured" not in result.stderr and "skipped:" not in result.stderr
    assert line.startswith("error: nothing could be measured: all 2 configurations")
    assert "first failure: tiny|dense|" in line and "stand-in failure" in line
    assert not (out / "report.html").exists()
    assert (out / "runs.sqlite").exists()  # the failure records stay


def test_each_failure_is_printed_once_at_the_end(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep.bench, "warm_up", _warm_up_failing(only_sparse=True))
    result = _invoke("profile", str(tiny), "--method", "magnitude", "--sparsity", "0.5",
                     "--format", "dense", "--out", str(tmp_path), *FAST)  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    everything = result.output + result.stderr
    assert everything.count("stand-in failure") == 1, everything
    assert "failed: tiny|magnitude|" in result.output
    assert "not measured" not in everything and "skipped:" not in everything


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--method", "l1"], "error: --method l1 needs training data, but a --data file"),
     (["--method", "magnitude,greedy"], "error: --method greedy needs training data"),
     (["--finetune-epochs", "1"], "error: --finetune-epochs 1 needs training data")],
)  # fmt: skip
def test_training_with_a_data_file_is_a_usage_error(
    tiny: Path, tmp_path: Path, args: list[str], words: str
) -> None:
    data = tmp_path / "user.csv"
    data.write_text("".join(f"{i}," for i in range(64)) + "label\n" + "0," * 64 + "1\n")
    out = tmp_path / "o"
    result = _invoke("profile", str(tiny), "--data", str(data), "--out", str(out), *args)
    assert result.exit_code == 2
    line = _only_error_line(result)
    assert line.startswith(words), line
    assert "use --data digits" in line
    assert not out.exists()  # refused before anything is measured


def test_unknown_device_is_a_usage_error(tiny: Path, tmp_path: Path) -> None:
    result = _invoke("profile", str(tiny), "--device", "gpu", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert _only_error_line(result).startswith("error: --device gpu: not a device name")


def test_ctrl_c_counts_the_kept_windows_and_resumes_as_python_m(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(spec, db, **kw):
        from profiler.store import ResultsStore

        with ResultsStore(db) as store:
            run_id = store.write_run({})
        raise sweep.SweepInterrupted(run_id, Path(db), 0, 9)

    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    monkeypatch.setattr(sys, "argv", ["/x/profiler/__main__.py", "profile", str(tiny)])
    result = _invoke("profile", str(tiny), "--out", str(tmp_path / "o"))
    assert result.exit_code == 130
    assert "0 of 9 configurations complete" in result.stderr
    assert "(0 windows kept)" in result.stderr
    assert f"to continue: python -m profiler profile {tiny} --resume" in result.stderr


def test_run_prints_a_warning_once_not_again_as_a_note() -> None:
    from types import SimpleNamespace

    result = SimpleNamespace(
        command=["true"], exit_code=0, duration_s=1.0, child_cpu_s=0.1,
        total_energy_j=1.0, avg_power_w=1.0, source="estimate", energy_j={"cpu": 1.0},
        sources={"cpu": "estimate"}, overlap_energy_j={},
        notes=("no readable CPU energy counter", "estimate: 4 W per thread"),
    )  # fmt: skip
    lines = cli.describe_command(result, shown=["no readable CPU energy counter"])
    assert "note: estimate: 4 W per thread" in lines
    assert not any("no readable CPU energy counter" in line for line in lines)
    stderr = _invoke("run", "--", sys.executable, "-c", "pass").stderr
    warned = [ln[9:] for ln in stderr.splitlines() if ln.startswith("warning: ")]
    notes = [ln[6:] for ln in stderr.splitlines() if ln.startswith("note: ")]
    assert not set(warned) & set(notes), stderr
