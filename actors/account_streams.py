"""AccountStreams: each exchange account's user stream, at most one per account.

A stream (its listen key created, kept alive and given back; its pushes) runs as a
task on the trio thread. The account's gateway starts it when it activates and
stops it when it passivates; what the stream receives goes to that gateway. A
venue whose pushes come from one stream shared by every account (the simulator in
process) opens none here.
"""

from __future__ import annotations

import threading

from actors.bridge import TaskHandle
from actors.messages import PrivatePush, StreamReconnected
from actors.peers import StreamPeers


class AccountStreams:
    def __init__(self, peers: StreamPeers) -> None:
        self._peers = peers
        self._lock = threading.Lock()  # never taken on the trio thread
        self._streams: dict[str, TaskHandle] = {}

    def accounts(self) -> list[str]:
        """The accounts whose stream runs now."""
        with self._lock:
            return list(self._streams)

    def start(self, account: str) -> None:
        """The account's user stream, once (its gateway's activation asks for it)."""
        peers = self._peers
        with self._lock:  # one stream per account, however many threads ask
            if account in self._streams or not peers.bridge.alive:
                return
            runner = peers.venue.account_streams(
                account,
                on_push=lambda push: peers.tell_account(account, PrivatePush(push)),
                on_connected=lambda: peers.tell_account(account, StreamReconnected(), live_only=True),
            )
            if runner is not None:
                self._streams[account] = peers.bridge.spawn(f"user-stream:{account}", runner)

    def stop(self, account: str) -> None:
        with self._lock:
            stream = self._streams.pop(account, None)
        if stream is not None:
            stream.cancel()
