"""Synthesis of the demo world: areas, addresses, people and their positions, contacts."""
