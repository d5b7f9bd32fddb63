"""Reference geography: administrative areas, addresses, contacts and groups, and the
stores that hold them (embedded default and PostGIS). Never imports ``geoalert`` or ``api``."""
