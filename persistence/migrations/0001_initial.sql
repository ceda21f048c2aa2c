-- The event journal and the projections derived from it.
-- Money is stored as decimal TEXT, never REAL.

CREATE TABLE events (
    seq      INTEGER PRIMARY KEY,         -- monotonic, gap-free in practice
    time     INTEGER NOT NULL,            -- ms UTC
    stream   TEXT    NOT NULL,            -- user:<id> or market:<symbol>
    type     TEXT    NOT NULL,            -- struct tag, e.g. OrderFilled
    version  INTEGER NOT NULL,            -- schema version of the payload
    payload  TEXT    NOT NULL,            -- msgspec JSON of the event
    checksum INTEGER NOT NULL             -- crc32 of payload
);
CREATE INDEX events_by_stream ON events (stream, seq);

CREATE TABLE orders (
    id                TEXT PRIMARY KEY,
    user_id           TEXT    NOT NULL,
    client_order_id   TEXT    NOT NULL,
    symbol            TEXT    NOT NULL,
    side              TEXT    NOT NULL,
    type              TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    last_seq          INTEGER NOT NULL,
    data              TEXT    NOT NULL    -- the whole order, msgspec JSON
);
CREATE UNIQUE INDEX orders_by_client_id ON orders (user_id, client_order_id);
CREATE INDEX orders_by_user ON orders (user_id, created_at);
CREATE INDEX orders_open ON orders (status) WHERE status IN ('NEW', 'PARTIALLY_FILLED');

CREATE TABLE fills (
    order_id   TEXT    NOT NULL,
    trade_id   TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    symbol     TEXT    NOT NULL,
    side       TEXT    NOT NULL,
    price      TEXT    NOT NULL,
    quantity   TEXT    NOT NULL,
    quote      TEXT    NOT NULL,
    fee        TEXT    NOT NULL,
    fee_asset  TEXT    NOT NULL,
    is_maker   INTEGER NOT NULL,
    time       INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (order_id, trade_id)
);
CREATE INDEX fills_by_user ON fills (user_id, time);

CREATE TABLE balances (
    user_id TEXT NOT NULL,
    asset   TEXT NOT NULL,
    free    TEXT NOT NULL,
    locked  TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (user_id, asset)
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
