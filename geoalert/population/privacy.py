"""The only way a population estimate leaves the engine: rounded, perturbed, k-anonymous.

FlowKit drops any aggregate below 15 subscribers; its users found that subtracting the counts of
two overlapping areas still reveals a small group. Here every published number goes through
three steps, so that such differences carry no information about a group smaller than k:

1. **Consistent noise.** A pseudo-random normal draw, keyed by a secret and the exact zone,
   time bucket and method (HMAC-SHA256), is added to the estimate. The same question always
   gets the same answer (asking again averages nothing away), while two different zones get
   independent noise with a standard deviation of at least ``k / 2``.
2. **Rounding to the uncertainty.** Numbers are rounded to a step of 1, 2 or 5 times a power
   of ten, at least ``k`` and growing with the estimate's standard error: a difference of two
   answers is a multiple of a step larger than any group that could hide in it.
3. **Suppression.** Any count (the total, an operator's devices, a country's roamers) whose
   published value would be below ``k`` is not shown (``None``). Per-cell counts are never
   part of an answer.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field

import numpy as np

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


def keyed_normal(secret: bytes, *parts: bytes) -> float:
    """A standard normal draw determined by ``secret`` and ``parts`` (HMAC-SHA256)."""
    digest = hmac.new(secret, b"\x1f".join(parts), hashlib.sha256).digest()
    seed = int.from_bytes(digest[:16], "big")
    return float(np.random.default_rng(seed).standard_normal())


@dataclass(frozen=True)
class Publisher:
    """Turns raw estimates into published ones.

    Parameters
    ----------
    k : int
        k-anonymity threshold: no published count is below it.
    secret : bytes
        Key of the consistent noise; whoever knows it can remove the noise.
    interval : IntervalModel
    """

    k: int
    secret: bytes
    interval: IntervalModel = field(default_factory=IntervalModel)

    def publish(
        self,
        raw: RawEstimate,
        zone_key: bytes,
        devices_per_person: float,
        operators: dict[str, str],
    ) -> dict:
        """The ``"population"`` part of a resolution.

        Parameters
        ----------
        raw : RawEstimate
        zone_key : bytes
            The exact zone (its WKB), so the same zone always gets the same noise.
        devices_per_person : float
            Calibration of the bucket (for the counting noise).
        operators : dict of MNC to operator name, for the operators to report (their order
            follows ``raw.devices``'s for the MNCs of the world).

        Returns
        -------
        dict
            ``estimate``, ``low``, ``high`` (people), ``at`` (bucket start, ISO 8601),
            ``by_operator`` (devices per MNC), ``roamers_by_country`` (people per ISO 3166
            country code), ``method``, ``k_anonymity``.
        """
        k = self.k
        sigma = self.interval.sigma(
            raw.people, raw.operator_people, raw.alternative, devices_per_person
        )
        key = (zone_key, raw.at.isoformat().encode(), raw.method["id"].encode())
        noise_sd = max(k / 2, sigma / 4)
        noisy = raw.people + noise_sd * keyed_normal(self.secret, b"people", *key)
        half = self.interval.z * math.hypot(sigma, noise_sd)
        step = nice_step(max(k, sigma / 2))
        estimate = round(noisy / step) * step
        low = max(0, math.floor((noisy - half) / step) * step)
        high = max(math.ceil((noisy + half) / step) * step, step)

        by_operator = {}
        for i, (mnc, _name) in enumerate(operators.items()):
            by_operator[mnc] = self._count(raw.devices[i], k, b"operator", mnc.encode(), *key)
        roamers: dict[str, float] = {}
        for mcc, people in raw.roamers.items():
            country = country_of_mcc(mcc)
            roamers[country] = roamers.get(country, 0.0) + people
        roamers_by_country = {
            country: shown
            for country, people in sorted(roamers.items())
            if (shown := self._count(people, k, b"country", country.encode(), *key)) is not None
        }
        return {
            "estimate": estimate if estimate >= k else None,
            "low": low,
            "high": high,
            "at": raw.at.isoformat(),
            "by_operator": by_operator,
            "roamers_by_country": roamers_by_country,
            "method": raw.method,
            "k_anonymity": k,
        }

    def _count(self, value: float, k: int, *key: bytes) -> int | None:
        """One breakdown count, perturbed, rounded to a step of at least ``k``, or ``None``
        when it would be below ``k``."""
        noise_sd = max(k / 2, math.sqrt(max(value, 0.0)))
        noisy = value + noise_sd * keyed_normal(self.secret, *key)
        step = nice_step(max(k, 2 * noise_sd))
        shown = round(noisy / step) * step
        return shown if shown >= k else None
