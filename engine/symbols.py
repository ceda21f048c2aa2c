"""Symbol rules and reference prices for the paper exchange.

The MEXC client (a later issue) fills the same ``SymbolInfo`` from exchangeInfo;
until then these are the precisions MEXC publishes for the default symbols.
"""

from __future__ import annotations

from decimal import Decimal

from engine.errors import UnknownSymbol
from engine.model import SymbolInfo

# symbol -> (base precision, quote precision, min quantity, reference price)
_KNOWN: dict[str, tuple[int, int, str, str]] = {
    "BTCUSDT": (6, 2, "0.000001", "95000"),
    "ETHUSDT": (5, 2, "0.0001", "3400"),
    "SOLUSDT": (3, 2, "0.001", "180"),
    "BNBUSDT": (3, 2, "0.001", "650"),
    "XRPUSDT": (2, 4, "0.1", "2.3"),
    "DOGEUSDT": (2, 5, "1", "0.32"),
    "ADAUSDT": (2, 4, "0.1", "0.9"),
    "MXUSDT": (2, 4, "0.01", "3.1"),
}
_DEFAULT = (2, 4, "0.01", "1")


def paper_symbol(symbol: str) -> SymbolInfo:
    base_p, quote_p, min_qty, _ = _KNOWN.get(symbol, _DEFAULT)
    return SymbolInfo(
        symbol=symbol,
        base=symbol[: -len("USDT")],
        quote="USDT",
        base_precision=base_p,
        quote_precision=quote_p,
        min_quantity=Decimal(min_qty),
        min_notional=Decimal(1),
    )


def reference_price(symbol: str) -> Decimal:
    return Decimal(_KNOWN.get(symbol, _DEFAULT)[3])


class SymbolCatalog:
    """The symbols the engine trades; immutable once built, shared by all threads."""

    def __init__(self, infos: list[SymbolInfo]) -> None:
        self._by_symbol = {info.symbol: info for info in infos}

    def get(self, symbol: str) -> SymbolInfo:
        info = self._by_symbol.get(symbol)
        if info is None:
            raise UnknownSymbol(f"unknown symbol {symbol!r}", details={"symbol": symbol})
        return info

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def symbols(self) -> list[str]:
        return list(self._by_symbol)

    def infos(self) -> list[SymbolInfo]:
        return list(self._by_symbol.values())
