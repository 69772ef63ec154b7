"""A synthetic dataset of any size, reproducible from a seed (``opskit demo --members N``).

Everything is drawn with one numpy ``Generator`` and built column-wise, so a million
memberships take seconds to generate. The result is the same frames that
``dataset.read_dataset`` produces, valid by construction, and goes through the same
writer (``dataset.write_frames``).

Shape of the data: group sizes are heavy-tailed (many small practices, a few big
networks); each group has one account owner (Full Access) and the operations analyst
``analyst@opskit.demo`` as a Full Access administrator; about 70% of members are
practitioners, levels lean away from ``full``, ~3% are read-only and ~8% inactive;
some users belong to two or three groups. Sign-ins range from recent to dormant to
never; appointments lie before and after ``clock.now()``: every active practitioner
has a diary of about five booked appointments in the coming weeks (working hours, on
the quarter hour, never two at one time, even for someone in two groups; colleagues
may well be booked at the same time, which is what a hand-off must work around), and
some inactive ones still have appointments ahead.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from . import clock
from .dataset import write_frames
from .db import Database
from .errors import BadInput

ANALYST_ID = "u-analyst"
ANALYST_EMAIL = "analyst@opskit.demo"
ANALYST_NAME = "Avery Analyst"


def _words(text: str, sep: str | None = None) -> np.ndarray:
    return np.array(text.split(sep), dtype=object)


_FIRST = _words(
    "Olivia Liam Emma Noah Ava Oliver Sophia Elijah Isabella James Mia William Amelia "
    "Benjamin Harper Lucas Evelyn Henry Abigail Theo Emily Jack Ella Leo Chloe Omar Aisha "
    "Mateo Priya Hiroshi Yuki Chen Mei Fatima Tariq Ingrid Lars Siobhan Declan Zara Kofi "
    "Amara Diego Lucia Nikolai Anya Rafael Leila Samir Grace"
)
_LAST = _words(
    "Smith Nguyen Patel Garcia Kim Johnson Brown Chen Singh Williams Jones Martin Taylor "
    "Lee Walker Hall Young King Wright Lopez Hill Scott Green Adams Baker Nelson Carter "
    "Mitchell Roberts Turner Phillips Campbell Parker Evans Edwards Collins Murphy Okafor "
    "Haddad Larsen Novak Fischer Dubois Rossi Tanaka Sato Kowalski Silva Ahmed Osei"
)
_PLACES = _words(
    "Harbour Summit Willow Riverside Oakwood Northgate Lakeside Hillcrest Bayview Elmwood "
    "Kingsway Meadow Cedar Parkside Westfield Eastbrook Southbank Ashford Brookline Maple "
    "Granite Coastal Valley Highland Orchard Beacon Station Market Abbey Clifton"
)
_PRACTICES = np.array(
    [
        "Physiotherapy",
        "Family Practice",
        "Psychology",
        "Sports Medicine",
        "Chiropractic",
        "Dental Care",
        "Podiatry",
        "Osteopathy",
        "Speech Therapy",
        "Medical Centre",
    ],
    dtype=object,
)
_STREETS = _words(
    "High Street|Station Road|Church Lane|Quay Street|Park Avenue|Mill Road|Victoria Road|"
    "Market Square|North Shore|Bridge Street|Harbour View|Kings Road",
    "|",
)
_DEVICES = _words(
    "iPhone 15|iPhone 13|Pixel 8|Galaxy S23|iPad|MacBook Air|MacBook Pro|ThinkPad|"
    "Surface Laptop|Front desk PC|Clinic PC|Chromebook",
    "|",
)
_DOMAINS = np.array(
    ["example.com", "example.org", "example.net", "clinicmail.example", "health.example"],
    dtype=object,
)
_KINDS = np.array(["ical_feed", "two_way_calendar_sync", "video_consult"], dtype=object)  # sorted
_REMINDERS = np.array(["email_only", "none", "sms_and_email", "sms_only"], dtype=object)
_GROUP_REMINDERS = np.array(["email_only", "sms_and_email", "standard"], dtype=object)
_BALANCES = np.array([10.0, 20.0, 25.0, 50.0, 100.0])
_PRACTITIONER_LEVELS = np.array(["personal", "own_records_and_contacts", "clinical", "full"])
_ADMIN_LEVELS = np.array(["personal", "front_desk", "billing", "full"])

_DAY = 86_400


def _ids(prefix: str, numbers: np.ndarray, width: int | None = None) -> np.ndarray:
    """``prefix`` + zero-padded numbers, so that text order is numeric order."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if not len(numbers):
        return np.array([], dtype=object)
    if width is None:
        width = max(5, len(str(int(numbers.max())))) if len(numbers) else 5
    digits = np.char.zfill(numbers.astype(str), width)
    return np.char.add(prefix, digits).astype(object)


def _seconds(seconds: np.ndarray) -> np.ndarray:
    return (np.asarray(seconds).astype(np.int64) * 1_000_000).astype("timedelta64[us]")


def _ago(now: np.datetime64, seconds: np.ndarray) -> np.ndarray:
    """``now`` minus whole seconds (times carry no fractions, like real sign-ins)."""
    return now - _seconds(seconds)


def _after(start: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    return start + _seconds(seconds)


def _group_sizes(rng: np.random.Generator, members: int) -> np.ndarray:
    """Heavy-tailed sizes (each with the owner and the analyst) summing to ``members``."""
    cap = max(3, members // 20)
    draws = 3 + np.floor(rng.pareto(1.1, size=members // 3 + 1) * 6).astype(np.int64)
    draws = np.minimum(draws, cap)
    total = np.cumsum(draws)
    count = int(np.searchsorted(total, members)) + 1
    sizes = draws[:count].copy()
    sizes[-1] = members - (total[count - 2] if count > 1 else 0)
    if sizes[-1] < 3 and count > 1:  # too small to be a group: the previous one takes it
        sizes[-2] += sizes[-1]
        sizes = sizes[:-1]
    return sizes


def generate(members: int, seed: int, now: datetime | None = None) -> dict[str, pd.DataFrame]:
    """The synthetic dataset as validated-shape frames (see ``dataset.read_dataset``)."""
    if members < 3:
        raise BadInput("--members must be at least 3 (an owner, the analyst and one member)")
    rng = np.random.default_rng(seed)
    now64 = np.datetime64(now or clock.now(), "s").astype("datetime64[us]")

    # ---- groups and membership slots
    sizes = _group_sizes(rng, members)
    n_groups = len(sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    group = np.repeat(np.arange(n_groups), sizes)
    pos = np.arange(members) - starts[group]
    owner = pos == 0
    analyst = pos == 1
    group_ids = _ids("g-", np.arange(1, n_groups + 1))
    big = sizes >= 200
    group_names = (
        _PLACES[rng.integers(len(_PLACES), size=n_groups)]
        + " "
        + np.where(
            big, "Health Network", _PRACTICES[rng.integers(len(_PRACTICES), size=n_groups)]
        ).astype(object)
        + " "
        + np.char.mod("%d", np.arange(1, n_groups + 1)).astype(object)
    )

    # ---- roles and levels
    practitioner = rng.random(members) < 0.7
    practitioner[analyst] = False
    r = rng.random(members)
    p_level = _PRACTITIONER_LEVELS[np.searchsorted([0.10, 0.38, 0.93], r, side="right")]
    a_level = _ADMIN_LEVELS[np.searchsorted([0.12, 0.62, 0.91], r, side="right")]
    level = np.where(practitioner, p_level, a_level).astype(object)
    level[owner | analyst] = "full"
    full = level == "full"

    # ---- users: one per slot, except that ~6% of slots reuse a user of another group
    slot = np.flatnonzero(~analyst)
    secondary = np.zeros(members, dtype=bool)
    secondary[slot] = (pos[slot] >= 2) & (rng.random(len(slot)) < 0.06)
    primary_slots = np.flatnonzero(~analyst & ~secondary)
    user_no = np.full(members, -1, dtype=np.int64)
    user_no[primary_slots] = np.arange(len(primary_slots))
    next_user = len(primary_slots)
    sec = np.flatnonzero(secondary)
    if len(sec):
        pool_size = min(len(primary_slots), 2 * len(sec))
        pool = rng.choice(primary_slots, size=pool_size, replace=False)
        source = pool[rng.integers(len(pool), size=len(sec))]
        user_no[sec] = user_no[source]
        practitioner[sec] = practitioner[source]
        level[sec] = np.where(
            practitioner[sec],
            p_level[sec],
            a_level[sec],
        )
        frame = pd.DataFrame({"g": group[sec], "u": user_no[sec]})
        clash = (group[source] == group[sec]) | frame.duplicated().to_numpy()
        clash |= frame.groupby("u").cumcount().to_numpy() >= 2  # at most three groups
        fresh = sec[clash]
        user_no[fresh] = next_user + np.arange(len(fresh))
        next_user += len(fresh)
        full = level == "full"
    n_users = next_user
    role = np.where(practitioner, "practitioner", "administrator").astype(object)

    read_only = ~full & (rng.random(members) < 0.03)
    inactive = (pos >= 2) & ~full & (rng.random(members) < 0.09)

    # ---- times
    joined = _ago(now64, rng.uniform(30 * _DAY, 8 * 365 * _DAY, members))
    bucket = rng.random(members)
    since = np.where(
        bucket < 0.70,
        rng.uniform(600, 14 * _DAY, members),
        np.where(
            bucket < 0.83,
            rng.uniform(14 * _DAY, 90 * _DAY, members),
            rng.uniform(91 * _DAY, 720 * _DAY, members),
        ),
    )
    since[owner | analyst] = rng.uniform(600, 3 * _DAY, (owner | analyst).sum())
    since[inactive] = rng.uniform(30 * _DAY, 400 * _DAY, inactive.sum())
    last = _ago(now64, since)
    last = np.maximum(last, joined + np.timedelta64(3600, "s"))
    last = np.minimum(last, now64)
    never = (bucket > 0.94) & ~owner & ~analyst & ~inactive
    last[never] = np.datetime64("NaT")

    # ---- memberships in key order: group, then user id (u-analyst sorts after digits)
    user_width = max(6, len(str(n_users)))
    user_key = np.where(analyst, np.iinfo(np.int64).max, user_no)
    order = np.lexsort((user_key, group))
    user_ids_all = _ids("u-", np.maximum(user_no, 0), user_width)
    user_ids_all[analyst] = ANALYST_ID

    def m(values):
        return values[order]

    memberships = pd.DataFrame(
        {
            "group_id": m(group_ids[group]),
            "user_id": m(user_ids_all),
            "role": m(role),
            "access_level": m(level),
            "read_only": m(read_only),
            "account_owner": m(owner),
            "status": m(np.where(inactive, "inactive", "active").astype(object)),
            "joined_at": m(joined),
            "last_sign_in_at": m(last),
        }
    )
    # everything below works on memberships in this order
    group, user_no, practitioner = m(group), m(user_no), m(practitioner)
    inactive, analyst, last, joined = m(inactive), m(analyst), m(last), m(joined)

    # ---- users, in user id order, the analyst last
    first = _FIRST[rng.integers(len(_FIRST), size=n_users)]
    family = _LAST[rng.integers(len(_LAST), size=n_users)]
    numbers = np.arange(n_users)
    emails = (
        np.char.lower((first + "." + family).astype(str)).astype(object)
        + "."
        + np.char.mod("%d", numbers + 1).astype(object)
        + "@"
        + _DOMAINS[rng.integers(len(_DOMAINS), size=n_users)]
    )
    users = pd.DataFrame(
        {
            "user_id": np.append(_ids("u-", numbers, user_width), ANALYST_ID),
            "email": np.append(emails, ANALYST_EMAIL),
            "name": np.append(first + " " + family, ANALYST_NAME),
        }
    )
    users["email_key"] = users["email"].str.lower().astype(object)

    groups = pd.DataFrame({"group_id": group_ids, "name": group_names})
    member_group = memberships["group_id"].to_numpy(dtype=object)
    member_user = memberships["user_id"].to_numpy(dtype=object)
    n = members

    # ---- locations: 1-5 per group, more for bigger groups
    n_loc = np.clip(1 + np.log2(sizes).astype(int) // 3 + rng.integers(0, 2, n_groups), 1, 5)
    loc_start = np.concatenate(([0], np.cumsum(n_loc)[:-1]))
    loc_group = np.repeat(np.arange(n_groups), n_loc)
    locations = pd.DataFrame(
        {
            "location_id": _ids("l-", np.arange(1, n_loc.sum() + 1)),
            "group_id": group_ids[loc_group],
            "name": _STREETS[rng.integers(len(_STREETS), size=n_loc.sum())]
            + np.where(np.arange(n_loc.sum()) % 2 == 0, " Clinic", " Rooms").astype(object),
        }
    )
    location_ids = locations["location_id"].to_numpy(dtype=object)

    # ---- booking profiles: most practitioners, at one or two locations of their group
    booked = np.flatnonzero(practitioner & (rng.random(n) < 0.85))
    g_loc = n_loc[group[booked]]
    first_loc = rng.integers(0, g_loc)
    second = (g_loc >= 2) & (rng.random(len(booked)) < 0.3)
    second_loc = (first_loc + 1 + rng.integers(0, np.maximum(g_loc - 1, 1))) % g_loc
    bp_member = np.concatenate((booked, booked[second]))
    bp_loc = loc_start[group[bp_member]] + np.concatenate((first_loc, second_loc[second]))
    bp_order = np.lexsort((bp_loc, bp_member))
    bp_member, bp_loc = bp_member[bp_order], bp_loc[bp_order]
    k = len(bp_member)
    still_bookable = rng.random(k) < np.where(inactive[bp_member], 0.25, 0.70)
    searchable = rng.random(k) < 0.8
    directory = np.where(
        still_bookable, np.where(searchable, "public", "enabled_not_searchable"), "hidden"
    )
    bookings = np.where(still_bookable & (rng.random(k) < 0.95), "enabled", "disabled")
    booking_profiles = pd.DataFrame(
        {
            "group_id": member_group[bp_member],
            "user_id": member_user[bp_member],
            "location_id": location_ids[bp_loc],
            "directory_profile": directory.astype(object),
            "online_bookings": bookings.astype(object),
        }
    )

    # ---- integrations: a third of the members have one or two
    with_int = np.flatnonzero(~analyst & (rng.random(n) < 0.33))
    kind_a = rng.integers(0, len(_KINDS), len(with_int))
    two = rng.random(len(with_int)) < 0.35
    kind_b = (kind_a + 1 + rng.integers(0, len(_KINDS) - 1, len(with_int))) % len(_KINDS)
    int_member = np.concatenate((with_int, with_int[two]))
    int_kind = np.concatenate((kind_a, kind_b[two]))
    int_order = np.lexsort((int_kind, int_member))
    int_member, int_kind = int_member[int_order], int_kind[int_order]
    integrations = pd.DataFrame(
        {
            "group_id": member_group[int_member],
            "user_id": member_user[int_member],
            "kind": _KINDS[int_kind],
            "enabled": rng.random(len(int_member)) < np.where(inactive[int_member], 0.3, 0.75),
        }
    )

    # ---- credit settings and reminder levels: a group row each, individual rows for some
    def group_and_member_rows(share: float):
        individual = np.flatnonzero(~analyst & (rng.random(n) < share))
        # group rows sort first (NULL user_id), then the members in membership order
        row_group = np.concatenate((np.arange(n_groups), group[individual]))
        row_member = np.concatenate((np.full(n_groups, -1), individual))
        row_order = np.lexsort((row_member, row_group))
        row_group, row_member = row_group[row_order], row_member[row_order]
        users_col = np.asarray(
            np.where(row_member >= 0, member_user[np.maximum(row_member, 0)], None), dtype=object
        )
        return group_ids[row_group], users_col, row_member

    cs_group, cs_user, cs_member = group_and_member_rows(0.10)
    credit_settings = pd.DataFrame(
        {
            "group_id": cs_group,
            "user_id": cs_user,
            "auto_top_up": rng.random(len(cs_group)) < 0.6,
            "trigger_balance": _BALANCES[rng.integers(len(_BALANCES), size=len(cs_group))],
        }
    )
    rl_group, rl_user, rl_member = group_and_member_rows(0.08)
    reminder_levels = pd.DataFrame(
        {
            "group_id": rl_group,
            "user_id": rl_user,
            "name": np.where(
                rl_member < 0,
                _GROUP_REMINDERS[rng.integers(len(_GROUP_REMINDERS), size=len(rl_group))],
                _REMINDERS[rng.integers(len(_REMINDERS), size=len(rl_group))],
            ).astype(object),
        }
    )

    # ---- export grants: a fifth of the inactive members, a few active ones
    granted = np.flatnonzero(~analyst & (rng.random(n) < np.where(inactive, 0.2, 0.01)))
    export_grants = pd.DataFrame(
        {
            "group_id": member_group[granted],
            "user_id": member_user[granted],
            "granted_at": _ago(now64, rng.uniform(_DAY, 365 * _DAY, len(granted))),
        }
    )

    # ---- sessions: 0-3 per member who ever signed in; inactive members' all revoked
    signed_in = ~np.isnat(last)
    per_member = np.where(signed_in, rng.integers(0, 4, n), 0)
    per_member[analyst] = 1
    s_member = np.repeat(np.arange(n), per_member)
    ns = len(s_member)
    s_last = last[s_member]
    started = _ago(s_last, rng.uniform(0, 30 * _DAY, ns) * (rng.random(ns) < 0.6))
    started = np.maximum(started, joined[s_member])
    revoke = inactive[s_member] | (rng.random(ns) < 0.4)
    revoke[analyst[s_member]] = False
    revoked = np.minimum(_after(started, rng.uniform(3600, 14 * _DAY, ns)), now64)
    revoked = np.where(revoke, revoked, np.datetime64("NaT"))
    sessions = pd.DataFrame(
        {
            "session_id": _ids("s-", np.arange(1, ns + 1)),
            "group_id": member_group[s_member],
            "user_id": member_user[s_member],
            "device": _DEVICES[rng.integers(len(_DEVICES), size=ns)],
            "started_at": started,
            "revoked_at": revoked,
        }
    )

    # ---- appointments and patient records of practitioners
    patients = max(10, 2 * n)
    a_count = np.where(practitioner, rng.poisson(1.5, n), 0)
    a_member = np.repeat(np.arange(n), a_count)
    na = len(a_member)
    # ahead: only an inactive member's (a finding); active practitioners get a diary below
    future = (rng.random(na) < np.where(inactive[a_member], 0.1, 0.45)) & inactive[a_member]
    starts_at = np.where(
        future,
        _after(np.full(na, now64), rng.uniform(3600, 60 * _DAY, na)),
        _ago(now64, rng.uniform(3600, 365 * _DAY, na)),
    )
    quarter = starts_at.astype("datetime64[m]").astype(np.int64) // 15 * 15
    starts_at = quarter.astype("datetime64[m]").astype("datetime64[us]")  # on the quarter hour
    appointments = pd.DataFrame(
        {
            "appointment_id": _ids("a-", np.arange(1, na + 1)),
            "group_id": member_group[a_member],
            "practitioner_id": member_user[a_member],
            "patient_id": _ids("p-", rng.integers(1, patients, na), len(str(patients))),
            "starts_at": starts_at,
            "status": "booked",
        }
    )
    r_count = np.where(practitioner, rng.poisson(1.0, n), 0)
    r_member = np.repeat(np.arange(n), r_count)
    nr = len(r_member)
    patient_records = pd.DataFrame(
        {
            "record_id": _ids("r-", np.arange(1, nr + 1)),
            "group_id": member_group[r_member],
            "practitioner_id": member_user[r_member],
            "patient_id": _ids("p-", rng.integers(1, patients, nr), len(str(patients))),
            "created_at": np.maximum(
                _ago(now64, rng.uniform(_DAY, 3 * 365 * _DAY, nr)), joined[r_member]
            ),
        }
    )

    diaries, d_member = _diaries(
        rng, practitioner & ~inactive, user_no, now64, na, member_group, member_user, patients
    )
    appointments = pd.concat([appointments, diaries], ignore_index=True)
    # one person's diary across all their groups: a random earlier appointment at the
    # time of another of the same person's (a rare draw) is left out, the diaries kept
    slot_of = np.concatenate([a_member, d_member])
    minutes = appointments["starts_at"].to_numpy().astype("datetime64[m]").astype(np.int64)
    twice = pd.Series((user_no[slot_of] + 1) * (1 << 32) + minutes).duplicated(keep="last")
    if twice.any():
        appointments = appointments[~twice.to_numpy()].reset_index(drop=True)
        appointments["appointment_id"] = _ids("a-", np.arange(1, len(appointments) + 1))

    return {
        "groups": groups,
        "users": users,
        "memberships": memberships,
        "locations": locations,
        "booking_profiles": booking_profiles,
        "integrations": integrations,
        "credit_settings": credit_settings,
        "reminder_levels": reminder_levels,
        "export_grants": export_grants,
        "sessions": sessions,
        "appointments": appointments,
        "patient_records": patient_records,
    }


_SLOTS_A_DAY = 32  # quarter hours from 08:00 to 16:00
_STRIDE = 40  # an appointment's k-th slot lies in [k * stride, (k + 1) * stride)


def _diaries(
    rng, who, user_no, now64, numbered, member_group, member_user, patients
) -> tuple[pd.DataFrame, np.ndarray]:
    """About five booked appointments ahead per member in ``who``, from tomorrow on, in
    working hours on the quarter hour, and the membership of each. A person's k-th
    appointment *across all their groups* takes a window of slots of its own, so nobody
    is booked twice at one time, even someone practising in two groups."""
    count = np.where(who, rng.poisson(5, len(who)), 0)
    member = np.repeat(np.arange(len(who)), count)
    total = len(member)
    person = user_no[member]
    order = np.argsort(person, kind="stable")
    ranked = person[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # each person's first
    first = np.repeat(starts, np.diff(np.r_[starts, total]))
    k = np.empty(total, dtype=np.int64)
    k[order] = np.arange(total) - first
    slot = k * _STRIDE + rng.integers(0, _STRIDE, total)
    day, quarter = slot // _SLOTS_A_DAY, slot % _SLOTS_A_DAY
    tomorrow = (now64.astype("datetime64[D]") + 1).astype("datetime64[m]")
    minutes = day * 24 * 60 + 8 * 60 + quarter * 15
    starts_at = (tomorrow + minutes.astype("timedelta64[m]")).astype("datetime64[us]")
    frame = pd.DataFrame(
        {
            "appointment_id": _ids("a-", np.arange(numbered + 1, numbered + total + 1)),
            "group_id": member_group[member],
            "practitioner_id": member_user[member],
            "patient_id": _ids("p-", rng.integers(1, patients, total), len(str(patients))),
            "starts_at": starts_at,
            "status": "booked",
        }
    )
    return frame, member


def load_synthetic(
    db: Database, *, members: int, seed: int, replace: bool = True
) -> dict[str, int]:
    """Generate ``members`` memberships from ``seed`` and load them; rows per table."""
    return write_frames(db, generate(members, seed), replace=replace)
