"""Masks of personal data: nothing identifying survives, in any common way of writing it."""

from __future__ import annotations

import logging

import phonenumbers
from hypothesis import given
from hypothesis import strategies as st

from geodata.masking import MaskingFilter, mask_email, mask_phone, mask_text

REGIONS = sorted(
    r
    for r in phonenumbers.SUPPORTED_REGIONS
    if phonenumbers.example_number_for_type(r, phonenumbers.PhoneNumberType.MOBILE)
)
FORMATS = [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL]


@st.composite
def phone_numbers(draw) -> phonenumbers.PhoneNumber:
    region = draw(st.sampled_from(REGIONS))
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    digits = str(number.national_number)
    # Vary the subscriber digits, keep the prefix that makes it a mobile number.
    tail = draw(st.text("0123456789", min_size=3, max_size=3))
    number.national_number = int(digits[:-3] + tail) if len(digits) > 6 else number.national_number
    return number


@given(phone_numbers(), st.sampled_from(FORMATS), st.text(alphabet="abc :;=", max_size=8))
def test_masked_text_keeps_at_most_four_digits_of_a_number(number, fmt, around) -> None:
    written = phonenumbers.format_number(number, fmt)
    masked = mask_text(f"{around}{written}{around}")
    national = str(number.national_number)
    if len(national) >= 6:
        assert national not in masked.replace(" ", "")
        assert national[2:-2] not in masked.replace(" ", "")


@given(st.from_regex(r"[a-z][a-z0-9._]{1,20}@[a-z]{2,10}\.(org|be|com)", fullmatch=True))
def test_masked_email_shows_first_letter_and_domain_only(email: str) -> None:
    local, domain = email.split("@")
    masked = mask_text(f"to {email}.")
    assert masked == f"to {local[0]}***@{domain}."


def test_examples() -> None:
    assert mask_phone("+32471234512") == "+32 47* *** *12"
    assert mask_phone("0471/23.45.12") == "+32 47* *** *12"
    assert mask_phone("12") == "+32 ***"
    assert mask_phone("not a phone") == "***"
    assert mask_email("jane@example.org") == "j***@example.org"
    assert mask_text("counted 5500000 addresses in 21004 at 2025-03-12 08:00") == (
        "counted 5500000 addresses in 21004 at 2025-03-12 08:00"
    )


def test_logging_filter_masks_arguments(caplog) -> None:
    logger = logging.getLogger("test.masking")
    caplog.handler.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="test.masking"):
        logger.info("sending to %s and %s", "+32471234512", "jane@example.org")
    assert caplog.records[0].getMessage() == "sending to +32 47* *** *12 and j***@example.org"
