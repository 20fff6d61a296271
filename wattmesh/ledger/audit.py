"""The full audit of a local ledger: every signature re-verified, every hash and root rebuilt.

The audit trusts nothing in the file except, optionally, a pinned operator key and an older signed tree
head kept elsewhere (by a member, a regulator, or on chain). Without that outside anchor an operator who
rewrites the whole file and re-signs it cannot be caught; with it, a consistency proof shows whether the
current log still extends the old head.

A ledger written by one finite run (the simulator) carries a signed closing mark when the run finished
(``meta`` ``run = complete``, ``run_end``); without it the audit still checks what is there and reports
the ledger INCOMPLETE (``AuditReport.incomplete``), so the prefix a killed run left never passes for a
whole run. Ledgers that grow for ever (the live exchange's) carry no mark; the report gives their latest
signed head.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from wattmesh.ledger import merkle
from wattmesh.ledger.keys import failed_signatures, public_key_from_bytes
from wattmesh.ledger.local import (
    CHAIN_META,
    EXTENSION_TABLES,
    FORMAT_RECORDS,
    FORMATS,
    KEY_DOMAIN,
    LEDGER_TABLES,
    META_KEYS,
    OPERATOR_ID,
    PARTY_POLICIES,
    RUN_STATES,
    TRADE_DOMAIN,
    CorruptLedgerError,
    TreeHead,
    chain_tx_message,
    connect,
    entry_message,
    expected_schema,
    key_version_message,
    meta_message,
    schema_objects,
)
from wattmesh.ledger.records import decode_record

CHUNK = 20_000  # entries verified per batch of threads


@dataclass(frozen=True)
class Problem:
    """One finding: what (``entry``, ``tree_head``, ``key``, ``node``, ``log``), which one, and why."""

    kind: str
    where: object
    reason: str

    def __str__(self) -> str:
        text = f"{self.kind} {self.where}: {self.reason}"
        return text.encode("utf-8", "backslashreplace").decode()  # bytes of a damaged name, shown escaped


@dataclass
class AuditReport:
    """The result of :func:`verify`.

    Attributes
    ----------
    entries, tree_heads : int
        How many were checked [count].
    signatures : int
        Ed25519 signatures verified [count].
    problems : list of Problem
        Every finding: keys, entries in log order, tree heads, the node cache, the trusted head.
    seconds : float
        Wall time of the audit [s].
    format : int or None
        The ledger's format version (1: 9-field trade records, 2: the 12 fields of
        :data:`wattmesh.tables.TRADES`), None when the file records no known format.
    corrupt : bool
        The file itself is damaged or not a ledger (empty, not SQLite, SQLite's integrity check fails,
        a stored value of the wrong type), beyond what the signatures and hashes tell.
    notes : list of str
        What holds but a reader should know, e.g. entries that carry no party signature in a ledger
        written with party signatures off.
    incomplete : bool
        The ledger of a finite run (``meta`` ``run``) that has no closing mark: the run that wrote it did
        not finish (killed, crashed), so it may hold only a prefix of the run's trades.
    latest_head : TreeHead or None
        The last tree head read (its signature is checked like every head's); None when there is none.
    awaiting : list of tuple
        (seq, transaction_id, side, member_id) of every entry side that carries no signature of its
        party yet, neither in the entry nor as a co-signature (policy ``cosign``: awaiting the member,
        not a failure); every co-signature present is verified.
    cosigned : int
        Entry sides signed by their member's co-signature (after the entry was appended) [count].
    """

    path: Path
    entries: int = 0
    tree_heads: int = 0
    signatures: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    format: int | None = None
    corrupt: bool = False
    notes: list[str] = field(default_factory=list)
    incomplete: bool = False
    latest_head: TreeHead | None = None
    awaiting: list[tuple] = field(default_factory=list)
    cosigned: int = 0

    @property
    def ok(self) -> bool:
        """Everything in the file verifies (an incomplete run's ledger too; see :attr:`complete`)."""
        return not self.problems

    @property
    def complete(self) -> bool:
        """Everything verifies and, for a run's ledger, the run finished."""
        return self.ok and not self.incomplete

    def head_text(self) -> str:
        """The latest signed head, e.g. ``latest signed head 95: 3,402 entries, interval ending ...``."""
        head = self.latest_head
        if head is None:
            return "no signed tree head yet"
        return (
            f"latest signed head {head.head_index}: {head.tree_size:,} entries, interval ending "
            f"{head.timestamp}, root {head.root_hash.hex()[:16]}..."
        )

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def format_text(self) -> str:
        """Which format the ledger is, e.g. ``format 2 (12-field trade records)``."""
        if self.format is None:
            return "format unknown"
        return f"format {self.format} ({FORMAT_RECORDS[self.format]})"

    def summary(self) -> str:
        if self.ok and self.incomplete:
            return (
                f"INCOMPLETE: {self.path}: the run that wrote this ledger did not finish (no signed closing "
                f"mark): what is there verifies ({self.entries} entries, {self.tree_heads} tree heads, "
                f"{self.signatures} signatures in {self.seconds:.2f} s), up to its {self.head_text()}; "
                f"{self.format_text()}" + "".join(f"; {note}" for note in self.notes)
            )
        if self.ok:
            return (
                f"OK: {self.entries} entries, {self.tree_heads} tree heads, {self.signatures} signatures "
                f"verified in {self.seconds:.2f} s; {self.format_text()}"
                + "".join(f"; {note}" for note in self.notes)
            )
        more = f" ({len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        if self.corrupt:
            return f"CORRUPT: {self.path}: {self.first_problem}{more}; {self.format_text()}"
        return f"FAILED: {self.first_problem}{more}; {self.format_text()}"


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _blob(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")


def verify(
    path: str | Path,
    trusted_head: TreeHead | None = None,
    operator_public: bytes | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Audit the ledger at ``path``: OK, or every bad entry, tree head or key with the reason.

    Parameters
    ----------
    path : path
        The ledger file.
    trusted_head : TreeHead, optional
        A signed tree head saved earlier outside the file; the log must extend it (RFC 6962
        consistency proof), else it was truncated or its history rewritten.
    operator_public : bytes, optional
        The operator's raw public key to pin; by default the key registered in the file is used.
    workers : int, optional
        Threads for signature checks (default: up to 2).
    progress : callable, optional
        Called as ``progress(entries_verified, entries)`` [count] after each batch of entries (every
        :data:`CHUNK`), for a progress bar.

    Returns
    -------
    AuditReport
        A damaged file is a report too (``corrupt`` set, the damage as its first problem), not an error.

    Raises
    ------
    LedgerInputError
        when ``path`` is missing, a directory or unreadable.
    """
    started = time.perf_counter()
    report = AuditReport(Path(path))

    def damaged(reason: str) -> None:
        report.corrupt = True
        report.problems.append(Problem("log", "file", reason))

    try:
        conn = connect(path, readonly=True)
    except CorruptLedgerError as err:
        damaged(str(err).removeprefix(f"ledger {path}: "))
        return report
    with closing(conn):
        conn.text_factory = bytes
        try:
            # one read transaction: a live exchange appending meanwhile is not seen half-way (in WAL mode
            # every statement would otherwise read the newest commit, entries and nodes of different sizes)
            conn.execute("BEGIN")
            damage = [_text(row[0]) for row in conn.execute("PRAGMA integrity_check(20)")]
        except (sqlite3.DatabaseError, UnicodeError) as err:  # SQLite's message may quote damaged bytes
            damaged(f"not an SQLite database, or a damaged one ({err})")
            report.seconds = time.perf_counter() - started
            return report
        if damage != ["ok"]:
            damaged(f"SQLite's integrity check fails: {'; '.join(damage[:3])}")
        try:
            _audit(conn, report, trusted_head, operator_public, workers, progress)
        except sqlite3.DatabaseError as err:
            damaged(f"the file is damaged ({type(err).__name__}: {err})")
        except (
            TypeError,
            ValueError,
            KeyError,
            UnicodeError,
            OverflowError,
            AttributeError,
            IndexError,
        ) as err:
            damaged(f"a stored value has the wrong type or form ({type(err).__name__}: {err})")
    report.seconds = time.perf_counter() - started
    return report


def _audit(conn, report: AuditReport, trusted_head, operator_public, workers, progress=None) -> None:
    add = report.problems.append
    try:
        tables = {
            _text(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as err:
        report.corrupt = True
        add(Problem("log", "file", f"not an SQLite database, or a damaged one ({err})"))
        return
    missing = [t for t in LEDGER_TABLES if t not in tables]
    if missing:
        report.corrupt = True
        add(Problem("log", "file", f"not a wattmesh ledger: table(s) {', '.join(missing)} missing"))
        return
    fmt = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    report.format = FORMATS.get(_text(fmt[0])) if fmt is not None else None
    if report.format is None:
        expected = " or ".join(map(repr, FORMATS))
        add(Problem("log", "meta", f"format {fmt and _text(fmt[0])!r} is not {expected}"))
    version = report.format or max(FORMATS.values())
    found = schema_objects(conn)
    expected = expected_schema(version)
    if version == 2 and found == expected_schema(2, extensions=False):
        expected = found  # a format 2 ledger made before key versions and co-signatures
    extended = all(t in tables for t in EXTENSION_TABLES)
    if found != expected:  # a renamed column, an added index or trigger: readers would misread the file
        differ = sorted(
            {f"{row[1]} {row[3]}" for row in found ^ expected}, key=str
        )  # a changed object is in both sets
        report.corrupt = True
        add(Problem("log", "schema", f"differs from format {version}'s: {', '.join(differ[:5])}"))

    # keys: the operator's registration is self-signed, the members' are signed by the operator
    key_rows = [(m, _blob(k), _blob(s)) for m, k, s in conn.execute("SELECT * FROM keys")]
    key_messages = [KEY_DOMAIN + _blob(m) + b"\n" + k for m, k, _ in key_rows]  # the stored bytes, as signed
    key_rows = [(_text(m), k, s) for m, k, s in key_rows]
    stored_operator = next((k for m, k, _ in key_rows if m == OPERATOR_ID), None)
    if stored_operator is None:
        add(Problem("key", OPERATOR_ID, "no operator key is registered"))
        return
    if operator_public is not None and stored_operator != operator_public:
        add(Problem("key", OPERATOR_ID, "the registered operator key differs from the pinned one"))
    operator_raw = operator_public or stored_operator
    operator_key = public_key_from_bytes(operator_raw)
    bad = failed_signatures(
        [operator_key] * len(key_rows),
        [s for _, _, s in key_rows],
        key_messages,
    )
    report.signatures += len(key_rows)
    for i in bad:
        add(
            Problem(
                "key", key_rows[i][0], "the operator's signature over this key registration does not verify"
            )
        )
    member_keys = {m: public_key_from_bytes(k) for i, (m, k, _) in enumerate(key_rows) if i not in set(bad)}
    versions = _check_key_versions(conn, report, operator_key, member_keys) if extended else {}
    cosignatures = _cosignature_rows(conn) if extended else {}

    def key_at(member: str, seq: int):
        """The member's key valid for entry ``seq``: the latest version valid from it or earlier."""
        key = member_keys.get(member)
        for valid_from, version_key in versions.get(member, {}).values():
            if valid_from <= seq:
                key = version_key
        return key

    policy, meta = _check_meta(conn, report, version, operator_key)
    required = policy == "required"
    unsigned = 0

    # entries, streamed in chunks so a log of millions of entries stays within ~100 MB
    total = conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] if progress is not None else 0
    if progress is not None:
        progress(0, total)
    cursor = conn.execute(
        "SELECT seq, transaction_id, interval, record, seller_sig, buyer_sig, operator_sig, leaf_hash "
        "FROM entries ORDER BY seq"
    )
    entry_problems: list[tuple[int, Problem]] = []
    leaves: list[bytes] = []
    sha = hashlib.sha256
    seen: dict[str, int] = {}
    position = 0
    while rows := cursor.fetchmany(CHUNK):
        keys, sigs, messages, owners = [], [], [], []
        for seq, tid, interval, record, seller_sig, buyer_sig, operator_sig, stored_leaf in rows:
            record, seller_sig, buyer_sig = _blob(record), _blob(seller_sig), _blob(buyer_sig)
            operator_sig, tid, interval = _blob(operator_sig), _text(tid), _text(interval)

            def problem(reason: str, where=(position, seq, tid)) -> None:
                entry_problems.append((where[0], Problem("entry", f"{where[1]} ({where[2]})", reason)))

            if seq != position:
                missing = f"seq {position}" if seq == position + 1 else f"seqs {position}..{seq - 1}"
                problem(f"seq {seq} is not the expected {position}: {missing} missing (a gap in the log)")
            message = entry_message(seq, record, seller_sig, buyer_sig)
            keys.append(operator_key)
            sigs.append(operator_sig)
            messages.append(message)
            owners.append((position, seq, tid, "operator", None))
            leaf = sha(b"\x00" + message + operator_sig).digest()
            leaves.append(leaf)
            if _blob(stored_leaf) != leaf:
                problem("the stored leaf hash differs from the hash of the entry")
            try:
                rec = decode_record(record, version)
            except ValueError as err:
                problem(f"record: {err}")
                position += 1
                continue
            if rec["transaction_id"] != tid:
                problem(f"transaction_id column {tid!r} differs from the record's {rec['transaction_id']!r}")
            if rec["interval"] != interval:
                problem(f"interval column {interval!r} differs from the record's {rec['interval']!r}")
            if rec["transaction_id"] in seen:
                problem(
                    f"transaction_id {rec['transaction_id']!r} replays entry {seen[rec['transaction_id']]}"
                )
            else:
                seen[rec["transaction_id"]] = seq
            signed_sides = 0
            for side, sig in (("seller", seller_sig), ("buyer", buyer_sig)):
                co = cosignatures.pop((seq, side), None)
                if sig:
                    keys.append(key_at(rec[side], seq) if versions else member_keys.get(rec[side]))
                    sigs.append(sig)
                    messages.append(TRADE_DOMAIN + record)
                    owners.append((position, seq, tid, side, rec[side]))
                    signed_sides += 1
                    if co is not None:
                        problem(f"{side} co-signature stored beside the entry's own {side} signature")
                elif co is not None:
                    member, key_version, co_sig = co
                    if member != rec[side]:
                        problem(f"{side} co-signature is by {member!r}, the trade's {side} is {rec[side]!r}")
                        continue
                    keys.append(versions.get(member, {}).get(key_version, (0, None))[1] if key_version else
                                member_keys.get(member))  # fmt: skip
                    sigs.append(co_sig)
                    messages.append(TRADE_DOMAIN + record)
                    owners.append((position, seq, tid, f"{side} co-", f"{member}|{key_version}"))
                    report.cosigned += 1
                    signed_sides += 1
                elif policy == "cosign":
                    report.awaiting.append((seq, tid, side, rec[side]))
                elif required:
                    problem(f"{side} signature missing: the ledger requires party signatures")
            unsigned += signed_sides < 2
            position += 1
        for i in failed_signatures(keys, sigs, messages, workers):
            at, seq, tid, side, member = owners[i]
            if side == "operator":
                why = "operator signature over the entry does not verify"
            elif side.endswith(" co-"):
                who, used = member.rsplit("|", 1)
                why = (
                    f"{side}signature does not verify under member {who!r}'s key version {used}"
                    if keys[i] is not None
                    else f"{side}signature names key version {used} of member {who!r}, which is not registered"
                )
            elif member in member_keys:
                why = f"{side} signature does not verify under the key registered for member {member!r}"
            else:
                why = f"{side} signature present but no valid key is registered for member {member!r}"
            entry_problems.append((at, Problem("entry", f"{seq} ({tid})", why)))
        report.signatures += len(sigs)
        if progress is not None:
            progress(position, max(total, position))
    report.entries = n = position
    for (seq, side), (member, _, _) in sorted(cosignatures.items()):
        add(Problem("entry", seq, f"{side} co-signature of {member!r} for an entry the log does not hold"))
    if report.awaiting:
        waiting: dict[str, int] = {}
        for _, _, _, member in report.awaiting:
            waiting[member] = waiting.get(member, 0) + 1
        listed = ", ".join(f"{m} ({k})" for m, k in sorted(waiting.items())[:10])
        report.notes.append(
            f"{len(report.awaiting)} entry signatures await their member's co-signature: {listed}"
            + (f" and {len(waiting) - 10} more members" if len(waiting) > 10 else "")
        )
    if report.cosigned:
        report.notes.append(f"{report.cosigned} party signatures are members' co-signatures")
    if unsigned and policy == "cosign":
        pass  # listed as awaiting above
    elif unsigned and not required:
        report.notes.append(
            f"{unsigned} of {n} entries carry no seller or buyer signature: only the operator signed them "
            f"(party signatures {policy})"
        )
    entry_problems.sort(key=lambda item: item[0])
    report.problems.extend(p for _, p in entry_problems)

    # the tree, rebuilt from the entries; the node cache must agree with it
    levels = merkle.full_levels(b"".join(leaves))
    node = merkle.level_lookup(levels)

    # tree heads
    head_rows = conn.execute(
        "SELECT head_index, tree_size, first_seq, timestamp, interval, root_hash, interval_root, signature "
        "FROM tree_heads ORDER BY head_index"
    ).fetchall()
    report.tree_heads = len(head_rows)
    previous_size, previous_time = 0, ""
    head = None
    for position, row in enumerate(head_rows):
        if not all(type(v) is int for v in row[:3]):
            add(
                Problem("tree_head", row[0], f"head_index, tree_size, first_seq {row[:3]!r} are not integers")
            )
            continue
        head = TreeHead(
            row[0], row[1], row[2], _text(row[3]), _text(row[4]), _blob(row[5]), _blob(row[6]), _blob(row[7])
        )
        where = head.head_index

        def problem(reason: str, where=where) -> None:
            add(Problem("tree_head", where, reason))

        report.signatures += 1
        if not head.is_signed_by(operator_raw):
            problem("the operator's signature over the tree head does not verify")
        if head.head_index != position:
            problem(f"head_index {head.head_index} is not the expected {position} (a head is missing)")
        if head.first_seq != previous_size:
            problem(f"first_seq {head.first_seq} is not the previous head's tree_size {previous_size}")
        if head.timestamp <= previous_time:
            problem(f"timestamp {head.timestamp} is not after the previous head's {previous_time}")
        if head.tree_size > n:
            problem(f"covers {head.tree_size} entries but the log holds {n}: the log was truncated")
        elif head.tree_size < head.first_seq:
            problem(f"tree_size {head.tree_size} is below first_seq {head.first_seq}")
        else:
            if merkle.root_from_nodes(head.tree_size, node) != head.root_hash:
                problem(f"root_hash differs from the root rebuilt from the first {head.tree_size} entries")
            interval_root = merkle.root(b"".join(leaves[head.first_seq : head.tree_size]))
            if interval_root != head.interval_root:
                problem(
                    f"interval_root differs from the root of entries {head.first_seq}..{head.tree_size - 1}"
                )
        previous_size, previous_time = head.tree_size, head.timestamp
    report.latest_head = head
    if previous_size < n:
        add(Problem("log", "end", f"entries {previous_size}..{n - 1} are not covered by a signed tree head"))
    _check_run(meta, report, n, add)

    _check_node_cache(conn, levels, add)
    _check_chain_txs(conn, report, version, operator_key)
    if found == expected:  # after the findings that name the entry, head or key
        _check_storage_classes(conn, report, version, extended)
    if trusted_head is not None:
        _check_trusted(trusted_head, operator_raw, n, node, add)


#: the SQLite storage class of every column the ledger writes (both formats; chain_txs.signature in 2)
STORAGE_CLASSES = {
    "meta": {"key": "text", "value": "text"},
    "keys": {"member_id": "text", "public_key": "blob", "signature": "blob"},
    "entries": {"seq": "integer", "transaction_id": "text", "interval": "text", "record": "blob",
                "seller_sig": "blob", "buyer_sig": "blob", "operator_sig": "blob", "leaf_hash": "blob"},
    "tree_heads": {"head_index": "integer", "tree_size": "integer", "first_seq": "integer", "timestamp": "text",
                   "interval": "text", "root_hash": "blob", "interval_root": "blob", "signature": "blob"},
    "nodes": {"level": "integer", "idx": "integer", "hash": "blob"},
    "chain_txs": {"head_index": "integer", "mode": "text", "chain_id": "integer", "contract": "text",
                  "tx_hash": "text", "block": "integer", "gas_used": "integer", "trades": "integer",
                  "signature": "blob"},
    "key_versions": {"member_id": "text", "version": "integer", "public_key": "blob", "valid_from_seq": "integer",
                     "signature": "blob"},
    "cosignatures": {"seq": "integer", "side": "text", "member_id": "text", "key_version": "integer",
                     "signature": "blob"},
}  # fmt: skip


def _check_storage_classes(conn, report: AuditReport, version: int, extended: bool = True) -> None:
    """Every stored value in the storage class the ledger writes it with (one scan per table).

    The audit reads TEXT and BLOB alike as bytes, so a damaged record header that turns one into the
    other would pass the signatures while other readers see different values.
    """
    for table, columns in STORAGE_CLASSES.items():
        if table in EXTENSION_TABLES and not extended:
            continue
        if version < 2 and table == "chain_txs":
            columns = {c: k for c, k in columns.items() if c != "signature"}
        counts = conn.execute(
            f"SELECT {', '.join(f'TOTAL(typeof({c}) != {k!r})' for c, k in columns.items())} FROM {table}"
        ).fetchone()
        for (column, kind), count in zip(columns.items(), counts, strict=True):
            if count:
                report.corrupt = True
                report.problems.append(
                    Problem(
                        "log",
                        f"{table}.{column}",
                        f"{int(count)} value(s) stored as another type than {kind}",
                    )
                )


def _check_key_versions(conn, report: AuditReport, operator_key, member_keys: dict) -> dict:
    """Check every rotated key's registration (signed by the operator, versions 1, 2, ... in order, each
    valid from an entry no earlier than the one before); member -> {version: (valid_from_seq, key)}."""
    rows = conn.execute(
        "SELECT member_id, version, public_key, valid_from_seq, signature FROM key_versions "
        "ORDER BY member_id, version"
    ).fetchall()
    rows = [(_text(m), v, _blob(k), f, _blob(s)) for m, v, k, f, s in rows]
    bad = set(
        failed_signatures(
            [operator_key] * len(rows),
            [s for *_, s in rows],
            [key_version_message(m, v, f, k) for m, v, k, f, _ in rows],
        )
    )
    report.signatures += len(rows)
    versions: dict[str, dict] = {}
    for i, (member, version, key, valid_from, _) in enumerate(rows):
        where = f"{member} version {version}"
        if i in bad:
            report.problems.append(
                Problem("key", where, "the operator's signature over this key rotation does not verify")
            )
            continue
        if member not in member_keys:
            report.problems.append(Problem("key", where, "a rotation of a member with no first key"))
            continue
        earlier = versions.get(member, {})
        if version != len(earlier) + 1 or any(f > valid_from for f, _ in earlier.values()):
            report.problems.append(
                Problem("key", where, f"version {version} valid from entry {valid_from} is out of order")
            )
        versions.setdefault(member, {})[version] = (valid_from, public_key_from_bytes(key))
    return versions


def _cosignature_rows(conn) -> dict:
    """(seq, side) -> (member_id, key_version, signature) of every stored co-signature."""
    return {
        (seq, _text(side)): (_text(member), version, _blob(sig))
        for seq, side, member, version, sig in conn.execute(
            "SELECT seq, side, member_id, key_version, signature FROM cosignatures"
        )
    }


def _check_run(meta: dict[str, str], report: AuditReport, n: int, add) -> None:
    """A run ledger's state: ``open`` is incomplete; ``complete`` must end at its closing mark."""
    state, end = meta.get("run"), meta.get("run_end")
    if state is None:
        if end is not None:
            add(Problem("log", "meta", "run_end is set but run is not: not a mark a wattmesh ledger writes"))
        return
    if state not in RUN_STATES:
        add(Problem("log", "meta", f"run {state!r} is not one of {', '.join(RUN_STATES)}"))
        return
    if state == "open":
        if end is not None:
            add(Problem("log", "meta", "run is 'open' but a closing mark run_end is set"))
        report.incomplete = True
        return
    try:
        mark = json.loads(end or "")
        closed = (int(mark["head_index"]), int(mark["tree_size"]), str(mark["root_hash"]))
    except (ValueError, TypeError, KeyError) as err:
        add(Problem("log", "meta", f"run_end {end!r} is not a closing mark ({type(err).__name__}: {err})"))
        return
    head = report.latest_head
    found = (-1, 0, merkle.root(b"").hex()) if head is None else (head.head_index, n, head.root_hash.hex())
    if head is not None and head.tree_size != n:
        return  # already reported: entries beyond the last head, or a head beyond the log
    if found != closed:
        add(
            Problem(
                "log",
                "end",
                f"the run closed at tree head {closed[0]} ({closed[1]} entries, root {closed[2][:16]}...) but "
                f"the log ends at tree head {found[0]} ({found[1]} entries, root {found[2][:16]}...): "
                "truncated, or changed after the run finished",
            )
        )


def _check_meta(conn, report: AuditReport, version: int, operator_key) -> tuple[str, dict[str, str]]:
    """Check the ``meta`` rows (known keys, the chain's all or none, format 2's signature); the party
    signature policy and the rows."""
    add = report.problems.append
    meta = {_text(k): _text(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    for key in meta:
        if key not in META_KEYS:
            add(Problem("log", "meta", f"key {key!r} is not one a wattmesh ledger writes"))
    chain = [k for k in CHAIN_META if k in meta]
    if chain and len(chain) < len(CHAIN_META):
        absent = ", ".join(k for k in CHAIN_META if k not in meta)
        add(Problem("log", "meta", f"the chain record is incomplete: {absent} missing"))
    elif chain and not meta["chain_id"].isdigit():
        add(Problem("log", "meta", f"chain_id {meta['chain_id']!r} is not a number"))
    if version < 2:
        return "optional", meta  # format 1 had no policy, and did not sign meta
    try:
        signature = bytes.fromhex(meta.get("meta_signature", ""))
    except ValueError:
        signature = b""
    report.signatures += 1
    if failed_signatures([operator_key], [signature], [meta_message(meta)]):
        add(
            Problem(
                "log", "meta", "the operator's signature over the meta rows does not verify (a row was added, "
                "removed or changed)"
            )
        )  # fmt: skip
    policy = meta.get("party_signatures")
    if policy not in PARTY_POLICIES:
        add(Problem("log", "meta", f"party_signatures {policy!r} is not one of {', '.join(PARTY_POLICIES)}"))
        return "required", meta
    return policy, meta


def _check_chain_txs(conn, report: AuditReport, version: int, operator_key) -> None:
    """Every chain transaction row signed by the operator (format 2) and naming an existing tree head."""
    tables = {_text(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "chain_txs" not in tables:
        return
    if version < 2:
        count = conn.execute("SELECT COUNT(*) FROM chain_txs").fetchone()[0]
        if count:
            report.notes.append(
                f"{count} chain transactions are not signed (format 1); check them with --chain"
            )
        return
    rows = conn.execute(
        "SELECT rowid, head_index, mode, chain_id, contract, tx_hash, block, gas_used, trades, signature "
        "FROM chain_txs ORDER BY rowid"
    ).fetchall()
    values = [(r[1], _text(r[2]), r[3], _text(r[4]), _text(r[5]), r[6], r[7], r[8]) for r in rows]
    bad = set(
        failed_signatures(
            [operator_key] * len(rows), [_blob(r[9]) for r in rows], [chain_tx_message(v) for v in values]
        )
    )
    report.signatures += len(rows)
    for k, (row, value) in enumerate(zip(rows, values, strict=True)):
        where = f"{row[0]} ({value[4]})"
        if k in bad:
            report.problems.append(
                Problem("chain_tx", where, "the operator's signature over it does not verify")
            )
        elif not (type(value[0]) is int and 0 <= value[0] < report.tree_heads):
            report.problems.append(Problem("chain_tx", where, f"head_index {value[0]!r} is not a tree head"))


def _check_node_cache(conn, levels: list[bytes], add) -> None:
    cursor = conn.execute("SELECT level, idx, hash FROM nodes ORDER BY level, idx")
    by_level: dict[int, list] = {}
    for level, index, value in cursor:
        if type(level) is not int or type(index) is not int:
            add(Problem("node", f"level {level!r} index {index!r}", "level and index are not integers"))
            continue
        by_level.setdefault(level, []).append((index, _blob(value)))
    for level in sorted(set(range(1, len(levels))) | set(by_level)):
        expected = levels[level] if 0 < level < len(levels) else b""
        stored = by_level.get(level, [])
        indices = [i for i, _ in stored]
        if indices != list(range(len(expected) // 32)):
            add(
                Problem(
                    "node",
                    f"level {level}",
                    f"cache holds {len(stored)} nodes, expected {len(expected) // 32}",
                )
            )
            continue
        joined = b"".join(v for _, v in stored)
        if joined != expected:
            first = next(i for i in range(len(stored)) if stored[i][1] != expected[32 * i : 32 * i + 32])
            add(Problem("node", f"level {level} index {first}", "cached hash differs from the rebuilt tree"))


def _check_trusted(trusted: TreeHead, operator_raw: bytes, n: int, node, add) -> None:
    if not trusted.is_signed_by(operator_raw):
        add(
            Problem(
                "trusted_head", trusted.head_index, "its signature does not verify under the operator key"
            )
        )
        return
    if trusted.tree_size > n:
        add(
            Problem(
                "trusted_head",
                trusted.head_index,
                f"the log holds {n} entries, fewer than the {trusted.tree_size} of the trusted tree head: "
                "the log was truncated",
            )
        )
        return
    if trusted.tree_size == 0:
        return
    proof = merkle.consistency_path(trusted.tree_size, n, node)
    if not merkle.verify_consistency(
        trusted.tree_size, n, trusted.root_hash, merkle.root_from_nodes(n, node), proof
    ):
        add(
            Problem(
                "trusted_head",
                trusted.head_index,
                f"consistency proof from size {trusted.tree_size} to {n} fails against the trusted tree head: "
                "the history before it was rewritten",
            )
        )
