"""Carbon intensity from codecarbon's offline data, read independently here."""

from __future__ import annotations

import json
from importlib import util
from pathlib import Path

import pytest

from profiler import carbon
from profiler.errors import ConfigError


def _data(name: str) -> dict:
    root = Path(util.find_spec("codecarbon").submodule_search_locations[0])
    path = root / "data" / "private_infra" / name
    return json.loads(path.read_text(encoding="utf-8"))


def test_world_average_is_codecarbons_fallback() -> None:
    expected = _data("carbon_intensity_per_source.json")["world_average"]
    assert carbon.carbon_intensity_g_per_kwh() == pytest.approx(expected)


@pytest.mark.parametrize("code", ["FRA", "USA", "deu", " ind "])
def test_country_intensity(code: str) -> None:
    expected = _data("global_energy_mix.json")[code.strip().upper()]["carbon_intensity"]
    assert carbon.carbon_intensity_g_per_kwh(code) == pytest.approx(expected)


def test_unknown_country_is_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        carbon.carbon_intensity_g_per_kwh("XXX")
    assert "XXX" in str(err.value) and "\n" not in str(err.value)
    assert "country_codes" in str(err.value)


def test_co2_g() -> None:
    assert carbon.co2_g(3.6e6, 475.0) == pytest.approx(475.0)  # 1 kWh
    assert carbon.co2_g(1.0, 360.0) == pytest.approx(1e-4)


def test_country_codes_come_from_the_json() -> None:
    assert carbon.country_codes() == sorted(_data("global_energy_mix.json"))


def test_codecarbon_is_not_imported() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from profiler import carbon; "
        "carbon.carbon_intensity_g_per_kwh('FRA'); "
        "print('codecarbon' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
