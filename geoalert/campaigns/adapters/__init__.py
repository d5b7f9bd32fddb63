"""Channel adapters, by name: how each channel's messages leave (see :mod:`.base`).

``smtp`` (e-mail), ``smpp`` and ``http-sms`` (SMS), ``http-voice`` (voice calls),
``http-operator`` (the operators' cell broadcast and Alert-SMS gateways) and ``simulation``
(every channel of a simulated campaign). :func:`open_adapters` builds them from the
providers configuration: one entry per channel, ``{"adapter": NAME, ...options}``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from geoalert.campaigns.adapters.base import Adapter
from geoalert.campaigns.model import CampaignError

__all__ = ["ADAPTERS", "adapter_class", "build_adapters", "read_providers"]

ADAPTERS: dict[str, str] = {
    "smtp": "geoalert.campaigns.adapters.smtp:SmtpAdapter",
    "smpp": "geoalert.campaigns.adapters.smpp:SmppAdapter",
    "http-sms": "geoalert.campaigns.adapters.http:HttpSmsAdapter",
    "http-voice": "geoalert.campaigns.adapters.http:HttpVoiceAdapter",
    "http-operator": "geoalert.campaigns.adapters.http:HttpOperatorAdapter",
    "simulation": "geoalert.campaigns.adapters.simulation:SimulationAdapter",
}


def adapter_class(name: str) -> type[Adapter]:
    """The adapter registered under ``name``; :class:`CampaignError` for an unknown one."""
    try:
        module, _, cls = ADAPTERS[name].partition(":")
    except KeyError:
        raise CampaignError(
            f"unknown adapter {name!r}; expected one of {', '.join(ADAPTERS)}"
        ) from None
    return getattr(importlib.import_module(module), cls)


def read_providers(source: str | Path | Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The providers configuration: a mapping, a JSON file, or none (``{}``)."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return {k: dict(v) for k, v in source.items()}
    path = Path(source)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CampaignError(f"cannot read the providers configuration {path}: {error}") from None


def build_adapters(
    providers: Mapping[str, Mapping[str, Any]], channels: list[str], *, simulation: bool
) -> dict[str, Adapter]:
    """One adapter per channel. In simulation every channel gets the simulation adapter
    (keeping the configured rate and batch size, so that an exercise takes as long as the
    real thing); live, a channel without a configured provider is an error."""
    out = {}
    for channel in channels:
        config = dict(providers.get(channel) or {})
        if simulation:
            keep = {k: config[k] for k in ("rate_per_s", "batch") if k in config}
            config = {"adapter": "simulation", **keep}
        elif not config:
            raise CampaignError(f"no provider configured for channel {channel}")
        cls = adapter_class(str(config.get("adapter")))
        try:
            options = cls.Options(**config)
        except ValidationError as error:
            raise CampaignError(f"provider of channel {channel}: {error}") from None
        out[channel] = cls(options)
    return out
