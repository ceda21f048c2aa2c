-- Price and time triggers held by users (conditional orders, rules), by symbol ("" for
-- times): a market actor loads its symbol's at start, so a trigger of a sleeping user
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

-- Every user's rules, as the events left them (engine.rules.Rule, msgspec JSON): who
-- holds rules the kill switch paused, without reading every user's stream.
CREATE TABLE rules (
    user_id  TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    data     TEXT    NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
);
