"""The journal store: SQLite (WAL, synchronous=FULL) or PostgreSQL (psycopg 3) through SQLAlchemy 2 Core.

Both run the one DDL file ``schema.sql`` next to this module. Only the exchange's single writer writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine

SCHEMA_FILE = Path(__file__).with_name("schema.sql")

_INSERT = text(
    "INSERT INTO journal (id, kind, signer, seq, body_hash, payload, response, recorded_at) "
    "VALUES (:id, :kind, :signer, :seq, :body_hash, :payload, :response, :recorded_at)"
)
_RAISE_SEQ = text("UPDATE signers SET last_seq = :seq WHERE signer = :signer AND last_seq < :seq")
_ADD_SIGNER = text("INSERT INTO signers (signer, last_seq) VALUES (:signer, 0)")
_COLUMNS = ("id", "kind", "signer", "seq", "body_hash", "payload", "response", "recorded_at")
_INSERT_DRIVER = f"INSERT INTO journal ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_RAISE_SEQ_DRIVER = "UPDATE signers SET last_seq = ? WHERE signer = ? AND last_seq < ?"
_LOOKUP = text("SELECT body_hash, response FROM journal WHERE signer = :signer AND seq = :seq")


def engine_url(url: str) -> str:
    """``postgresql://...`` as SQLAlchemy's psycopg 3 URL; other URLs as given."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _driver_sql(conn: Connection, sql: str) -> str:
    """``sql`` with ``?`` placeholders in the driver's own style (sqlite3: ``?``, psycopg: ``%s``)."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def schema_statements() -> list[str]:
    """The DDL statements of schema.sql, comments removed."""
    sql = re.sub(r"--[^\n]*", "", SCHEMA_FILE.read_text())
    return [part.strip() for part in sql.split(";") if part.strip()]


class Journal:
    """The journal database at ``url`` (``sqlite:///path`` or ``postgresql://user@host:port/db``).

    Parameters
    ----------
    url : SQLAlchemy URL; ``postgresql://`` uses psycopg 3
    synchronous : SQLite's synchronous pragma; FULL (the default) makes each commit durable on power loss
    """

    def __init__(self, url: str, synchronous: str = "FULL") -> None:
        self.url = engine_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine: Engine = create_engine(self.url, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
                raise ValueError(f"synchronous {synchronous!r}: expected OFF, NORMAL, FULL or EXTRA")

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record) -> None:
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
                cursor.execute("PRAGMA busy_timeout=10000")
                cursor.close()

        with self.engine.begin() as conn:
            for statement in schema_statements():
                conn.exec_driver_sql(statement)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, after: int = 0) -> Iterator[tuple]:
        """(id, kind, signer, seq, payload) of every event after ``after``, in id order."""
        with self.engine.connect() as conn:
            result = conn.execute(
                text("SELECT id, kind, signer, seq, payload FROM journal WHERE id > :after ORDER BY id"),
                {"after": after},
            )
            yield from result

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM journal")).scalar_one())

    @staticmethod
    def insert(conn: Connection, row: dict) -> None:
        conn.execute(_INSERT, row)

    @staticmethod
    def insert_many(conn: Connection, rows: list[dict]) -> None:
        """Insert journal rows with one driver-level executemany (the writer's hot path: no SQL compiling)."""
        params = [tuple(row[c] for c in _COLUMNS) for row in rows]
        conn.exec_driver_sql(_driver_sql(conn, _INSERT_DRIVER), params)

    @staticmethod
    def raise_seqs(conn: Connection, pairs: list[tuple[str, int]]) -> None:
        """Raise each signer's last sequence number, in order; RuntimeError (the transaction rolls back) if
        one of them is not above the stored one."""
        sql = _driver_sql(conn, _RAISE_SEQ_DRIVER)
        params = [(seq, signer, seq) for signer, seq in pairs]
        if conn.dialect.supports_sane_multi_rowcount:
            moved = conn.exec_driver_sql(sql, params).rowcount
        else:
            moved = sum(conn.exec_driver_sql(sql, p).rowcount for p in params)
        if moved != len(params):
            raise RuntimeError(
                f"{len(params) - moved} sequence number(s) did not rise: the journal has another writer"
            )

    @staticmethod
    def raise_seq(conn: Connection, signer: str, seq: int) -> bool:
        """Raise ``signer``'s last sequence number to ``seq``; False if ``seq`` is not above it."""
        return conn.execute(_RAISE_SEQ, {"signer": signer, "seq": seq}).rowcount == 1

    @staticmethod
    def add_signer(conn: Connection, signer: str) -> None:
        conn.execute(_ADD_SIGNER, {"signer": signer})

    @staticmethod
    def lookup(conn: Connection, signer: str, seq: int) -> tuple[str, str] | None:
        """(request hash, response) of the request ``signer`` sent with ``seq``, or None."""
        row = conn.execute(_LOOKUP, {"signer": signer, "seq": seq}).first()
        return None if row is None else (row[0], row[1])
