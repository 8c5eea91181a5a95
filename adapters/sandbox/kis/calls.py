"""A business call as handlers see it, their reply, and the success envelope (spec §5, §6).

Real inquiries answer KIOK0510 with the message right-padded as observed; paper answers
20310000 "모의투자 조회가 완료되었습니다.".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from adapters.sandbox.kis.broker import Broker
from adapters.sandbox.kis.params import Params
from adapters.sandbox.kis.wire import padded

INQUIRY_DONE = ("KIOK0510", padded("조회가 완료되었습니다", 70))
PAPER_INQUIRY_DONE = ("20310000", "모의투자 조회가 완료되었습니다.")


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated business request, after the gateway checks passed."""

    broker: Broker
    appkey: str
    params: Params
    tr_id: str
    variant: str
    tr_cont: str | None


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful business answer; `booked` marks replies that may be lost (orders)."""

    body: Mapping[str, object]
    tr_cont: str | None = None
    booked: bool = False


def success(broker: Broker, code_and_message: tuple[str, str] | None = None) -> dict[str, str]:
    code, message = code_and_message or (
        INQUIRY_DONE if broker.env == "real" else PAPER_INQUIRY_DONE
    )
    return {"rt_cd": "0", "msg_cd": code, "msg1": message}
