-- The live exchange's journal: THE one DDL file, run as is on SQLite and on PostgreSQL.
--
-- The journal is the source of truth. Every accepted request (an order, a cancel, an amend, a reading, an
-- operator's command) and every event of the exchange itself (a clearing, a settlement, the market clock)
-- is one row, written by the single writer in id order (1, 2, 3, ... without gaps). The exchange's state
-- (members, order book, trades, readings, statements) is what replaying the rows in id order gives; the
-- live state and the rebuilt one have the same state hash.
--
-- A request's signer and sequence number are unique: the same (signer, seq) with the same body hash is a
-- retry and gets the stored response back; with another body it is refused (409). `signers.last_seq` is
-- raised in the same transaction as the journal insert (UPDATE ... WHERE last_seq < :seq), so the
-- sequence rule holds even if two writers ever raced.
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    id BIGINT PRIMARY KEY,       -- 1, 2, 3, ...: the order of the events
    kind TEXT NOT NULL,          -- member, suspend, reinstate, rotate, order, cancel, amend, reading, clear, settle, clock
    signer TEXT,                 -- the member or "operator" who signed the request; NULL for the exchange's own events
    seq BIGINT,                  -- the request's sequence number; NULL for the exchange's own events
    body_hash TEXT,              -- SHA-256 (hex) of the request body; NULL for the exchange's own events
    payload TEXT NOT NULL,       -- the event as canonical JSON (sorted keys, no spaces)
    response TEXT,               -- the acknowledgement sent (JSON), returned again on a retry
    recorded_at TEXT NOT NULL,   -- wall-clock time of the commit, UTC ISO 8601
    UNIQUE (signer, seq)
);
CREATE TABLE IF NOT EXISTS signers (
    signer TEXT PRIMARY KEY,     -- a member id or "operator"
    last_seq BIGINT NOT NULL     -- the highest sequence number accepted from it
);
