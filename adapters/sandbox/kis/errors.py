"""KIS failure replies: which code, which message, which HTTP status and body shape (spec §5, §6).

Three shapes exist. Business rejections are HTTP 200 with `rt_cd` ≠ "0". Gateway errors
(EGW…) are HTTP 500 with the same envelope. The OAuth endpoints answer 403 with
`error_code`/`error_description` instead of `msg_cd`/`msg1`.
"""

from __future__ import annotations

from collections.abc import Mapping


class KisFailure(Exception):
    """A reply the sandbox gives instead of the requested data. Rendered by the app."""

    def __init__(self, status: int, body: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status} {dict(body)}")
        self.status = status
        self.body = dict(body)


def gateway(code: str, message: str) -> KisFailure:
    return KisFailure(500, {"rt_cd": "1", "msg_cd": code, "msg1": message})


def oauth(code: str, description: str) -> KisFailure:
    return KisFailure(403, {"error_code": code, "error_description": description})


def business(code: str, message: str, *, rt_cd: str = "1") -> KisFailure:
    return KisFailure(200, {"rt_cd": rt_cd, "msg_cd": code, "msg1": message})


def invalid_input(field: str) -> KisFailure:
    """The OPSQ2001 input check, rt_cd "2", naming the field (observed text, spec §6)."""
    return business("OPSQ2001", f"ERROR : INPUT INVALID_CHECK_{field}", rt_cd="2")


def unknown_account() -> KisFailure:
    return business("OPSQ2000", "ERROR : INPUT INVALID_CHECK_ACNO", rt_cd="2")


# Gateway and OAuth codes with the texts observed in the field (spec §2.1, §6).
TOKEN_INVALID = ("EGW00121", "유효하지 않은 token 입니다.")
TOKEN_EXPIRED = ("EGW00123", "기간이 만료된 token 입니다.")
TOKEN_THROTTLED = ("EGW00133", "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)")
BAD_APPKEY = ("EGW00103", "유효하지 않은 AppKey입니다.")
BAD_APPSECRET = ("EGW00105", "유효하지 않은 AppSecret입니다.")
BAD_REQUEST = ("EGW00101", "유효하지 않은 요청입니다.")
RATE_LIMITED = ("EGW00201", "초당 거래건수를 초과하였습니다.")
BAD_HASHKEY = ("EGW00131", "유효하지 않은 hashkey 입니다.")
BAD_CONTENT_TYPE = ("EGW00132", "Content-Type이 유효하지 않습니다.")
BAD_CUSTTYPE = ("EGW00208", "custtype 이 유효하지 않습니다.")
PAPER_KEY_ON_REAL = ("EGW02004", "실전투자 도메인은 모의투자 앱키로 호출하실 수 없습니다.")
PAPER_TR_ON_REAL = ("EGW02004", "실전투자 TR 이 아닙니다.")
NOT_A_PAPER_TR = ("EGW02006", "모의투자 TR 이 아닙니다.")
REAL_KEY_ON_PAPER = ("EGW02007", "해당 앱키는 모의투자용 앱키가 아닙니다")
TEMPORARY = ("EGW00001", "일시적인 오류가 발생했습니다. 잠시 후 다시 시도하세요.")
NO_SERVICE = ("MCA00124", "해당 서비스를 찾을수 없습니다.")
MISSING_TR_ID = ("OPSQ9999", "ERROR : INPUT TR_ID NOT FOUND")
BAD_JSON = ("OPSQ9997", "ERROR : INPUT JSON PARSE ERROR")
PAGE_DATA_CHANGED = ("SYDB0050", "조회이후에 자료가 변경되었습니다.(다시 조회하세요)")

# Order rejections (HTTP 200). Paper prefixes messages with "모의투자 " (spec §9).
OUTSIDE_HOURS = ("APBK0918", "장운영시간이 아닙니다.(주문불가)")
PAPER_BEFORE_OPEN = ("40570000", "모의투자 장시작전 입니다.")
PAPER_AFTER_CLOSE = ("40580000", "모의투자 장종료 입니다.")
OFF_TICK = ("APBK0506", "주식주문호가단위 오류입니다.")
NO_CASH = ("APBK0952", "주문가능금액을 초과 했습니다")
NO_SYMBOL = ("APBK0656", "해당종목정보가 없습니다.")
NO_SELLABLE_QTY = ("APBK0400", "주문가능수량을 초과했습니다.")
PAPER_NO_HOLDING = ("40240000", "모의투자 잔고내역이 없습니다.")
NOTHING_TO_AMEND = ("40330000", "정정/취소할 수량이 없습니다.")
PAPER_UNSUPPORTED = ("90000000", "모의투자에서는 해당업무가 제공되지 않습니다.")
