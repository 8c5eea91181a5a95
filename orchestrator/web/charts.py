"""Charts as static SVG drawn on the server by pygal (served as <img>, so no script runs and the
page's Content-Security-Policy stays strict). Amounts are plotted in whole won as ints: chart
geometry, never arithmetic on money."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pygal
from pygal.style import Style

from orchestrator.domain.timeutil import to_kst
from orchestrator.web.format import krw, parse_time

# Dark text on white, series colours distinguishable for the common colour-vision deficiencies.
_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1f2328",
    foreground_strong="#1f2328",
    foreground_subtle="#57606a",
    colors=("#0b5cad", "#c45a00", "#1a7f37", "#8250df", "#cf222e"),
    font_family="system-ui, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    title_font_size=15,
)


def _config(title: str) -> dict[str, Any]:
    # js=[]: pygal would otherwise reference its tooltip script on a CDN.
    return {
        "title": title,
        "style": _STYLE,
        "js": [],
        "width": 720,
        "height": 320,
        "legend_at_bottom": True,
        "show_dots": True,
        "dots_size": 2,
        "explicit_size": False,
        "value_formatter": lambda v: krw(int(v)),  # pygal hands axis values back as floats
        # pygal hands back naive UTC datetimes (utcfromtimestamp).
        "x_value_formatter": lambda d: to_kst(d.replace(tzinfo=UTC)).strftime("%m-%d %H:%M"),
        "x_label_rotation": 20,
        "truncate_legend": -1,
    }


def _won(value: object) -> int | None:
    try:
        return int(Decimal(str(value)))
    except (ArithmeticError, ValueError):
        return None


def _points(history: Sequence[Mapping[str, Any]], pick: Any) -> list[tuple[datetime, int]]:
    out: list[tuple[datetime, int]] = []
    for item in history:
        when = parse_time(item.get("as_of"))
        value = _won(pick(item))
        if when is not None and value is not None:
            out.append((when, value))
    return out


def total_value(history: Sequence[Mapping[str, Any]]) -> bytes:
    """Total value (cash + securities) per reconciliation, oldest first."""
    chart = pygal.DateTimeLine(**_config("Total value (KRW) per reconciliation"))
    chart.add("total", _points(history, lambda i: i.get("total")))
    chart.add("cash", _points(history, lambda i: i.get("cash_total")))
    return bytes(chart.render())


def cash_by_institution(history: Sequence[Mapping[str, Any]]) -> bytes:
    chart = pygal.DateTimeLine(**_config("Cash by institution (KRW)"))
    institutions = sorted({k for i in history for k in (i.get("cash_by_institution") or {})})
    for inst in institutions:
        chart.add(
            inst,
            _points(history, lambda i, inst=inst: (i.get("cash_by_institution") or {}).get(inst)),
        )
    return bytes(chart.render())


def allocation(actual: Mapping[str, Decimal], targets: Mapping[str, Mapping[str, str]]) -> bytes:
    """Each rebalance workflow's target weights (percent) against the weights held now."""
    config = _config("Allocation: % of total value held vs rebalance targets")
    config["value_formatter"] = lambda v: f"{v:.1f}%"
    chart = pygal.Bar(**config)
    symbols = sorted({s for t in targets.values() for s in t} | set(actual))
    chart.x_labels = symbols
    chart.add("held", [float(actual.get(s, Decimal(0))) for s in symbols])
    for name, target in sorted(targets.items()):
        chart.add(f"target: {name}", [float(Decimal(target.get(s, "0"))) for s in symbols])
    return bytes(chart.render())
