"""CandleStoreActor: the only writer of the candle file (persistence/candles.py).

Market actors hand it closed (and, now and then, open) candles by ``tell``; new
market actors ask it for history; a price set by hand is stored by an ask, so
it is on disk before it is acknowledged. None of it waits for the journal's
group commit, and none of its commits lands between the journal's batches.

Pruning is a step at a time: each ``PruneMarketData`` deletes one small batch
and tells the actor the next step, which joins the back of its inbox, so
candles sent meanwhile are stored between steps instead of after the whole prune.
"""

from __future__ import annotations

from typing import Any

from actors.base import EngineActor
from actors.messages import LoadCandles, PruneMarketData, SaveCandles
from actors.peers import Supervised
from engine.errors import JournalUnavailable
from persistence.candles import PRUNE_BATCH, CandleStore, candles_path


class CandleStoreActor(EngineActor):
    kind = "candles"

    def __init__(self, system: Supervised, database_path: str, *, prune_batch: int = PRUNE_BATCH) -> None:
        super().__init__(system, key="candles")
        if prune_batch <= 0:
            raise ValueError(f"prune_batch must be positive, not {prune_batch}")
        self._path = candles_path(database_path)
        self._prune_batch = prune_batch
        self._store: CandleStore | None = None
        self.saves = 0
        self.prune_steps = 0

    def started(self) -> None:
        self._store = CandleStore.open(self._path)
        self.log.info("candles.opened", path=str(self._path))

    def stopping(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> CandleStore:
        if self._store is None:
            raise JournalUnavailable("the candle store is closed")
        return self._store

    def handle(self, message: Any) -> Any:
        if isinstance(message, SaveCandles):
            self.store.save(message.candles)
            self.saves += 1
            return None
        if isinstance(message, LoadCandles):
            return self.store.load(message.symbol, message.interval, message.limit)
        if isinstance(message, PruneMarketData):
            return self._prune(message)
        raise TypeError(f"unexpected message {message!r}")

    def _prune(self, step: PruneMarketData) -> int:
        removed = self.store.prune_step(step.before_ms, self._prune_batch)
        self.prune_steps += 1
        total = step.removed + removed
        if removed == self._prune_batch:
            self.actor_ref.tell(PruneMarketData(step.before_ms, total))  # the rest, behind what waits
        elif total:
            self.log.info("market_data.pruned", candles=total, before_ms=step.before_ms)
        return total
