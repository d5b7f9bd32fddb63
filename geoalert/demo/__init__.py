"""The demo world of Belgium: reference geography, network, people and presence feeds."""

from geoalert.demo.world import build_world

__all__ = ["build_world"]
