"""Registered contacts (as on BE-Alert) and groups alerted without a zone.

About 10 % of households register; in a registered household most adults register, each with
their home address and sometimes their workplace, their child's school or a relative's
address. Phone numbers are drawn without repetition from real number ranges (Belgian mobiles
+32 47x/48x/49x, landlines, and some foreign mobiles); e-mail addresses use the reserved
``example.*`` domains (RFC 2606). Languages follow where people live.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from geodata.synth.people import PUPIL, WORKER, People

HOUSEHOLD_SHARE = 0.10
"""Share of households (residential addresses) with registered members."""

MEMBER_SHARE = {WORKER: 0.8, PUPIL: 0.05}
"""Probability that a member of a registered household registers (others: ``OTHER_MEMBER``)."""
OTHER_MEMBER = 0.7

MAX_ADDRESSES = 5

# (prefix, free digits): every number of a range is valid for ``phonenumbers``.
BE_MOBILE = [("+3247", 7), ("+3248", 7), ("+3249", 7)]
BE_LANDLINE = {
    "04000": [("+3225", 6), ("+3226", 6), ("+3227", 6)],
    "02000": [("+3292", 6), ("+3293", 6), ("+3232", 6), ("+3233", 6)],
    "03000": [("+3242", 6), ("+3243", 6), ("+3271", 6), ("+3281", 6), ("+3287", 6)],
}
FOREIGN_MOBILE = {
    "NL": [("+3161", 7), ("+3162", 7), ("+3165", 7)],
    "FR": [("+3361", 7), ("+3375", 7), ("+3376", 7)],
    "DE": [("+49151", 8), ("+49160", 7), ("+49170", 7), ("+49176", 8)],
    "LU": [("+352621", 6), ("+352661", 6), ("+352691", 6)],
    "GB": [("+4478", 8)],
}
FOREIGN_SHARE = 0.05
"""Share of phones that are foreign mobiles (cross-border workers, expatriates)."""
LANDLINE_SHARE = 0.05
NO_PHONE_SHARE = 0.06
"""Contacts registered by e-mail only."""
EMAIL_SHARE = 0.65

# Languages by where people live: region code, or "de" for the German-speaking Community.
LANGUAGES = {
    "02000": {"nl": 0.93, "en": 0.04, "fr": 0.03},
    "03000": {"fr": 0.95, "en": 0.03, "nl": 0.02},
    "04000": {"fr": 0.60, "nl": 0.17, "en": 0.23},
    "de": {"de": 0.85, "fr": 0.12, "en": 0.03},
}

GIVEN = [
    "an",
    "bart",
    "els",
    "jan",
    "koen",
    "lies",
    "marc",
    "nina",
    "pieter",
    "sofie",
    "luc",
    "marie",
    "julie",
    "thomas",
    "lucas",
    "emma",
    "louis",
    "sarah",
    "nathalie",
    "david",
    "olivier",
    "camille",
    "hugo",
    "lea",
    "jonas",
    "anke",
    "stefan",
    "ines",
    "youssef",
    "fatima",
]
FAMILY = [
    "peeters",
    "janssens",
    "maes",
    "jacobs",
    "mertens",
    "willems",
    "claes",
    "goossens",
    "wouters",
    "dubois",
    "lambert",
    "dupont",
    "martin",
    "simon",
    "laurent",
    "leclercq",
    "dumont",
    "schmitz",
    "muller",
    "klein",
    "lejeune",
    "renard",
    "vermeulen",
    "desmet",
    "aerts",
    "hermans",
    "michiels",
    "diallo",
    "elamrani",
    "kowalski",
]
DOMAINS = ("example.org", "example.com", "example.net")

LABELS = ("home", "work", "school", "family")

_STRIDE = 7_368_787
"""A prime: k -> (STRIDE * k + offset) mod size enumerates a number range without repeats."""


def contacts(
    people: People,
    region: np.ndarray,
    german: np.ndarray,
    n_addresses: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Registered contacts of the world's residents.

    Parameters
    ----------
    people : People
        Only residents (with a home address) can register.
    region : (n_municipalities,) str
        Region code of each municipality.
    german : (n_municipalities,) bool
        Municipality of the German-speaking Community.
    n_addresses : int
        Number of addresses in the world (family addresses are drawn among them).
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        ``contact_id`` int64 (1..n), ``phone`` (E.164 or null), ``sms``, ``voice`` bool,
        ``email`` (or null), ``language``, ``address_ids`` list<int64> (1..5, home first),
        ``address_labels`` list<str>, plus ``municipality`` (home municipality index, for
        groups; not written).
    """
    member = _members(people, rng)
    n = len(member)
    home = people.home_address[member]
    muni = people.municipality[member].astype(np.int64)

    ids = np.full((n, MAX_ADDRESSES), -1, dtype=np.int64)
    labels = np.zeros((n, MAX_ADDRESSES), dtype=np.int8)
    ids[:, 0] = home
    work = np.where(
        (people.role[member] == WORKER) & (rng.random(n) < 0.5), people.dest_address[member], -1
    )
    ids[:, 1], labels[:, 1] = work, 1
    ids[:, 2], labels[:, 2] = np.where(rng.random(n) < 0.6, _child_school(people, home), -1), 2
    for column, share in ((3, 0.25), (4, 0.08)):
        family = rng.integers(0, n_addresses, n)
        ids[:, column], labels[:, column] = np.where(rng.random(n) < share, family, -1), 3
    keep = ids >= 0
    for j in range(1, MAX_ADDRESSES):
        keep[:, j] &= (ids[:, :j] != ids[:, j : j + 1]).all(axis=1)
    counts = keep.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    # Address ids are 1-based (address index + 1).
    address_ids = pa.ListArray.from_arrays(offsets, pa.array(ids[keep] + 1, pa.int64()))
    label_values = pa.array(np.asarray(LABELS, dtype=object)[labels[keep]], pa.string())
    address_labels = pa.ListArray.from_arrays(offsets, label_values)

    community = np.where(german[muni], "de", region[muni])
    language = np.empty(n, dtype=object)
    for key, shares in LANGUAGES.items():
        who = np.flatnonzero(community == key)
        codes = np.array(list(shares), dtype=object)
        cum = np.cumsum(list(shares.values()))
        language[who] = codes[np.searchsorted(cum / cum[-1], rng.random(len(who)), side="right")]

    phone, sms, voice = _phones(community, rng)
    email = _emails(n, rng, required=pd.isna(phone))
    return pd.DataFrame(
        {
            "contact_id": np.arange(1, n + 1, dtype=np.int64),
            "phone": pd.array(phone, dtype=pd.StringDtype()),
            "sms": sms,
            "voice": voice,
            "email": pd.array(email, dtype=pd.StringDtype()),
            "language": pd.array(language, dtype=pd.StringDtype()),
            "address_ids": pd.Series(pd.arrays.ArrowExtensionArray(address_ids)),
            "address_labels": pd.Series(pd.arrays.ArrowExtensionArray(address_labels)),
            "municipality": muni,
        }
    )


def _members(people: People, rng: np.random.Generator) -> np.ndarray:
    """Indices of the residents who register: members of registered households."""
    resident = np.flatnonzero(people.resident)
    home = people.home_address[resident]
    households, first = np.unique(home, return_index=True)
    registered = rng.random(len(households)) < HOUSEHOLD_SHARE
    household = np.searchsorted(households, home)
    share = np.full(len(resident), OTHER_MEMBER)
    for role, p in MEMBER_SHARE.items():
        share[people.role[resident] == role] = p
    joins = registered[household] & (rng.random(len(resident)) < share)
    # Somebody registers in every registered household.
    joins[first[registered]] = True
    return resident[joins]


def _child_school(people: People, home: np.ndarray) -> np.ndarray:
    """School address of a pupil living at each ``home`` address (-1 where none)."""
    pupil = np.flatnonzero((people.role == PUPIL) & people.resident & (people.dest_address >= 0))
    addresses, first = np.unique(people.home_address[pupil], return_index=True)
    at = np.clip(np.searchsorted(addresses, home), 0, max(len(addresses) - 1, 0))
    if len(addresses) == 0:
        return np.full(len(home), -1, dtype=np.int64)
    found = addresses[at] == home
    return np.where(found, people.dest_address[pupil[first[at]]], -1)


def number_range(ranges: list[tuple[str, int]], count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct numbers from ``ranges`` (prefix, free digits; equal digits), E.164."""
    digits = ranges[0][1]
    if any(d != digits for _, d in ranges):
        raise ValueError("number_range: ranges must have the same number of free digits")
    block = 10**digits
    size = len(ranges) * block
    if count > size:
        raise ValueError(f"number_range: {count} numbers asked from a range of {size}")
    k = (np.arange(count, dtype=np.int64) * _STRIDE + int(rng.integers(size))) % size
    prefix = np.array([p for p, _ in ranges], dtype=object)[k // block]
    suffix = pd.Series(k % block).astype(str).str.zfill(digits).to_numpy(dtype=object)
    return prefix + suffix


def _pool(groups: dict[int, list[tuple[str, int]]], kind: np.ndarray, rng) -> np.ndarray:
    """Numbers for contacts by ``kind`` (an index into ``groups``)."""
    out = np.empty(len(kind), dtype=object)
    for key, ranges in groups.items():
        by_digits: dict[int, list[tuple[str, int]]] = {}
        for prefix, d in ranges:
            by_digits.setdefault(d, []).append((prefix, d))
        who = np.flatnonzero(kind == key)
        part = rng.integers(0, len(by_digits), len(who))
        for j, same in enumerate(by_digits.values()):
            sel = who[part == j]
            out[sel] = number_range(same, len(sel), rng)
    return out


def _phones(
    community: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phone (E.164 or None), SMS and voice opt-ins of each contact."""
    n = len(community)
    u = rng.random(n)
    kind = np.full(n, 0)  # Belgian mobile
    kind[u < NO_PHONE_SHARE + LANDLINE_SHARE + FOREIGN_SHARE] = 1  # foreign mobile
    kind[u < NO_PHONE_SHARE + LANDLINE_SHARE] = 2  # landline
    kind[u < NO_PHONE_SHARE] = 3  # none
    region = np.where(community == "de", "03000", community)
    foreign = list(FOREIGN_MOBILE.values())
    landline = list(BE_LANDLINE)
    key = np.full(n, -1)
    key[kind == 0] = 0
    key[kind == 1] = 1 + rng.integers(0, len(foreign), (kind == 1).sum())
    for i, code in enumerate(landline):
        key[(kind == 2) & (region == code)] = 1 + len(foreign) + i
    groups = {0: BE_MOBILE}
    groups.update({1 + i: r for i, r in enumerate(foreign)})
    groups.update({1 + len(foreign) + i: BE_LANDLINE[c] for i, c in enumerate(landline)})
    phone = _pool(groups, key, rng)
    phone[kind == 3] = None
    mobile = kind <= 1
    sms = mobile & (rng.random(n) < 0.97)
    voice = (kind == 2) | (mobile & ~sms) | (mobile & (rng.random(n) < 0.25))
    return phone, sms, voice


def _emails(n: int, rng: np.random.Generator, required: np.ndarray) -> np.ndarray:
    """E-mail addresses in reserved domains, all distinct; None for some contacts, never where
    ``required`` (contacts without a phone)."""
    given = np.asarray(GIVEN, dtype=object)[rng.integers(0, len(GIVEN), n)]
    family = np.asarray(FAMILY, dtype=object)[rng.integers(0, len(FAMILY), n)]
    domain = np.asarray(DOMAINS, dtype=object)[rng.integers(0, len(DOMAINS), n)]
    number = pd.Series(np.arange(1, n + 1)).astype(str).to_numpy(dtype=object)
    email = given + "." + family + number + "@" + domain
    email[(rng.random(n) >= EMAIL_SHARE) & ~required] = None
    return email


def groups(
    contacts: pd.DataFrame,
    areas: pd.DataFrame,
    municipal_codes: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Groups alerted without a zone: neighbourhood information networks and responders.

    About a third of the municipalities have 1-3 neighbourhood networks (BIN in Flanders, PLP
    elsewhere) of 2-8 % of their registered residents; every municipality has a crisis cell and
    every province (the Brussels-Capital Region for its municipalities) a rescue zone and a
    medical team, drawn from contacts living there.

    Parameters
    ----------
    contacts : pandas.DataFrame
        From :func:`contacts` (``contact_id``, ``municipality`` index).
    areas : pandas.DataFrame
        The world's areas (``code``, ``level``, ``name``, ``region_code``, ``province_code``).
    municipal_codes : (n_municipalities,) str
        NIS code of each municipality index.
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        ``group_id``, ``name``, ``kind``, ``area_code``, ``contact_ids`` (list<int64>).
    """
    ids = pd.Series(contacts["contact_id"].to_numpy())
    home = municipal_codes[contacts["municipality"].to_numpy()]
    munis = areas[areas["level"] == "municipality"].set_index("code")
    owner = munis["province_code"].fillna(munis["region_code"])
    by_municipality = {code: g.to_numpy() for code, g in ids.groupby(home)}
    by_owner = {code: g.to_numpy() for code, g in ids.groupby(owner.reindex(home).to_numpy())}
    rows = []

    def add(group_id, name, kind, area_code, members, size):
        size = int(min(len(members), max(size, 1)))
        chosen = np.sort(rng.choice(members, size, replace=False)) if size else members[:0]
        rows.append((group_id, name, kind, area_code, chosen))

    for code, row in munis.iterrows():
        members = by_municipality.get(code)
        if members is None:
            continue
        network = "BIN" if row["region_code"] == "02000" else "PLP"
        if rng.random() < 0.35:
            for k in range(1, int(rng.integers(1, 4)) + 1):
                share = 0.02 + 0.06 * rng.random()
                add(
                    f"{network.lower()}-{code}-{k}",
                    f"{network} {row['name']} {k}",
                    "neighbourhood",
                    code,
                    members,
                    max(5, round(share * len(members))),
                )
        add(
            f"crisis-{code}",
            f"Crisis cell {row['name']}",
            "responders",
            code,
            members,
            int(rng.integers(5, 16)),
        )
    for code in sorted(set(owner)):
        members = by_owner[code]
        name = areas.loc[areas["code"] == code, "name"].iloc[0]
        add(
            f"rescue-{code}",
            f"Rescue zone {name}",
            "responders",
            code,
            members,
            int(rng.integers(30, 80)),
        )
        add(
            f"medical-{code}",
            f"Medical team {name}",
            "responders",
            code,
            members,
            int(rng.integers(20, 50)),
        )
    return pd.DataFrame(
        {
            "group_id": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "kind": [r[2] for r in rows],
            "area_code": [r[3] for r in rows],
            "contact_ids": [r[4] for r in rows],
        }
    )
