"""Bulk offboarding at the speed of the database (issue 20): opskit against the raw-SQL floor.

    .venv/bin/python -m benchmarks.offboard_bench                     # SQLite, 20,000 and 200,000
    .venv/bin/python -m benchmarks.offboard_bench --large             # and 1,000,000
    .venv/bin/python -m benchmarks.offboard_bench --sizes 20000,200000,1000000 --repeat 3
    .venv/bin/python -m benchmarks.offboard_bench --pg postgresql://postgres@127.0.0.1/postgres
    .venv/bin/python -m benchmarks.offboard_bench --handoff --members 200000   # hand-off only

For each size N the shared yardstick's generator (``benchmarks/gen.py``, vendored from
``../shared/perf``) writes a dataset folder in the contract's format, and half of its
memberships (never the groups' Full Access operator) become the targets CSV
(``email,group``). Then, in rounds, as whole processes (start-up included):

- ``opskit load DIR`` into a base database (once per size; its time is printed);
- on a fresh copy of the base: ``opskit offboard plan TARGETS --actor ops@example.test``
  and ``opskit offboard apply PLAN --resolve-checklist``, each timed from start to exit
  with its peak resident memory (``wait4``), its table printed to a file;
- the **floor**: ``benchmarks/floor.py`` (SQLite, vendored from ``../shared/perf``) or
  ``benchmarks/pg_floor.py`` (PostgreSQL, written the same way) on the same folder and
  targets: plain set-based SQL reaching the same end state in one transaction, timed
  for the offboarding only.

Medians of ``--repeat`` rounds (default 3) are printed with every run's seconds, and each
figure with its target: plan <= 1.0x the floor, apply <= 2.0x (PostgreSQL 2.5x), peak
memory under 1 GiB at 1,000,000, 10x the members at most 10x the time. The members
opskit and the floor leave inactive are compared.

The hand-off's cost (issue 18) follows: the same leavers (a tenth of the memberships,
active practitioners with about five future appointments each, from ``opskit demo``'s
synthetic data) applied without and with ``--handoff auto``. Target: at most +50%.
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
import statistics
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
    "plan_vs_floor": 1.0,
    "apply_vs_floor": 2.0,
    "apply_vs_floor_pg": 2.5,
    "peak_mb": 1024.0,
    "handoff_overhead": 1.5,
}
HERE = Path(__file__).resolve().parent
# the yardstick's clock and actor: its sessions start 2026-11-01, its appointments are
# on 2026-12-01, and floor.py offboards at this instant as "ops"
FLOOR_NOW = "2026-11-27T12:00:00Z"
FLOOR_ACTOR = "ops@example.test"
OPSKIT = [
    sys.executable,
    "-c",
    "import sys; from opskit.cli import main; sys.argv[0] = 'opskit'; main()",
]


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
    elif kind == "build":
        from opskit import load_synthetic

        db = connect(url, create=True)
        detail = load_synthetic(db, members=int(args[1]), seed=int(args[2]))
        db.dispose()
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": _peak_mb(), "detail": detail}))


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall-clock time (its CPU seconds and memory with it)."""
    ordered = sorted(runs, key=lambda m: m["seconds"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["all_seconds"] = [round(m["seconds"], 2) for m in runs]
    return chosen


# ------------------------------------------------------- whole processes beside the floor


def _run(cmd: list[str], *, out: Path | None = None) -> dict[str, Any]:
    """Run a whole process, stdout to ``out`` (else nowhere); its wall-clock seconds from
    start to exit, CPU seconds and peak resident memory (its own, from ``wait4``)."""
    env = {
        **os.environ,
        "OPSKIT_NOW": FLOOR_NOW,
        "PYTHONPATH": str(HERE.parent),
        "OPSKIT_DATABASE_URL": "",
    }
    with open(out or os.devnull, "wb") as sink, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"{' '.join(cmd[-6:])} failed ({proc.returncode}): {message}")
    return {
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
    }


class Yardstick:
    """One size: the generated folder, its targets, the loaded base database, and the
    plan, apply and floor runs measured on it."""

    def __init__(self, backend: Backend, members: int, seed: int) -> None:
        self.backend, self.members, self.seed = backend, members, seed
        work = backend.workdir
        self.folder = work / f"yardstick-{members}-{seed}"
        if not (self.folder / "memberships.csv").exists():
            partial = work / f"yardstick-{members}-{seed}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            subprocess.run(
                [sys.executable, str(HERE / "gen.py"), str(partial), str(members), str(seed)],
                check=True,
            )
            shutil.rmtree(self.folder, ignore_errors=True)
            partial.rename(self.folder)
        self.targets = work / f"yardstick-targets-{members}-{seed}.csv"
        self.offboarded = _yardstick_targets(self.folder, self.targets, seed)
        self.load, self.base = self._base()
        self.runs: dict[str, list[dict[str, Any]]] = {"plan": [], "apply": [], "floor": []}
        self.inactive: dict[str, int] = {}

    def _base(self) -> tuple[dict[str, Any] | None, str]:
        """The folder loaded by ``opskit load`` (timed), once per size and seed."""
        b = self.backend
        if b.pg:
            name = f"opskit_yardstick_{self.members}_{self.seed}"
            url = b._pg_url(name)
            if b._pg_exists(name):
                return None, url
            b._pg_admin(f'CREATE DATABASE "{name}"')
            try:
                load = _run([*OPSKIT, "load", str(self.folder), "--db", url])
            except BaseException:
                b._pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                raise
            b._pg_admin_db(name, "VACUUM ANALYZE")
            return load, url
        path = b.workdir / f"yardstick-{self.members}-{self.seed}.db"
        if path.exists():
            return None, f"sqlite:///{path}"
        partial = path.with_suffix(".partial")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        load = _run([*OPSKIT, "load", str(self.folder), "--db", f"sqlite:///{partial}"])
        raw = sqlite3.connect(partial)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        partial.rename(path)
        return load, f"sqlite:///{path}"

    def round(self) -> None:
        """Plan and apply on a fresh copy of the base, then the floor."""
        b = self.backend
        b.cleanup()
        url = b.copy(self.base, "round")
        plan = b.workdir / f"yardstick-plan-{self.members}.json"
        shown = b.workdir / f"yardstick-shown-{self.members}.txt"
        self.runs["plan"].append(
            _run(
                [*OPSKIT, "offboard", "plan", str(self.targets), "--actor", FLOOR_ACTOR]
                + ["--out", str(plan), "--db", url],
                out=shown,
            )
        )
        self.runs["apply"].append(
            _run(
                [*OPSKIT, "offboard", "apply", str(plan), "--resolve-checklist", "--db", url],
                out=shown,
            )
        )
        self.inactive["opskit"] = _inactive(url)
        b.cleanup()
        plan.unlink(missing_ok=True)
        shown.unlink(missing_ok=True)
        self.runs["floor"].append(self._floor())

    def _floor(self) -> dict[str, Any]:
        out = self.backend.workdir / f"yardstick-floor-{self.members}.json"
        if self.backend.pg:
            url = self.backend._pg_url(f"opskit_floor_{self.members}")
            url = url.replace("postgresql+psycopg://", "postgresql://", 1)
            cmd = [sys.executable, str(HERE / "pg_floor.py"), "--url", url]
        else:
            db = self.backend.workdir / f"yardstick-floor-{self.members}.db"
            cmd = [sys.executable, str(HERE / "floor.py"), "--db", str(db)]
        cmd[2:2] = [str(self.folder), str(self.targets)]
        process = _run(cmd, out=out)
        printed = json.loads(out.read_text())
        out.unlink()
        if not self.backend.pg:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        self.inactive["floor"] = printed["deactivated"]
        return {"seconds": printed["floor_s"], "process_seconds": process["seconds"]}

    def figures(self) -> dict[str, Any]:
        medians = {k: statistics.median(r["seconds"] for r in v) for k, v in self.runs.items()}
        return {
            "backend": self.backend.name,
            "members": self.members,
            "offboarded": self.offboarded,
            "load": self.load,
            "median": medians,
            "runs": {k: [round(r["seconds"], 2) for r in v] for k, v in self.runs.items()},
            "peak_mb": {k: max(r["peak_mb"] for r in self.runs[k]) for k in ("plan", "apply")},
            "cpu": {
                k: statistics.median(r["cpu"] for r in self.runs[k]) for k in ("plan", "apply")
            },
            "inactive": dict(self.inactive),
        }


def _yardstick_targets(folder: Path, path: Path, seed: int) -> int:
    """Half of the folder's memberships, never the groups' operator: ``email,group``."""
    with (folder / "users.csv").open(newline="") as f:
        email = {r["user_id"]: r["email"] for r in csv.DictReader(f)}
    with (folder / "memberships.csv").open(newline="") as f:
        pairs = [(r["group_id"], r["user_id"]) for r in csv.DictReader(f) if r["user_id"] != "ops"]
    chosen = random.Random(seed).sample(pairs, len(pairs) // 2 + len(pairs) % 2)
    if not path.exists():
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["email", "group"])
            writer.writerows((email[u], g) for g, u in chosen)
    return len(chosen)


def _inactive(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT count(*) FROM memberships WHERE status = 'inactive'")
        ).scalar_one()
    engine.dispose()
    return int(found)


def run(
    *,
    sizes: list[int],
    seed: int = 1,
    pg: str | None = None,
    workdir: str | None = None,
    repeat: int = 3,
) -> list[dict[str, Any]]:
    """Measure every size in ``repeat`` rounds (each round plans, applies and runs the
    floor once per size, so that a slow spell of the shared machine hits every figure
    alike) and print the medians with their targets."""
    folder = Path(workdir or Path(tempfile.gettempdir()) / "opskit-bench")
    folder.mkdir(parents=True, exist_ok=True)
    backend = Backend(folder, pg)
    try:
        yardsticks = [Yardstick(backend, n, seed) for n in sorted(sizes)]
        for _ in range(max(repeat, 1)):
            for yardstick in yardsticks:
                yardstick.round()
        results = [y.figures() for y in yardsticks]
    finally:
        backend.cleanup()
    for index, figures in enumerate(results):
        report(figures, results[index - 1] if index else None)
    return results


def report(f: dict[str, Any], smaller: dict[str, Any] | None = None) -> None:
    """The figures of one size, each with its target beside it."""
    med, runs, peak = f["median"], f["runs"], f["peak_mb"]
    pg = f["backend"] == "postgresql"
    apply_target = TARGETS["apply_vs_floor_pg" if pg else "apply_vs_floor"]
    load = f"load {f['load']['seconds']:.1f} s" if f["load"] else "load cached"
    print(
        f"\n{f['backend']}: {f['members']:,} memberships, offboarding {f['offboarded']:,} "
        f"({load}; whole processes, medians of {len(runs['plan'])} rounds)"
    )
    big = f["members"] >= 1_000_000
    memory = f"(target < {TARGETS['peak_mb']:.0f} MiB)" if big else ""

    def line(name: str, key: str, note: str) -> None:
        print(f"  {name:<28} {med[key]:>8.2f} s  runs {runs[key]}  {note}")

    line(
        "offboard plan",
        "plan",
        f"plan/floor {med['plan'] / med['floor']:.2f}x (target <= "
        f"{TARGETS['plan_vs_floor']:g}x); CPU {f['cpu']['plan']:.1f} s; "
        f"peak {peak['plan']:.0f} MiB {memory}",
    )
    line(
        "offboard apply --resolve-ch.",
        "apply",
        f"apply/floor {med['apply'] / med['floor']:.2f}x (target <= {apply_target:g}x); "
        f"CPU {f['cpu']['apply']:.1f} s; peak {peak['apply']:.0f} MiB {memory}",
    )
    line("raw-SQL floor", "floor", "(the offboarding statements only)")
    state = f["inactive"]
    same = "the same" if state.get("opskit") == state.get("floor") else "DIFFERENT"
    print(
        f"  inactive memberships after: opskit {state.get('opskit', 0):,}, floor "
        f"{state.get('floor', 0):,} ({same})"
    )
    if smaller is not None:
        scale = f["offboarded"] / smaller["offboarded"]
        for key in ("plan", "apply", "floor"):
            grew = med[key] / smaller["median"][key]
            print(
                f"  scaling {smaller['members']:,} -> {f['members']:,} ({scale:.0f}x the members): "
                f"{key} takes {grew:.2f}x the time (target <= {scale:.0f}x)"
                + (" (the database's own growth)" if key == "floor" else "")
            )


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
    print(
        f"  apply CPU without / with hand-off: {plain['cpu']:.2f} / {handoff['cpu']:.2f} s "
        f"({handoff['cpu'] / plain['cpu']:.2f}x; wall is noisy on a shared machine)"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child_main(argv[1], argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="20000,200000", help="memberships, comma-separated (20000,200000)"
    )
    parser.add_argument("--large", action="store_true", help="also 1,000,000 memberships")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server instead of SQLite")
    parser.add_argument("--workdir", help="where datasets and databases are built and cached")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians are printed)")
    parser.add_argument(
        "--handoff", action="store_true", help="measure only the hand-off's cost on apply"
    )
    parser.add_argument("--skip-handoff", action="store_true", help="skip the hand-off's cost")
    parser.add_argument(
        "--members", type=int, default=200_000, help="memberships for the hand-off's cost"
    )
    options = parser.parse_args(argv)
    if not options.handoff:
        sizes = [int(n) for n in options.sizes.split(",") if n.strip()]
        if options.large and 1_000_000 not in sizes:
            sizes.append(1_000_000)
        run(
            sizes=sizes,
            seed=options.seed,
            pg=options.pg,
            workdir=options.workdir,
            repeat=options.repeat,
        )
    if options.handoff or not options.skip_handoff:
        run_handoff(
            members=options.members,
            seed=options.seed,
            pg=options.pg,
            workdir=options.workdir,
            repeat=options.repeat,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
