"""``geoalert contacts import|register|update|unregister``: the register of contacts.

Output and errors name contacts by id and show phones and e-mails masked only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from geoalert.cli import app
from geoalert.commands.store_options import Data, Db, store_from_options
from geodata.masking import mask_email, mask_phone
from geodata.stores.contacts import IMPORT_MODES, UnknownContact
from geodata.stores.registration import Contact, RegistrationError

contacts_app = typer.Typer(
    help="Registered contacts: import, register, update, unregister.", no_args_is_help=True
)
app.add_typer(contacts_app, name="contacts")

Addresses = Annotated[
    list[str] | None,
    typer.Option(
        "--address",
        help="LABEL=ADDRESS, up to five: label home, work, school or family; address an address "
        "id or a 'lon lat' location. Repeat the option for each address.",
    ),
]
Phone = Annotated[
    str | None, typer.Option(help="Phone number (any common form; foreign ones with +).")
]
Email = Annotated[str | None, typer.Option(help="E-mail address.")]
Language = Annotated[str | None, typer.Option(help="nl, fr, de or en.")]
Sms = Annotated[
    bool | None, typer.Option("--sms/--no-sms", help="Alert by SMS (default with a phone).")
]
Voice = Annotated[bool | None, typer.Option("--voice/--no-voice", help="Alert by voice call.")]


def _addresses(given: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in given:
        label, sep, address = item.partition("=")
        if not sep:
            raise typer.BadParameter(
                "expected LABEL=ADDRESS, e.g. home=123456", param_hint="--address"
            )
        pairs.append((label.strip(), address.strip()))
    return pairs


def _summary(contact: Contact) -> str:
    channels = [name for name, on in (("sms", contact.sms), ("voice", contact.voice)) if on]
    if contact.email:
        channels.append("e-mail")
    who = ", ".join(x for x in (mask_phone(contact.phone), mask_email(contact.email)) if x)
    return (
        f"contact {contact.contact_id} ({who}): {'/'.join(channels)}, {contact.language}, "
        f"{len(contact.addresses)} address{'es' if len(contact.addresses) > 1 else ''}"
    )


def _refused(error: RegistrationError) -> typer.Exit:
    for problem in error.problems:
        typer.echo(f"error: {problem}", err=True)
    return typer.Exit(1)


@contacts_app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV file with a header row.")
    ],
    data: Data = None,
    db: Db = None,
    mode: Annotated[
        str,
        typer.Option(
            help="all-or-nothing: any bad row, nothing written; good-rows: write the good rows."
        ),
    ] = "all-or-nothing",
    report: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Also write the report as JSON to this file."),
    ] = None,
) -> None:
    """Register the people of a CSV file in one transaction; report every bad row.

    Columns: phone, sms, voice, email, language, address_1..address_5, label_1..label_5.
    Exit status 0 when every row was imported, 1 when any row was refused.
    """
    if mode not in IMPORT_MODES:
        raise typer.BadParameter(f"expected one of {', '.join(IMPORT_MODES)}", param_hint="--mode")
    with store_from_options(data, db) as store:
        try:
            result = store.import_contacts(file, mode=mode)
        except RegistrationError as error:
            raise _refused(error) from None
    if report is not None:
        report.write_text(json.dumps(result.to_dict(), indent=2))
    console = Console(stderr=bool(result.problems))
    if result.problems:
        table = Table("row", "field", "reason", title="refused rows")
        for p in result.problems:
            table.add_row(str(p.row), p.field, p.reason)
        console.print(table)
    console.print(
        f"{result.rows} rows: {result.imported} imported, {len(result.bad_rows)} refused ({mode})"
        + ("; nothing written" if result.problems and not result.imported else "")
    )
    if result.problems:
        raise typer.Exit(1)


@contacts_app.command("register")
def register(
    language: Annotated[str, typer.Option(help="nl, fr, de or en.")],
    address: Addresses = None,
    phone: Phone = None,
    email: Email = None,
    sms: Sms = None,
    voice: Voice = None,
    data: Data = None,
    db: Db = None,
) -> None:
    """Register one person (a phone and/or an e-mail, up to five addresses)."""
    with store_from_options(data, db) as store:
        try:
            contact = store.register_contact(
                phone=phone,
                email=email,
                sms=sms,
                voice=voice,
                language=language,
                addresses=_addresses(address or []),
            )
        except RegistrationError as error:
            raise _refused(error) from None
    typer.echo(f"registered {_summary(contact)}")


@contacts_app.command("update")
def update(
    contact_id: Annotated[int, typer.Argument(help="Id of the contact.")],
    address: Addresses = None,
    phone: Phone = None,
    email: Email = None,
    language: Language = None,
    sms: Sms = None,
    voice: Voice = None,
    data: Data = None,
    db: Db = None,
) -> None:
    """Change a registration: options given replace their field (--address replaces all addresses)."""
    given = {"phone": phone, "email": email, "language": language, "sms": sms, "voice": voice}
    changes = {name: value for name, value in given.items() if value is not None}
    if address:
        changes["addresses"] = _addresses(address)
    with store_from_options(data, db) as store:
        try:
            contact = store.update_contact(contact_id, **changes)
        except UnknownContact as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        except RegistrationError as error:
            raise _refused(error) from None
    typer.echo(f"updated {_summary(contact)}")


@contacts_app.command("unregister")
def unregister(
    contact_id: Annotated[int, typer.Argument(help="Id of the contact.")],
    data: Data = None,
    db: Db = None,
) -> None:
    """Remove a contact and all its personal data."""
    with store_from_options(data, db) as store:
        try:
            store.unregister_contact(contact_id)
        except UnknownContact as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"unregistered contact {contact_id}: its personal data is removed")
