"""Alert levels: CAP severity, urgency and certainty to EU-Alert levels and CB message identifiers.

Message identifiers of public warning (3GPP TS 23.041 clause 9.4.1.2.2, CMAS range 4370-4399;
EU-Alert names from ETSI TS 102 900):

=====================  =========  ===================  ========================================
EU-Alert level         identifier additional language  CAP severity / urgency / certainty
=====================  =========  ===================  ========================================
Level 1 (presidential) 4370       4383                 chosen explicitly (national authority)
Level 2 (extreme)      4371-4372  4384-4385            Extreme, Immediate, Observed / Likely
Level 3 (severe)       4373-4378  4386-4391            Extreme, Expected, Observed / Likely;
                                                       Severe, Immediate or Expected, Obs./Lik.
EU-Amber               4379       4392                 chosen explicitly (child abduction)
EU-Monthly Test        4380       4393                 CAP status ``Test`` (first-Thursday test)
EU-Exercise            4381       4394                 CAP status ``Exercise``
EU-Reserved            4382       4395                 operator defined, chosen explicitly
Level 4 (public safety)4396       4397                 any other combination, e.g. Moderate
=====================  =========  ===================  ========================================

One message goes out per language: the primary language on the level's identifier, every other
language on the matching additional-language identifier (identifier + 13; 4396 -> 4397).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")


class AlertLevel(StrEnum):
    """EU-Alert levels and the special-purpose classes of ETSI TS 102 900."""

    LEVEL_1 = "level-1"
    LEVEL_2 = "level-2"
    LEVEL_3 = "level-3"
    LEVEL_4 = "level-4"
    AMBER = "amber"
    MONTHLY_TEST = "monthly-test"
    EXERCISE = "exercise"
    OPERATOR_DEFINED = "operator-defined"


_SUC_IDENTIFIER = {
    ("Extreme", "Immediate", "Observed"): 4371,
    ("Extreme", "Immediate", "Likely"): 4372,
    ("Extreme", "Expected", "Observed"): 4373,
    ("Extreme", "Expected", "Likely"): 4374,
    ("Severe", "Immediate", "Observed"): 4375,
    ("Severe", "Immediate", "Likely"): 4376,
    ("Severe", "Expected", "Observed"): 4377,
    ("Severe", "Expected", "Likely"): 4378,
}
_FIXED_IDENTIFIER = {
    AlertLevel.LEVEL_1: 4370,
    AlertLevel.AMBER: 4379,
    AlertLevel.MONTHLY_TEST: 4380,
    AlertLevel.EXERCISE: 4381,
    AlertLevel.OPERATOR_DEFINED: 4382,
    AlertLevel.LEVEL_4: 4396,
}
_ADDITIONAL_LANGUAGE = {
    **{mi: mi + 13 for mi in range(4370, 4383)},
    4396: 4397,
}
IDENTIFIER_LEVEL = {
    **{mi: level for level, mi in _FIXED_IDENTIFIER.items()},
    4371: AlertLevel.LEVEL_2,
    4372: AlertLevel.LEVEL_2,
    **{mi: AlertLevel.LEVEL_3 for mi in range(4373, 4379)},
}
"""Primary message identifier -> alert level."""


@dataclass(frozen=True)
class Classification:
    """The EU-Alert level of an alert and its two cell broadcast message identifiers."""

    level: AlertLevel
    message_identifier: int
    """Identifier of the message in the primary language."""
    additional_language_identifier: int
    """Identifier of the messages in every other language."""

    def identifier(self, additional_language: bool) -> int:
        """The identifier for a message in the primary or an additional language."""
        return (
            self.additional_language_identifier if additional_language else self.message_identifier
        )


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"CAP {name} {value!r} is not one of {', '.join(allowed)}")


def classify(
    severity: str,
    urgency: str,
    certainty: str,
    *,
    status: str = "Actual",
    level: AlertLevel | str | None = None,
) -> Classification:
    """EU-Alert level and message identifiers of an alert.

    Parameters
    ----------
    severity, urgency, certainty
        CAP 1.2 values (``Extreme``, ``Immediate``, ``Observed``...).
    status
        CAP status: ``Test`` gives the monthly test (4380), ``Exercise`` the exercise (4381);
        ``System`` and ``Draft`` alerts are not broadcast.
    level
        An explicit level for what the three CAP values cannot say: level 1, amber, monthly
        test, exercise, operator defined or level 4. Levels 2 and 3 follow from the values.

    Raises
    ------
    ValueError
        For a value outside CAP's lists, a status that is not broadcast, or an explicit level 2
        or 3 that the severity, urgency and certainty do not give.

    Examples
    --------
    >>> classify("Extreme", "Immediate", "Observed").message_identifier
    4371
    >>> classify("Severe", "Expected", "Likely").additional_language_identifier
    4391
    >>> classify("Moderate", "Future", "Possible").level
    <AlertLevel.LEVEL_4: 'level-4'>
    """
    _check("severity", severity, SEVERITIES)
    _check("urgency", urgency, URGENCIES)
    _check("certainty", certainty, CERTAINTIES)
    _check("status", status, STATUSES)
    if status in ("System", "Draft"):
        raise ValueError(f"CAP status {status!r} alerts are not broadcast to the public")
    if level is not None:
        try:
            level = AlertLevel(level)
        except ValueError:
            allowed = ", ".join(lv.value for lv in AlertLevel)
            raise ValueError(f"alert level {level!r} is not one of {allowed}") from None
    if level is None:
        level = {"Test": AlertLevel.MONTHLY_TEST, "Exercise": AlertLevel.EXERCISE}.get(status)
    suc = _SUC_IDENTIFIER.get((severity, urgency, certainty))
    if level is None:
        level = AlertLevel.LEVEL_4 if suc is None else IDENTIFIER_LEVEL[suc]
    if level in (AlertLevel.LEVEL_2, AlertLevel.LEVEL_3):
        if suc is None or IDENTIFIER_LEVEL[suc] != level:
            raise ValueError(
                f"severity {severity}, urgency {urgency} and certainty {certainty} do not make "
                f"an EU-Alert {level.value} alert"
            )
        mi = suc
    else:
        mi = _FIXED_IDENTIFIER[level]
    return Classification(level, mi, _ADDITIONAL_LANGUAGE[mi])


def first_thursday(year: int, month: int) -> dt.date:
    """Date of the month's first Thursday, the day of the monthly test of public warning."""
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(3 - first.weekday()) % 7)
