"""The local ledger: an append-only RFC 6962 Merkle log of signed trade records in one SQLite file.

Each entry is the canonical bytes of one trade record (:mod:`wattmesh.ledger.records`), signed by the
seller and the buyer where the keyring holds their keys (or where the trades table brings their
signatures) and always by the market operator. The leaf of the Merkle tree is the whole entry (sequence
number, record, party signatures, operator signature), so the tree commits to the signatures too. After
each market interval the operator signs a tree head: the log's size and root, the root of that
interval's trades alone (what the chain backend anchors) and the interval's end time.

Why not pymerkle: its SQLite tree appends one leaf per Python call and recomputes subtree roots from the
leaves for proofs (about 4k appends/s measured); here leaves are hashed in bulk per interval and every
full aligned node is cached, so appends cost O(batch) and proofs O(log n) lookups. pymerkle serves as the
independent reference for roots in the tests.

Formats: the ``format`` row of ``meta`` says how the records are encoded. Format 2
(``wattmesh-ledger-2``, written by this version) signs every field of the 12-field trade record of
:data:`wattmesh.tables.TRADES`; format 1 (``wattmesh-ledger-1``) holds the earlier 9-field records. Both
are verified, proved and exported; only format 2 is appended to.

Tables: ``meta`` (format), ``keys`` (member id, public key, operator's signature over the registration),
``entries``, ``tree_heads`` and ``nodes`` (the cache of full aligned interior nodes; audited, never
trusted by verifiers).

Run ledgers: a ledger written by one finite run (the simulator, ``run=True``) records ``run = open`` in
its signed ``meta`` when it is created and, when the run has appended its last interval
(:meth:`LocalLedger.finish_run`), ``run = complete`` with ``run_end``, the closing mark: the index, size
and root of the last signed tree head. ``verify`` reports a run ledger without the mark as INCOMPLETE
(what is there still verifies) and one whose log no longer ends at the mark as FAILED. A ledger that
grows for ever (the live exchange's) records no ``run``; its audit reports its latest signed head.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from wattmesh.ledger import merkle
from wattmesh.ledger.keys import (
    OPERATOR_ID,
    Keyring,
    failed_signatures,
    public_bytes,
    public_key_from_bytes,
    sign_many,
)
from wattmesh.ledger.records import SEED_FIELDS, canonical_records, decode_record, iso_utc

FORMAT = "wattmesh-ledger-2"
#: meta ``format`` value -> format version (1: 9-field records, 2: the 12 fields of tables.TRADES)
FORMATS = {"wattmesh-ledger-1": 1, FORMAT: 2}
FORMAT_RECORDS = {1: "9-field trade records", 2: "12-field trade records"}
TRADE_DOMAIN = b"wattmesh-trade-v1\n"
ENTRY_DOMAIN = b"wattmesh-entry-v1\n"
HEAD_DOMAIN = b"wattmesh-tree-head-v1\n"
KEY_DOMAIN = b"wattmesh-key-v1\n"
META_DOMAIN = b"wattmesh-meta-v1\n"
KEY_VERSION_DOMAIN = b"wattmesh-key-version-v1\n"
CHAIN_TX_DOMAIN = b"wattmesh-chain-tx-v1\n"
#: meta keys a ledger writes; format 2 signs them all (``meta_signature``)
META_KEYS = ("format", "party_signatures", "meta_signature", "chain_mode", "chain_id", "chain_contract",
             "chain_rpc", "run", "run_end")  # fmt: skip
CHAIN_META = ("chain_mode", "chain_id", "chain_contract", "chain_rpc")
#: ``cosign``: each party signs in the entry (custodial keys) or co-signs it afterwards (its own key)
PARTY_POLICIES = ("required", "optional", "cosign")
#: meta ``run`` of a ledger written by one finite run (the simulator): ``open`` until the run writes its
#: closing mark (``run_end``: the last tree head's index, size and root), then ``complete``
RUN_STATES = ("open", "complete")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (member_id TEXT PRIMARY KEY, public_key BLOB NOT NULL, signature BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY, transaction_id TEXT NOT NULL UNIQUE, interval TEXT NOT NULL,
    record BLOB NOT NULL, seller_sig BLOB NOT NULL, buyer_sig BLOB NOT NULL, operator_sig BLOB NOT NULL,
    leaf_hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tree_heads (
    head_index INTEGER PRIMARY KEY, tree_size INTEGER NOT NULL, first_seq INTEGER NOT NULL,
    timestamp TEXT NOT NULL, interval TEXT NOT NULL, root_hash BLOB NOT NULL, interval_root BLOB NOT NULL,
    signature BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (level INTEGER, idx INTEGER, hash BLOB NOT NULL, PRIMARY KEY (level, idx))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chain_txs (
    head_index INTEGER NOT NULL, mode TEXT NOT NULL, chain_id INTEGER NOT NULL, contract TEXT NOT NULL,
    tx_hash TEXT NOT NULL, block INTEGER NOT NULL, gas_used INTEGER NOT NULL, trades INTEGER NOT NULL,
    signature BLOB NOT NULL);
"""
#: format 2's later tables: rotated member keys and co-signatures (a format 2 file made before them
#: lacks both and still verifies)
SCHEMA_KEY_VERSIONS = """
CREATE TABLE IF NOT EXISTS key_versions (
    member_id TEXT NOT NULL, version INTEGER NOT NULL, public_key BLOB NOT NULL, valid_from_seq INTEGER NOT NULL,
    signature BLOB NOT NULL, PRIMARY KEY (member_id, version));
CREATE TABLE IF NOT EXISTS cosignatures (
    seq INTEGER NOT NULL, side TEXT NOT NULL, member_id TEXT NOT NULL, key_version INTEGER NOT NULL,
    signature BLOB NOT NULL, PRIMARY KEY (seq, side));
"""
EXTENSION_TABLES = ("key_versions", "cosignatures")
#: the tables of format 1 ledgers: chain transactions were not signed
SCHEMA_FORMAT_1 = SCHEMA.replace(
    " trades INTEGER NOT NULL,\n    signature BLOB NOT NULL);", " trades INTEGER NOT NULL);"
)
SCHEMAS = {1: SCHEMA_FORMAT_1, 2: SCHEMA + SCHEMA_KEY_VERSIONS}


def schema_objects(conn: sqlite3.Connection) -> set[tuple]:
    """The (type, name, table, sql) of every table and index in a database, as SQLite stores them, each
    with its storage class (a BLOB ``type`` is not the TEXT ``table`` that readers look for)."""
    rows = conn.execute(
        "SELECT typeof(type), type, typeof(name), name, typeof(tbl_name), tbl_name, typeof(sql), sql "
        "FROM sqlite_master"
    )
    return {
        tuple(v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v for v in row)
        for row in rows
        if not str(row[3]).startswith(
            ("sqlite_stat", "b'sqlite_stat")
        )  # ANALYZE's statistics change no content
    }


@functools.cache
def expected_schema(version: int, extensions: bool = True) -> frozenset[tuple]:
    """:func:`schema_objects` of a ledger of format ``version`` (1 or 2); ``extensions=False``: a format 2
    ledger made before key versions and co-signatures (:data:`EXTENSION_TABLES`).

    Made once per process (an in-memory database per call cost ~3 ms of every audit).
    """
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(SCHEMAS[version] if extensions else SCHEMA)
        return frozenset(schema_objects(conn))
    finally:
        conn.close()


LEDGER_TABLES = ("meta", "keys", "entries", "tree_heads", "nodes")


class LedgerError(ValueError):
    """A trade or batch the ledger refuses, with the trade, the field, the value and the reason."""


class LedgerInputError(ValueError):
    """The path or an option given to a reader is wrong: no such file, a directory, unreadable, bad JSON.

    The command line exits 2 (bad input) with this message.
    """


class CorruptLedgerError(ValueError):
    """The file is not a sound wattmesh ledger: empty, not SQLite, another database, or damaged.

    The command line exits 3 (corrupt data or a failed audit) with this message.
    """


def blob(value: object) -> bytes:
    """A stored BLOB (or TEXT) value as bytes.

    Raises
    ------
    TypeError
        for any other stored type (a number where bytes belong: a damaged file); ``bytes(n)`` would
        instead make n zero bytes.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    raise TypeError(f"stored value {value!r} is not bytes")


def check_ledger_path(path: str | Path) -> Path:
    """``path`` as a Path, if it names a readable file.

    Raises
    ------
    LedgerInputError
        when it does not exist, is a directory or cannot be read.
    CorruptLedgerError
        when it is an empty file.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise LedgerInputError(f"ledger {path}: no such file") from None
    except OSError as err:
        raise LedgerInputError(f"ledger {path}: cannot be read ({err.strerror or err})") from None
    if path.is_dir():
        raise LedgerInputError(
            f"ledger {path}: is a directory, expected a ledger file (e.g. out/ledger.sqlite)"
        )
    if not path.is_file():
        raise LedgerInputError(f"ledger {path}: is not a regular file")
    if not os.access(path, os.R_OK):
        raise LedgerInputError(f"ledger {path}: cannot be read (permission denied)")
    if info.st_size == 0:
        raise CorruptLedgerError(f"ledger {path}: the file is empty (0 bytes), not a wattmesh ledger")
    return path


def readonly_uri(path: Path) -> str:
    """The SQLite URI that opens ``path`` read-only, its name percent-escaped (``#``, ``?``, ``%``).

    When no ``-wal`` file lies beside it, no writer is working on it (the ledger always writes in WAL
    mode) and everything is in the main file, so it opens as immutable: SQLite then creates no ``-wal``
    or ``-shm`` file. Otherwise it opens normally read-only and sees what the writer has committed.
    """
    wal = path.with_name(path.name + "-wal")
    return path.resolve().as_uri() + ("?mode=ro" if wal.exists() else "?mode=ro&immutable=1")


def format_version(conn: sqlite3.Connection, path: str | Path) -> int:
    """The format version (1 or 2) recorded in a ledger's ``meta`` table.

    Raises
    ------
    CorruptLedgerError
        when the ledger records no format or one this version does not know.
    """
    row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    value = None if row is None else row[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value not in FORMATS:
        raise CorruptLedgerError(
            f"ledger {path}: format {value!r} is not one of {', '.join(map(repr, FORMATS))}"
        )
    return FORMATS[value]


def key_message(member_id: str, public_key: bytes) -> bytes:
    """What the operator signs to register ``public_key`` for ``member_id``."""
    return KEY_DOMAIN + member_id.encode() + b"\n" + public_key


def trade_message(record: bytes) -> bytes:
    """What the seller and the buyer sign: their trade's canonical record."""
    return TRADE_DOMAIN + record


def entry_message(seq: int, record: bytes, seller_sig: bytes, buyer_sig: bytes) -> bytes:
    """What the operator signs for entry ``seq``: length-prefixed record and party signatures."""
    return b"".join(
        (
            ENTRY_DOMAIN,
            seq.to_bytes(8, "big", signed=True),
            len(record).to_bytes(4, "big"),
            record,
            len(seller_sig).to_bytes(1, "big"),
            seller_sig,
            len(buyer_sig).to_bytes(1, "big"),
            buyer_sig,
        )
    )


def key_version_message(member_id: str, version: int, valid_from_seq: int, public_key: bytes) -> bytes:
    """What the operator signs to register version ``version`` (1, 2, ...) of a member's key, valid for the
    entries from ``valid_from_seq`` on (version 0 is the ``keys`` row, valid from entry 0)."""
    body = [member_id, int(version), int(valid_from_seq), public_key.hex()]
    return KEY_VERSION_DOMAIN + json.dumps(body, separators=(",", ":")).encode()


def meta_message(meta: dict[str, str]) -> bytes:
    """What the operator signs over the ``meta`` table (format 2): every row but the signature, sorted."""
    body = sorted((k, v) for k, v in meta.items() if k != "meta_signature")
    return META_DOMAIN + json.dumps(body, separators=(",", ":")).encode()


def chain_tx_message(row: tuple) -> bytes:
    """What the operator signs for a ``chain_txs`` row (format 2): its eight values before the signature.

    ``row`` is (head_index, mode, chain_id, contract, tx_hash, block, gas_used, trades).
    """
    return CHAIN_TX_DOMAIN + json.dumps(list(row), separators=(",", ":")).encode()


def entry_leaf(seq: int, record: bytes, seller_sig: bytes, buyer_sig: bytes, operator_sig: bytes) -> bytes:
    """The Merkle leaf of an entry: the operator's signed message followed by the operator's signature."""
    return entry_message(seq, record, seller_sig, buyer_sig) + operator_sig


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head, one per market interval.

    Attributes
    ----------
    head_index : int
        0, 1, 2, ... in order of signing.
    tree_size : int
        Entries in the log when signed [count].
    first_seq : int
        The interval's first entry; the interval's entries are ``[first_seq, tree_size)``.
    timestamp : str
        End of the market interval (UTC ISO 8601), the head's time.
    interval : str
        Start of the market interval (UTC ISO 8601), or "" when unknown.
    root_hash : bytes
        RFC 6962 root of the whole log at ``tree_size``.
    interval_root : bytes
        RFC 6962 root of the interval's entries alone (what ``anchor`` mode puts on chain).
    signature : bytes
        The operator's Ed25519 signature over :meth:`message`.
    """

    head_index: int
    tree_size: int
    first_seq: int
    timestamp: str
    interval: str
    root_hash: bytes
    interval_root: bytes
    signature: bytes = b""

    def message(self) -> bytes:
        body = {
            "head_index": self.head_index,
            "tree_size": self.tree_size,
            "first_seq": self.first_seq,
            "timestamp": self.timestamp,
            "interval": self.interval,
            "root_hash": self.root_hash.hex(),
            "interval_root": self.interval_root.hex(),
        }
        return HEAD_DOMAIN + json.dumps(body, separators=(",", ":")).encode()

    def to_dict(self) -> dict:
        out = asdict(self)
        for name in ("root_hash", "interval_root", "signature"):
            out[name] = out[name].hex()
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TreeHead:
        """A tree head from :meth:`to_dict` output (e.g. a saved ``head.json``)."""
        try:
            return cls(
                int(data["head_index"]),
                int(data["tree_size"]),
                int(data["first_seq"]),
                str(data["timestamp"]),
                str(data["interval"]),
                bytes.fromhex(data["root_hash"]),
                bytes.fromhex(data["interval_root"]),
                bytes.fromhex(data["signature"]),
            )
        except (KeyError, ValueError, TypeError, OverflowError) as err:
            raise ValueError(f"tree head {data!r}: {err!r}; expected the fields of TreeHead.to_dict") from err

    def is_signed_by(self, operator_public: bytes) -> bool:
        key = public_key_from_bytes(operator_public)
        return key is not None and not failed_signatures([key], [self.signature], [self.message()])


def run_end_mark(last: TreeHead | None) -> dict:
    """The closing mark of a run ledger whose last signed tree head is ``last`` (None: no interval)."""
    return {
        "head_index": -1 if last is None else last.head_index,
        "tree_size": 0 if last is None else last.tree_size,
        "root_hash": (merkle.root(b"") if last is None else last.root_hash).hex(),
    }


@dataclass
class PreparedBatch:
    """An interval's entries, signed and hashed, not yet written (so a chain backend can go first)."""

    head: TreeHead
    entries: list[tuple]
    nodes: list[tuple]
    records: list[dict]


@dataclass
class PreparedIntervals:
    """Consecutive intervals' entries, nodes and signed tree heads, not yet written."""

    heads: list[TreeHead]
    entries: list[tuple]
    nodes: list[tuple]


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """An SQLite connection to a ledger file (which must exist when ``readonly``).

    Raises
    ------
    LedgerInputError, CorruptLedgerError
        when ``readonly`` and the path is not a readable, non-empty file (see :func:`check_ledger_path`).
    """
    path = Path(path)
    if readonly:
        path = check_ledger_path(path)
        try:
            conn = sqlite3.connect(readonly_uri(path), uri=True)
        except sqlite3.Error as err:
            raise LedgerInputError(f"ledger {path}: cannot be opened ({err})") from err
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class LocalLedger:
    """The append-only signed Merkle log in the SQLite file at ``path``.

    Parameters
    ----------
    path : path
        The ledger file, created when missing.
    keyring : Keyring
        The operator's key (must match the one the file was created with) and the members' keys, whose
        public halves get registered (signed by the operator) on first sight.
    workers : int, optional
        Threads for signing (default: up to 2).
    party_signatures : bool
        Sign each trade for its seller and buyer with their keys from the keyring (default). False
        keeps only the operator's signature (members' keys are still registered, and signatures they
        bring in the trades table are still checked and stored): about 2.2x faster appends and 2.7x
        faster audits, for simulations where the operator holds every key anyway.

    Notes
    -----
    A new ledger records its party-signature policy in ``meta`` (signed by the operator with the rest
    of ``meta``): ``required`` when ``party_signatures`` is on and the keyring holds members' keys,
    else ``optional``. Under ``required`` a trade whose seller or buyer has no key in the keyring and
    brings no signature of its own is refused; under ``optional`` it is stored with the operator's
    signature only and ``verify`` counts such entries in its summary. An existing ledger keeps its
    policy.

    ``cosign=True`` gives a new ledger the policy ``cosign`` (the live exchange's): the keyring's members
    sign in the entry; a member who holds its own key co-signs its entries afterwards
    (:meth:`add_cosignature`), and ``verify`` lists the entries still awaiting a member's signature.
    A member's key can be rotated (:meth:`rotate_member`): the registry keeps every version with the
    first entry it is valid for, so older entries verify under the old key and later ones under the new.

    ``run=True`` makes a new ledger a run ledger (``meta`` ``run = open``): call :meth:`finish_run`
    after the last interval, else ``verify`` reports it INCOMPLETE. A finished run ledger is not
    appended to.
    """

    def __init__(
        self,
        path: str | Path,
        keyring: Keyring,
        workers: int | None = None,
        party_signatures: bool = True,
        run: bool = False,
        cosign: bool = False,
    ) -> None:
        self.path = Path(path)
        self.keyring = keyring
        self.workers = workers
        self._refuse_other_formats()
        self.conn = connect(self.path)
        self.format = 2
        self.conn.executescript(SCHEMAS[2])
        with self.conn:
            self._register(OPERATOR_ID, keyring.operator_public)
            self._check_meta()
            policy = "required" if party_signatures and keyring.member_keys else "optional"
            policy = "cosign" if cosign else policy
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('party_signatures', ?)", (policy,))
            for member, public in keyring.member_public().items():
                self._register(member, public)
            if run and "run" not in self.meta():
                if self.size or self.latest_head() is not None:
                    raise LedgerError(
                        f"ledger {self.path}: holds entries of another writer, not a run's; a run starts "
                        "a new ledger file"
                    )
                self.conn.execute("INSERT INTO meta VALUES ('run', 'open')")
            self.sign_meta()
        meta = self.meta()
        self.party_policy = meta["party_signatures"]
        self.run_state = meta.get("run")
        self._member_keys = dict(keyring.member_secrets) if party_signatures else {}

    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dict."""
        return {str(k): str(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def _check_meta(self) -> None:
        """Refuse to append to a ledger whose ``meta`` rows are no longer what the operator signed."""
        meta = self.meta()
        if "meta_signature" not in meta:
            if meta:
                raise LedgerError(f"ledger {self.path}: its meta table is not signed; the file was changed")
            return
        try:
            signature = bytes.fromhex(meta["meta_signature"])
        except ValueError:
            signature = b""
        if failed_signatures([self.keyring.operator_public], [signature], [meta_message(meta)]):
            raise LedgerError(
                f"ledger {self.path}: its meta rows are not the ones the operator signed (run "
                "`wattmesh ledger verify`); not appending to it"
            )

    def finish_run(self) -> dict:
        """Write the closing mark of a run ledger: ``run = complete`` and ``run_end`` (the last signed
        tree head's index, size and root), signed with the rest of ``meta``; nothing is appended after.

        Returns
        -------
        dict
            The mark: ``head_index`` (-1 when no interval was appended), ``tree_size`` [entries] and
            ``root_hash`` (hex).

        Raises
        ------
        LedgerError
            when the ledger is no open run ledger (opened without ``run=True``, or finished already).
        """
        if self.run_state != "open":
            state = "is not a run's ledger" if self.run_state is None else "was finished already"
            raise LedgerError(f"ledger {self.path}: {state}; only an open run ledger can be finished")
        last = self.latest_head()
        if last is not None and last.tree_size != self.size:
            raise LedgerError(
                f"ledger {self.path}: holds {self.size} entries but its last tree head covers {last.tree_size}"
            )
        mark = run_end_mark(last)
        with self.conn:
            self.conn.execute("UPDATE meta SET value = 'complete' WHERE key = 'run'")
            self.conn.execute(
                "INSERT INTO meta VALUES ('run_end', ?)", (json.dumps(mark, separators=(",", ":")),)
            )
            self.sign_meta()
        self.run_state = "complete"
        return mark

    def sign_meta(self) -> None:
        """Sign the ``meta`` table as it is now (call inside the transaction that changed it)."""
        meta = self.meta()
        signature = sign_many([self.keyring.operator_secret], [meta_message(meta)])[0]
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('meta_signature', ?)", (signature.hex(),))

    def _register(self, member_id: str, public: bytes) -> None:
        row = self.conn.execute("SELECT public_key FROM keys WHERE member_id = ?", (member_id,)).fetchone()
        if row is not None:
            if blob(row[0]) != public:
                who = "the operator" if member_id == OPERATOR_ID else f"member {member_id!r}"
                raise LedgerError(
                    f"ledger {self.path}: {who} is registered with key {blob(row[0]).hex()[:16]}..., "
                    f"the keyring holds {public.hex()[:16]}...; use the key directory the ledger was made with"
                )
            return
        signature = sign_many([self.keyring.operator_secret], [key_message(member_id, public)])[0]
        self.conn.execute("INSERT INTO keys VALUES (?, ?, ?)", (member_id, public, signature))

    def _refuse_other_formats(self) -> None:
        """Raise LedgerError, before anything is written, if the file is a ledger of another format."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return
        conn = connect(self.path, readonly=True)
        try:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
                return
            version = format_version(conn, self.path)
        finally:
            conn.close()
        if version != 2:
            raise LedgerError(
                f"ledger {self.path} is format {version} ({FORMAT_RECORDS[version]}, written before the "
                "trade record had 12 fields): it can be verified, proved and exported, not appended to; "
                "append to a new ledger file"
            )

    @classmethod
    def reader(cls, path: str | Path, conn: sqlite3.Connection) -> LocalLedger:
        """A ledger over an open (read-only) connection, for proofs and exports of any format.

        Raises
        ------
        LedgerError
            when the file records no known format.
        """
        ledger = cls.__new__(cls)
        ledger.path, ledger.conn = Path(path), conn
        ledger.format = format_version(conn, path)
        return ledger

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> LocalLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Entries in the log."""
        row = self.conn.execute("SELECT MAX(seq) FROM entries").fetchone()
        return 0 if row[0] is None else row[0] + 1

    def _node(self, level: int, index: int) -> bytes:
        if level == 0:
            row = self.conn.execute("SELECT leaf_hash FROM entries WHERE seq = ?", (index,)).fetchone()
        else:
            row = self.conn.execute(
                "SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, index)
            ).fetchone()
        if row is None:
            raise LookupError(f"ledger {self.path}: Merkle node (level {level}, index {index}) is missing")
        return blob(row[0])

    def heads(self) -> list[TreeHead]:
        """Every signed tree head, oldest first."""
        rows = self.conn.execute(
            "SELECT head_index, tree_size, first_seq, timestamp, interval, root_hash, interval_root, "
            "signature FROM tree_heads ORDER BY head_index"
        ).fetchall()
        return [TreeHead(*row[:5], blob(row[5]), blob(row[6]), blob(row[7])) for row in rows]

    def latest_head(self) -> TreeHead | None:
        heads = self.conn.execute("SELECT MAX(head_index) FROM tree_heads").fetchone()[0]
        return None if heads is None else self._head(heads)

    def _head(self, head_index: int) -> TreeHead:
        row = self.conn.execute(
            "SELECT head_index, tree_size, first_seq, timestamp, interval, root_hash, interval_root, "
            "signature FROM tree_heads WHERE head_index = ?",
            (head_index,),
        ).fetchone()
        if row is None:
            raise LookupError(f"ledger {self.path}: no tree head {head_index}")
        return TreeHead(*row[:5], blob(row[5]), blob(row[6]), blob(row[7]))

    def root_at(self, size: int) -> bytes:
        """RFC 6962 root of the first ``size`` entries, from the node cache."""
        return merkle.root_from_nodes(size, self._node)

    def inclusion_path(self, seq: int, tree_size: int) -> list[bytes]:
        return merkle.inclusion_path(seq, tree_size, self._node)

    def consistency_path(self, old_size: int, new_size: int) -> list[bytes]:
        return merkle.consistency_path(old_size, new_size, self._node)

    # -- appending -------------------------------------------------------------------------------------
    def prepare_interval(
        self, trades: pd.DataFrame, interval_end: object, interval_start: object = None
    ) -> PreparedBatch:
        """Validate, sign and hash an interval's trades without writing them (see :meth:`commit`).

        Raises
        ------
        LedgerError
            for a bad trade, a transaction id already in the log, a party signature that does not verify
            under the member's registered key, or an interval end not after the last tree head's.
        """
        self._refuse_finished()
        try:
            end = iso_utc([interval_end])[0]
            start = "" if interval_start is None else iso_utc([interval_start])[0]
            encodings, records = canonical_records(trades, start or None)
        except ValueError as err:
            raise LedgerError(str(err)) from err
        if not start and records:
            start = min(r["interval"] for r in records)
        heads, entries, nodes = self._sign_and_hash(
            trades, encodings, records, [end], [start], [0, len(records)]
        )
        return PreparedBatch(heads[0], entries, nodes, records)

    def prepare_intervals(
        self, trades: pd.DataFrame, bounds: object, interval_ends: list[str], interval_starts: list[str]
    ) -> PreparedIntervals:
        """Validate, sign and hash many consecutive intervals' trades at once (see :meth:`commit_intervals`).

        The entries, nodes and tree heads are byte for byte those that :meth:`prepare_interval` and
        :meth:`commit` make interval by interval; encoding, signing and hashing run once over the whole
        batch instead of once per interval (the per-interval overhead was most of a simulated run's
        ledger time).

        Parameters
        ----------
        trades : DataFrame
            The intervals' trade records in log order, with an ``interval`` column.
        bounds : array of int
            ``len(interval_ends) + 1`` row offsets: interval ``k`` holds rows ``bounds[k]:bounds[k + 1]``.
        interval_ends, interval_starts : list of str
            UTC ISO 8601 end and start of each interval (as :func:`wattmesh.ledger.records.iso_utc` writes).

        Raises
        ------
        LedgerError
            as :meth:`prepare_interval`, for the first bad trade or interval of the batch (nothing of the
            batch is prepared then).
        """
        self._refuse_finished()
        bounds = [int(b) for b in bounds]
        if len(bounds) != len(interval_ends) + 1 or len(interval_starts) != len(interval_ends):
            raise ValueError(
                f"{len(interval_ends)} interval ends, {len(interval_starts)} starts and {len(bounds)} bounds: "
                "expected one start per end and one bound more"
            )
        if bounds[0] != 0 or bounds[-1] != len(trades) or np.any(np.diff(bounds) < 0):
            raise ValueError(
                f"bounds {bounds[:3]}...{bounds[-1:]} do not split the {len(trades)} trades in order"
            )
        try:
            encodings, records = canonical_records(trades) if len(trades) else ([], [])
        except ValueError as err:
            raise LedgerError(str(err)) from err
        heads, entries, nodes = self._sign_and_hash(
            trades, encodings, records, list(interval_ends), list(interval_starts), bounds
        )
        return PreparedIntervals(heads, entries, nodes)

    def _refuse_finished(self) -> None:
        if self.run_state == "complete":
            raise LedgerError(
                f"ledger {self.path}: the run that wrote it has finished (its closing mark is signed); "
                "not appending to it"
            )

    def _sign_and_hash(
        self,
        trades: pd.DataFrame,
        encodings: list[bytes],
        records: list[dict],
        ends: list[str],
        starts: list[str],
        bounds: list[int],
    ) -> tuple[list[TreeHead], list[tuple], list[tuple]]:
        """The signed tree heads, entry rows and new node rows of consecutive intervals (rows
        ``bounds[k]:bounds[k + 1]`` of ``records`` in interval ``k``, ending at ``ends[k]``)."""
        last = self.latest_head()
        previous = None if last is None else last.timestamp
        for end in ends:
            if previous is not None and pd.Timestamp(end) <= pd.Timestamp(previous):
                raise LedgerError(
                    f"interval_end {end} is not after the last tree head's time {previous}: "
                    "intervals must be appended in time order"
                )
            previous = end
        ids = [r["transaction_id"] for r in records]
        self._refuse_replays(ids)
        old_size = self.size
        seller_sigs = self._party_signatures(trades, "seller", records, encodings)
        buyer_sigs = self._party_signatures(trades, "buyer", records, encodings)
        seqs = range(old_size, old_size + len(records))
        messages = [
            entry_message(seq, rec, s, b)
            for seq, rec, s, b in zip(seqs, encodings, seller_sigs, buyer_sigs, strict=True)
        ]
        operator_sigs = sign_many([self.keyring.operator_secret] * len(messages), messages, self.workers)
        sha = hashlib.sha256
        leaves = [sha(b"\x00" + m + s).digest() for m, s in zip(messages, operator_sigs, strict=True)]
        leaf_level = b"".join(leaves)
        levels = merkle.extend_levels(old_size, leaf_level, self._node)
        cache = {
            (level, first + k): hashes[32 * k : 32 * k + 32]
            for level, (first, hashes) in enumerate(levels)
            if level > 0
            for k in range(len(hashes) // 32)
        }

        def node(level: int, index: int) -> bytes:
            if level == 0 and index >= old_size:
                return leaves[index - old_size]
            return cache.get((level, index)) or self._node(level, index)

        # A full aligned node never changes once its leaves are in, so the nodes of the batch's last size
        # also give the root at every earlier interval's size.
        first_index = 0 if last is None else last.head_index + 1
        unsigned = [
            TreeHead(
                first_index + k,
                old_size + bounds[k + 1],
                old_size + bounds[k],
                end,
                start,
                merkle.root_from_nodes(old_size + bounds[k + 1], node),
                merkle.root(leaf_level[32 * bounds[k] : 32 * bounds[k + 1]]),
            )
            for k, (end, start) in enumerate(zip(ends, starts, strict=True))
        ]
        signatures = sign_many(
            [self.keyring.operator_secret] * len(unsigned), [h.message() for h in unsigned], self.workers
        )
        heads = [replace(h, signature=sig) for h, sig in zip(unsigned, signatures, strict=True)]
        entries = [
            (seq, tid, rec_dict["interval"], rec, s, b, o, leaf)
            for seq, tid, rec_dict, rec, s, b, o, leaf in zip(
                seqs, ids, records, encodings, seller_sigs, buyer_sigs, operator_sigs, leaves, strict=True
            )
        ]
        nodes = [(level, index, value) for (level, index), value in cache.items()]
        return heads, entries, nodes

    def commit(self, batch: PreparedBatch) -> TreeHead:
        """Write a prepared batch and its tree head in one SQLite transaction."""
        return self.commit_intervals(PreparedIntervals([batch.head], batch.entries, batch.nodes))[0]

    def commit_intervals(self, batch: PreparedIntervals) -> list[TreeHead]:
        """Write prepared intervals (entries, nodes, every tree head) in one SQLite transaction."""
        first = batch.heads[0].first_seq
        if self.size != first:
            raise LedgerError(
                f"ledger {self.path}: the batch was prepared at size {first}, "
                f"the log now holds {self.size} entries"
            )
        with self.conn:
            self.conn.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch.entries)
            self.conn.executemany("INSERT INTO nodes VALUES (?, ?, ?)", batch.nodes)
            self.conn.executemany(
                "INSERT INTO tree_heads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(h.head_index, h.tree_size, h.first_seq, h.timestamp, h.interval, h.root_hash,
                  h.interval_root, h.signature) for h in batch.heads],
            )  # fmt: skip
        return batch.heads

    def append_interval(
        self, trades: pd.DataFrame, interval_end: object, interval_start: object = None
    ) -> TreeHead:
        """Sign and append one market interval's trades and sign the new tree head.

        Parameters
        ----------
        trades : DataFrame
            Trade records (:data:`wattmesh.ledger.records.TRADES` columns; optional ``seller_signature``
            and ``buyer_signature`` columns hold signatures the parties made themselves, raw 64 bytes).
            May be empty: the interval still gets a signed tree head.
        interval_end : time
            End of the market interval (UTC); must be after the previous head's.
        interval_start : time, optional
            Start of the interval, when the table has no ``interval`` column.

        Returns
        -------
        TreeHead
        """
        return self.commit(self.prepare_interval(trades, interval_end, interval_start))

    def _refuse_replays(self, ids: list[str]) -> None:
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            row = self.conn.execute(
                f"SELECT transaction_id, seq FROM entries WHERE transaction_id IN ({','.join('?' * len(part))})",
                part,
            ).fetchone()
            if row is not None:
                raise LedgerError(f"trade {row[0]!r}: transaction_id is already in the log (entry {row[1]})")

    def _party_signatures(
        self, trades: pd.DataFrame, side: str, records: list[dict], encodings: list[bytes]
    ) -> list[bytes]:
        """Signatures of each trade by its seller (or buyer): given ones checked, the keyring's made."""
        given = trades[f"{side}_signature"].tolist() if f"{side}_signature" in trades.columns else None
        out: list[bytes] = [b""] * len(records)
        to_sign, to_check = [], []
        for i, rec in enumerate(records):
            if given is not None and isinstance(given[i], bytes | bytearray) and given[i]:
                out[i] = bytes(given[i])
                to_check.append(i)
            elif rec[side] in self._member_keys:
                to_sign.append(i)
            elif self.party_policy == "required":
                raise LedgerError(
                    f"trade {rec['transaction_id']!r}: no {side} signature: the ledger requires party "
                    f"signatures, and member {rec[side]!r} has no key in the keyring and the trade brings "
                    f"no {side}_signature"
                )
        if to_check:
            registered = self._registered_keys({records[i][side] for i in to_check})
            keys = [registered.get(records[i][side]) for i in to_check]
            bad = failed_signatures(
                keys, [out[i] for i in to_check], [trade_message(encodings[i]) for i in to_check]
            )
            if bad:
                rec = records[to_check[bad[0]]]
                why = "no key is registered" if keys[bad[0]] is None else "it does not verify under the key"
                raise LedgerError(
                    f"trade {rec['transaction_id']!r}: {side} signature refused: {why} "
                    f"registered for member {rec[side]!r}"
                )
        if to_sign:
            sigs = sign_many(
                [self._member_keys[records[i][side]] for i in to_sign],
                [trade_message(encodings[i]) for i in to_sign],
                self.workers,
            )
            for i, sig in zip(to_sign, sigs, strict=True):
                out[i] = sig
        return out

    def _registered_keys(self, members: set[str]) -> dict:
        """The current (latest version of the) registered key of each member, for appending."""
        return {m: public_key_from_bytes(v[2]) for m, v in self.current_keys(members).items()}

    def current_keys(self, members: set[str]) -> dict[str, tuple[int, int, bytes]]:
        """Each registered member's latest key: member -> (version, valid_from_seq, raw public key)."""
        marks = ",".join("?" * len(members))
        out = {
            str(m): (0, 0, blob(k))
            for m, k in self.conn.execute(
                f"SELECT member_id, public_key FROM keys WHERE member_id IN ({marks})", sorted(members)
            )
        }
        for m, version, valid_from, k in self.conn.execute(
            f"SELECT member_id, version, valid_from_seq, public_key FROM key_versions WHERE member_id IN "
            f"({marks}) ORDER BY member_id, version",
            sorted(members),
        ):
            out[str(m)] = (int(version), int(valid_from), blob(k))
        return out

    def register_member(self, member_id: str, public_key: bytes) -> None:
        """Register a member's public key (signed by the operator), for members who sign themselves."""
        with self.conn:
            self._register(member_id, public_key)

    def rotate_member(self, member_id: str, public_key: bytes) -> int:
        """Make ``public_key`` the member's key for every entry appended from now on (a new key version,
        signed by the operator); the older entries keep verifying under the key they were signed with.

        Registers the member when it is not yet; does nothing when ``public_key`` is its current key. The
        keyring stops signing for the member (its custodial key is no longer the member's).

        Returns
        -------
        int
            The member's key version now (0: the first key).
        """
        current = self.current_keys({member_id}).get(member_id)
        if current is None:
            self.register_member(member_id, public_key)
            return 0
        if current[2] == public_key:
            return current[0]
        if public_key_from_bytes(public_key) is None:
            raise LedgerError(
                f"member {member_id!r}: public key {public_key.hex()[:16]}... is not an Ed25519 key"
            )
        version, valid_from = current[0] + 1, self.size
        signature = sign_many(
            [self.keyring.operator_secret], [key_version_message(member_id, version, valid_from, public_key)]
        )[0]
        with self.conn:
            self.conn.execute(
                "INSERT INTO key_versions VALUES (?, ?, ?, ?, ?)",
                (member_id, version, public_key, valid_from, signature),
            )
        self._member_keys.pop(member_id, None)
        return version

    def awaiting_cosignatures(self, member_id: str) -> list[dict]:
        """The member's entries that carry no signature of its own yet (neither in the entry nor as a
        co-signature), oldest first: ``seq``, ``transaction_id``, ``side`` and ``record`` (the canonical
        record; the member signs ``trade_message(record)``)."""
        rows = self.conn.execute(
            "SELECT e.seq, e.transaction_id, e.record, e.seller_sig, e.buyer_sig, "
            "(SELECT COUNT(*) FROM cosignatures c WHERE c.seq = e.seq AND c.side = 'seller'), "
            "(SELECT COUNT(*) FROM cosignatures c WHERE c.seq = e.seq AND c.side = 'buyer') "
            "FROM entries e WHERE (e.seller_sig = X'' OR e.buyer_sig = X'') ORDER BY e.seq"
        )
        out = []
        for seq, tid, record, seller_sig, buyer_sig, seller_co, buyer_co in rows:
            rec = decode_record(blob(record), self.format)
            for side, sig, co in (("seller", seller_sig, seller_co), ("buyer", buyer_sig, buyer_co)):
                if rec[side] == member_id and not blob(sig) and not co:
                    out.append(
                        {"seq": seq, "transaction_id": tid, "side": side, "record": blob(record).decode()}
                    )
        return out

    def add_cosignature(self, transaction_id: str, member_id: str, signature: bytes) -> list[str]:
        """Store a member's signature over its trade's record (``trade_message(record)``), made with its
        current key, beside an entry that carries none of its own.

        Returns
        -------
        list of str
            The sides (``seller``, ``buyer``) the signature now signs; a repeat of a stored one is no error.

        Raises
        ------
        LookupError
            when the ledger has no such trade.
        LedgerError
            when the member is no party of the trade, has no registered key, the entry carries its
            signature already, or the signature does not verify under its current key (nothing stored).
        """
        seq, _, record, seller_sig, buyer_sig, _, _ = self._entry_of(transaction_id)
        record = blob(record)
        rec = decode_record(record, self.format)
        sides = [s for s in ("seller", "buyer") if rec[s] == member_id]
        if not sides:
            raise LedgerError(
                f"trade {transaction_id!r}: member {member_id!r} is neither its seller {rec['seller']!r} "
                f"nor its buyer {rec['buyer']!r}"
            )
        in_entry = {"seller": blob(seller_sig), "buyer": blob(buyer_sig)}
        if all(in_entry[s] for s in sides):
            raise LedgerError(
                f"trade {transaction_id!r}: entry {seq} carries {member_id!r}'s signature already"
            )
        current = self.current_keys({member_id}).get(member_id)
        if current is None:
            raise LedgerError(f"trade {transaction_id!r}: no key is registered for member {member_id!r}")
        version, _, public = current
        if failed_signatures([public_key_from_bytes(public)], [signature], [trade_message(record)]):
            raise LedgerError(
                f"trade {transaction_id!r}: signature does not verify under member {member_id!r}'s current "
                f"key (version {version}) over the trade's record"
            )
        signed = [s for s in sides if not in_entry[s]]
        with self.conn:
            for side in signed:
                row = self.conn.execute(
                    "SELECT signature FROM cosignatures WHERE seq = ? AND side = ?", (seq, side)
                ).fetchone()
                if row is None:
                    self.conn.execute(
                        "INSERT INTO cosignatures VALUES (?, ?, ?, ?, ?)",
                        (seq, side, member_id, version, signature),
                    )
        return signed

    def _cosignatures(self, seq: int) -> list[dict]:
        rows = self.conn.execute(
            "SELECT side, member_id, key_version, signature FROM cosignatures WHERE seq = ? ORDER BY side",
            (seq,),
        ).fetchall()
        out = []
        for side, member, version, signature in rows:
            key = self._key_version(str(member), int(version))
            out.append({"side": str(side), "member_id": str(member), "key_version": int(version),
                        "public_key": key.hex() if key else "", "signature": blob(signature).hex()})  # fmt: skip
        return out

    def _key_version(self, member_id: str, version: int) -> bytes | None:
        if version == 0:
            row = self.conn.execute(
                "SELECT public_key FROM keys WHERE member_id = ?", (member_id,)
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT public_key FROM key_versions WHERE member_id = ? AND version = ?",
                (member_id, version),
            ).fetchone()
        return None if row is None else blob(row[0])

    def _keys_at(self, members: set[str], seq: int) -> dict[str, bytes]:
        """Each member's key valid for entry ``seq`` (the latest version registered from or before it)."""
        marks = ",".join("?" * len(members))
        out = {
            str(m): blob(k)
            for m, k in self.conn.execute(
                f"SELECT member_id, public_key FROM keys WHERE member_id IN ({marks})", sorted(members)
            )
        }
        if self._has_table("key_versions"):
            for m, k in self.conn.execute(
                f"SELECT member_id, public_key FROM key_versions WHERE member_id IN ({marks}) AND "
                "valid_from_seq <= ? ORDER BY member_id, version",
                [*sorted(members), seq],
            ):
                out[str(m)] = blob(k)
        return out

    def _has_table(self, name: str) -> bool:
        found = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return found.fetchone() is not None

    # -- proofs and export -----------------------------------------------------------------------------
    def _entry_of(self, transaction_id: str) -> tuple:
        """The stored entry of ``transaction_id``, checked to be that trade's.

        The lookup goes through SQLite's index of transaction ids; when the index gives no entry or
        another trade's (a damaged index), the table itself is scanned, so a damaged index is reported
        as such instead of proving the wrong trade or denying one that exists.

        Raises
        ------
        LookupError
            when no entry holds the trade.
        CorruptLedgerError
            when the index and the table disagree.
        """
        columns = "seq, transaction_id, record, seller_sig, buyer_sig, operator_sig, leaf_hash"

        def holds(row) -> bool:
            try:
                rec = decode_record(blob(row[2]), self.format)
            except (ValueError, TypeError):
                return False
            return row[1] == transaction_id and rec["transaction_id"] == transaction_id

        row = self.conn.execute(f"SELECT {columns} FROM entries WHERE transaction_id = ?", (transaction_id,))
        row = row.fetchone()
        if row is not None and holds(row):
            return row
        scanned = [
            r
            for r in self.conn.execute(
                f"SELECT {columns} FROM entries NOT INDEXED WHERE transaction_id = ?", (transaction_id,)
            )
            if holds(r)
        ]
        if row is None and not scanned:
            raise LookupError(f"ledger {self.path}: no trade with transaction_id {transaction_id!r}")
        found = f"entry {scanned[0][0]} holds it" if scanned else "no entry holds it"
        given = "no entry" if row is None else f"entry {row[0]}, which is not that trade"
        raise CorruptLedgerError(
            f"ledger {self.path}: the index of transaction ids gives {given} for {transaction_id!r}, "
            f"but {found}: the file is damaged (run `wattmesh ledger verify`)"
        )

    def prove(self, transaction_id: str) -> dict:
        """Inclusion proof of one trade, as a JSON-ready dict (see :func:`prove`), checked before it is
        returned: it holds (:func:`verify_proof`) under the registered operator key.

        Raises
        ------
        LookupError
            when the ledger has no such trade, or no signed tree head covers it yet.
        CorruptLedgerError
            when the file gives an entry or a proof that does not hold.
        """
        seq, _, record, seller_sig, buyer_sig, operator_sig, leaf = self._entry_of(transaction_id)
        latest = self.latest_head()
        if latest is None or latest.tree_size <= seq:
            raise LookupError(f"ledger {self.path}: trade {transaction_id!r} is not under a signed tree head")
        index = self.conn.execute(
            "SELECT MIN(head_index) FROM tree_heads WHERE tree_size > ? AND first_seq <= ?", (seq, seq)
        ).fetchone()[0]
        interval_head = self._head(index)
        first = interval_head.first_seq
        interval_leaves = b"".join(
            blob(r[0])
            for r in self.conn.execute(
                "SELECT leaf_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq",
                (first, interval_head.tree_size),
            )
        )
        interval_path = merkle.inclusion_path(
            seq - first,
            interval_head.tree_size - first,
            merkle.level_lookup(merkle.full_levels(interval_leaves)),
        )
        rec = decode_record(blob(record), self.format)
        keys = self._keys_at({OPERATOR_ID, rec["seller"], rec["buyer"]}, seq)
        signed = ", signature" if self.format >= 2 else ""
        anchors = self.conn.execute(
            f"SELECT head_index, mode, chain_id, contract, tx_hash, block, gas_used, trades{signed} "
            "FROM chain_txs WHERE head_index = ?",
            (index,),
        ).fetchall()
        proof = {
            "format": self.format,
            "transaction_id": transaction_id,
            "seq": seq,
            "record": blob(record).decode(),
            "seller_signature": blob(seller_sig).hex(),
            "buyer_signature": blob(buyer_sig).hex(),
            "operator_signature": blob(operator_sig).hex(),
            "leaf_hash": blob(leaf).hex(),
            "public_keys": {m: blob(k).hex() for m, k in keys.items()},
            "cosignatures": self._cosignatures(seq) if self._has_table("cosignatures") else [],
            "tree_head": latest.to_dict(),
            "inclusion_path": [h.hex() for h in self.inclusion_path(seq, latest.tree_size)],
            "interval_head": interval_head.to_dict(),
            "interval_path": [h.hex() for h in interval_path],
            "chain": [
                {
                    "mode": row[1], "chain_id": row[2], "contract": row[3], "tx_hash": row[4], "block": row[5],
                    "gas_used": row[6], "trades": row[7], **({"signature": blob(row[8]).hex()} if signed else {}),
                }
                for row in anchors
            ],
        }  # fmt: skip
        problems = verify_proof(proof)
        if problems:
            raise CorruptLedgerError(
                f"ledger {self.path}: the proof of {transaction_id!r} (entry {seq}) does not hold: {problems[0]}; "
                "the file is damaged (run `wattmesh ledger verify`)"
            )
        return proof

    def export(self, seed_only: bool = False) -> Iterator[str]:
        """Every trade record as one JSON line, in log order (seed fields only when ``seed_only``).

        Each record is decoded on the way (valid JSON with its format's fields); signatures are not
        checked here, that is :func:`wattmesh.ledger.audit.verify`'s job.

        Raises
        ------
        CorruptLedgerError
            at the first record that does not decode.
        """
        cursor = self.conn.execute("SELECT seq, record FROM entries ORDER BY seq")
        for seq, record in cursor:
            try:
                rec = decode_record(blob(record), self.format)
            except (ValueError, TypeError) as err:
                raise CorruptLedgerError(
                    f"ledger {self.path}: entry {seq}: {err}; the file is damaged"
                ) from err
            if seed_only:
                yield json.dumps({k: rec[k] for k in SEED_FIELDS}, separators=(",", ":"))
            else:
                yield blob(record).decode()


def prove(path: str | Path, transaction_id: str) -> dict:
    """Inclusion proof of the trade ``transaction_id`` in the ledger at ``path``.

    Returns
    -------
    dict
        The entry (record bytes, signatures, leaf hash), the public keys involved, the latest signed tree
        head with the RFC 6962 audit path to its root, the signed head of the trade's interval with the
        path to the interval root, and the chain transactions that anchored or settled that interval.
        Check it with :func:`verify_proof`.
    """
    conn = read_ledger(path)
    try:
        return LocalLedger.reader(path, conn).prove(transaction_id)
    except (sqlite3.DatabaseError, UnicodeError) as err:
        raise CorruptLedgerError(f"ledger {path}: the file is damaged ({err})") from err
    except (TypeError, KeyError, OverflowError, AttributeError, IndexError) as err:
        raise CorruptLedgerError(
            f"ledger {path}: a stored value has the wrong type ({type(err).__name__}: {err}); the file is damaged"
        ) from err
    finally:
        conn.close()


def export(path: str | Path, seed_only: bool = False) -> Iterator[str]:
    """JSON lines of every trade record in the ledger at ``path`` (see :meth:`LocalLedger.export`)."""
    conn = read_ledger(path)
    try:
        yield from LocalLedger.reader(path, conn).export(seed_only)
    except (sqlite3.DatabaseError, UnicodeError) as err:
        raise CorruptLedgerError(f"ledger {path}: the file is damaged ({err})") from err
    except (TypeError, OverflowError) as err:
        raise CorruptLedgerError(f"ledger {path}: a stored value has the wrong type ({err})") from err
    finally:
        conn.close()


def latest_signed_head(path: str | Path) -> TreeHead:
    """The latest tree head of the ledger at ``path``, checked to be signed by its registered operator.

    Raises
    ------
    LookupError
        when the ledger has no tree head yet.
    CorruptLedgerError
        when the file is no sound ledger or the head's signature does not verify.
    """
    conn = read_ledger(path)
    try:
        ledger = LocalLedger.reader(path, conn)
        latest = ledger.latest_head()
        operator = conn.execute("SELECT public_key FROM keys WHERE member_id = ?", (OPERATOR_ID,)).fetchone()
    except (sqlite3.DatabaseError, UnicodeError) as err:
        raise CorruptLedgerError(f"ledger {path}: the file is damaged ({err})") from err
    except (TypeError, ValueError, OverflowError) as err:
        raise CorruptLedgerError(f"ledger {path}: the latest tree head is damaged ({err})") from err
    finally:
        conn.close()
    if latest is None:
        raise LookupError(f"ledger {path}: no signed tree head yet")
    if operator is None or not isinstance(operator[0], bytes) or not latest.is_signed_by(operator[0]):
        raise CorruptLedgerError(
            f"ledger {path}: tree head {latest.head_index} is not signed by the registered operator key"
        )
    return latest


def read_ledger(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to the wattmesh ledger at ``path``, checked to be one.

    Raises
    ------
    LedgerInputError
        when the path is missing, a directory or unreadable.
    CorruptLedgerError
        when the file is empty, not SQLite, another SQLite database, or of no known ledger format.
    """
    conn = connect(path, readonly=True)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in LEDGER_TABLES if t not in tables]
        if missing:
            raise CorruptLedgerError(
                f"ledger {path}: not a wattmesh ledger: table(s) {', '.join(missing)} missing"
            )
        format_version(conn, path)
    except (sqlite3.DatabaseError, UnicodeError) as err:
        conn.close()
        raise CorruptLedgerError(f"ledger {path}: not an SQLite database, or a damaged one ({err})") from err
    except CorruptLedgerError:
        conn.close()
        raise
    return conn


def verify_proof(proof: dict, operator_public: bytes | None = None) -> list[str]:
    """Every reason ``proof`` (from :func:`prove`) fails; empty when it holds.

    Checks the party and operator signatures, the leaf hash, the audit paths to both signed tree heads
    and the heads' signatures, independently of the ledger file. ``operator_public`` pins the operator's
    key; without it the key inside the proof is used.
    """
    problems = []
    version = int(proof.get("format", 1))  # proofs of format 1 ledgers had no format
    keys = {m: bytes.fromhex(k) for m, k in proof["public_keys"].items()}
    operator_public = operator_public or keys.get(OPERATOR_ID, b"")
    if keys.get(OPERATOR_ID, operator_public) != operator_public:
        problems.append("the proof's operator key differs from the pinned one")
    record = proof["record"].encode()
    rec = decode_record(record, version)
    if rec["transaction_id"] != proof["transaction_id"]:
        problems.append(f"record is for {rec['transaction_id']!r}, not {proof['transaction_id']!r}")
    sigs = {side: bytes.fromhex(proof[f"{side}_signature"]) for side in ("seller", "buyer", "operator")}
    for side in ("seller", "buyer"):
        if sigs[side]:
            key = public_key_from_bytes(keys.get(rec[side], b""))
            if failed_signatures([key], [sigs[side]], [trade_message(record)]):
                problems.append(f"{side} signature does not verify under member {rec[side]!r}'s key")
    for co in proof.get("cosignatures", []):
        side = co["side"]
        if side not in ("seller", "buyer") or rec[side] != co["member_id"]:
            problems.append(f"co-signature of {co['member_id']!r} as {side}: not that party of the trade")
            continue
        key = public_key_from_bytes(bytes.fromhex(co["public_key"]))
        if failed_signatures([key], [bytes.fromhex(co["signature"])], [trade_message(record)]):
            problems.append(
                f"{side} co-signature does not verify under member {co['member_id']!r}'s key version "
                f"{co['key_version']}"
            )
    message = entry_message(proof["seq"], record, sigs["seller"], sigs["buyer"])
    if failed_signatures([public_key_from_bytes(operator_public)], [sigs["operator"]], [message]):
        problems.append("operator signature over the entry does not verify")
    leaf = merkle.leaf_hash(message + sigs["operator"])
    if leaf.hex() != proof["leaf_hash"]:
        problems.append("leaf hash differs from the hash of the entry")
    for head_key, path_key, index in (
        ("tree_head", "inclusion_path", proof["seq"]),
        ("interval_head", "interval_path", proof["seq"] - proof["interval_head"]["first_seq"]),
    ):
        head = TreeHead.from_dict(proof[head_key])
        if not head.is_signed_by(operator_public):
            problems.append(f"{head_key} {head.head_index}: operator signature does not verify")
        if head_key == "tree_head":
            size, target = head.tree_size, head.root_hash
        else:
            size, target = head.tree_size - head.first_seq, head.interval_root
        path = [bytes.fromhex(h) for h in proof[path_key]]
        if not merkle.verify_inclusion(leaf, index, size, path, target):
            problems.append(f"{path_key} does not lead from the leaf to the {head_key}'s root")
    if version >= 2:  # format 1 did not sign its chain transactions
        interval_index = proof["interval_head"]["head_index"]
        operator_key = public_key_from_bytes(operator_public)
        for k, tx in enumerate(proof["chain"]):
            row = (interval_index, tx["mode"], tx["chain_id"], tx["contract"], tx["tx_hash"], tx["block"],
                   tx["gas_used"], tx["trades"])  # fmt: skip
            signature = bytes.fromhex(tx.get("signature", ""))
            if failed_signatures([operator_key], [signature], [chain_tx_message(row)]):
                problems.append(
                    f"chain transaction {k} ({tx['tx_hash']}): the operator's signature does not verify"
                )
    return problems


def public_of(keyring: Keyring) -> bytes:
    """The operator's raw public key (to pin in verifiers)."""
    return public_bytes(keyring.operator_key.public_key())


def append_intervals(ledger, trades: pd.DataFrame, starts: object, step: object = "15min") -> list[TreeHead]:
    """Append a whole run's trades interval by interval: one signed tree head per start, empty ones too.

    Parameters
    ----------
    ledger : LocalLedger or EvmLedger
        Anything with ``append_interval(trades, interval_end, interval_start)``.
    trades : DataFrame
        Trade records of the run with an ``interval`` column (strings, categories or times, UTC).
    starts : DatetimeIndex or sequence of times
        Start of every market interval of the run, in order (UTC).
    step : Timedelta or str
        Length of a market interval.

    Raises
    ------
    LedgerError
        if a trade's interval is not one of ``starts``.
    """
    start_times = pd.DatetimeIndex(pd.to_datetime(pd.Series(starts), utc=True))
    starts_iso = iso_utc(pd.Series(start_times))
    ends_iso = iso_utc(pd.Series(start_times + pd.Timedelta(step)))
    position = {s: k for k, s in enumerate(starts_iso)}
    intervals = iso_utc(trades["interval"]) if len(trades) else []
    codes = np.array([position.get(s, -1) for s in intervals], dtype=np.int64)
    if (codes < 0).any():
        bad = intervals[int(np.argmax(codes < 0))]
        raise LedgerError(f"trades: interval {bad} is not one of the run's {len(starts_iso)} interval starts")
    order = np.argsort(codes, kind="stable")
    ordered = trades.iloc[order]
    bounds = np.searchsorted(codes[order], np.arange(len(starts_iso) + 1))
    if isinstance(ledger, LocalLedger) and len(starts_iso):  # one batch: the same bytes, one transaction
        return ledger.commit_intervals(ledger.prepare_intervals(ordered, bounds, ends_iso, starts_iso))
    return [
        ledger.append_interval(ordered.iloc[bounds[k] : bounds[k + 1]], ends_iso[k], starts_iso[k])
        for k in range(len(starts_iso))
    ]
