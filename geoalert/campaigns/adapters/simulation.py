"""Simulation: the same flow as a live campaign, delivered to nobody.

Every message goes through the queue, the rate limits, the batches and the state changes
of a live campaign; the adapter only counts what it would have sent and reports it
delivered. Exercises run end to end without reaching anyone.
"""

from __future__ import annotations

from geoalert.campaigns.adapters.base import DELIVERED, Adapter, Batch, Result

__all__ = ["SimulationAdapter"]


class SimulationAdapter(Adapter):
    """Reports every message delivered without sending it."""

    name = "simulation"

    def __init__(self, options):
        super().__init__(options)
        self.handed = 0
        """Messages handed over so far."""

    async def send(self, batch: Batch) -> Result:
        self.handed += len(batch)
        return Result.all(len(batch), DELIVERED)
