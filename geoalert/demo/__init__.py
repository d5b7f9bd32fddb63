"""The demo world of Belgium: reference geography, network, people and presence feeds."""

from geoalert.demo.ensure import ensure_world
from geoalert.demo.world import build_world

__all__ = ["build_world", "ensure_world"]
