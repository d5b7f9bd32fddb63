"""Present population: people per zone estimated from operators' device counts per cell.

:class:`~geoalert.population.index.PopulationIndex` holds the raw estimates;
:class:`~geoalert.population.privacy.Publisher` is the only way they leave the engine.
"""
