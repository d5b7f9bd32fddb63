"""Present population: people per zone estimated from operators' device counts per cell.

- :mod:`~geoalert.population.grid`: a metric grid and scanline sums (a zone costs its boundary);
- :mod:`~geoalert.population.allocation`: where a cell's devices are (best server, signal
  prior, blend), as composable estimators with deterministic ids;
- :mod:`~geoalert.population.calibration`: devices to people, from the world's own data;
- :mod:`~geoalert.population.index`: raw estimates per zone and time bucket;
- :mod:`~geoalert.population.intervals`: the uncertainty of an estimate;
- :mod:`~geoalert.population.privacy`: noise per tile, rounding and k-anonymity, the only way
  out of the package;
- :mod:`~geoalert.population.service`: what the engine's ``population`` part calls.
"""

from geoalert.population.index import ESTIMATORS, AtError
from geoalert.population.service import PresentPopulation

__all__ = ["ESTIMATORS", "AtError", "PresentPopulation"]
