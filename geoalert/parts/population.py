"""The ``population`` part: the people present in the zone, estimated from operators' devices.

``to_dict()`` gives ``"population"``: ``estimate``, ``low``, ``high`` (an interval meant to
cover the truth 90% of the time), ``at`` (start of the time bucket used), ``by_operator``
(devices per MNC), ``roamers_by_country``, ``method``, ``rounded_to`` and ``k_anonymity``.
Only the published form exists here: k-anonymity, rounding and noise are applied inside
:class:`~geoalert.population.service.PresentPopulation`, which has no other way out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from geoalert.parts import Part, PartResult, Request
from geoalert.population.service import PresentPopulation
from geoalert.settings import Settings
from geoalert.zones import Zone

__all__ = ["PART", "PopulationResult"]


@dataclass(frozen=True)
class PopulationResult:
    """The published population of one zone (plain JSON types)."""

    population: dict

    def to_dict(self) -> dict:
        return {"population": self.population}


def load(store, settings: Settings) -> PresentPopulation:
    """Allocate every cell's devices over the grid (once, when the engine opens)."""
    return PresentPopulation.load(store, settings)


def resolve(
    population: PresentPopulation, zone: Zone, request: Request, done: Mapping[str, PartResult]
) -> PopulationResult:
    """Estimate the people present in the zone in the bucket holding ``request.at``.

    Raises
    ------
    geoalert.population.index.AtError
        ``at`` is not a timestamp or falls in no time bucket of the presence data.
    """
    operators = list(request.operators) if request.operators is not None else None
    return PopulationResult(population.resolve(zone.geometry, request.at, operators=operators))


PART = Part("population", load, resolve, reads=("cells", "presence", "addresses", "areas"))
