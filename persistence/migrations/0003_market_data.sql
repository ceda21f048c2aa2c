-- Closed candles, so a restarted engine starts with history. Market data is
-- not journaled as events (it can be fetched again) and is pruned after
-- MARKET_DATA_RETENTION_DAYS; user events are never pruned.

CREATE TABLE candles (
    symbol       TEXT    NOT NULL,
    interval     TEXT    NOT NULL,
    open_time    INTEGER NOT NULL,   -- ms UTC
    open         TEXT    NOT NULL,
    high         TEXT    NOT NULL,
    low          TEXT    NOT NULL,
    close        TEXT    NOT NULL,
    volume       TEXT    NOT NULL,
    quote_volume TEXT    NOT NULL,
    PRIMARY KEY (symbol, interval, open_time)
) WITHOUT ROWID;
CREATE INDEX candles_by_time ON candles (open_time);
