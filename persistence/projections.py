"""Projection tables (orders, fills, balances, triggers) kept in step with the journal.

Each event is applied to the affected rows with the same pure ``evolve`` the
PortfolioActor uses, inside the transaction that appends the event; so the
tables always equal a replay of the journal.
"""

from __future__ import annotations

from decimal import Decimal

import apsw
import msgspec

from engine.events import AnyEvent, OrderAccepted, OrderFilled, RuleDeleted, RuleExecuted, RuleSaved
from engine.model import Balance, Order
from engine.portfolio import PortfolioState, evolve
from engine.triggers import Trigger, trigger_changes

_order_encoder = msgspec.json.Encoder()
_order_decoder = msgspec.json.Decoder(Order)
_trigger_decoder = msgspec.json.Decoder(Trigger)


def decode_trigger(data: str) -> Trigger:
    return _trigger_decoder.decode(data)


def decode_order(data: str) -> Order:
    return _order_decoder.decode(data)


def project(conn: apsw.Connection, seq: int, stream: str, event: AnyEvent) -> None:
    if not stream.startswith("user:"):
        return
    user_id = stream[len("user:") :]
    state = PortfolioState(user_id)
    order_id = getattr(event, "order_id", None)
    if order_id is not None:
        row = conn.execute("SELECT data FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is None:
            raise LookupError(f"event for unknown order {order_id}")
        order = decode_order(row[0])
        state.orders[order.id] = order
    assets = sorted({c.asset for c in event.changes})
    for asset in assets:
        row = conn.execute(
            "SELECT free, locked FROM balances WHERE user_id = ? AND asset = ?", (user_id, asset)
        ).fetchone()
        if row is not None:
            state.balances[asset] = Balance(Decimal(row[0]), Decimal(row[1]))

    evolve(state, event)

    if isinstance(event, OrderAccepted):
        order_id = event.order.id
    if order_id is not None:
        _write_order(conn, seq, state.orders[order_id])
    if isinstance(event, OrderFilled):
        _write_fill(conn, seq, state.orders[event.order_id], event)
    if isinstance(event, (RuleSaved, RuleExecuted)):
        conn.execute(
            "INSERT INTO rules (user_id, id, data, last_seq) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, id) DO UPDATE SET data = excluded.data, last_seq = excluded.last_seq",
            (user_id, event.rule.id, _order_encoder.encode(event.rule).decode(), seq),
        )
    elif isinstance(event, RuleDeleted):
        conn.execute("DELETE FROM rules WHERE user_id = ? AND id = ?", (user_id, event.rule_id))
    puts, drops = trigger_changes(event, user_id)
    for key in drops:
        conn.execute("DELETE FROM triggers WHERE user_id = ? AND key = ?", (user_id, key))
    for trigger in puts:
        conn.execute(
            "INSERT INTO triggers (user_id, key, symbol, data, last_seq) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id, key) DO UPDATE SET symbol = excluded.symbol, data = excluded.data,"
            " last_seq = excluded.last_seq",
            (user_id, trigger.key, trigger.symbol, _order_encoder.encode(trigger).decode(), seq),
        )
    for asset in assets:
        balance = state.balances[asset]
        conn.execute(
            "INSERT INTO balances (user_id, asset, free, locked, last_seq) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id, asset) DO UPDATE SET free = excluded.free, locked = excluded.locked,"
            " last_seq = excluded.last_seq",
            (user_id, asset, str(balance.free), str(balance.locked), seq),
        )


def _write_order(conn: apsw.Connection, seq: int, order: Order) -> None:
    conn.execute(
        "INSERT INTO orders (id, user_id, client_order_id, symbol, side, type, status, created_at, updated_at,"
        " last_seq, data, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at,"
        " last_seq = excluded.last_seq, data = excluded.data",
        (
            order.id,
            order.user_id,
            order.client_order_id,
            order.symbol,
            order.side,
            order.type,
            order.status,
            order.created_at,
            order.updated_at,
            seq,
            _order_encoder.encode(order).decode(),
            order.idempotency_key,
        ),
    )


def _write_fill(conn: apsw.Connection, seq: int, order: Order, event: OrderFilled) -> None:
    fill = event.fill
    conn.execute(
        "INSERT INTO fills (order_id, trade_id, user_id, symbol, side, price, quantity, quote, fee, fee_asset,"
        " is_maker, time, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            order.id,
            fill.trade_id,
            order.user_id,
            order.symbol,
            order.side,
            str(fill.price),
            str(fill.quantity),
            str(fill.quote),
            str(fill.fee),
            fill.fee_asset,
            int(fill.is_maker),
            fill.time,
            seq,
        ),
    )
