"""The concrete venue behind an engine, for tests that reach past the Venue protocol."""

from __future__ import annotations

from actors.system import ActorSystem
from actors.venue import MexcVenue, SimulatorVenue


def mexc_venue(system: ActorSystem) -> MexcVenue:
    assert isinstance(system.venue, MexcVenue), f"not a MEXC venue: {system.venue!r}"
    return system.venue


def sim_venue(system: ActorSystem) -> SimulatorVenue:
    assert isinstance(system.venue, SimulatorVenue), f"not the simulator's venue: {system.venue!r}"
    return system.venue
