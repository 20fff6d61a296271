"""Small wind for the forecasts: a generic small turbine's power curve, hub-height wind speed, measured wind.

windpowerlib covers utility-scale turbines only, so the small turbine's curve is our own, built from the
rotor's swept area and a constant power coefficient below rated speed [1]_::

    P(v) = min(P_rated, 0.5 * rho * A * cp * v**3)   for cut_in <= v < cut_out, else 0

References
----------
.. [1] Manwell, J. F., McGowan, J. G. and Rogers, A. L. (2009). Wind energy explained: theory, design
   and application, 2nd ed., chapters 2 and 3. Wiley.
.. [2] Hellman, G. (1916); power-law wind profile, see e.g. Manwell et al. (2009), section 2.3.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# The measured wind comes from the community's data (one loader for the simulator and the forecasts).
from wattmesh.community.wind import load_dwd_try_wind

__all__ = ["PowerCurve", "hub_height_wind_speed", "load_dwd_try_wind", "small_turbine_curve", "wind_power_kw"]

AIR_DENSITY_KG_PER_M3 = 1.225


@dataclass(frozen=True)
class PowerCurve:
    """A turbine's power curve: electrical output at each wind speed at hub height.

    Attributes
    ----------
    wind_speed_m_s : increasing wind speeds [m/s]
    power_kw : output at those speeds [kW], interpolated linearly between them
    cut_out_m_s : speed at and above which the turbine stops [m/s]
    hub_height_m : hub height [m]
    """

    wind_speed_m_s: tuple[float, ...]
    power_kw: tuple[float, ...]
    cut_out_m_s: float
    hub_height_m: float

    @property
    def rated_kw(self) -> float:
        return max(self.power_kw)


def small_turbine_curve(
    rated_kw: float = 5.0,
    rotor_diameter_m: float = 5.0,
    power_coefficient: float = 0.35,
    cut_in_m_s: float = 3.0,
    cut_out_m_s: float = 25.0,
    hub_height_m: float = 18.0,
) -> PowerCurve:
    """Power curve of a small horizontal-axis turbine, sampled every 0.5 m/s [1]_.

    The default (5 kW, 5 m rotor, cp 0.35) reaches rated power at about 10.7 m/s, like small
    commercial 5 kW turbines.
    """
    for name, value in (("rated_kw", rated_kw), ("rotor_diameter_m", rotor_diameter_m)):
        if not value > 0:
            raise ValueError(f"small turbine: {name} {value!r} must be positive")
    if not 0 < power_coefficient <= 16 / 27:
        raise ValueError(
            f"small turbine: power_coefficient {power_coefficient!r} is not in (0, 16/27 (Betz))"
        )
    if not 0 <= cut_in_m_s < cut_out_m_s:
        raise ValueError(
            f"small turbine: cut_in_m_s {cut_in_m_s!r} must be below cut_out_m_s {cut_out_m_s!r}"
        )
    speeds = np.arange(0.0, cut_out_m_s + 0.25, 0.5)
    area = np.pi * rotor_diameter_m**2 / 4
    power = 0.5 * AIR_DENSITY_KG_PER_M3 * area * power_coefficient * speeds**3 / 1000.0
    power = np.where(speeds >= cut_in_m_s, np.minimum(power, rated_kw), 0.0)
    return PowerCurve(tuple(speeds), tuple(power), cut_out_m_s, hub_height_m)


def wind_power_kw(wind_speed_m_s: npt.ArrayLike, curve: PowerCurve | None = None) -> np.ndarray:
    """Turbine output [kW] at hub-height wind speeds [m/s] (any shape), zero at and above cut-out."""
    curve = curve or small_turbine_curve()
    v = np.asarray(wind_speed_m_s, dtype=float)
    power = np.interp(v, curve.wind_speed_m_s, curve.power_kw, left=0.0, right=0.0)
    return np.where((v >= curve.cut_out_m_s) | ~np.isfinite(v), 0.0, power)


def hub_height_wind_speed(
    wind_speed_m_s: npt.ArrayLike,
    measured_height_m: float,
    hub_height_m: float,
    hellman_exponent: float = 1 / 7,
) -> np.ndarray:
    """Wind speed at hub height from a measurement at another height, by the power law [2]_ [m/s].

    ``v_hub = v * (hub_height / measured_height) ** alpha``; alpha = 1/7 for open terrain, about 0.3 in
    suburbs.
    """
    if not (measured_height_m > 0 and hub_height_m > 0):
        raise ValueError(f"heights must be positive, got {measured_height_m!r} and {hub_height_m!r}")
    return np.asarray(wind_speed_m_s, dtype=float) * (hub_height_m / measured_height_m) ** hellman_exponent
