# Vendored from the shared yardstick ../shared/perf/gen.py (issue 20), unchanged but for
# this note and formatting: CI and wheels do not have ../shared. Do not edit the logic;
# take a new copy when the shared file changes.
"""Writes a synthetic dataset folder in the contract format (shared/SPEC.md, section 7).
Independent of the project: used to estimate the raw-SQL floor for bulk offboarding."""

import csv, random, sys
from pathlib import Path


def main(out, members, seed=1):
    rnd = random.Random(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    groups = max(1, members // 50)
    users = int(members * 0.8)
    W = lambda name, header, rows: _write(out / name, header, rows)
    W("groups.csv", ["group_id", "name"], ((f"g{g}", f"Group {g}") for g in range(groups)))
    W(
        "users.csv",
        ["user_id", "email", "name"],
        [("ops", "ops@example.test", "Operations Analyst")]
        + [(f"u{u}", f"user{u}@example.test", f"User {u}") for u in range(users)],
    )
    ms = []
    seen = set()
    for g in range(groups):
        ms.append((f"g{g}", "ops", "administrator", "full", "false", "true"))
    while len(ms) < members:
        g, u = rnd.randrange(groups), rnd.randrange(users)
        if (g, u) in seen:
            continue
        seen.add((g, u))
        role = "practitioner" if rnd.random() < 0.7 else "administrator"
        lvl = rnd.choice(
            ["personal", "clinical", "own_records_and_contacts"]
            if role == "practitioner"
            else ["personal", "front_desk", "billing"]
        )
        ms.append((f"g{g}", f"u{u}", role, lvl, "false", "false"))
    W(
        "memberships.csv",
        [
            "group_id",
            "user_id",
            "role",
            "access_level",
            "read_only",
            "account_owner",
            "status",
            "joined_at",
            "last_sign_in_at",
        ],
        (
            (g, u, r, l, ro, ow, "active", "2022-01-01T00:00:00Z", "2026-06-01T00:00:00Z")
            for g, u, r, l, ro, ow in ms
        ),
    )
    W(
        "locations.csv",
        ["location_id", "group_id", "name"],
        ((f"l{g}", f"g{g}", "Main") for g in range(groups)),
    )
    pr = [m for m in ms if m[2] == "practitioner"]
    W(
        "booking_profiles.csv",
        ["group_id", "user_id", "location_id", "directory_profile", "online_bookings"],
        ((g, u, f"l{g[1:]}", "public", "enabled") for g, u, *_ in pr),
    )
    W(
        "integrations.csv",
        ["group_id", "user_id", "kind", "enabled"],
        ((g, u, "ical_feed", "true") for g, u, *_ in pr[::2]),
    )
    W(
        "credit_settings.csv",
        ["group_id", "user_id", "auto_top_up", "trigger_balance"],
        ((g, u, "true", "20") for g, u, *_ in pr[::3]),
    )
    W(
        "reminder_levels.csv",
        ["group_id", "user_id", "name"],
        ((g, u, "custom") for g, u, *_ in pr[::4]),
    )
    W("export_grants.csv", ["group_id", "user_id", "granted_at"], ())
    W(
        "sessions.csv",
        ["session_id", "group_id", "user_id", "device", "started_at", "revoked_at"],
        ((f"s{i}", g, u, "laptop", "2026-11-01T00:00:00Z", "") for i, (g, u, *_) in enumerate(ms)),
    )
    W(
        "appointments.csv",
        ["appointment_id", "group_id", "practitioner_id", "patient_id", "starts_at"],
        ((f"a{i}", g, u, f"p{i}", "2026-12-01T00:00:00Z") for i, (g, u, *_) in enumerate(pr)),
    )
    W(
        "patient_records.csv",
        ["record_id", "group_id", "practitioner_id", "patient_id", "created_at"],
        ((f"r{i}", g, u, f"p{i}", "2026-01-01T00:00:00Z") for i, (g, u, *_) in enumerate(pr)),
    )


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
