"""The only way a population estimate leaves the engine: perturbed, rounded, k-anonymous.

FlowKit drops any aggregate below 15 subscribers; its users found that subtracting the counts of
two overlapping areas still reveals a small group. Here every published number goes through
three steps, so that such differences cannot single out a group smaller than k:

1. **Consistent noise per tile.** Every tile of the grid carries a pseudo-random normal draw of
   standard deviation ``k`` people per time bucket, keyed by a secret (HMAC-SHA256), and a zone
   gets the sum of the noise of the tiles it covers. The noise belongs to places, not to
   questions: asking again, or asking about many zones that all contain the same small area,
   always meets the same noise there, so averaging many answers never removes it. Whatever the
   zones, the difference two answers reveal about a small area is that area's count blurred by
   at least ``k`` people per tile.
2. **Rounding to the uncertainty.** Numbers are rounded to a step of 1, 2 or 5 times a power
   of ten, at least ``k`` and growing with the estimate's standard error.
3. **Suppression.** Any count (the total, an operator's devices, a country's roamers) whose
   published value would be below ``k`` is not shown (``None``). Per-cell counts are never
   part of an answer.

Breakdowns (devices per operator, roamers per country) are the published total's shares, so
they carry the same noise.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field

import numpy as np

from geoalert.population.grid import Grid, row_prefix_sums
from geoalert.population.index import RawEstimate
from geoalert.population.intervals import IntervalModel
from geoalert.population.mcc import country_of_mcc


def nice_step(value: float) -> int:
    """Smallest of 1, 2, 5 x 10**n that is >= ``value`` (at least 1)."""
    if not value > 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for mantissa in (1, 2, 5, 10):
        if mantissa * power >= value:
            return int(mantissa * power)
    raise AssertionError("unreachable")


def keyed_rng(secret: bytes, *parts: bytes) -> np.random.Generator:
    """A random generator determined by ``secret`` and ``parts`` (HMAC-SHA256 seed)."""
    digest = hmac.new(secret, b"\x1f".join(parts), hashlib.sha256).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


class NoiseField:
    """Consistent noise on the grid: a normal draw of ``sd`` people per tile and bucket.

    Parameters
    ----------
    grid : Grid
    secret : bytes
        Whoever knows it can recompute, and remove, the noise.
    sd : float
        Standard deviation of each tile's noise, in people.
    """

    def __init__(self, grid: Grid, secret: bytes, sd: float) -> None:
        self.grid, self.sd = grid, float(sd)
        self._secret = secret
        self._prefix: dict[str, np.ndarray] = {}

    def prefix(self, bucket: str) -> np.ndarray:
        """Row prefix sums of the noise of bucket ``bucket`` (its start, ISO 8601)."""
        if bucket not in self._prefix:
            g = self.grid
            where = f"{g.x0},{g.y0},{g.size},{g.nx},{g.ny}".encode()
            draw = keyed_rng(self._secret, b"tiles", where, bucket.encode())
            noise = self.sd * draw.standard_normal((1, g.ny, g.nx))
            self._prefix[bucket] = row_prefix_sums(noise).astype(np.float32)
        return self._prefix[bucket]

    def variance(self, area_m2: float) -> float:
        """Variance of the noise of a zone of ``area_m2`` (an upper bound where the zone cuts
        tiles), in people squared."""
        return self.sd**2 * area_m2 / self.grid.size**2


@dataclass(frozen=True)
class Publisher:
    """Turns raw estimates into published ones.

    Parameters
    ----------
    k : int
        k-anonymity threshold: no published count is below it.
    interval : IntervalModel
    """

    k: int
    interval: IntervalModel = field(default_factory=IntervalModel)

    def publish(
        self,
        raw: RawEstimate,
        noise: float,
        noise_variance: float,
        devices_per_person: float,
        operators: dict[str, str],
    ) -> dict:
        """The ``"population"`` part of a resolution.

        Parameters
        ----------
        raw : RawEstimate
        noise, noise_variance : float
            The zone's share of the :class:`NoiseField`, and its variance (people, people²).
        devices_per_person : float
            Calibration of the bucket (for the counting noise).
        operators : dict of MNC to operator name, for the operators to report, in the order
            of ``raw.devices``.

        Returns
        -------
        dict
            ``estimate``, ``low``, ``high`` (people), ``at`` (bucket start, ISO 8601),
            ``by_operator`` (devices per MNC), ``roamers_by_country`` (people per ISO 3166
            country code), ``method``, ``rounded_to`` (the step of ``estimate``, ``low`` and
            ``high``) and ``k_anonymity``.
        """
        k = self.k
        sigma = self.interval.sigma(
            raw.people, raw.operator_people, raw.alternative, devices_per_person
        )
        sd = math.sqrt(sigma**2 + noise_variance)
        noisy = raw.people + noise
        half = self.interval.z * sd
        step = nice_step(max(k, sd / 2))
        estimate = round(noisy / step) * step
        low = max(0, math.floor((noisy - half) / step) * step)
        high = max(math.ceil((noisy + half) / step) * step, step)

        scale = max(noisy, 0.0) / max(raw.people, k) if estimate >= k else 0.0
        relative_sd = sd / max(raw.people, k)
        by_operator = {
            mnc: self._share(raw.devices[i] * scale, relative_sd) for i, mnc in enumerate(operators)
        }
        roamers: dict[str, float] = {}
        for mcc, people in raw.roamers.items():
            country = country_of_mcc(mcc)
            roamers[country] = roamers.get(country, 0.0) + people * scale
        roamers_by_country = {
            country: shown
            for country, people in sorted(roamers.items())
            if (shown := self._share(people, relative_sd)) is not None
        }
        return {
            "estimate": estimate if estimate >= k else None,
            "low": low,
            "high": high,
            "at": raw.at.isoformat(),
            "by_operator": by_operator,
            "roamers_by_country": roamers_by_country,
            "method": raw.method,
            "rounded_to": step,
            "k_anonymity": k,
        }

    def _share(self, value: float, relative_sd: float) -> int | None:
        """A breakdown count rounded to a step of at least ``k`` growing with its uncertainty,
        or ``None`` when it would be below ``k``."""
        step = nice_step(max(self.k, relative_sd * value / 2))
        shown = round(value / step) * step
        return shown if shown >= self.k else None
