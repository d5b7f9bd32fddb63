"""``geoalert alert send|resume|report|cancel|template``: campaigns from the command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from geoalert.cli import app
from geoalert.commands.messages import DataOption, DbOption, ZoneOption, _read_zone, _texts

alert_app = typer.Typer(
    help="Campaigns: send an alert to everyone a zone or groups target.", no_args_is_help=True
)
app.add_typer(alert_app, name="alert")
template_app = typer.Typer(help="Templates prepared in advance.", no_args_is_help=True)
alert_app.add_typer(template_app, name="template")

ProvidersOption = Annotated[
    Path | None,
    typer.Option(
        "--providers",
        exists=True,
        dir_okay=False,
        help="JSON file of the providers per channel (GEOALERT_CAMPAIGN_PROVIDERS by default).",
    ),
]
HeadlineOption = Annotated[
    list[str] | None, typer.Option("--headline", help="LANG=SUBJECT of the e-mails.")
]


def _fail(error: Exception) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=2)


def _open(data: Path, db: str | None, include=("cells", "addresses", "contacts")):
    from geoalert.engine import Engine

    return Engine.open(data, db=db, include=list(include))


def _run(engine, campaign_id: int, providers: Path | None, quiet: bool, store=None) -> dict:
    """Prepare when needed and send one campaign, with a progress bar per channel; its
    report. With ``store`` (and no engine) a queued campaign is sent without the world."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from geoalert.campaigns import service
    from geoalert.settings import get_settings

    def start(on_progress=None) -> dict:
        kwargs = {"providers": providers, "on_progress": on_progress}
        if engine is None:
            return asyncio.run(service.send(store, campaign_id, get_settings(), **kwargs))
        return asyncio.run(service.run(engine, campaign_id, **kwargs))

    if quiet:
        return start()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True
    ) as bars:
        tasks: dict[str, int] = {}

        def show(progress: dict) -> None:
            for channel, states in progress["channels"].items():
                total = sum(states.values())
                done = total - sum(states.get(s, 0) for s in ("queued", "sending", "retry"))
                if channel not in tasks:
                    tasks[channel] = bars.add_task(channel, total=total)
                bars.update(tasks[channel], completed=done, total=total)

        return start(show)


@alert_app.command()
def send(
    data: DataOption,
    channel: Annotated[
        list[str],
        typer.Option(
            "--channel", help="sms, voice, email, cell_broadcast or alert_sms; repeat for more."
        ),
    ],
    zone: ZoneOption = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", help="Group id alerted; repeat for more.")
    ] = None,
    text: Annotated[
        list[str] | None,
        typer.Option("--text", help="LANG=MESSAGE, once per language; the first is the default."),
    ] = None,
    headline: HeadlineOption = None,
    template: Annotated[
        str | None, typer.Option(help="Name of a stored template, instead of --text.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="NAME=VALUE of a template placeholder.")
    ] = None,
    mode: Annotated[str, typer.Option(help="live or simulation (delivers nothing).")] = "live",
    severity: Annotated[str, typer.Option(help="CAP severity (operators' channels).")] = "Severe",
    urgency: Annotated[str, typer.Option(help="CAP urgency (operators' channels).")] = "Immediate",
    certainty: Annotated[str, typer.Option(help="CAP certainty (operators' channels).")] = "Likely",
    providers: ProvidersOption = None,
    operator: Annotated[
        str, typer.Option("--operator", help="Who launches it, for the audit log.")
    ] = "cli",
    wait: Annotated[bool, typer.Option(help="Send now; --no-wait only queues it.")] = True,
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Launch a campaign: resolve its targets, queue one message per person and channel in
    the person's language, send them and print the report (JSON)."""
    from pydantic import ValidationError

    from geoalert.campaigns import service
    from geoalert.campaigns.model import CampaignError, CampaignSpec
    from geoalert.zones import ZoneError
    from geodata.stores.groups import UnknownGroup

    try:
        spec = CampaignSpec(
            zone=json.loads(_read_zone(zone)) if zone else None,
            groups=group or [],
            channels=channel,
            texts=_texts(text) or None,
            headlines=_texts(headline),
            template=template,
            params=_texts(param),
            mode=mode,
            severity=severity,
            urgency=urgency,
            certainty=certainty,
        )
    except ValidationError as error:
        raise _fail(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        ) from None
    except ValueError as error:
        raise _fail(error) from None
    engine = _open(data, db)
    try:
        record = service.accept(engine, spec, key_name=operator)
    except (CampaignError, ZoneError, UnknownGroup) as error:
        raise _fail(error) from None
    engine.store.append_audit(service.audit_record(record))
    typer.echo(f"campaign {record.campaign_id} accepted ({record.mode})", err=True)
    if not wait:
        return
    try:
        result = _run(engine, record.campaign_id, providers, quiet)
    except CampaignError as error:
        raise _fail(error) from None
    engine.store.append_audit(
        service.audit_record(service.campaign_store(engine).get(record.campaign_id), "campaign-end")
    )
    typer.echo(json.dumps(result, indent=2))


@alert_app.command()
def resume(
    data: DataOption,
    providers: ProvidersOption = None,
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Take up every campaign left unfinished (after a crash or --no-wait) and send it; the
    world is loaded only for campaigns not yet prepared."""
    from geoalert.campaigns import service
    from geoalert.campaigns.model import CampaignError, CampaignState
    from geoalert.campaigns.queue import CampaignStore
    from geoalert.commands.store_options import store_from_options

    engine = None
    with store_from_options(data, db) as store:
        for record in CampaignStore(store.engine).list(service.RUNNABLE):
            typer.echo(f"campaign {record.campaign_id}: {record.state}, resuming", err=True)
            if record.state == CampaignState.ACCEPTED and engine is None:
                engine = _open(data, db)
            try:
                result = _run(engine, record.campaign_id, providers, quiet, store=store)
            except CampaignError as error:
                raise _fail(error) from None
            typer.echo(json.dumps(result, indent=2))


@alert_app.command()
def report(
    campaign_id: Annotated[int, typer.Argument(help="Campaign number.")],
    data: DataOption,
    db: DbOption = None,
) -> None:
    """Print a campaign's report (JSON): sent, delivered, failed with reasons, cost, duration."""
    from geoalert.campaigns import service
    from geoalert.campaigns.queue import CampaignStore
    from geoalert.commands.store_options import store_from_options

    with store_from_options(data, db) as store:
        try:
            typer.echo(
                json.dumps(service.report(CampaignStore(store.engine), campaign_id), indent=2)
            )
        except LookupError as error:
            raise _fail(error) from None


@alert_app.command()
def cancel(
    campaign_id: Annotated[int, typer.Argument(help="Campaign number.")],
    data: DataOption,
    db: DbOption = None,
    operator: Annotated[
        str, typer.Option("--operator", help="Who cancels, for the audit log.")
    ] = "cli",
) -> None:
    """Cancel a campaign: no message still waiting is sent."""
    from geoalert.campaigns import service
    from geoalert.campaigns.model import CampaignError
    from geoalert.campaigns.queue import CampaignStore
    from geoalert.commands.store_options import store_from_options

    with store_from_options(data, db) as store:
        try:
            record = CampaignStore(store.engine).cancel(campaign_id)
        except (LookupError, CampaignError) as error:
            raise _fail(error) from None
        store.append_audit(
            {**service.audit_record(record, "campaign-cancel"), "key_name": operator}
        )
    typer.echo(f"campaign {campaign_id} cancelled")


@template_app.command("save")
def template_save(
    name: Annotated[str, typer.Argument(help="Template name.")],
    data: DataOption,
    text: Annotated[
        list[str], typer.Option("--text", help="LANG=MESSAGE with $placeholders, per language.")
    ],
    headline: HeadlineOption = None,
    db: DbOption = None,
) -> None:
    """Store a template (replacing one of the same name)."""
    from geoalert.campaigns.queue import CampaignStore
    from geoalert.commands.store_options import store_from_options

    with store_from_options(data, db) as store:
        CampaignStore(store.engine).save_template(
            name, {"texts": _texts(text), "headlines": _texts(headline)}
        )
    typer.echo(f"template {name!r} saved")


@template_app.command("list")
def template_list(data: DataOption, db: DbOption = None) -> None:
    """Names of the stored templates."""
    from geoalert.campaigns.queue import CampaignStore
    from geoalert.commands.store_options import store_from_options

    with store_from_options(data, db) as store:
        for name in CampaignStore(store.engine).templates():
            typer.echo(name)
