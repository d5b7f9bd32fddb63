"""Operators' network event feeds and their aggregation into per-cell presence counts.

- :mod:`cells.feeds.layout`: the feed on disk (columns, hour x device-shard partitions,
  ``_feed.json``);
- :mod:`cells.feeds.events`: when a simulated device shows up (activity sessions, periodic
  location updates) during the stay around each time bucket;
- :mod:`cells.feeds.writer`: :class:`~cells.feeds.writer.FeedWriter`, fed by the presence
  simulation's attachments (:func:`cells.synth.presence.simulate_presence`);
- :mod:`cells.feeds.world`: the feed of a built world, checked against its ``presence.parquet``;
- :mod:`cells.feeds.aggregate`: devices last seen within a window, per cell, bucket and home
  MCC, on Dask (and in plain pandas as the reference), k-anonymous.
"""
