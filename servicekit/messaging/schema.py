"""DDL of the messaging tables every service database holds: outbox, relay position, inbox.

Kept as SQL because the interesting parts (an ``xid8`` default, a NOTIFY trigger) are PostgreSQL
features; each service's first Alembic migration executes :data:`MESSAGING_DDL`, and tests apply it
to throw-away databases the same way.
"""

from __future__ import annotations

NOTIFY_CHANNEL = "outbox_ready"

# The payload is the writing transaction's id: a relay told about a transaction it cannot read
# yet (an older one is still open) knows to look again soon instead of waiting for the next
# notification. Delivered at commit, once per transaction however many rows it wrote.
NOTIFY_FUNCTION_DDL = f"""
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{NOTIFY_CHANNEL}', pg_current_xact_id()::text);
    RETURN NULL;
END $$;
"""

# Before messaging_0003 of each service: an empty payload (relays treat it as "look now").
NOTIFY_FUNCTION_DDL_V1 = f"""
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
    RETURN NULL;
END $$;
"""

# Before messaging_0004 of each service the position was the cursor alone (the relay then read
# only below the oldest running transaction of the whole server).
RELAY_POSITION_IN_PROGRESS_DDL = """
ALTER TABLE outbox_relay_position
    ADD COLUMN IF NOT EXISTS in_progress xid8[] NOT NULL DEFAULT '{}';
"""
# Going back, the cursor moves to the oldest watched transaction, whose rows the older relay then
# reads (and republishes what lies between: duplicates, which the inboxes drop, never a loss).
DROP_RELAY_POSITION_IN_PROGRESS_DDL = """
UPDATE outbox_relay_position
SET txid = (SELECT min(x) FROM unnest(in_progress) x), last_id = 0
WHERE cardinality(in_progress) > 0;
ALTER TABLE outbox_relay_position DROP COLUMN IF EXISTS in_progress;
"""

# What ANALYZE keeps of the outbox. The relay filters on txid, id and created_at only, and reads
# the tail of its index, so a small sample serves its plans; the JSON columns were most of what
# each autovacuum ANALYZE cost (0.38 s of CPU for a 47,000-row outbox, against 0.01 s this way),
# and the outbox is analyzed often: every row is inserted and later deleted.
_OUTBOX_SAMPLED_COLUMNS = ("txid", "id", "created_at")
_OUTBOX_UNSAMPLED_COLUMNS = (
    "event_id",
    "aggregate_type",
    "aggregate_id",
    "event_type",
    "payload",
    "headers",
    "event_version",
)
OUTBOX_STATISTICS_DDL = "".join(
    [
        f"ALTER TABLE outbox ALTER COLUMN {column} SET STATISTICS 10;\n"
        for column in _OUTBOX_SAMPLED_COLUMNS
    ]
    + [
        f"ALTER TABLE outbox ALTER COLUMN {column} SET STATISTICS 0;\n"
        for column in _OUTBOX_UNSAMPLED_COLUMNS
    ]
)
DEFAULT_OUTBOX_STATISTICS_DDL = "".join(
    f"ALTER TABLE outbox ALTER COLUMN {column} SET STATISTICS -1;\n"
    for column in (*_OUTBOX_SAMPLED_COLUMNS, *_OUTBOX_UNSAMPLED_COLUMNS)
)

MESSAGING_DDL = f"""
CREATE TABLE IF NOT EXISTS outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid        NOT NULL UNIQUE,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    event_type     text        NOT NULL,
    payload        jsonb       NOT NULL,
    headers        jsonb       NOT NULL DEFAULT '{{}}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    event_version  integer     NOT NULL DEFAULT 1,
    -- The writing transaction's id: the relay reads in (txid, id) order and keeps watching the
    -- transactions still running below its cursor, so a row that commits late is never skipped.
    txid           xid8        NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX IF NOT EXISTS outbox_txid_id ON outbox (txid, id);

-- Publishing progress: every row at or below (txid, last_id) was acknowledged by Kafka, except
-- rows of the transactions in in_progress (running below the cursor when it was read).
CREATE TABLE IF NOT EXISTS outbox_relay_position (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    txid        xid8        NOT NULL DEFAULT '0'::xid8,
    last_id     bigint      NOT NULL DEFAULT 0,
    published   bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    in_progress xid8[]      NOT NULL DEFAULT '{{}}'
);
INSERT INTO outbox_relay_position (singleton) VALUES (true) ON CONFLICT DO NOTHING;

{NOTIFY_FUNCTION_DDL}
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE IF NOT EXISTS inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    topic        text        NOT NULL,
    kafka_partition integer  NOT NULL,
    kafka_offset bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
"""

DROP_MESSAGING_DDL = """
DROP TABLE IF EXISTS inbox;
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS outbox_notify();
DROP TABLE IF EXISTS outbox_relay_position;
DROP TABLE IF EXISTS outbox;
"""
