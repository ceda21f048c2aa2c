"""ReconciliationLog: what reconciliation with the exchange found, for operators.

The newest findings are kept in memory (read by the API's reconciliations
resource) and each is journaled in ``system:reconciliation`` without waiting: what
reconciliation applied is already durable in the user's own stream, so this is a
record of it, and a start reads the newest back so a restart does not hide them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import structlog

from actors.messages import LoadNewest
from actors.peers import ReconciliationJournal
from engine.errors import EngineError
from engine.events import RECONCILIATION_STREAM, Reconciliation, ReconciliationFound

log = structlog.get_logger(__name__)

KEPT = 200


class ReconciliationLog:
    def __init__(self, journal: ReconciliationJournal, *, keep: int = KEPT) -> None:
        self._journal = journal
        self._records: deque[Reconciliation] = deque(maxlen=keep)

    def __iter__(self) -> Iterator[Reconciliation]:
        return iter(list(self._records))  # a copy: appends go on while a reader iterates

    def __len__(self) -> int:
        return len(self._records)

    def record_finding(self, user_id: str, order_id: str | None, note: str) -> None:
        """Something the gateway found that operators must hear of (an order's fills
        never added up, an order the exchange lost)."""
        self.record(Reconciliation(
            user_id=user_id, time=self._journal.clock.now_ms(), orders_updated=[order_id] if order_id else [],
            orders_resent=[], balances_adjusted={}, notes=[note],
        ))

    def record(self, record: Reconciliation) -> None:
        self._records.append(record)  # deque.append is atomic: no lock
        finding = ReconciliationFound(time=record.time, record=record)
        # Not waited for: what reconciliation applied is durable in the user's own stream;
        # this is the operators' record of it.
        try:
            self._journal.append(RECONCILIATION_STREAM, [finding])
        except EngineError as exc:
            log.warning("reconciliation.not_journaled", user_id=record.user_id, error=exc.message)

    def load(self) -> None:
        """Earlier runs' findings, so a restart does not hide them from operators."""
        for event in self._journal.ask_persistence(LoadNewest(RECONCILIATION_STREAM, self._records.maxlen or KEPT)):
            if isinstance(event, ReconciliationFound):
                self._records.append(event.record)
