-- Snapshots bound recovery: a stream is rebuilt from its newest snapshot plus
-- the events after it. Orders gain their idempotency key, so a retry of an
-- order that left the portfolio's memory is still recognised.

CREATE TABLE snapshots (
    stream     TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,   -- the last event the snapshot includes
    version    INTEGER NOT NULL,   -- schema version of the payload
    payload    TEXT    NOT NULL,
    checksum   INTEGER NOT NULL,   -- crc32 of payload
    created_at INTEGER NOT NULL
);

ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
UPDATE orders SET idempotency_key = json_extract(data, '$.idempotency_key');
CREATE UNIQUE INDEX orders_by_idempotency_key ON orders (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_by_user_symbol ON orders (user_id, symbol, created_at);
