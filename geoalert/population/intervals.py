"""How uncertain an estimate is, from the data alone.

Three signs of error are read from every estimate, none of them from the truth:

- counting noise: devices come and go, so a count of ``n`` devices is uncertain by about
  ``sqrt(n)`` (Poisson);
- the operators disagree: each operator's devices, scaled by its own market share, estimate the
  same people through a different network, so their spread shows both sampling error and how
  differently each network places people;
- the methods disagree: the best-server and the signal-prior allocations (with the same address
  prior) place the devices of a cell differently, so their difference shows how much of the
  estimate rests on where, inside its cells, the zone's boundary cuts. The default estimate
  blends them a quarter to three quarters, so its distance to the best-server one is three
  quarters of that difference.

They are added in quadrature with a relative floor (the calibration of devices per person is
itself uncertain) and turned into a two-sided interval at the configured level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class IntervalModel:
    """Parameters of the uncertainty of an estimate.

    Attributes
    ----------
    level : float
        Share of the truths the interval is meant to cover (0.9).
    relative_floor : float
        Smallest relative standard error, for the calibration of devices per person.
    """

    level: float = 0.9
    relative_floor: float = 0.03

    def sigma(
        self,
        people: float,
        operator_people: np.ndarray,
        alternative: float,
        devices_per_person: float,
    ) -> float:
        """Standard error of an estimate, in people.

        Parameters
        ----------
        people : float
            The estimate.
        operator_people : array, shape (n_operators,)
            The estimate from each operator alone (NaN for an operator with no devices).
        alternative : float
            The estimate by the reference method.
        devices_per_person : float
            Calibrated devices per person in the bucket.
        """
        counting = max(people, 0.0) / max(devices_per_person, 1e-9)
        alone = operator_people[np.isfinite(operator_people)]
        operators = np.var(alone, ddof=1) / len(alone) if len(alone) > 1 else 0.0
        methods = (people - alternative) ** 2
        floor = (self.relative_floor * people) ** 2
        variance = counting + operators + methods
        return float(np.sqrt(variance + floor))

    @property
    def z(self) -> float:
        """Half-width of the interval in standard errors."""
        return float(norm.ppf(0.5 + self.level / 2))
