"""Kiwoom answer codes the sandbox gives (digest §2.4), and the failure that carries one.

Kiwoom answers on HTTP 200 with `return_code` (0 = OK) and `return_msg`; the vendor code sits in
brackets inside the message (`...[1700:...]`). `return_code` groups follow what the field shows
for throttling (5); the other group numbers are the sandbox's own choice (the digest gives only
0 and 5), and clients must classify by the bracketed code, never by the group alone.
"""

from __future__ import annotations

from dataclasses import dataclass

# (return_code group, vendor code, text)
Code = tuple[int, str, str]

OK_MSG = "정상적으로 처리되었습니다"
NO_API_ID: Code = (2, "1501", "API ID가 존재하지 않습니다")
WRONG_URI: Code = (2, "1504", "해당 URI에서는 지원하는 API ID가 아닙니다")
UNKNOWN_API_ID: Code = (2, "1505", "존재하지 않는 API ID입니다")
MISSING_FIELD: Code = (2, "1511", "필수 입력 값에 값이 존재하지 않습니다")
BAD_CONTENT_TYPE: Code = (2, "1512", "Http header에 값이 설정되지 않았거나 읽을 수 없습니다")
NO_AUTHORIZATION: Code = (2, "1514", "입력된 authorization이 없습니다")
BAD_INPUT: Code = (2, "1517", "입력 값 형식이 올바르지 않습니다")
BATCH_TOO_LARGE: Code = (5, "1634", "허용된 요청 개수를 초과하였습니다")
RATE_LIMITED: Code = (5, "1700", "허용된 요청 개수를 초과하였습니다")
UNKNOWN_MARKET: Code = (2, "1901", "시장 코드값이 존재하지 않습니다")
UNKNOWN_STOCK: Code = (2, "1902", "종목 정보가 없습니다")
MOCK_UNSUPPORTED: Code = (1, "1999", "모의투자에서는 해당업무가 제공되지 않습니다")
BAD_APPKEY: Code = (3, "8001", "App Key와 Secret Key 검증에 실패했습니다")
BAD_SECRET: Code = (3, "8002", "App Key와 Secret Key 검증에 실패했습니다")
TOKEN_INVALID: Code = (3, "8005", "Token이 유효하지 않습니다")
NO_GRANT_TYPE: Code = (3, "8011", "grant_type이 입력되지 않았습니다")
BAD_GRANT_TYPE: Code = (3, "8012", "grant_type이 올바르지 않습니다")
REVOKE_FAILED: Code = (3, "8016", "Token 폐기에 실패했습니다")
NO_KEYS: Code = (3, "8020", "appkey 또는 secretkey가 입력되지 않았습니다")
WRONG_ENV_KEY: Code = (3, "8030", "투자구분(실전/모의)이 달라서 Appkey를 사용할 수 없습니다")
WRONG_ENV_TOKEN: Code = (3, "8031", "투자구분(실전/모의)이 달라서 Token을 사용할 수 없습니다")
# Order refusals. RC4032 is a field observation (digest §2.4); the other two are the sandbox's
# own codes for refusals the digest does not list (clients treat unlisted codes on an order
# as a refusal).
NO_ORIGINAL_ORDER: Code = (1, "RC4032", "원주문번호가 존재하지 않습니다")
NOT_ENOUGH_CASH: Code = (1, "SB0001", "주문가능금액이 부족합니다")
NOT_ENOUGH_SHARES: Code = (1, "SB0002", "매도가능수량이 부족합니다")
NOTHING_TO_CANCEL: Code = (1, "SB0003", "취소가능수량이 없습니다")


@dataclass(frozen=True, slots=True)
class KiwoomFailure(Exception):
    """An error answer: HTTP `status` (200 unless throttled as 429) with the Kiwoom body."""

    code: Code
    status: int = 200

    @property
    def body(self) -> dict[str, object]:
        group, vendor, text = self.code
        return {"return_code": group, "return_msg": f"{text}[{vendor}:{text}]"}


def fail(code: Code, status: int = 200) -> KiwoomFailure:
    return KiwoomFailure(code, status)
