"""Alert messages: CAP 1.2 in and out, cell broadcast (3GPP TS 23.041, EU-Alert), Alert-SMS.

- :mod:`~geoalert.messages.cap`: :func:`build_cap` and :func:`parse_cap`;
- :mod:`~geoalert.messages.levels`: CAP severity, urgency, certainty -> EU-Alert level and
  message identifiers;
- :mod:`~geoalert.messages.alphabet`, :mod:`~geoalert.messages.cbs`: GSM 7-bit / UCS-2 text,
  pages, serial numbers, data coding schemes;
- :mod:`~geoalert.messages.area`: warning area coordinates for device-based geofencing;
- :mod:`~geoalert.messages.sms`: Alert-SMS segments, languages, recipients and cost;
- :mod:`~geoalert.messages.broadcast`: the requests sent to each operator.
"""

from geoalert.messages.broadcast import alert_requests, cancel_requests
from geoalert.messages.cap import CapAlert, CapError, build_cap, parse_cap
from geoalert.messages.levels import AlertLevel, classify

__all__ = [
    "AlertLevel",
    "CapAlert",
    "CapError",
    "alert_requests",
    "build_cap",
    "cancel_requests",
    "classify",
    "parse_cap",
]
