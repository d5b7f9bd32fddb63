"""API keys: generation, hashing, roles and the checks a new key must pass.

A key is a random secret shown once to whoever creates it; only its SHA-256 hash is stored,
so a leaked store reveals no usable key. Keys carry a role and, for the roles bound to a
place, the NIS code of that place (see :mod:`geoalert.jurisdiction`).
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from geodata.stores import BaseStore
from geodata.stores.access import KeyRecord

KEY_PREFIX = "gak_"
"""Every key starts with this, so a key pasted where it should not be is easy to spot."""


class Role(StrEnum):
    """What a key may do and where.

    ``federal`` resolves zones anywhere in the country, ``governor`` within its province,
    ``mayor`` within its municipality; ``operator`` reads present-population aggregates
    only; ``group-only`` alerts its own groups and resolves no zone; ``admin`` does
    everything everywhere.
    """

    FEDERAL = "federal"
    GOVERNOR = "governor"
    MAYOR = "mayor"
    OPERATOR = "operator"
    GROUP_ONLY = "group-only"
    ADMIN = "admin"


AREA_LEVELS: dict[Role, frozenset[str]] = {
    Role.FEDERAL: frozenset(),
    Role.GOVERNOR: frozenset({"province"}),
    Role.MAYOR: frozenset({"municipality"}),
    Role.OPERATOR: frozenset(),
    Role.GROUP_ONLY: frozenset({"province", "municipality"}),
    Role.ADMIN: frozenset(),
}
"""Area levels a role is bound to; an empty set means the role takes no area."""


class KeySpecError(ValueError):
    """A key cannot be created as asked (unknown role, missing or wrong area)."""


def generate_key() -> str:
    """A new random key: :data:`KEY_PREFIX` and 256 bits, URL-safe base64."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """Hex SHA-256 of a key, the only form in which keys are stored or looked up.

    A fast hash is enough: keys are 256-bit random secrets, not passwords.

    Examples
    --------
    >>> hash_key("gak_x") == hash_key("gak_x") != hash_key("gak_y")
    True
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_role_area(role: str, area: str | None, area_levels: dict[str, str]) -> Role:
    """Validate the role and area of a new key.

    Parameters
    ----------
    role : str
        One of :class:`Role`'s values.
    area : str or None
        NIS code the key is bound to.
    area_levels : dict of str to str
        Level (``"region"``, ``"province"``, ``"municipality"``) of every known NIS code.

    Returns
    -------
    Role

    Raises
    ------
    KeySpecError
        Unknown role, an area given to a role without one, a missing area, an unknown
        code, or a code of the wrong level.
    """
    try:
        parsed = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise KeySpecError(f"unknown role {role!r}; expected one of: {allowed}") from None
    levels = AREA_LEVELS[parsed]
    if not levels:
        if area is not None:
            raise KeySpecError(f"role {parsed} covers no single area; drop --area {area}")
        return parsed
    wanted = " or ".join(sorted(levels))
    if area is None:
        raise KeySpecError(f"role {parsed} needs --area with the NIS code of a {wanted}")
    level = area_levels.get(area)
    if level is None:
        raise KeySpecError(f"unknown area {area!r}: no such NIS code in this world")
    if level not in levels:
        raise KeySpecError(f"role {parsed} needs a {wanted}, but {area} is a {level}")
    return parsed


def create_key(
    store: BaseStore, role: str, area_code: str | None = None, name: str | None = None
) -> tuple[str, KeyRecord]:
    """Create and store a new key; the secret is returned once and never stored.

    Parameters
    ----------
    store : geodata.stores.BaseStore
    role : str
        One of :class:`Role`'s values.
    area_code : str, optional
        NIS code of the province or municipality the role is bound to.
    name : str, optional
        Who holds the key (unique); ``"{role}-{area or 'be'}-{4 hex}"`` when omitted.

    Returns
    -------
    secret : str
    record : KeyRecord

    Raises
    ------
    KeySpecError
        Bad role or area (see :func:`check_role_area`), or an empty name.
    geodata.stores.access.KeyExists
        The name is taken.
    """
    areas = store.read_areas()
    levels = dict(zip(areas["code"], areas["level"], strict=True))
    parsed = check_role_area(role, area_code, levels)
    if name is None:
        name = f"{parsed}-{area_code or 'be'}-{secrets.token_hex(2)}"
    if not name.strip():
        raise KeySpecError("a key name cannot be empty")
    secret = generate_key()
    return secret, store.add_key(name, parsed.value, area_code, hash_key(secret))


def authenticate(store: BaseStore, secret: str) -> KeyRecord | None:
    """The active key whose secret this is, or None (unknown, revoked or malformed)."""
    if not secret.startswith(KEY_PREFIX):
        return None
    return store.find_key_by_hash(hash_key(secret))
