"""KRW amounts and prices: Decimal or int, never float.

A float that slips into a money field silently rounds (0.1 + 0.2); we refuse it at construction so
the mistake surfaces where it is made, not in a reconciliation break weeks later.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

ZERO = Decimal(0)


def to_money(value: object, *, field: str = "amount") -> Decimal:
    """`value` as a Decimal: accepts Decimal, int and numeric strings; refuses float and bool."""
    if isinstance(value, bool | float):
        raise TypeError(f"{field}: money must be Decimal, int or a numeric string, not {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip().replace(",", "") or "0")
        except InvalidOperation as e:
            raise ValueError(f"{field}: not a number: {value!r}") from e
    else:
        raise TypeError(f"{field}: money must be Decimal, int or a numeric string, not {value!r}")
    if not result.is_finite():
        raise ValueError(f"{field}: not a finite amount: {value!r}")
    return result


def krw(value: object) -> str:
    """A KRW amount as a person reads it: whole won with thousands separators ("1,234,500"),
    whatever scale it was stored with ("1234500.0000"); "-" when absent."""
    if value is None or value == "":
        return "-"
    amount = to_money(value)
    return f"{amount.quantize(Decimal(1)):,}"


def check_money(owner: object, *fields: str) -> None:
    """Raise TypeError if a named attribute is not a Decimal (a float, typically)."""
    for name in fields:
        value = getattr(owner, name)
        if value is None:
            continue
        if not isinstance(value, Decimal) or isinstance(value, bool):
            raise TypeError(
                f"{type(owner).__name__}.{name}: money must be Decimal, got {type(value).__name__}"
            )


def check_quantity(owner: object, *fields: str) -> None:
    """Share counts are ints (KRX trades whole shares); refuse floats and bools."""
    for name in fields:
        value = getattr(owner, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"{type(owner).__name__}.{name}: quantity must be int, got {type(value).__name__}"
            )
