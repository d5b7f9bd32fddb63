"""Synthetic mobile network for the demo world: masts, sectors, band layers, coverage polygons
(:mod:`cells.synth.network`) and the operators' per-cell presence counts derived from the
world's truth (:mod:`cells.synth.presence`)."""
