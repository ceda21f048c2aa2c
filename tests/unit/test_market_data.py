"""engine.market.merge: what the conflator keeps when a symbol's updates pile up."""

from __future__ import annotations

from decimal import Decimal

from engine.candles import Candle
from engine.market import MarketData, Trade, merge
from engine.model import BookTicker

D = Decimal


def book(bid: str, time: int) -> BookTicker:
    return BookTicker("BTCUSDT", D(bid), D(1), D(bid) + D("0.01"), D(1), D(bid), time)


def test_the_newer_book_wins_and_an_update_without_one_keeps_the_waiting_book() -> None:
    assert merge(MarketData("BTCUSDT", book=book("1", 1)), MarketData("BTCUSDT", book=book("2", 2))).book == book("2", 2)
    assert merge(MarketData("BTCUSDT", book=book("1", 1)), MarketData("BTCUSDT")).book == book("1", 1)


def test_trades_add_up_and_klines_of_the_same_window_are_replaced() -> None:
    t1, t2 = Trade(D(1), D(1), "BUY", 1), Trade(D(2), D(1), "SELL", 2)
    k_old = Candle("1m", 0, D(1), D(1), D(1), D(1), D(1), D(1))
    k_new = Candle("1m", 0, D(1), D(2), D(1), D(2), D(2), D(3))
    merged = merge(MarketData("BTCUSDT", trades=(t1,), klines=(k_old,)), MarketData("BTCUSDT", trades=(t2,), klines=(k_new,)))
    assert merged.trades == (t1, t2)
    assert merged.klines == (k_new,)


def test_a_heartbeat_keeps_the_latest_time_either_side_vouched_for() -> None:
    assert merge(MarketData("BTCUSDT", live_at=5), MarketData("BTCUSDT", live_at=3)).live_at == 5
    assert merge(MarketData("BTCUSDT"), MarketData("BTCUSDT", live_at=3)).live_at == 3
    assert merge(MarketData("BTCUSDT", book=book("1", 1)), MarketData("BTCUSDT")).live_at is None
