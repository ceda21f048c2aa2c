-- Price triggers held by users (conditional orders now; rules and alerts later), by
-- symbol: a market actor loads its symbol's at start, so a trigger of a sleeping user
-- (or one from before a restart) is watched without waking anyone. A projection of the
-- events, like orders and balances (engine.triggers.trigger_changes).

CREATE TABLE triggers (
    user_id TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    symbol  TEXT    NOT NULL,
    data    TEXT    NOT NULL,            -- engine.triggers.Trigger, msgspec JSON
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX triggers_by_symbol ON triggers (symbol);
