"""Masks for personal data: phones and e-mail addresses never leave the stores in clear.

Every log line, error message and report that refers to a person shows at most a masked
form (``+32 47* *** *12``, ``j***@example.org``). :class:`MaskingFilter` is a last line of
defence for log handlers: it masks anything that looks like a phone number or an e-mail in
a record's rendered message.
"""

from __future__ import annotations

import logging
import re

import phonenumbers

__all__ = [
    "EMAIL_PATTERN",
    "PHONE_PATTERN",
    "MaskingFilter",
    "mask_email",
    "mask_phone",
    "mask_text",
]

#: An e-mail address anywhere in a text.
EMAIL_PATTERN = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
#: A phone number anywhere in a text: international (``+`` then 8 to 15 digits, with the usual
#: separators) or national (a leading 0 then 8 or 9 digits).
PHONE_PATTERN = re.compile(
    r"(?<![\d+])(?:\+|00)[1-9](?:[ ./()-]?\d){7,14}(?!\d)|(?<![\d.+])0(?:[ ./()-]?\d){8,9}(?!\d)"
)

_HIDDEN = "***"


def mask_phone(phone: str | None) -> str:
    """Mask a phone number, keeping the country code, two leading and two trailing digits.

    Examples
    --------
    >>> mask_phone("+32471234512")
    '+32 47* *** *12'
    >>> mask_phone("not a number")
    '***'
    >>> mask_phone(None)
    ''
    """
    if not phone:
        return ""
    try:
        number = phonenumbers.parse(phone, "BE")
    except phonenumbers.NumberParseException:
        return _HIDDEN
    national = str(number.national_number)
    if len(national) < 6:
        return f"+{number.country_code} {_HIDDEN}"
    masked = national[:2] + "*" * (len(national) - 4) + national[-2:]
    groups = [masked[i : i + 3] for i in range(0, len(masked), 3)]
    return f"+{number.country_code} " + " ".join(groups)


def mask_email(email: str | None) -> str:
    """Mask an e-mail address, keeping the first character and the domain.

    Examples
    --------
    >>> mask_email("jane.doe@example.org")
    'j***@example.org'
    >>> mask_email("nonsense")
    '***'
    """
    if not email:
        return ""
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        return _HIDDEN
    return f"{local[0]}{_HIDDEN}@{domain}"


def mask_text(text: str) -> str:
    """Mask every phone number and e-mail address found in free text.

    Examples
    --------
    >>> mask_text("call +32 471 23 45 12 or mail jane@example.org")
    'call +32 47* *** *12 or mail j***@example.org'
    """
    text = EMAIL_PATTERN.sub(lambda m: mask_email(m.group()), text)
    return PHONE_PATTERN.sub(lambda m: mask_phone(m.group()), text)


class MaskingFilter(logging.Filter):
    """Logging filter that masks phones and e-mails in every record's message.

    Attach it to handlers (``handler.addFilter(MaskingFilter())``); the record's arguments are
    rendered into the message first, so values passed as ``%s`` arguments are masked too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
