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

One writer, one job: this actor commits the journal's batches and nothing else
(candles have a file and a writer of their own, ``actors/candle_store.py``). The
``JournalVerifier`` checks new rows on a read connection of its own and hands the
mark back (``Verified``), which goes into the next batch's transaction instead of
a commit of its own. Around each commit the writer publishes a ``JournalStatus``
(one reference, replaced whole): ``/health`` reads it instead of writing.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pykka

from actors.base import EngineActor
from actors.messages import (
    Append,
    CheckWritable,
    FindOrder,
    Flush,
    LoadAllEvents,
    LoadNewest,
    LoadOrderKeys,
    LoadOrders,
    LoadStream,
    LoadTriggers,
    OpenAccounts,
    UsersWithListingRules,
    UsersWithOpenOrders,
    UsersWithPausedRules,
    Verified,
    VerifyJournal,
)
from actors.peers import PersistencePeers
from engine.errors import ActorUnavailable, JournalUnavailable
from engine.events import USER_STREAM_PREFIX
from persistence import db
from persistence.journal import VERIFIED_MARK, Journal


class JournalStatus(msgspec.Struct, frozen=True):
    """What the journal's writer last did, published by it around every commit."""

    last_commit_at: int | None = None  # ms UTC (the engine's clock) of the last commit that succeeded
    last_commit_monotonic: float | None = None
    committing_since: float | None = None  # time.monotonic() when the running commit began
    batches: int = 0
    appends: int = 0
    failure: str | None = None  # the last commit's error, until a commit succeeds again

    def problem(self, now: float, slow_after: float) -> str | None:
        """Why the journal is not healthy at monotonic time ``now``, if it is not: its
        last commit failed, or the running one has taken over ``slow_after`` seconds."""
        if slow_after <= 0:
            raise ValueError(f"slow_after must be positive, not {slow_after}")
        if self.failure is not None:
            return f"the last commit failed: {self.failure}"
        if self.committing_since is not None and now - self.committing_since > slow_after:
            return f"a commit has been running for {now - self.committing_since:.1f} s"
        return None

    def as_check(self, now: float) -> dict[str, Any]:
        return {
            "lastCommitAt": self.last_commit_at,
            "lastCommitAgeSeconds": None if self.last_commit_monotonic is None else round(now - self.last_commit_monotonic, 3),
            "committingForSeconds": None if self.committing_since is None else round(now - self.committing_since, 3),
            "commits": self.batches,
            "appends": self.appends,
            "failure": self.failure,
        }


class PersistenceActor(EngineActor):
    kind = "persistence"

    system: PersistencePeers

    def __init__(self, system: PersistencePeers, path: str) -> None:
        super().__init__(system, key="journal")
        self._path = path
        self._journal: Journal | None = None
        self._pending: list[Append] = []
        self._flush_scheduled = False
        self.batches = 0
        self.appends = 0
        self._refused: dict[str, Exception] = {}  # stream -> the failure its later appends follow
        self._verified: int | None = None  # a verified mark to write with the next commit
        self._status = JournalStatus()

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
        if isinstance(message, Verified):
            # Written with the next batch; with none waiting, with a batch of its own
            # behind what is in the inbox (rare: only when the journal went quiet).
            self._verified = max(message.seq, self._verified or 0)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self.actor_ref.tell(Flush())
            return None
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
        if isinstance(message, UsersWithListingRules):
            return self.journal.users_with_listing_rules()
        if isinstance(message, UsersWithPausedRules):
            return self.journal.users_with_paused_rules()
        if isinstance(message, LoadTriggers):
            return self.journal.triggers_of(message.symbol)
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
        verified, self._verified = self._verified, None
        if not batch and verified is None:
            return
        marks = {VERIFIED_MARK: str(verified)} if verified is not None else None
        self._publish(committing_since=time.monotonic())
        try:
            results = self.journal.commit([(a.stream, a.events, a.snapshot) for a in batch], marks)
        except Exception as exc:
            error = JournalUnavailable(f"journal commit failed: {exc}")
            for append in batch:
                append.done.set_exception(error)
            self.log.error("journal.commit_failed", error=repr(exc), appends=len(batch))
            self._publish(committing_since=None, failure=repr(exc))
            self.system.supervision.journal_failed(exc)
            return
        if batch:
            self.batches += 1
            self.appends += len(batch)
        self._publish(committing_since=None, failure=None, last_commit_at=self.system.clock.now_ms(),
                      last_commit_monotonic=time.monotonic(), batches=self.batches, appends=self.appends)
        for append, result in zip(batch, results, strict=True):  # one result per append
            if isinstance(result, Exception):
                if append.stream.startswith(USER_STREAM_PREFIX):
                    self._refused.setdefault(append.stream, result)
                self.log.error("journal.append_failed", stream=append.stream, error=repr(result))
                append.done.set_exception(JournalUnavailable(f"journal append failed: {result}"))
            else:
                append.done.set_result(result)

    def _publish(self, **changes: Any) -> None:
        self._status = msgspec.structs.replace(self._status, **changes)
        self.system.journal_status = self._status  # one reference, replaced whole: no lock


class JournalVerifier(EngineActor):
    """Checks the rows the journal's writer committed since the last check (checksum
    and decoding) on a read connection of its own, so a check of thousands of rows
    never holds the writer; the writer records the mark (``Verified``). A damaged
    row crashes this actor with its seq named, and the supervisor reports it."""

    kind = "verifier"

    system: PersistencePeers

    def __init__(self, system: PersistencePeers, path: str) -> None:
        super().__init__(system, key="journal")
        self._path = path
        self._reader: Journal | None = None
        self._mark = 0

    def started(self) -> None:
        # Read-only: it never takes the writer's lock, and sees only committed rows.
        self._reader = Journal(db.connect(self._path, readonly=True))
        self._mark = self._reader.verified_seq()

    def stopping(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def handle(self, message: Any) -> Any:
        if isinstance(message, VerifyJournal):
            return self._verify(message.rows)
        raise TypeError(f"unexpected message {message!r}")

    def _verify(self, rows: int) -> int:
        if self._reader is None:
            raise JournalUnavailable("the journal verifier is closed")
        last = self._reader.verify(self._mark, rows)
        if last > self._mark:
            self._mark = last
            try:
                self.system.ref("persistence", "journal").tell(Verified(last))
            except (JournalUnavailable, ActorUnavailable, pykka.ActorDeadError):
                pass  # checked again from the stored mark after the writer's restart
        return last
