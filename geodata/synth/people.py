"""The simulated people: residents at their home addresses, what they do by day (work, school,
university) and where, commuters entering a regional world, and foreign visitors.

Destinations follow gravity models between municipalities (:class:`Kernel`): jobs are
attracted by built-up surface weighted up where it is dense (cities), schools by population
(near home), universities by their campuses.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from geodata.synth.geography import Geography, Kernel
from geodata.synth.grid import sample_in_pieces
from geodata.synth.sampling import GroupedChoice, jitter, round_cumulative

WORKER, PUPIL, STUDENT, OTHER, VISITOR, DAY_VISITOR = range(6)

ROLE_SHARES = np.array([0.42, 0.18, 0.04, 0.36])
"""Residents who work (employment of the 15-64 about 72 %), go to school (3-17 years), study
(higher education), or neither (young children, retired, unemployed)."""

TELEWORK_SHARE = 0.15
"""Workers who work at home on the simulated weekday."""

HOME_MCC = 206

WORK = Kernel(local_km=3.0, regional_km=16.0, local_share=0.4)
SCHOOL = Kernel(local_km=2.5, regional_km=10.0, local_share=0.7)
UNIVERSITY = Kernel(local_km=10.0, regional_km=35.0, local_share=0.3)

CITY_JOBS_PER_1000 = 1.0
"""Jobs per m² of built-up surface grow as (1 + residents per km² / 1000) ** this: offices,
shops and services concentrate in dense cells, so cities draw commuters."""

# Higher-education campuses (GeoNames id: students).
CAMPUSES = {
    2792482: 50_000,  # Leuven
    2797656: 70_000,  # Gent
    2803138: 45_000,  # Antwerpen
    2795011: 40_000,  # Ixelles (ULB, VUB)
    2800866: 25_000,  # Bruxelles
    2798578: 12_000,  # Etterbeek (VUB)
    2783476: 10_000,  # Woluwe-Saint-Lambert (UCLouvain)
    2792073: 30_000,  # Louvain-la-Neuve
    2792413: 35_000,  # Liège
    2790471: 15_000,  # Namur
    2790869: 12_000,  # Mons
    2796491: 8_000,  # Hasselt
    2799412: 7_000,  # Diepenbeek
    2794055: 10_000,  # Kortrijk
    2800931: 8_000,  # Brugge
    2791537: 8_000,  # Mechelen
    2800481: 8_000,  # Charleroi
    2785341: 4_000,  # Tournai
    2797779: 4_000,  # Geel
}
# Foreign visitors on a weekday in March at national scale (GeoNames id: staying overnight,
# coming for the day): about 36,000 guests a night (Belgium's ~10 million foreign overnight
# stays a year, fewer in March) and 90,000 day trippers and business visitors.
VISITOR_PLACES = {
    2800866: (14_000, 25_000),  # Brussels
    2795011: (1_500, 2_000),  # Ixelles
    2783310: (3_000, 3_000),  # Zaventem (airport hotels, business parks)
    2800931: (3_000, 15_000),  # Brugge
    2803138: (4_000, 8_000),  # Antwerp
    2797656: (2_500, 6_000),  # Gent
    2792482: (800, 2_500),  # Leuven
    2791537: (400, 1_500),  # Mechelen
    2789786: (1_200, 4_000),  # Ostend
    2801858: (600, 2_000),  # Blankenberge
    2794210: (700, 2_500),  # Knokke-Heist
    2799779: (300, 1_000),  # De Haan
    2791194: (300, 1_000),  # Middelkerke
    2790150: (300, 1_200),  # Nieuwpoort
    2794166: (400, 1_200),  # Koksijde
    2799577: (400, 2_000),  # De Panne
    2795100: (500, 2_500),  # Ieper
    2792413: (1_000, 3_000),  # Liège
    2790471: (400, 1_500),  # Namur
    2799357: (300, 1_500),  # Dinant
    2799047: (400, 1_500),  # Durbuy
    2786318: (300, 800),  # Spa
    2801283: (300, 1_000),  # Bouillon
}
VISITOR_MCC = {
    208: 0.22,  # France
    204: 0.22,  # Netherlands
    262: 0.14,  # Germany
    234: 0.10,  # United Kingdom
    270: 0.03,  # Luxembourg
    310: 0.07,  # United States
    222: 0.04,  # Italy
    214: 0.05,  # Spain
    260: 0.04,  # Poland
    460: 0.03,  # China
    404: 0.02,  # India
    440: 0.02,  # Japan
    228: 0.02,  # Switzerland
}


@dataclass
class People:
    """Everyone simulated in a world, one entry per person (arrays of equal length).

    Attributes
    ----------
    person_id : int64
    home_mcc : int16
        206 for residents and commuters, the visitor's country otherwise.
    role : int8
        WORKER, PUPIL, STUDENT, OTHER, VISITOR or DAY_VISITOR.
    resident : bool
        Lives in the world (false for commuters from outside a regional world, and visitors).
    telework : bool
        Works at home today.
    municipality : int16
        Home municipality (the one of the visited place for visitors).
    home_address : int64
        Address index of the home (-1 outside the world or for visitors).
    home_lon, home_lat : float64
        Home, or the visitor's accommodation (degrees); NaN for day visitors (at home abroad).
    dest_address : int64
        Address index of the workplace or school (-1 where none).
    dest_lon, dest_lat : float64
        Workplace, school, campus or the visitor's place (NaN for OTHER).
    """

    person_id: np.ndarray
    home_mcc: np.ndarray
    role: np.ndarray
    resident: np.ndarray
    telework: np.ndarray
    municipality: np.ndarray
    home_address: np.ndarray
    home_lon: np.ndarray
    home_lat: np.ndarray
    dest_address: np.ndarray
    dest_lon: np.ndarray
    dest_lat: np.ndarray

    def __len__(self) -> int:
        return len(self.person_id)

    @staticmethod
    def concat(parts: list[People]) -> People:
        return People(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(People)}
        )


def job_weight(geo: Geography, grid: pd.DataFrame) -> np.ndarray:
    """Jobs attracted by each piece: built-up surface, weighted up where residents are dense."""
    cell = geo.pieces.cell
    density = grid["pop"].to_numpy()[cell]
    return geo.pieces.built_m2 * (1 + density / 1000) ** CITY_JOBS_PER_1000


class Destinations:
    """Where workers, pupils and students go, from municipality to municipality then to a
    point (an address in the world where there is one)."""

    def __init__(self, geo: Geography, grid: pd.DataFrame) -> None:
        self.geo = geo
        jobs = job_weight(geo, grid)
        is_campus = geo.places["geonameid"].isin(list(CAMPUSES)).to_numpy()
        campus_muni = geo.place_municipality[is_campus]
        capacity = geo.places.loc[is_campus, "geonameid"].map(CAMPUSES).to_numpy(np.float64)
        order = np.argsort(campus_muni, kind="stable")
        self.campus_lon = geo.places["lon"].to_numpy()[is_campus][order]
        self.campus_lat = geo.places["lat"].to_numpy()[is_campus][order]
        self.campus_choice = GroupedChoice(campus_muni[order], capacity[order], geo.n)
        self.attraction = {
            WORKER: np.bincount(geo.pieces.municipality, jobs, minlength=geo.n),
            PUPIL: geo.municipal_residents.astype(float),
            STUDENT: np.bincount(campus_muni, capacity, minlength=geo.n),
        }
        self.kernel = {WORKER: WORK, PUPIL: SCHOOL, STUDENT: UNIVERSITY}
        self.piece_choice = {
            WORKER: geo.piece_choice(jobs),
            PUPIL: geo.piece_choice(geo.pieces.pop),
        }
        # Concentration of choices on few addresses of a piece: u ** skew.
        self.skew = {WORKER: 3.0, PUPIL: 6.0}

    def model(self, role: int, within_world: bool = False) -> tuple[np.ndarray, GroupedChoice]:
        """The gravity model of ``role`` (see :meth:`Geography.gravity`)."""
        return self.geo.gravity(self.attraction[role], self.kernel[role], within_world)

    def place(
        self, role: int, muni: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Destination points in municipalities ``muni`` for people of ``role``.

        Returns ``address`` (-1 where none), ``lon``, ``lat``.
        """
        n = len(muni)
        if role == STUDENT:
            campus = self.campus_choice.choose(muni, rng)
            lon, lat = jitter(self.campus_lon[campus], self.campus_lat[campus], 400.0, rng)
            return np.full(n, -1, dtype=np.int64), lon, lat
        piece = self.piece_choice[role].choose(muni, rng)
        address = self.geo.pick_address(piece, rng.random(n) ** self.skew[role])
        lon, lat = np.empty(n), np.empty(n)
        has = address >= 0
        lon[has], lat[has] = self.geo.address_lon[address[has]], self.geo.address_lat[address[has]]
        lon[~has], lat[~has] = sample_in_pieces(self.geo.pieces, piece[~has], rng)
        return address, lon, lat


def draw_roles(n: int, rng: np.random.Generator) -> np.ndarray:
    """Role of each of ``n`` residents, by :data:`ROLE_SHARES`."""
    return np.searchsorted(np.cumsum(ROLE_SHARES), rng.random(n), side="right").astype(np.int8)


def residents(geo: Geography, rng: np.random.Generator) -> People:
    """The residents of the world, each at an address of their grid piece.

    Within a piece, residents pick addresses uniformly, so households have Poisson-like sizes
    and some addresses stay non-residential. Every piece with residents has an address
    (:func:`geodata.synth.addresses.address_counts`).
    """
    pieces = np.flatnonzero(geo.in_world[geo.pieces.municipality] & (geo.residents > 0))
    piece = np.repeat(pieces, geo.residents[pieces])
    address = np.sort(geo.pick_address(piece, rng.random(len(piece))))
    if len(address) and address[0] < 0:
        raise ValueError("residents: a piece with residents has no address")
    n = len(address)
    role = draw_roles(n, rng)
    return People(
        person_id=np.arange(1, n + 1, dtype=np.int64),
        home_mcc=np.full(n, HOME_MCC, dtype=np.int16),
        role=role,
        resident=np.ones(n, dtype=bool),
        telework=(role == WORKER) & (rng.random(n) < TELEWORK_SHARE),
        municipality=geo.pieces.municipality[geo.address_piece[address]].astype(np.int16),
        home_address=address,
        home_lon=geo.address_lon[address],
        home_lat=geo.address_lat[address],
        dest_address=np.full(n, -1, dtype=np.int64),
        dest_lon=np.full(n, np.nan),
        dest_lat=np.full(n, np.nan),
    )


def send_to_destinations(
    people: People, destinations: Destinations, rng: np.random.Generator
) -> None:
    """Draw each worker's, pupil's and student's destination (in place)."""
    for role in (WORKER, PUPIL, STUDENT):
        who = np.flatnonzero(people.role == role)
        _, choice = destinations.model(role)
        muni = choice.choose(people.municipality[who], rng) % destinations.geo.n
        address, lon, lat = destinations.place(role, muni, rng)
        people.dest_address[who], people.dest_lon[who], people.dest_lat[who] = address, lon, lat


def commuters_from_outside(
    destinations: Destinations, first_id: int, rng: np.random.Generator
) -> People:
    """People who live outside a regional world and work or study inside it today.

    Their number per home municipality is the national model's expected flow into the world
    (rounded so that totals hold); they do not telework today.
    """
    geo = destinations.geo
    outside = ~geo.in_world
    parts = []
    for role, share in (
        (WORKER, ROLE_SHARES[WORKER] * (1 - TELEWORK_SHARE)),
        (PUPIL, ROLE_SHARES[PUPIL]),
        (STUDENT, ROLE_SHARES[STUDENT]),
    ):
        probability, _ = destinations.model(role)
        inflow = geo.municipal_residents * share * probability[:, geo.in_world].sum(axis=1)
        count = round_cumulative(np.where(outside, inflow, 0.0))
        origin = np.repeat(np.arange(geo.n), count)
        _, choice = destinations.model(role, within_world=True)
        muni = choice.choose(origin, rng) % geo.n
        address, dlon, dlat = destinations.place(role, muni, rng)
        home_piece = geo.piece_choice(geo.pieces.pop).choose(origin, rng)
        hlon, hlat = sample_in_pieces(geo.pieces, home_piece, rng)
        n = len(origin)
        parts.append(
            People(
                person_id=np.zeros(n, dtype=np.int64),
                home_mcc=np.full(n, HOME_MCC, dtype=np.int16),
                role=np.full(n, role, dtype=np.int8),
                resident=np.zeros(n, dtype=bool),
                telework=np.zeros(n, dtype=bool),
                municipality=origin.astype(np.int16),
                home_address=np.full(n, -1, dtype=np.int64),
                home_lon=hlon,
                home_lat=hlat,
                dest_address=address,
                dest_lon=dlon,
                dest_lat=dlat,
            )
        )
    people = People.concat(parts)
    people.person_id = np.arange(first_id, first_id + len(people), dtype=np.int64)
    return people


def visitors(geo: Geography, first_id: int, rng: np.random.Generator) -> People:
    """Foreign visitors around the places they visit, those staying overnight (VISITOR, their
    accommodation within about a kilometre of the place's centre) and day trippers
    (DAY_VISITOR, at home abroad at night: no home position). ``dest`` is the place itself;
    sights are drawn around it at each hour.
    """
    ids = geo.places["geonameid"].to_numpy()
    index = np.array([np.flatnonzero(ids == g)[0] for g in VISITOR_PLACES])
    muni = geo.place_municipality[index]
    keep = (muni >= 0) & geo.in_world[np.maximum(muni, 0)]
    count = np.array(list(VISITOR_PLACES.values()))[keep]
    index, muni = index[keep], muni[keep]
    place = np.concatenate([np.repeat(np.arange(len(index)), count[:, k]) for k in (0, 1)])
    role = np.repeat(np.array([VISITOR, DAY_VISITOR], dtype=np.int8), count.sum(axis=0))
    n = len(place)
    lon = geo.places["lon"].to_numpy()[index][place]
    lat = geo.places["lat"].to_numpy()[index][place]
    hlon, hlat = jitter(lon, lat, 900.0, rng)
    hlon[role == DAY_VISITOR] = np.nan
    hlat[role == DAY_VISITOR] = np.nan
    mcc = np.array(list(VISITOR_MCC), dtype=np.int16)
    share = np.array(list(VISITOR_MCC.values()))
    home_mcc = mcc[np.searchsorted(np.cumsum(share / share.sum()), rng.random(n), side="right")]
    return People(
        person_id=np.arange(first_id, first_id + n, dtype=np.int64),
        home_mcc=home_mcc,
        role=role,
        resident=np.zeros(n, dtype=bool),
        telework=np.zeros(n, dtype=bool),
        municipality=muni[place].astype(np.int16),
        home_address=np.full(n, -1, dtype=np.int64),
        home_lon=hlon,
        home_lat=hlat,
        dest_address=np.full(n, -1, dtype=np.int64),
        dest_lon=lon,
        dest_lat=lat,
    )
