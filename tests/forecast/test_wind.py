"""Small-turbine power curve against the rotor power equation worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from wattmesh.forecast.wind import (
    hub_height_wind_speed,
    load_dwd_try_wind,
    small_turbine_curve,
    wind_power_kw,
)


def test_power_curve_below_rated_cut_in_and_cut_out():
    curve = small_turbine_curve(rated_kw=5.0, rotor_diameter_m=5.0, power_coefficient=0.35, cut_in_m_s=3.0)
    # 0.5 * 1.225 kg/m3 * (pi * 2.5^2) m2 * 0.35 * 6^3 m3/s3 = 2.9166 kW
    assert wind_power_kw(6.0, curve) == pytest.approx(
        0.5 * 1.225 * np.pi * 6.25 * 0.35 * 216 / 1000, rel=1e-9
    )
    assert wind_power_kw([2.5, 12.0, 24.0, 25.0, 30.0], curve).tolist() == [0.0, 5.0, 5.0, 0.0, 0.0]
    assert curve.rated_kw == 5.0


def test_power_curve_rejects_betz_violation():
    with pytest.raises(ValueError, match="Betz"):
        small_turbine_curve(power_coefficient=0.7)


def test_hub_height_power_law():
    assert hub_height_wind_speed(5.0, 10.0, 20.0, 0.2) == pytest.approx(5.0 * 2**0.2)


def test_dwd_try_wind_is_a_year_of_hourly_speeds():
    wind = load_dwd_try_wind(4)
    assert len(wind) == 8760
    assert str(wind.index.tz) == "UTC"
    assert 3.0 < wind["wind_speed_m_s"].mean() < 6.0  # Potsdam at 10 m
