"""PersistenceActor: the only writer of the journal, with group commit.

Appends are ``tell``s carrying a future. The first append of a batch schedules
a Flush behind everything already in the inbox, so all appends that arrived
while the previous batch was committing share one transaction and one fsync.
Each caller's future resolves after the commit: nothing is acknowledged before
it is durable.

A portfolio applies an append to its state before the journal answers, so what
it sends after a refused append (and any snapshot with it) holds the refused
one's effects. Such appends are refused too: in that batch (``Journal.commit``,
for every stream) and, for users' streams, in later batches until the stream is
loaded again, which is the portfolio starting over from the journal. The other
streams' writers wait for each answer (the kill switch) or write independent
records (reconciliation findings): refusing their later appends would only lose them.
"""

from __future__ import annotations

import time
from typing import Any

from actors.base import EngineActor
from actors.messages import (
    Append,
    CheckWritable,
    FindOrder,
    Flush,
    LoadAllEvents,
    LoadCandles,
    LoadOrderKeys,
    LoadOrders,
    OpenAccounts,
    UsersWithOpenOrders,
    LoadNewest,
    LoadStream,
    PruneMarketData,
    SaveCandles,
    VerifyJournal,
)
from engine.errors import JournalUnavailable
from engine.events import USER_STREAM_PREFIX
from persistence.journal import Journal


class PersistenceActor(EngineActor):
    kind = "persistence"

    def __init__(self, system: Any, path: str) -> None:
        super().__init__(system, key="journal")
        self._path = path
        self._journal: Journal | None = None
        self._pending: list[Append] = []
        self._flush_scheduled = False
        self.batches = 0
        self.appends = 0
        self._refused: dict[str, Exception] = {}  # stream -> the failure its later appends follow

    def started(self) -> None:
        self._journal = Journal.open(self._path)
        # Rows written since the last start are checked before anything trusts them.
        verified = self._journal.verify_new_rows()
        self.log.info("journal.verified", through_seq=verified)

    def stopping(self) -> None:
        if self._journal is not None:
            self._flush()
            self._journal.close()
            self._journal = None

    def handle(self, message: Any) -> Any:
        if isinstance(message, Append):
            self._pending.append(message)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self.actor_ref.tell(Flush())
            return None
        if isinstance(message, Flush):
            return self._flush()
        if isinstance(message, VerifyJournal):
            return self.journal.verify_new_rows(message.rows)
        if isinstance(message, SaveCandles):
            self.journal.save_candles(message.candles)
            return None
        if isinstance(message, PruneMarketData):
            removed = self.journal.prune_market_data(message.before_ms)
            if removed:
                self.log.info("market_data.pruned", candles=removed, before_ms=message.before_ms)
            return removed
        if isinstance(message, LoadCandles):
            return self.journal.load_candles(message.symbol, message.interval, message.limit)
        # Reads see every append queued before them.
        self._flush()
        if isinstance(message, (LoadStream, LoadAllEvents)):
            self._refused.pop(message.stream, None)  # its writer starts over from the journal
        if isinstance(message, LoadStream):
            return self.journal.load_stream(message.stream)
        if isinstance(message, LoadNewest):
            return self.journal.newest(message.stream, message.limit)
        if isinstance(message, LoadAllEvents):
            return [event for _, event in self.journal.read_stream(message.stream)]
        if isinstance(message, FindOrder):
            return self.journal.find_order(
                message.user_id,
                order_id=message.order_id,
                client_order_id=message.client_order_id,
                idempotency_key=message.idempotency_key,
            )
        if isinstance(message, LoadOrderKeys):
            return self.journal.order_keys(message.user_id)
        if isinstance(message, UsersWithOpenOrders):
            return self.journal.users_with_open_orders()
        if isinstance(message, OpenAccounts):
            return self.journal.open_accounts()
        if isinstance(message, LoadOrders):
            return self.journal.orders_for(
                message.user_id, symbol=message.symbol, open_only=message.open_only, limit=message.limit
            )
        if isinstance(message, CheckWritable):
            try:
                self.journal.check_writable(time.time_ns() // 1_000_000)
            except Exception as exc:
                raise JournalUnavailable(f"journal is not writable: {exc}") from None
            return None
        raise TypeError(f"unexpected message {message!r}")

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            raise JournalUnavailable("journal is closed")
        return self._journal

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        for append in batch:
            earlier = self._refused.get(append.stream)
            if earlier is not None:
                self.log.error("journal.append_refused", stream=append.stream, after=repr(earlier))
                append.done.set_exception(JournalUnavailable(
                    f"journal append refused: an earlier append of {append.stream} failed ({earlier})"
                ))
        batch = [a for a in batch if a.stream not in self._refused]
        if not batch:
            return
        try:
            results = self.journal.commit([(a.stream, a.events, a.snapshot) for a in batch])
        except Exception as exc:
            error = JournalUnavailable(f"journal commit failed: {exc}")
            for append in batch:
                append.done.set_exception(error)
            self.log.error("journal.commit_failed", error=repr(exc), appends=len(batch))
            self.system.journal_failed(exc)
            return
        self.batches += 1
        self.appends += len(batch)
        for append, result in zip(batch, results):
            if isinstance(result, Exception):
                if append.stream.startswith(USER_STREAM_PREFIX):
                    self._refused.setdefault(append.stream, result)
                self.log.error("journal.append_failed", stream=append.stream, error=repr(result))
                append.done.set_exception(JournalUnavailable(f"journal append failed: {result}"))
            else:
                append.done.set_result(result)
