"""Mobile network data: cell ingest, coverage polygons, cell identities, per-operator
index and presence feeds. Never imports ``geoalert`` or ``api``."""
