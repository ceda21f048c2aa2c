"""Events to journal rows and back, with a checksum on every payload."""

from __future__ import annotations

import zlib

import msgspec

from engine.errors import JournalCorrupted
from engine.events import SCHEMA_VERSION, AnyEvent

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)


def encode(event: AnyEvent) -> tuple[str, int, str, int]:
    """(type, version, payload, checksum) for one event."""
    payload = _encoder.encode(event)
    return type(event).__name__, SCHEMA_VERSION, payload.decode(), zlib.crc32(payload)


def decode(seq: int, type_: str, version: int, payload: str, checksum: int) -> AnyEvent:
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    if zlib.crc32(raw) != checksum:
        raise JournalCorrupted(f"journal row seq={seq} ({type_}) fails its checksum", details={"seq": seq})
    if version > SCHEMA_VERSION:
        raise JournalCorrupted(
            f"journal row seq={seq} has event schema version {version}, newer than this code ({SCHEMA_VERSION})",
            details={"seq": seq},
        )
    try:
        event = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise JournalCorrupted(f"journal row seq={seq} ({type_}) does not decode: {exc}", details={"seq": seq}) from None
    if type(event).__name__ != type_:
        raise JournalCorrupted(f"journal row seq={seq} says {type_} but holds {type(event).__name__}", details={"seq": seq})
    return event
