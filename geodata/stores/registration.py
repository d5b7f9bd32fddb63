"""Validation of contact registrations, one at a time or from a CSV file.

A registration gives a phone (normalised to E.164 with ``phonenumbers``; foreign numbers are
accepted) and/or an e-mail, channel flags, a language and one to five addresses labelled
``home``, ``work``, ``school`` or ``family``. An address is either the id of a known address
or a location ``"lon lat"`` (EPSG:4326) inside the country, matched to the nearest known
address within :data:`MATCH_RADIUS_M`.

Problems are reported as :class:`Problem` (row, field, reason); reasons never quote the
value, so reports can be logged and shown as they are.

CSV files have a header row with the columns ``phone``, ``sms``, ``voice``, ``email``,
``language``, ``address_1`` .. ``address_5`` and ``label_1`` .. ``label_5`` (``sms``,
``voice`` and the labels may be left out). Rows are numbered as in a spreadsheet: the header
is row 1.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers

from geodata.masking import mask_email, mask_phone

__all__ = [
    "ADDRESS_LABELS",
    "LANGUAGES",
    "MATCH_RADIUS_M",
    "MAX_ADDRESSES",
    "Contact",
    "Problem",
    "Registration",
    "RegistrationError",
    "parse_registration",
    "read_csv_rows",
]

LANGUAGES = ("nl", "fr", "de", "en")
ADDRESS_LABELS = ("home", "work", "school", "family")
MAX_ADDRESSES = 5
#: Largest distance (m, EPSG:3812) between a registered location and the address it is matched to.
MATCH_RADIUS_M = 50.0
DEFAULT_REGION = "BE"

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$"
)
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
CSV_COLUMNS = (
    "phone",
    "sms",
    "voice",
    "email",
    "language",
    *(f"address_{i}" for i in range(1, MAX_ADDRESSES + 1)),
    *(f"label_{i}" for i in range(1, MAX_ADDRESSES + 1)),
)


@dataclass(frozen=True)
class Problem:
    """One reason a registration is refused: where (row, field) and why, without the value."""

    row: int | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}{self.field}: {self.reason}"


class RegistrationError(ValueError):
    """A registration, update or group change was refused; ``problems`` says why."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Registration:
    """A validated registration, addresses not yet checked against the store.

    ``addresses`` holds ``(label, address)`` pairs where ``address`` is an address id (int) or
    a ``(lon, lat)`` location; ``fields`` names the source field of each (for reports).
    """

    phone: str | None
    sms: bool
    voice: bool
    email: str | None
    language: str
    addresses: tuple[tuple[str, int | tuple[float, float]], ...]
    fields: tuple[str, ...] = field(default=(), compare=False)

    def __repr__(self) -> str:
        return (
            f"Registration(phone={mask_phone(self.phone)!r}, sms={self.sms}, voice={self.voice}, "
            f"email={mask_email(self.email)!r}, language={self.language!r}, "
            f"addresses={len(self.addresses)})"
        )


@dataclass(frozen=True)
class Contact:
    """A registered person. ``addresses`` holds ``(label, address_id)`` pairs in order.

    Its ``repr`` masks the phone and the e-mail and leaves addresses out.
    """

    contact_id: int
    phone: str | None
    sms: bool
    voice: bool
    email: str | None
    language: str
    addresses: tuple[tuple[str, int], ...]

    def __repr__(self) -> str:
        return (
            f"Contact(contact_id={self.contact_id}, phone={mask_phone(self.phone)!r}, sms={self.sms}, "
            f"voice={self.voice}, email={mask_email(self.email)!r}, language={self.language!r}, "
            f"addresses={len(self.addresses)})"
        )


def normalise_phone(raw: str) -> str | None:
    """E.164 form of a phone number written in any common way (Belgian when no country code).

    Returns ``None`` when it is not a valid number.
    """
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _flag(
    value: object, name: str, default: bool, problems: list[Problem], row: int | None
) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    problems.append(Problem(row, name, "not a yes/no value"))
    return default


def _address(value: object) -> int | tuple[float, float] | None:
    """An address id or a ``(lon, lat)`` location, ``None`` when neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, tuple | list) and len(value) == 2:
        parts = list(value)
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d{1,18}", text):
            return int(text)
        parts = re.split(r"[\s,;]+", text)
    try:
        lon, lat = (float(p) for p in parts)
    except (TypeError, ValueError):
        return None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None
    return (lon, lat)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_registration(
    values: Mapping[str, object], row: int | None = None
) -> tuple[Registration, list[Problem]]:
    """Validate one registration (a CSV row or keyword arguments).

    Parameters
    ----------
    values : mapping
        ``phone``, ``sms``, ``voice``, ``email``, ``language`` and either ``addresses`` (a
        sequence of ``(label, address)`` pairs) or ``address_1`` .. ``address_5`` with
        ``label_1`` .. ``label_5``. Missing flags default to ``sms`` when a phone is given and
        no ``voice``; a missing label defaults to ``home`` for the first address and
        ``family`` for the others.
    row : int, optional
        Row number to put in the problems.

    Returns
    -------
    registration : Registration
        What could be read; valid only when there is no problem (fields that could not be
        read are ``None`` or empty, addresses keep the readable ones so that they can still
        be checked against the store).
    problems : list of Problem
    """
    problems: list[Problem] = []
    unknown = sorted(set(values) - {*CSV_COLUMNS, "addresses"})
    problems.extend(Problem(row, name, "unknown field") for name in unknown)

    phone = None
    if not _blank(values.get("phone")):
        phone = normalise_phone(str(values["phone"]))
        if phone is None:
            problems.append(Problem(row, "phone", "malformed phone number"))
    email = None
    if not _blank(values.get("email")):
        email = str(values["email"]).strip()
        if not _EMAIL.fullmatch(email):
            problems.append(Problem(row, "email", "malformed e-mail address"))
        else:
            local, _, domain = email.rpartition("@")
            email = f"{local}@{domain.lower()}"
    sms = _flag(values.get("sms"), "sms", phone is not None, problems, row)
    voice = _flag(values.get("voice"), "voice", False, problems, row)
    if (sms or voice) and _blank(values.get("phone")):
        problems.append(Problem(row, "phone", "required for sms or voice"))
    if _blank(values.get("phone")) and _blank(values.get("email")):
        problems.append(Problem(row, "phone", "a phone or an e-mail is required"))
    elif phone is not None and not (sms or voice):
        problems.append(Problem(row, "sms", "a phone is given but neither sms nor voice is chosen"))

    language = str(values.get("language") or "").strip().lower()
    if not language:
        problems.append(Problem(row, "language", "missing"))
    elif language not in LANGUAGES:
        problems.append(
            Problem(row, "language", f"unknown language (expected one of {', '.join(LANGUAGES)})")
        )

    n_problems = len(problems)
    addresses, fields = _parse_addresses(values, row, problems)
    if not addresses and len(problems) == n_problems:
        problems.append(Problem(row, "address_1", "at least one address is required"))
    return Registration(
        phone, sms, voice, email, language, tuple(addresses), tuple(fields)
    ), problems


def _parse_addresses(
    values: Mapping[str, object], row: int | None, problems: list[Problem]
) -> tuple[list[tuple[str, int | tuple[float, float]]], list[str]]:
    if "addresses" in values:
        given = list(values["addresses"] or [])
        pairs = [(f"addresses[{i}]", label, address) for i, (label, address) in enumerate(given)]
        if len(given) > MAX_ADDRESSES:
            problems.append(Problem(row, "addresses", f"more than {MAX_ADDRESSES} addresses"))
            return [], []
    else:
        pairs = [
            (f"address_{i}", values.get(f"label_{i}"), values.get(f"address_{i}"))
            for i in range(1, MAX_ADDRESSES + 1)
            if not _blank(values.get(f"address_{i}")) or not _blank(values.get(f"label_{i}"))
        ]
    addresses, fields, seen = [], [], set()
    for n, (name, label, raw) in enumerate(pairs):
        label = (
            str(label).strip().lower() if not _blank(label) else ("home" if n == 0 else "family")
        )
        if label not in ADDRESS_LABELS:
            problems.append(
                Problem(
                    row,
                    name.replace("address", "label"),
                    f"unknown label (expected one of {', '.join(ADDRESS_LABELS)})",
                )
            )
            continue
        if _blank(raw):
            problems.append(Problem(row, name, "label given without an address"))
            continue
        address = _address(raw)
        if address is None:
            problems.append(Problem(row, name, "neither an address id nor a 'lon lat' location"))
            continue
        if address in seen:
            problems.append(Problem(row, name, "duplicate address"))
            continue
        seen.add(address)
        addresses.append((label, address))
        fields.append(name)
    return addresses, fields


def read_csv_rows(
    source: str | Path | io.TextIOBase,
) -> Iterator[tuple[int, dict[str, str], list[Problem]]]:
    """Rows of a registration CSV file as ``(row_number, values, problems)``; the header is row 1.

    ``problems`` notes rows with more values than the header has columns.

    Raises
    ------
    RegistrationError
        When the header is missing, names unknown columns or lacks ``language``.
    """
    if isinstance(source, str | Path):
        with open(source, newline="", encoding="utf-8-sig") as f:
            yield from read_csv_rows(f)
        return
    reader = csv.DictReader(source)
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown or "language" not in header:
        reason = f"unknown columns {unknown}" if unknown else "no 'language' column"
        raise RegistrationError(
            [Problem(1, "header", f"{reason}; expected columns among {', '.join(CSV_COLUMNS)}")]
        )
    for values in reader:
        extra = values.pop(None, None)
        problems = (
            [Problem(reader.line_num, "row", "more values than header columns")] if extra else []
        )
        yield reader.line_num, values, problems
