"""Drive a MexcAccountAdapter the way its gateway does, but on the test's thread.

The adapter never calls the exchange: it returns jobs. ``Driver`` runs each job at
once with the adapter's real REST client (against the simulator over loopback) and
hands the outcome back, until nothing is left to run; it collects everything the
adapter says. ``held`` keeps jobs out instead, so a test can decide when an answer
"arrives" (a push before the placement's answer, say).
"""

from __future__ import annotations

from typing import Any

from engine.exchanges.base import ExecutionReport
from engine.exchanges.mexc import account_io
from engine.exchanges.mexc.account_io import Job
from engine.exchanges.mexc.adapter import Effects, Finding, MexcAccountAdapter, Orphan, Swept


class Driver:
    def __init__(self, adapter: MexcAccountAdapter) -> None:
        self.adapter = adapter
        self.reports: list[ExecutionReport] = []
        self.orphans: list[Orphan] = []
        self.swept: list[Swept] = []
        self.findings: list[Finding] = []
        self.jobs: list[Job] = []  # every job run, in order
        self.held: list[Job] = []  # jobs kept out by ``hold``

    def __call__(self, fx: Effects, *, hold: bool = False) -> list[ExecutionReport]:
        """Run ``fx``'s jobs (and the jobs their outcomes lead to); the reports said."""
        out: list[ExecutionReport] = []
        queue = [fx]
        while queue:
            effects = queue.pop(0)
            out.extend(effects.reports)
            self.orphans.extend(effects.orphans)
            self.swept.extend(effects.swept)
            self.findings.extend(effects.findings)
            for job in effects.jobs:
                if hold:
                    self.held.append(job)
                    continue
                queue.append(self.answer(job))
        self.reports.extend(out)
        return out

    def answer(self, job: Job, result: Any = None, error: Exception | None = None, *, run: bool = True) -> Effects:
        """The adapter's reaction to ``job``'s outcome: run against the exchange, or as given."""
        self.jobs.append(job)
        if run:
            try:
                result, error = account_io.run(self.adapter.rest, job), None
            except Exception as exc:  # noqa: BLE001 - the adapter is told, as the gateway tells it
                result, error = None, exc
        return self.adapter.on_result(job, result, error)

    def release(self) -> list[ExecutionReport]:
        """Run the held jobs now."""
        held, self.held = self.held, []
        reports: list[ExecutionReport] = []
        for job in held:
            reports.extend(self(self.answer(job)))
        return reports

    def tick(self) -> list[ExecutionReport]:
        return self(self.adapter.tick())

    def kinds(self) -> list[str]:
        return [job.kind for job in self.jobs]
