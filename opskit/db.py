"""Opening a database: the URL, the engine, the schema version and transactions.

SQLite is the embedded default and PostgreSQL the server. The differences that
matter are switched here, explicitly: SQLite gets ``BEGIN IMMEDIATE`` so that a
writer takes the write lock up front, and PostgreSQL gets row locks through
``FOR UPDATE`` (which SQLAlchemy leaves out on SQLite).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError, DataError, OperationalError, ProgrammingError

from .errors import BadInput, DatabaseUnavailable, NotAnOpskitDatabase, Refused

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_URL = "sqlite:///data/opskit.db"
LOCK_TIMEOUT_DEFAULT = 10.0  # seconds


class LockTimeout(Refused):
    """A change waited longer than OPSKIT_LOCK_TIMEOUT for another change's lock."""


def lock_timeout() -> float:
    """``OPSKIT_LOCK_TIMEOUT``: how many seconds a change waits for another's lock."""
    raw = os.environ.get("OPSKIT_LOCK_TIMEOUT", "").strip()
    if not raw:
        return LOCK_TIMEOUT_DEFAULT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= 86_400):
        raise BadInput(
            f"{raw!r} is not a number of seconds between 0 and 86400 (default 10)",
            column="OPSKIT_LOCK_TIMEOUT",
        )
    return seconds


def _is_lock_timeout(error: OperationalError) -> bool:
    orig = getattr(error, "orig", None)
    if getattr(orig, "sqlstate", None) == "55P03":  # PostgreSQL lock_not_available
        return True
    text = str(orig or error).lower()
    return "database is locked" in text or "database table is locked" in text


MIGRATIONS = Path(__file__).with_name("migrations")


def resolve_url(url: str | None = None) -> str:
    """``--db``, else ``OPSKIT_DATABASE_URL``, else ``sqlite:///data/opskit.db``."""
    url = url or os.environ.get("OPSKIT_DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "the package ships its migrations"
    return head


_REVISION_LINE = re.compile(r'^(down_revision|revision)\s*=\s*["\']([^"\']+)["\']', re.M)


@functools.lru_cache(maxsize=1)
def newest_revision() -> str | None:
    """The head of the shipped migrations read from their ``revision`` and
    ``down_revision`` lines, without importing alembic (about a third of a command's
    start-up): a database at this revision is current. None when the lines do not name
    exactly one head; ``schema_state`` then asks alembic, and a test holds the two
    answers equal (``head_revision``)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        for kind, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            (revisions if kind == "revision" else parents).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


@contextmanager
def _values_the_database_refuses() -> Iterator[None]:
    """A value the server cannot hold (PostgreSQL text with a NUL, say) is bad input;
    a privilege the login's role lacks is a refusal."""
    try:
        yield
    except DataError as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()
        raise BadInput(f"a value cannot be stored: {detail[0] if detail else error}") from None
    except ProgrammingError as error:
        # PostgreSQL's insufficient_privilege: the login's role may not do this (opskit grant)
        if getattr(getattr(error, "orig", None), "sqlstate", None) != "42501":
            raise
        refusal = str(error.orig).strip().splitlines()[0]
        raise Refused(f"the database refused this login: {refusal}") from None


def in_values(conn: Connection, column: ColumnElement, values: Iterable) -> ColumnElement[bool]:
    """``column IN (values)`` with the values in one bind parameter, however many.

    SQLAlchemy's ``in_`` renders a parameter per value, which costs Python time on
    every execution and runs into bind limits. Here the list travels whole, through
    an explicit dialect switch: a JSON array read by ``json_each`` on SQLite, an array
    compared with ``= ANY`` on PostgreSQL. Values are ints or strings (ids).
    """
    values = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    listed = func.json_each(json.dumps(values)).table_valued("value")
    return column.in_(select(listed.c.value))


def stored_time(dialect: Dialect) -> Callable[[Any], Any]:
    """A ``DateTime`` value as ``dialect`` stores it, converted once per distinct value.

    For rows that go straight to the driver (``insert_tuples``): SQLAlchemy's own bind
    processor, so the stored text is the same as its statements write, while a bulk
    batch, whose thousands of rows share a handful of times, converts each time once."""
    process = DateTime().dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return lambda value: value
    return functools.lru_cache(maxsize=None)(process)


def insert_tuples(
    conn: Connection, table: str, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (values in ``names`` order, times already ``stored_time``) into
    ``table`` with one ``executemany`` to the driver, which binds each row in C: for
    tens of thousands of rows, SQLAlchemy's per-row statement building was half the
    time of the insert."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})",
        rows,
    )


FEW = 100  # members_table: up to this many members, a subquery instead of a table


@contextmanager
def members_table(
    conn: Connection, membership_ids: Iterable[int], *, name: str = "members"
) -> Iterator[Any]:
    """The memberships ``membership_ids`` as a temporary table (``membership_id``,
    ``group_id``, ``user_id``, indexed by member), for a run of set-based statements
    about the same members: each then joins an indexed table instead of unpacking the
    id list again. Created in the caller's transaction and dropped at the end of the
    block; should the transaction fail instead, rolling it back removes the table.
    Blocks with the same ``name`` must not nest (the second would fail to create it).
    For a few members (a single deactivation, say) a subquery of ``memberships`` with
    the same columns stands in, and no table is made."""
    from . import schema as s

    m = s.memberships.c
    membership_ids = list(membership_ids)
    if len(membership_ids) <= FEW:
        yield (
            select(m.membership_id, m.group_id, m.user_id)
            .where(in_values(conn, m.membership_id, membership_ids))
            .subquery(f"opskit_{name}")
        )
        return
    table = Table(
        f"opskit_{name}",
        MetaData(),
        Column("membership_id", Integer, primary_key=True),
        Column("group_id", m.group_id.type),
        Column("user_id", m.user_id.type),
        Index(None, "group_id", "user_id"),
        prefixes=["TEMPORARY"],
    )
    table.create(conn)
    conn.execute(
        insert(table).from_select(
            ["membership_id", "group_id", "user_id"],
            select(m.membership_id, m.group_id, m.user_id).where(
                in_values(conn, m.membership_id, membership_ids)
            ),
        )
    )
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table.name}")  # temporary tables get no statistics
    yield table
    table.drop(conn)


class Database:
    """An opskit database: an engine plus the transactions opskit writes in."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One write transaction: commits on success, rolls back on any error. Waiting
        longer than OPSKIT_LOCK_TIMEOUT for another change's lock raises ``LockTimeout``."""
        with self.lock_waits(), _values_the_database_refuses(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def lock_waits(self) -> Iterator[None]:
        """A lock wait that ran out (OPSKIT_LOCK_TIMEOUT) raises ``LockTimeout``."""
        try:
            yield
        except OperationalError as error:
            if _is_lock_timeout(error):
                raise LockTimeout(self._lock_message()) from None
            raise

    def _lock_message(self) -> str:
        seconds = f"{lock_timeout():g}"
        holder = self._lock_holder()
        wait = f"wait for {holder} to finish" if holder else "wait for the other change"
        return (
            f"another change holds the lock this one needs (waited {seconds} s, "
            f"OPSKIT_LOCK_TIMEOUT); {wait} and try again; nothing was changed"
        )

    def _lock_holder(self) -> str | None:
        """PostgreSQL: the oldest other open transaction on this database, which is what
        a change waits for in practice (best effort: None when it cannot be told)."""
        if self.dialect != "postgresql":
            return None
        try:
            with self.engine.connect() as conn:
                found = conn.exec_driver_sql(
                    "SELECT pid, usename, application_name, client_addr FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND xact_start IS NOT NULL ORDER BY xact_start LIMIT 1"
                ).first()
        except Exception:
            return None
        if found is None:
            return None
        pid, user, application, address = found
        where = f" from {address}" if address else ""
        app = f", {application}" if application else ""
        return f"session {pid} (user {user}{app}{where})"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for queries; it never commits anything."""
        reader = self.engine.connect().execution_options(opskit_read_only=True)
        with _values_the_database_refuses(), reader as conn:
            yield conn
            conn.rollback()

    def schema_state(self) -> str:
        """``empty``, ``current``, ``old`` (upgradable) or raise if foreign or newer."""
        # a read: on SQLite a plain BEGIN, never the write lock (readers never wait)
        with self.engine.connect().execution_options(opskit_read_only=True) as conn:
            tables = set(inspect(conn).get_table_names())
            if not tables:
                return "empty"
            revision = (
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                if "alembic_version" in tables
                else None
            )
        if revision is None:
            raise NotAnOpskitDatabase(f"{self.url} is not an opskit database (it has other tables)")
        if revision == newest_revision():
            return "current"
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        scripts = ScriptDirectory.from_config(config)
        if revision == scripts.get_current_head():
            return "current"
        try:
            scripts.get_revision(revision)
        except Exception:
            raise NotAnOpskitDatabase(
                f"{self.url} was written by a newer opskit (schema {revision}); upgrade opskit"
            ) from None
        return "old"

    def upgrade(self) -> None:
        """Create the schema, or bring an older opskit database up to date."""
        from alembic import command

        with self.engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")

    def ensure_schema(self, *, create: bool = False) -> None:
        state = self.schema_state()
        if state == "empty" and not create:
            raise NotAnOpskitDatabase(
                f"{self.url} holds no opskit data yet; run 'opskit demo' or 'opskit load DIR'"
            )
        if state in ("empty", "old"):
            self.upgrade()

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log into the database file now, as far as no
        reader still needs it (bulk runs call this when they end, see
        WAL_CHECKPOINT_PAGES). Other databases manage this themselves: nothing to do."""
        if self.dialect != "sqlite":
            return
        raw = self.engine.raw_connection()  # outside a transaction, which would forbid it
        try:
            driver: Any = raw.driver_connection
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            raw.close()

    def analyze(self, tables: Iterable[str]) -> None:
        """PostgreSQL: refresh the planner's statistics of ``tables`` after a bulk write,
        so that the first query after it (``opskit check``, a report) gets a good plan
        instead of one made for the table as it was. SQLite: nothing to do."""
        if self.dialect != "postgresql":
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE " + ", ".join(sorted(set(tables))))
            conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()


# SQLite copies its write-ahead log into the database file (a checkpoint) after each
# commit that leaves more than this many pages in the log; its default is 1,000 (4 MiB).
# A bulk run commits batch after batch, each rewriting pages of the same large indexes,
# and a checkpoint writes each page once however many times the log holds it: fewer
# checkpoints, fewer writes. Bulk runs checkpoint when they end (Database.checkpoint),
# and once a checkpoint has emptied the log its file is cut back to WAL_KEEP_BYTES.
WAL_CHECKPOINT_PAGES = 65_536  # 256 MiB of 4 KiB pages
WAL_KEEP_BYTES = 64 * 2**20
# Each connection's page cache, in KiB (SQLite's default is 2 MiB). A bulk batch
# deactivates members in group order, which touches the memberships indexes keyed by
# user and by last sign-in at random; with 2 MiB, a database of 200,000 memberships
# re-reads most of those index pages for every member changed, and a run grew faster
# than its size (the memberships update took 16x the time for 10x the members, 10x
# with this cache). SQLite allocates the pages as they are used.
CACHE_KIB = 64 * 1024


def _sqlite_setup(engine: Engine, timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # opskit emits BEGIN itself (below), so the driver must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit = {WAL_KEEP_BYTES}")
        cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A writer takes the write lock at BEGIN: two writers then queue instead of one
        # failing when it upgrades a read lock; this makes read-check-write safe here.
        read_only = conn.get_execution_options().get("opskit_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def connect(url: str | None = None, *, create: bool = False, migrate: bool = True) -> Database:
    """Open the opskit database at ``url`` (see ``resolve_url``).

    ``create`` makes the schema in an empty database (load and demo do this).
    """
    url = resolve_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise DatabaseUnavailable(f"--db: {url!r} is not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if path and path != ":memory:":
            try:
                folder = Path(path).expanduser().resolve().parent
                exists = Path(path).exists()
            except (ValueError, OSError) as error:
                raise DatabaseUnavailable(f"--db: cannot use {path!r} as a file: {error}") from None
            if not folder.is_dir():
                raise DatabaseUnavailable(f"--db: folder {folder} does not exist")
            if not create and not exists:
                raise NotAnOpskitDatabase(
                    f"{path} does not exist; run 'opskit demo' or 'opskit load DIR' first"
                )
        engine = create_engine(parsed)
        _sqlite_setup(engine, lock_timeout())
    elif parsed.get_backend_name() == "postgresql":
        milliseconds = max(1, int(lock_timeout() * 1000))
        engine = create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"options": f"-c lock_timeout={milliseconds}"},
        )
    else:
        raise DatabaseUnavailable(f"--db: {parsed.get_backend_name()} is not supported")
    db = Database(engine)
    if migrate:
        try:
            db.ensure_schema(create=create)
        except OperationalError as error:
            engine.dispose()
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise DatabaseUnavailable(f"cannot open {db.url}: {reason}") from None
    return db
