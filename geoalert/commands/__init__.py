"""Commands of the ``geoalert`` CLI, one module per feature, registered in :mod:`geoalert.cli`."""
