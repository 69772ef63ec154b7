"""Small named scenarios, written straight into the tables.

``build_clinic`` makes three groups at the frozen clock 2026-07-01T09:00:00Z:

Harbour Clinic (g-harbour)
  olivia   administrator full, account owner
  fiona    practitioner  full
  ops      administrator full (the operations analyst; also in Summit and Solo)
  peter    practitioner  clinical: 2 open sessions, a public booking profile with
           online bookings at both locations, an enabled iCal feed, an individual
           credit row with auto top-up, an individual reminder level, 2 future
           appointments and 1 past one, a patient record
  rita     practitioner  clinical, read-only
  ivan     practitioner  clinical, inactive (deactivated earlier by olivia)
  frank    administrator front_desk, 1 open session
  mia      practitioner  clinical (also in Summit: the multi-group practitioner)
Summit Physio (g-summit)
  sam      administrator full, account owner
  mia      practitioner  clinical, 1 open session
  ops      administrator full
Solo Practice (g-solo)
  sole     practitioner full, account owner (the only Full Access member)
  ops      administrator billing, read-only (cannot act)
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from opskit import schema as s

T0 = datetime(2026, 7, 1, 9, 0, 0)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def email(name: str) -> str:
    return f"{name}@example.test"


def build_clinic(db) -> SimpleNamespace:
    names = ["olivia", "fiona", "ops", "peter", "rita", "ivan", "frank", "mia", "sam", "sole"]
    users = [
        {"user_id": f"u-{n}", "email": email(n), "email_key": email(n), "name": n.title()}
        for n in names
    ]

    def member(group, name, role, level, *, owner=False, read_only=False, status="active"):
        row = {
            "group_id": group,
            "user_id": f"u-{name}",
            "role": role,
            "access_level": level,
            "read_only": read_only,
            "account_owner": owner,
            "status": status,
            "joined_at": _t("2025-01-15T08:00:00"),
            "last_sign_in_at": _t("2026-06-20T10:00:00"),
            "status_changed_at": None,
            "status_changed_by": None,
            "status_reason": None,
        }
        if status == "inactive":
            row.update(
                status_changed_at=_t("2026-03-01T12:00:00"),
                status_changed_by="u-olivia",
                status_reason="left the practice",
            )
        return row

    memberships = [
        member("g-harbour", "olivia", "administrator", "full", owner=True),
        member("g-harbour", "fiona", "practitioner", "full"),
        member("g-harbour", "ops", "administrator", "full"),
        member("g-harbour", "peter", "practitioner", "clinical"),
        member("g-harbour", "rita", "practitioner", "clinical", read_only=True),
        member("g-harbour", "ivan", "practitioner", "clinical", status="inactive"),
        member("g-harbour", "frank", "administrator", "front_desk"),
        member("g-harbour", "mia", "practitioner", "clinical"),
        member("g-summit", "sam", "administrator", "full", owner=True),
        member("g-summit", "mia", "practitioner", "clinical"),
        member("g-summit", "ops", "administrator", "full"),
        member("g-solo", "sole", "practitioner", "full", owner=True),
        member("g-solo", "ops", "administrator", "billing", read_only=True),
    ]

    def session(sid, group, name, started, revoked=None):
        return {
            "session_id": sid,
            "group_id": group,
            "user_id": f"u-{name}",
            "device": f"{name}-{sid}",
            "started_at": _t(started),
            "revoked_at": _t(revoked) if revoked else None,
        }

    with db.begin() as conn:
        conn.execute(
            s.groups.insert(),
            [
                {"group_id": "g-harbour", "name": "Harbour Clinic"},
                {"group_id": "g-summit", "name": "Summit Physio"},
                {"group_id": "g-solo", "name": "Solo Practice"},
            ],
        )
        conn.execute(s.users.insert(), users)
        conn.execute(s.memberships.insert(), memberships)
        conn.execute(
            s.sessions.insert(),
            [
                session("s1", "g-harbour", "peter", "2026-06-28T08:00:00"),
                session("s2", "g-harbour", "peter", "2026-06-29T08:00:00"),
                session("s3", "g-harbour", "peter", "2026-05-01T08:00:00", "2026-05-02T08:00:00"),
                session("s4", "g-harbour", "frank", "2026-06-30T08:00:00"),
                session("s5", "g-summit", "mia", "2026-06-30T08:00:00"),
            ],
        )
        conn.execute(
            s.locations.insert(),
            [
                {"location_id": "l-harbour-1", "group_id": "g-harbour", "name": "Harbour St"},
                {"location_id": "l-harbour-2", "group_id": "g-harbour", "name": "Quay Rd"},
                {"location_id": "l-summit-1", "group_id": "g-summit", "name": "Summit Ave"},
            ],
        )
        conn.execute(
            s.booking_profiles.insert(),
            [
                {
                    "group_id": "g-harbour",
                    "user_id": "u-peter",
                    "location_id": loc,
                    "directory_profile": "public",
                    "online_bookings": "enabled",
                }
                for loc in ("l-harbour-1", "l-harbour-2")
            ]
            + [
                {
                    "group_id": "g-summit",
                    "user_id": "u-mia",
                    "location_id": "l-summit-1",
                    "directory_profile": "hidden",
                    "online_bookings": "disabled",
                }
            ],
        )
        conn.execute(
            s.integrations.insert(),
            [
                {
                    "group_id": "g-harbour",
                    "user_id": "u-peter",
                    "kind": "ical_feed",
                    "enabled": True,
                },
                {
                    "group_id": "g-harbour",
                    "user_id": "u-peter",
                    "kind": "video_consult",
                    "enabled": False,
                },
            ],
        )
        conn.execute(
            s.credit_settings.insert(),
            [
                {
                    "group_id": "g-harbour",
                    "user_id": None,
                    "auto_top_up": True,
                    "trigger_balance": 50,
                },
                {
                    "group_id": "g-harbour",
                    "user_id": "u-peter",
                    "auto_top_up": True,
                    "trigger_balance": 20,
                },
            ],
        )
        conn.execute(
            s.reminder_levels.insert(),
            [
                {"group_id": "g-harbour", "user_id": None, "name": "standard"},
                {"group_id": "g-harbour", "user_id": "u-peter", "name": "sms_and_email"},
            ],
        )
        conn.execute(
            s.appointments.insert(),
            [
                {
                    "appointment_id": f"a{i}",
                    "group_id": "g-harbour",
                    "practitioner_id": "u-peter",
                    "patient_id": f"p{i}",
                    "starts_at": _t(at),
                }
                for i, at in enumerate(
                    ["2026-07-02T10:00:00", "2026-07-09T10:00:00", "2026-06-01T10:00:00"]
                )
            ],
        )
        conn.execute(
            s.patient_records.insert(),
            [
                {
                    "record_id": "r1",
                    "group_id": "g-harbour",
                    "practitioner_id": "u-peter",
                    "patient_id": "p0",
                    "created_at": _t("2026-01-01T10:00:00"),
                }
            ],
        )
    return SimpleNamespace(
        harbour="g-harbour",
        summit="g-summit",
        solo="g-solo",
        **{n: email(n) for n in names},
    )
