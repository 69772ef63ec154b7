"""Bulk offboarding at scale: plan and apply against a raw-SQL floor and a naive loop.

    .venv/bin/python -m benchmarks.offboard_bench                     # SQLite, 200,000
    .venv/bin/python -m benchmarks.offboard_bench --large             # and 1,000,000
    .venv/bin/python -m benchmarks.offboard_bench --pg postgresql://postgres@127.0.0.1/postgres
    .venv/bin/python -m benchmarks.offboard_bench --handoff --members 1000000   # hand-off

For each size it builds a synthetic database (``opskit.load_synthetic``, cached
per size and seed), picks half of the memberships (active, below Full Access) and
measures, in the same run and on copies of the same database:

- **plan** and **apply** (``--resolve-checklist``), each in a child process that reports
  its wall-clock seconds and its peak resident memory (``ru_maxrss``);
- **floor**: the same end state (memberships, sessions, booking profiles, integrations,
  credit rows, reminder levels, snapshots, audit rows) written with plain set-based SQL
  in one transaction, no ledger, no checks, no Python per row;
- **naive**: ``lifecycle.deactivate(..., resolve_checklist=True)`` called in a loop on a
  sample, per member.

Targets on SQLite: apply within 2x the floor, at least 20x faster per member than the
naive loop, 10x the members at most 11x the time, peak memory under 1 GiB at 1,000,000.
A busy machine slows everything; the ratios, measured side by side, are the figures to
read. The end states of apply and floor are compared and any difference is printed.

``--handoff`` measures the hand-off instead: a tenth of the memberships (active
practitioners below Full Access, each with a diary of about five appointments ahead)
planned twice, without and with ``--handoff auto``, and each plan applied on fresh
copies, in rounds. Target: the hand-off adds at most 50% to apply's time.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

os.environ.setdefault("OPSKIT_NOW", "2026-07-01T09:00:00Z")

from opskit.db import connect  # noqa: E402

ANALYST = "analyst@opskit.demo"
TARGETS = {
    "apply_vs_floor": 2.0,
    "naive_speedup": 20.0,
    "scale_10x": 11.0,
    "peak_mb": 1024.0,
    "handoff_overhead": 1.5,
}


# ----------------------------------------------------------------------------- databases


class Backend:
    """Builds a base database once per (members, seed) and hands out copies of it."""

    def __init__(self, workdir: Path, pg: str | None) -> None:
        self.workdir = workdir
        self.pg = pg
        self.made: list[str] = []

    @property
    def name(self) -> str:
        return "postgresql" if self.pg else "sqlite"

    def base(self, members: int, seed: int) -> str:
        if self.pg:
            name = f"opskit_bench_{members}_{seed}"
            url = self._pg_url(name)
            if not self._pg_exists(name):
                self._pg_admin(f'CREATE DATABASE "{name}"')
                _child("build", url, str(members), str(seed))
                self._pg_admin_db(name, "VACUUM ANALYZE")
            return _upgraded(url)
        path = self.workdir / f"base-{members}-{seed}.db"
        if not path.exists():
            partial = path.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            _child("build", f"sqlite:///{partial}", str(members), str(seed))
            # no ANALYZE: opskit's SQLite databases never have planner statistics
            raw = sqlite3.connect(partial)
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            raw.close()
            partial.rename(path)
        return _upgraded(f"sqlite:///{path}")

    def copy(self, base_url: str, label: str) -> str:
        if self.pg:
            name = f"{sa.engine.make_url(base_url).database}_{label}"
            self._pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._pg_admin(
                f'CREATE DATABASE "{name}" TEMPLATE "{sa.engine.make_url(base_url).database}"'
            )
            self.made.append(name)
            return self._pg_url(name)
        source = Path(sa.engine.make_url(base_url).database)
        target = self.workdir / f"{source.stem}-{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copy(source, target)
        self.made.append(str(target))
        return f"sqlite:///{target}"

    def cleanup(self) -> None:
        for made in self.made:
            if self.pg:
                self._pg_admin(f'DROP DATABASE IF EXISTS "{made}" WITH (FORCE)')
            else:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{made}{suffix}").unlink(missing_ok=True)
        self.made.clear()

    def _pg_url(self, name: str) -> str:
        url = sa.engine.make_url(self.pg.replace("postgresql://", "postgresql+psycopg://", 1))
        return url.set(database=name).render_as_string(hide_password=False)

    def _pg_admin(self, statement: str) -> None:
        engine = sa.create_engine(self._pg_url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
        engine.dispose()

    def _pg_admin_db(self, name: str, statement: str) -> None:
        engine = sa.create_engine(self._pg_url(name), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
        engine.dispose()

    def _pg_exists(self, name: str) -> bool:
        engine = sa.create_engine(self._pg_url("postgres"))
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
        engine.dispose()
        return found is not None


def _upgraded(url: str) -> str:
    """A cached base built before a schema migration is brought up to date."""
    connect(url).dispose()  # connect migrates an older opskit database
    return url


def pick_targets(
    url: str, count: int, seed: int, *, practitioners: bool = False
) -> list[tuple[int, str, str]]:
    """``count`` active memberships below Full Access: (membership_id, group_id, email)."""
    db = connect(url, migrate=False)
    role = " AND m.role = 'practitioner'" if practitioners else ""
    with db.read() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT m.membership_id, m.group_id, u.email FROM memberships m "
                "JOIN users u ON u.user_id = m.user_id "
                f"WHERE m.status = 'active' AND m.access_level <> 'full'{role} "
                "ORDER BY m.membership_id"
            )
        ).all()
    db.dispose()
    chosen = random.Random(seed).sample(range(len(rows)), min(count, len(rows)))
    return [tuple(rows[i]) for i in sorted(chosen)]


def write_csv(targets, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "group_id"])
        writer.writerows((email, group_id) for _, group_id, email in targets)
    return path


# ------------------------------------------------------------------ measured in children


def _child(kind: str, *args: str) -> dict[str, Any]:
    """Run one measured step in a fresh interpreter; its peak memory is its own."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.offboard_bench", "--child", kind, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _reset_peak() -> None:
    """Forget the memory high-water mark inherited from the parent (Linux)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_main(kind: str, args: list[str]) -> None:
    _reset_peak()
    url = args[0]
    detail: Any = None
    start, start_cpu = time.perf_counter(), time.process_time()
    if kind == "plan":
        from opskit.offboard import plan_offboarding

        db = connect(url, migrate=False)
        handoff = args[3] if len(args) > 3 else None
        plan = plan_offboarding(db, args[1], actor=ANALYST, handoff=handoff)
        plan.save(args[2])
        detail = {
            **plan.summary(),
            "appointments": sum(len(r.appointments) for r in plan.to_apply),
            "blocked_no_successor": sum(r.blocker == "no_successor" for r in plan.rows),
        }
    elif kind == "apply":
        from opskit.offboard import apply_plan

        db = connect(url, migrate=False)
        run = apply_plan(db, args[1], resolve_checklist=True, progress=False)
        detail = {"run": run.run, **run.counts}
    elif kind == "floor":
        ids = [int(i) for i in Path(args[1]).read_text().split()]
        start, start_cpu = time.perf_counter(), time.process_time()
        floor(url, ids)
    elif kind == "naive":
        rows = [line.split(",") for line in Path(args[1]).read_text().splitlines()]
        start, start_cpu = time.perf_counter(), time.process_time()
        naive(url, rows)
        detail = {"members": len(rows)}
    elif kind == "build":
        from opskit import load_synthetic

        db = connect(url, create=True)
        detail = load_synthetic(db, members=int(args[1]), seed=int(args[2]))
        db.dispose()
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": _peak_mb(), "detail": detail}))


# ------------------------------------------------------------------------ the SQL floor


def _json(dialect: str, *pairs: str) -> str:
    fn = "json_build_object" if dialect == "postgresql" else "json_object"
    return f"{fn}({', '.join(pairs)})"


def _agg(dialect: str, expr: str) -> str:
    return f"json_agg({expr})" if dialect == "postgresql" else f"json_group_array({expr})"


def floor(url: str, membership_ids: list[int]) -> float:
    """The same end state as apply --resolve-checklist, in plain set-based SQL, one
    transaction. Returns the seconds it took."""
    db = connect(url, migrate=False)
    d = db.dialect
    txt = "::text" if d == "postgresql" else ""
    params = {"at": _now(), "actor": "u-analyst", "run": "floor"}
    member = "t.group_id = x.group_id AND t.user_id = x.user_id"
    in_targets = "(x.group_id, x.user_id) IN (SELECT group_id, user_id FROM bench_targets)"
    items = [
        (
            "online_booking",
            "booking_profiles",
            "(x.directory_profile <> 'hidden' OR x.online_bookings <> 'disabled')",
            _json(
                d,
                "'group_id'",
                "x.group_id",
                "'user_id'",
                "x.user_id",
                "'location_id'",
                "x.location_id",
            ),
            "x.location_id",
            _json(
                d,
                "'directory_profile'",
                "x.directory_profile",
                "'online_bookings'",
                "x.online_bookings",
            ),
            "UPDATE booking_profiles AS x "
            "SET directory_profile = 'hidden', online_bookings = 'disabled'",
        ),
        (
            "integrations",
            "integrations",
            "x.enabled = TRUE",
            _json(d, "'group_id'", "x.group_id", "'user_id'", "x.user_id", "'kind'", "x.kind"),
            "x.kind",
            _json(d, "'enabled'", "x.enabled"),
            "UPDATE integrations AS x SET enabled = FALSE",
        ),
        (
            "credits_auto_top_up",
            "credit_settings",
            "x.user_id IS NOT NULL AND x.auto_top_up = TRUE",
            _json(d, "'credit_setting_id'", "x.credit_setting_id"),
            "'credits_auto_top_up'",
            _json(d, "'auto_top_up'", "x.auto_top_up"),
            "UPDATE credit_settings AS x SET auto_top_up = FALSE",
        ),
        (
            "appointment_reminders",
            "reminder_levels",
            "x.user_id IS NOT NULL",
            _json(d, "'reminder_level_id'", "x.reminder_level_id"),
            "'appointment_reminders'",
            _json(d, "'name'", "x.name"),
            "DELETE FROM reminder_levels AS x",
        ),
    ]
    start = time.perf_counter()
    with db.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_targets"))
        conn.execute(
            sa.text(
                "CREATE TEMPORARY TABLE bench_targets "
                "(membership_id INTEGER PRIMARY KEY, group_id VARCHAR(64), user_id VARCHAR(64))"
            )
        )
        conn.execute(
            sa.text("INSERT INTO bench_targets (membership_id) VALUES (:id)"),
            [{"id": i} for i in membership_ids],
        )
        conn.execute(
            sa.text(
                "UPDATE bench_targets SET group_id = (SELECT group_id FROM memberships m "
                "WHERE m.membership_id = bench_targets.membership_id), user_id = (SELECT "
                "user_id FROM memberships m WHERE m.membership_id = bench_targets.membership_id)"
            )
        )
        conn.execute(
            sa.text("CREATE INDEX bench_targets_member ON bench_targets (group_id, user_id)")
        )
        for item, table, pending, key, label, before, change in items:
            entry = _json(d, "'key'", key, "'label'", label, "'before'", before)
            source = f"FROM {table} x JOIN bench_targets t ON {member} WHERE {pending}"
            conn.execute(
                sa.text(
                    "INSERT INTO settings_snapshots "
                    "(group_id, user_id, item, taken_at, data, run_id) "
                    f"SELECT x.group_id, x.user_id, '{item}', :at, "
                    f"{_json(d, chr(39) + 'rows' + chr(39), _agg(d, entry))}{txt}, :run "
                    f"{source} GROUP BY x.group_id, x.user_id"
                ),
                params,
            )
            conn.execute(
                sa.text(
                    "INSERT INTO audit_events (at, actor_id, group_id, user_id, action, item, "
                    'before, "after", run_id) '
                    f"SELECT :at, :actor, x.group_id, x.user_id, 'checklist_resolved', '{item}', "
                    f"{_agg(d, before)}{txt}, NULL, :run {source} GROUP BY x.group_id, x.user_id"
                ),
                params,
            )
            conn.execute(sa.text(f"{change} WHERE {in_targets} AND {pending}"))
        conn.execute(
            sa.text(
                "INSERT INTO audit_events (at, actor_id, group_id, user_id, action, before, "
                '"after", run_id) '
                "SELECT :at, :actor, t.group_id, t.user_id, 'deactivated', "
                f"{_json(d, chr(39) + 'status' + chr(39), chr(39) + 'active' + chr(39))}{txt}, "
                + _json(
                    d,
                    "'status'",
                    "'inactive'",
                    "'sessions_revoked'",
                    "(SELECT count(*) FROM sessions s WHERE s.group_id = t.group_id "
                    "AND s.user_id = t.user_id AND s.revoked_at IS NULL)",
                )
                + f"{txt}, :run FROM bench_targets t"
            ),
            params,
        )
        conn.execute(
            sa.text(
                "UPDATE memberships SET status = 'inactive', status_changed_at = :at, "
                "status_changed_by = :actor WHERE status = 'active' AND membership_id IN "
                "(SELECT membership_id FROM bench_targets)"
            ),
            params,
        )
        conn.execute(
            sa.text(
                "UPDATE sessions SET revoked_at = :at WHERE revoked_at IS NULL AND "
                "(group_id, user_id) IN (SELECT group_id, user_id FROM bench_targets)"
            ),
            params,
        )
        conn.execute(sa.text("DROP TABLE bench_targets"))
    seconds = time.perf_counter() - start
    db.dispose()
    return seconds


def _now():
    from opskit.clock import now

    return now()


# ----------------------------------------------------------------------------- naive loop


def naive(url: str, rows: list[list[str]]) -> None:
    """The single-member API in a loop: one deactivation (with its checklist) per call."""
    from opskit.lifecycle import deactivate

    db = connect(url, migrate=False)
    for group_id, email in rows:
        deactivate(db, email, group_id, actor=ANALYST, resolve_checklist=True)
    db.dispose()


# ----------------------------------------------------------------------- end-state check


END_STATE = {
    "inactive memberships": "SELECT count(*) FROM memberships WHERE status = 'inactive'",
    "open sessions": "SELECT count(*) FROM sessions WHERE revoked_at IS NULL",
    "bookable profiles": "SELECT count(*) FROM booking_profiles WHERE directory_profile <> "
    "'hidden' OR online_bookings <> 'disabled'",
    "enabled integrations": "SELECT count(*) FROM integrations WHERE enabled = TRUE",
    "individual auto top-ups": "SELECT count(*) FROM credit_settings WHERE user_id IS NOT NULL "
    "AND auto_top_up = TRUE",
    "individual reminder levels": "SELECT count(*) FROM reminder_levels WHERE user_id IS NOT NULL",
    "snapshots": "SELECT count(*) FROM settings_snapshots",
    "deactivated events": "SELECT count(*) FROM audit_events WHERE action = 'deactivated'",
    "checklist_resolved events": "SELECT count(*) FROM audit_events "
    "WHERE action = 'checklist_resolved'",
}


def end_state(url: str) -> dict[str, int]:
    db = connect(url, migrate=False)
    with db.read() as conn:
        state = {name: conn.execute(sa.text(sql)).scalar_one() for name, sql in END_STATE.items()}
    db.dispose()
    return state


# ------------------------------------------------------------------------------- driving


class Size:
    """One database size: its base, targets and plan, and the runs measured on it."""

    def __init__(self, backend: Backend, members: int, seed: int) -> None:
        self.backend, self.members, self.seed = backend, members, seed
        self.base = backend.base(members, seed)
        self.targets = pick_targets(self.base, members // 2, seed)
        work = backend.workdir
        self.source = write_csv(self.targets, work / f"targets-{members}.csv")
        self.plan_path = work / f"plan-{members}.json"
        self.ids_path = work / f"ids-{members}.txt"
        self.ids_path.write_text("\n".join(str(t[0]) for t in self.targets))
        self.figures: dict[str, Any] = {
            "members": members,
            "backend": backend.name,
            "offboarded": len(self.targets),
        }
        self.applies: list[dict[str, Any]] = []
        self.floors: list[dict[str, Any]] = []

    def plan(self) -> None:
        planned_on = self.backend.copy(self.base, "plan")
        self.figures["plan"] = _child("plan", planned_on, str(self.source), str(self.plan_path))
        self.backend.cleanup()

    def pair(self) -> None:
        """Apply and the floor once each, each on a fresh copy of the base."""
        self.backend.cleanup()
        ours = self.backend.copy(self.base, "apply")
        self.applies.append(_child("apply", ours, str(self.plan_path)))
        bare = self.backend.copy(self.base, "floor")
        self.floors.append(_child("floor", bare, str(self.ids_path)))
        ours_state, floor_state = end_state(ours), end_state(bare)
        self.figures["end_state_differences"] = {
            k: (ours_state[k], floor_state[k])
            for k in ours_state
            if ours_state[k] != floor_state[k]
        }

    def finish(self, sample: int, naive_too: bool) -> dict[str, Any]:
        """Medians and the naive loop (the end states were compared after each pair)."""
        f = self.figures
        f["apply"], f["floor"] = _median_run(self.applies), _median_run(self.floors)
        ratios = sorted(
            a["seconds"] / b["seconds"] for a, b in zip(self.applies, self.floors, strict=True)
        )
        f["pair_ratio"] = ratios[(len(ratios) - 1) // 2]
        if naive_too:
            loop = self.backend.copy(self.base, "naive")
            chosen = random.Random(self.seed + 1).sample(
                self.targets, min(sample, len(self.targets))
            )
            sample_path = self.backend.workdir / f"naive-{self.members}.csv"
            sample_path.write_text("\n".join(f"{g},{e}" for _, g, e in chosen))
            f["naive"] = _child("naive", loop, str(sample_path))
        self.backend.cleanup()
        for path in (self.plan_path, self.ids_path):
            path.unlink(missing_ok=True)
        return f


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall-clock time (its CPU seconds and memory with it)."""
    ordered = sorted(runs, key=lambda m: m["seconds"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["all_seconds"] = [round(m["seconds"], 2) for m in runs]
    return chosen


def run(
    *,
    members: int = 200_000,
    seed: int = 1,
    large: bool = False,
    pg: str | None = None,
    sample: int = 200,
    workdir: str | None = None,
    repeat: int = 3,
) -> list[dict[str, Any]]:
    """Measure at ``members/10`` and ``members`` (and 1,000,000 with ``large``).

    The two sizes are measured in rounds: each round applies and runs the floor once
    on each size, so that a slow spell of the machine (its speed varies by half over
    minutes here) hits apply and floor, and both sizes, alike. Medians of ``repeat``
    rounds are reported, with every run's seconds. 1,000,000 runs once after them: its
    figure is memory."""
    folder = Path(workdir or Path(tempfile.gettempdir()) / "opskit-bench")
    folder.mkdir(parents=True, exist_ok=True)
    backend = Backend(folder, pg)
    try:
        sizes = [Size(backend, members // 10, seed), Size(backend, members, seed)]
        for size in sizes:
            size.plan()
        for _ in range(max(repeat, 1)):
            for size in sizes:
                size.pair()
        results = []
        for size in sizes:
            results.append(size.finish(sample, naive_too=size.members == members))
            report(results[-1], results[-2] if len(results) > 1 else None)
        if large and members < 1_000_000:
            big = Size(backend, 1_000_000, seed)
            big.plan()
            big.pair()
            results.append(big.finish(sample, naive_too=False))
            report(results[-1], results[-2])
    finally:
        backend.cleanup()
    return results


def run_handoff(
    *,
    members: int = 200_000,
    seed: int = 1,
    pg: str | None = None,
    workdir: str | None = None,
    repeat: int = 3,
) -> dict[str, Any]:
    """The hand-off's cost: apply of the same leavers without and with ``--handoff auto``."""
    folder = Path(workdir or Path(tempfile.gettempdir()) / "opskit-bench")
    folder.mkdir(parents=True, exist_ok=True)
    backend = Backend(folder, pg)
    try:
        base = backend.base(members, seed)
        targets = pick_targets(base, members // 10, seed, practitioners=True)
        source = write_csv(targets, folder / f"handoff-targets-{members}.csv")
        plans = {"plain": folder / "plan-plain.json", "handoff": folder / "plan-handoff.json"}
        figures: dict[str, Any] = {"members": members, "backend": backend.name}
        for name, path in plans.items():
            on = backend.copy(base, f"plan-{name}")
            extra = ("auto",) if name == "handoff" else ()
            figures[f"plan_{name}"] = _child("plan", on, str(source), str(path), *extra)
            backend.cleanup()
        runs: dict[str, list] = {"plain": [], "handoff": []}
        for _ in range(max(repeat, 1)):
            for name, path in plans.items():
                backend.cleanup()
                on = backend.copy(base, f"apply-{name}")
                runs[name].append(_child("apply", on, str(path)))
        backend.cleanup()
        for name, measured in runs.items():
            figures[f"apply_{name}"] = _median_run(measured)
        ratios = sorted(
            h["seconds"] / p["seconds"] for p, h in zip(runs["plain"], runs["handoff"], strict=True)
        )
        figures["pair_ratio"] = ratios[(len(ratios) - 1) // 2]
        report_handoff(figures)
        for path in plans.values():
            path.unlink(missing_ok=True)
        return figures
    finally:
        backend.cleanup()


def report_handoff(f: dict[str, Any]) -> None:
    planned = f["plan_handoff"]["detail"]
    plain, handoff = f["apply_plain"], f["apply_handoff"]
    print(
        f"\n{f['backend']}: {f['members']:,} memberships, {planned['to_apply']:,} leavers with "
        f"{planned['appointments']:,} future appointments handed off "
        f"({planned['blocked_no_successor']:,} rows blocked no_successor)"
    )
    print(
        f"  plan without / with hand-off: {f['plan_plain']['seconds']:.2f} / "
        f"{f['plan_handoff']['seconds']:.2f} s"
    )
    print(
        f"  apply without / with hand-off: {plain['seconds']:.2f} / {handoff['seconds']:.2f} s "
        f"(runs {plain['all_seconds']} / {handoff['all_seconds']}); median of the pairs' "
        f"ratios {f['pair_ratio']:.2f}x (target <= {TARGETS['handoff_overhead']:g}x); "
        f"peak {handoff['peak_mb']:.0f} MiB"
    )


def _ratio(a: dict, b: dict, key: str, per_a: int = 1, per_b: int = 1) -> float:
    return (a[key] / per_a) / (b[key] / per_b)


def report(f: dict[str, Any], small: dict[str, Any] | None = None) -> None:
    """Print the figures, wall-clock and CPU, and the targets' verdicts.

    On SQLite all the work happens in the measured process, so CPU seconds show the cost
    without the noise of a busy machine; on PostgreSQL the server works in its own
    processes and wall-clock is the figure."""
    n = max(f["offboarded"], 1)
    plan, apply, bottom = f["plan"], f["apply"], f["floor"]
    print(f"\n{f['backend']}: {f['members']:,} memberships, offboarding {n:,}")
    print(f"  {'':<32} {'wall s':>9} {'CPU s':>9}   note")

    def line(name: str, m: dict, note: str) -> None:
        print(f"  {name:<32} {m['seconds']:>9.2f} {m['cpu']:>9.2f}   {note}")

    line("plan", plan, f"peak {plan['peak_mb']:.0f} MiB")
    line(
        "apply --resolve-checklist",
        apply,
        f"{apply['seconds'] / n * 1e3:.3f} ms/member, peak {apply['peak_mb']:.0f} MiB",
    )
    line(
        "raw-SQL floor",
        bottom,
        f"apply/floor {_ratio(apply, bottom, 'seconds'):.2f}x wall, "
        f"{_ratio(apply, bottom, 'cpu'):.2f}x CPU (target <= {TARGETS['apply_vs_floor']:g}x)",
    )
    if len(apply.get("all_seconds", [])) > 1:
        print(
            f"  {len(apply['all_seconds'])} runs each, medians above: apply "
            f"{apply['all_seconds']} s, floor {bottom['all_seconds']} s; "
            f"median of the pairs' ratios {f['pair_ratio']:.2f}x"
        )
    if "naive" in f:
        k = f["naive"]["detail"]["members"]
        line(
            f"naive loop, {k} members",
            f["naive"],
            f"{f['naive']['seconds'] / k * 1e3:.2f} ms/member: apply is "
            f"{_ratio(f['naive'], apply, 'seconds', k, n):.0f}x faster per member wall, "
            f"{_ratio(f['naive'], apply, 'cpu', k, n):.0f}x CPU "
            f"(target >= {TARGETS['naive_speedup']:g}x)",
        )
    if f["end_state_differences"]:
        print(f"  end state differs (apply, floor): {json.dumps(f['end_state_differences'])}")
    else:
        print("  end state of apply and floor: the same counts in every table")
    if small is not None:
        scale = f["offboarded"] / small["offboarded"]
        print(
            f"  scaling {small['offboarded']:,} -> {n:,} members ({scale:g}x): apply takes "
            f"{_ratio(apply, small['apply'], 'seconds'):.2f}x wall, "
            f"{_ratio(apply, small['apply'], 'cpu'):.2f}x CPU "
            f"(target <= {TARGETS['scale_10x'] * scale / 10:.1f}x); the floor takes "
            f"{_ratio(bottom, small['floor'], 'seconds'):.2f}x wall, "
            f"{_ratio(bottom, small['floor'], 'cpu'):.2f}x CPU (the database's own growth)"
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child_main(argv[1], argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--large", action="store_true", help="also 1,000,000 memberships")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server instead of SQLite")
    parser.add_argument("--sample", type=int, default=200, help="naive loop sample size")
    parser.add_argument("--workdir", help="where databases are built and cached")
    parser.add_argument(
        "--repeat", type=int, default=3, help="apply and floor this many times each (medians)"
    )
    parser.add_argument(
        "--handoff", action="store_true", help="measure the hand-off's cost on apply instead"
    )
    options = parser.parse_args(argv)
    if options.handoff:
        run_handoff(
            members=options.members,
            seed=options.seed,
            pg=options.pg,
            workdir=options.workdir,
            repeat=options.repeat,
        )
        return 0
    run(
        members=options.members,
        seed=options.seed,
        large=options.large,
        pg=options.pg,
        sample=options.sample,
        workdir=options.workdir,
        repeat=options.repeat,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
