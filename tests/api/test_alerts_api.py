"""Price alerts through the real server: each crossing fires once and is recorded;
CHANGE_PERCENT catches a move either way within its window."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.support.server import EngineProcess, new_user, running
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

D = Decimal


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    with running(tmp_path_factory.mktemp("alerts"), env={"SUPERVISOR_INTERVAL_SECONDS": "0.1"}) as engine:
        yield engine


@pytest.fixture
def admin(server: EngineProcess) -> Iterator[httpx.Client]:
    with server.client("ops", role="admin") as client:
        price = last(client)
        yield client
        move(client, price)


def last(http: httpx.Client) -> Decimal:
    return D(http.get("/api/v1/market/ticker/ETHUSDT").json()["data"]["lastPrice"])


def move(admin: httpx.Client, price: Decimal) -> None:
    response = admin.put("/api/v1/paper/prices/ETHUSDT", json={"price": str(price.quantize(D("0.01")))})
    assert response.status_code == 200, response.text


def firings(http: httpx.Client, alert_id: str) -> list[dict]:
    response = http.get(f"/api/v1/market/alerts/{alert_id}/firings")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_an_above_alert_fires_once_per_crossing(server: EngineProcess, admin: httpx.Client) -> None:
    with server.client(new_user(), role="viewer") as http:
        price = last(http)
        level = (price * D("1.02")).quantize(D("0.01"))
        created = http.post("/api/v1/market/alerts", json={"symbol": "ethusdt", "kind": "ABOVE", "price": str(level)})
        assert created.status_code == 201, created.text
        alert = created.json()["data"]
        assert alert["symbol"] == "ETHUSDT" and alert["armed"] is True and alert["fired"] == 0
        for step in ("1.03", "1.04", "1.05"):  # one crossing, however many ticks above
            move(admin, price * D(step))
        [first] = wait_for(lambda: firings(http, alert["id"]), timeout=10)
        assert D(first["price"]) >= level
        move(admin, price)
        wait_for(lambda: http.get(f"/api/v1/market/alerts/{alert['id']}").json()["data"]["armed"],
                 timeout=10, message="armed again once back below")
        move(admin, price * D("1.03"))
        assert len(wait_for(lambda: len(f := firings(http, alert["id"])) == 2 and f, timeout=10)) == 2
        assert http.get(f"/api/v1/market/alerts/{alert['id']}").json()["data"]["fired"] == 2


def test_a_change_percent_alert_catches_a_fall_within_its_window(server: EngineProcess, admin: httpx.Client) -> None:
    with server.client(new_user()) as http:
        price = last(http)
        alert = http.post("/api/v1/market/alerts", json={"symbol": "ETHUSDT", "kind": "CHANGE_PERCENT",
                                                          "changePercent": "3", "windowSeconds": 300}).json()["data"]
        move(admin, price * D("0.98"))
        assert firings(http, alert["id"]) == []
        move(admin, price * D("0.96"))
        [fired] = wait_for(lambda: firings(http, alert["id"]), timeout=10)
        assert D(fired["referencePrice"]) >= price * D("0.99")


@pytest.mark.parametrize(("body", "field"), [
    ({"symbol": "ETHUSDT", "kind": "ABOVE"}, "price"),
    ({"symbol": "NOPE", "kind": "ABOVE", "price": "1"}, "symbol"),
    ({"symbol": "ETHUSDT", "kind": "SIDEWAYS", "price": "1"}, "kind"),
    ({"symbol": "ETHUSDT", "kind": "CHANGE_PERCENT", "changePercent": "5"}, "windowSeconds"),
    ({"symbol": "ETHUSDT", "kind": "BELOW", "price": "1", "windowSeconds": 5}, "windowSeconds"),
])
def test_bad_alerts_are_refused_naming_the_field(server: EngineProcess, body: dict, field: str) -> None:
    with server.client(new_user()) as http, server.client(new_user()) as other:
        response = http.post("/api/v1/market/alerts", json=body)
        assert response.status_code == 422 and response.json()["error"]["code"] == "INVALID_ALERT", response.text
        assert response.json()["error"]["details"]["field"] == field
        assert http.get("/api/v1/market/alerts").json()["data"] == []
        alert = http.post("/api/v1/market/alerts", json={"symbol": "ETHUSDT", "kind": "BELOW", "price": "1"}).json()["data"]
        assert other.get(f"/api/v1/market/alerts/{alert['id']}").status_code == 404
        assert http.delete(f"/api/v1/market/alerts/{alert['id']}").status_code == 200
        assert http.get(f"/api/v1/market/alerts/{alert['id']}").json()["error"]["code"] == "ALERT_NOT_FOUND"
