"""Grams of CO2-equivalent from joules, with codecarbon's offline country data.

Only codecarbon's bundled JSON files are read, found with `importlib.util.find_spec`
so that codecarbon itself is not even imported (its package import loads the tracker and
installs a log handler); no tracker is ever created, nothing here touches the network.
The world average is the figure codecarbon itself falls back to (`world_average` in
`carbon_intensity_per_source.json`).
"""

from __future__ import annotations

import functools
import json
import logging
from importlib import util
from pathlib import Path
from typing import Any

from profiler.errors import ConfigError

__all__ = [
    "JOULES_PER_KWH",
    "carbon_intensity_g_per_kwh",
    "co2_g",
    "country_codes",
    "intensity_source",
]

logger = logging.getLogger(__name__)

JOULES_PER_KWH = 3.6e6
_DATA = "data/private_infra"


@functools.lru_cache(maxsize=4)
def _load(name: str) -> dict[str, Any]:
    """One of codecarbon's offline data files, parsed."""
    spec = util.find_spec("codecarbon")
    roots = list(spec.submodule_search_locations or []) if spec else []
    try:
        if not roots:
            raise FileNotFoundError("codecarbon is not installed")
        path = Path(roots[0]) / _DATA / name
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"codecarbon's offline data {_DATA}/{name} cannot be read ({exc}); "
            "reinstall codecarbon (pip install --force-reinstall codecarbon)"
        ) from exc


def country_codes() -> list[str]:
    """The ISO 3166-1 alpha-3 codes codecarbon has an energy mix for."""
    return sorted(_load("global_energy_mix.json"))


def carbon_intensity_g_per_kwh(country_iso3: str | None = None) -> float:
    """Grid carbon intensity in gCO2e/kWh: a country's, or the world average."""
    if country_iso3 is None:
        return float(_load("carbon_intensity_per_source.json")["world_average"])
    code = country_iso3.strip().upper()
    mix = _load("global_energy_mix.json").get(code)
    if mix is None or mix.get("carbon_intensity") is None:
        raise ConfigError(
            f"--country {country_iso3!r}: no carbon intensity for this code; use an "
            "ISO 3166-1 alpha-3 code such as USA, FRA or DEU (the list: python -c "
            "'from profiler.carbon import country_codes; print(country_codes())')"
        )
    return float(mix["carbon_intensity"])


def intensity_source(country_iso3: str | None = None) -> str:
    """A short label saying where the intensity comes from."""
    if country_iso3 is None:
        return "codecarbon offline data: world average"
    code = country_iso3.strip().upper()
    mix = _load("global_energy_mix.json").get(code, {})
    year = mix.get("year", "?")
    return f"codecarbon offline data: {mix.get('country_name', code)} ({year})"


def co2_g(energy_j: float, intensity_g_per_kwh: float) -> float:
    """Grams CO2e emitted by `energy_j` joules at the given grid intensity."""
    return energy_j / JOULES_PER_KWH * intensity_g_per_kwh
