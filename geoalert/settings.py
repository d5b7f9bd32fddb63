"""Settings in one place, read from ``GEOALERT_*`` environment variables."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Engine settings.

    Every field can be overridden by an environment variable named ``GEOALERT_<FIELD>``
    (for example ``GEOALERT_METRIC_CRS=EPSG:3035``).
    """

    model_config = SettingsConfigDict(env_prefix="GEOALERT_", frozen=True)

    metric_crs: str = Field(
        "EPSG:3812",
        description="Projected CRS in metres for areas, distances, buffers and overlaps "
        "(Belgian Lambert 2008 by default).",
    )
    max_zone_vertices: int = Field(
        20_000, gt=3, description="Largest number of vertices accepted in one zone."
    )
    max_radius_m: float = Field(
        300_000.0, gt=0, description="Largest circle radius or corridor width in metres."
    )
    circle_quad_segs: int = Field(
        16, ge=2, description="Segments per quarter circle of circle zones and corridor ends."
    )
    zone_extent_margin_deg: float = Field(
        1.0,
        ge=0,
        description="Zones farther than this (degrees) from the world's extent are refused "
        "(swapped longitude and latitude land far outside).",
    )
    warning_area_max_vertices: int = Field(
        100,
        ge=4,
        description="Most vertices of the warning area sent for device-based geofencing.",
    )
    cap_sender: str = Field(
        "alerts@geoalert.example",
        description="CAP sender of the alerts written (an address without spaces).",
    )
    cb_repetition_period_s: int = Field(
        60, ge=1, le=4095, description="Seconds between repetitions of a cell broadcast message."
    )
    k_anonymity: int = Field(
        15, ge=1, description="Counts below this are never shown per cell or per operator."
    )
    segment_cost_eur: float = Field(
        0.055, ge=0, description="Cost of one SMS segment or one voice minute in EUR."
    )
    default_message_chars: int = Field(
        160,
        ge=1,
        description="Length of the message costed for registered contacts when none is given "
        "(characters of the GSM 7-bit alphabet).",
    )
    voice_chars_per_minute: int = Field(
        800, ge=1, description="Characters of a message read out per minute of a voice call."
    )

    # Registered contacts: how a running engine keeps up with registrations.
    contacts_refresh_s: float = Field(
        1.0,
        ge=0,
        description="Seconds between two checks of the store for contacts registered, updated "
        "or unregistered since (0: at every resolve).",
    )
    contacts_overlay_max: int = Field(
        50_000,
        ge=0,
        description="Contacts changed since the engine read the register above which it reads "
        "the whole register again instead of overlaying the changes.",
    )

    # Campaigns (``geoalert alert send``, ``POST /v1/campaigns``).
    campaign_providers: Path | None = Field(
        None,
        description="JSON file of the campaigns' providers, one entry per channel: "
        '{"sms": {"adapter": "smpp", "host": ..., "rate_per_s": ...}, ...} '
        "(geoalert.campaigns.adapters).",
    )

    # Present population (``include=["population"]``).
    population_method: str = Field(
        "blend", description="Estimator of present population (geoalert.population.index)."
    )
    population_tile_m: float = Field(
        200.0, gt=0, description="Side in metres of the tiles devices are spread over."
    )
    population_interval_level: float = Field(
        0.9, gt=0, lt=1, description="Share of truths the population interval is meant to cover."
    )
    population_secret: str | None = Field(
        None,
        description="Key of the consistent noise on published population figures; by default "
        "a hash of the world's presence counts.",
    )

    # Presence counts from operators' event feeds (``geoalert presence build``).
    presence_window: timedelta = Field(
        timedelta(hours=2),
        gt=timedelta(0),
        description="A device last seen at most this long before a time bucket's end counts "
        "as present in it (BE-Alert: phones silent for over two hours may not count).",
    )

    # Service (``geoalert serve``): what the API opens, how much it accepts, who may ask.
    data_dir: Path | None = Field(
        None, description="World directory the service opens (``geoalert serve --data``)."
    )
    db_url: str | None = Field(
        None,
        description="PostGIS store URL (``--db``); the embedded store in ``data_dir`` when unset.",
    )
    api_max_body_bytes: int = Field(
        2_000_000, ge=1_024, description="Largest request body accepted, in bytes."
    )
    api_rate_per_s: float = Field(
        20.0, gt=0, description="Sustained requests per second allowed to one API key."
    )
    api_rate_burst: int = Field(
        40, ge=1, description="Requests one API key may send at once above the sustained rate."
    )
    api_rate_limit_file: Path | None = Field(
        None,
        description="SQLite file through which the server processes share the keys' rate "
        "limits (``geoalert serve --workers N`` sets one up); in memory when unset.",
    )
    api_cache_bytes: int = Field(
        64_000_000,
        ge=0,
        description="Bytes of resolutions each server process keeps to answer repeated "
        "requests at once (0: no cache).",
    )
    api_cache_ttl_s: float = Field(
        60.0, gt=0, description="Seconds a cached resolution is served after it was made."
    )
    jurisdiction_tolerance_m: float = Field(
        25.0,
        ge=0,
        description="How far in metres a zone may cross its jurisdiction's border "
        "(shared borders drawn slightly apart).",
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
