"""geoalert: geospatial engine for public warning.

An alert zone resolves into three target sets: the cells of each mobile operator
whose coverage touches it, the registered contacts at addresses inside it, and an
estimate of the population present in it now.
"""

__version__ = "0.1.0"

from geoalert.engine import Engine, Resolution
from geoalert.zones import ZoneError

__all__ = ["Engine", "Resolution", "ZoneError", "__version__"]
