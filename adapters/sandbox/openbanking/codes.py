"""Response codes of the KFTC Open Banking relay and the institution-code table.

Spec: /work/shared/specs/kftc-openbanking.md §3.2 (O-codes and O0001 sub-codes), §3.3 (A-codes and
bank_rsp_code values) and §5 (bank_code_std of securities firms and banks). Korean labels follow
the spec's translations; the digest gives the exact Korean text only for some codes, the rest are
close renderings (clients must key on the code, never on the message).
"""

from __future__ import annotations

from typing import Final

# --- rsp_code: gateway / auth (§3.2) ---------------------------------------------------------
O_AUTH_REJECTED: Final = "O0001"
O_TOKEN_REJECTED: Final = "O0002"
O_TOKEN_EXPIRED: Final = "O0003"
O_NO_API_ACCESS: Final = "O0004"
O_API_NOT_FOUND: Final = "O0005"
O_IP_NOT_ALLOWED: Final = "O0006"
O_CANNOT_ROUTE: Final = "O0007"
O_OBJECT_QUOTA: Final = "O0008"
O_API_QUOTA: Final = "O0009"
O_METHOD_NOT_ALLOWED: Final = "O0010"
O_SCOPE_NOT_ALLOWED: Final = "O0011"

# --- O0001 sub-codes (별첨4), carried in rsp_message as "[nnn]" -------------------------------
SUB_MISSING_BEARER: Final = "992"
SUB_BAD_PARAMETER: Final = "3000103"
SUB_BAD_CLIENT: Final = "3000201"
SUB_REDIRECT_MISMATCH: Final = "3000114"
SUB_SCOPE_NOT_REGISTERED: Final = "3000115"
SUB_BAD_RESPONSE_TYPE: Final = "3000116"
SUB_SESSION_USED: Final = "3002110"

# --- rsp_code: API processing (§3.3) -----------------------------------------------------------
A_OK: Final = "A0000"
A_PROCESSING: Final = "A0001"
A_BANK_ERROR: Final = "A0002"
A_INTERNAL_ERROR: Final = "A0003"
A_FORMAT_ERROR: Final = "A0004"
A_CONVERSION_ERROR: Final = "A0006"
A_TIMEOUT: Final = "A0007"
A_DUPLICATE_TRANSACTION: Final = "A0008"
A_PARTIAL_FAILURE: Final = "A0009"
A_INTERNAL_SEND_FAILURE: Final = "A0016"
A_BANK_TIMEOUT: Final = "A0017"
A_NO_HISTORY: Final = "A0018"
A_OUTSIDE_HOURS: Final = "A0020"
A_DEPOSIT_DAILY_LIMIT: Final = "A0101"
A_DEPOSIT_PER_TRAN_LIMIT: Final = "A0106"
A_USER_WITHDRAW_PER_TRAN_LIMIT: Final = "A0111"
A_USER_WITHDRAW_DAILY_LIMIT: Final = "A0112"
A_FINTECH_NUM_MISMATCH: Final = "A0304"
A_INQUIRY_CONSENT_MISSING: Final = "A0305"
A_WITHDRAW_CONSENT_MISSING: Final = "A0306"
A_PASS_PHRASE_MISMATCH: Final = "A0307"
A_NO_TRANSFER_RECORD: Final = "A0310"
A_USER_MISMATCH: Final = "A0313"
A_CONTRACT_ACCOUNT_UNREGISTERED: Final = "A0322"
A_ACCOUNT_NOT_REGISTERED: Final = "A0323"
A_DUPLICATE_BANK_TRAN_ID: Final = "A0326"

# Outcomes after which a money-moving request may or may not have executed (§3.4); the sandbox
# lets a fault force any of them and transfer/result then tells the truth.
UNKNOWN_OUTCOME_CODES: Final = frozenset(
    {
        A_PROCESSING,
        A_INTERNAL_ERROR,
        A_CONVERSION_ERROR,
        A_TIMEOUT,
        A_INTERNAL_SEND_FAILURE,
        A_BANK_TIMEOUT,
    }
)

RSP_MESSAGES: Final[dict[str, str]] = {
    O_AUTH_REJECTED: "인증요청 거부",
    O_TOKEN_REJECTED: "Access Token 거부",
    O_TOKEN_EXPIRED: "Access Token 만료",
    O_NO_API_ACCESS: "API 사용 권한 없음",
    O_API_NOT_FOUND: "허용되지 않거나 존재하지 않는 API",
    O_IP_NOT_ALLOWED: "허용되지 않은 IP",
    O_CANNOT_ROUTE: "API 처리 불가",
    O_OBJECT_QUOTA: "Object 플랜 사용량 초과",
    O_API_QUOTA: "API 플랜 사용량 초과",
    O_METHOD_NOT_ALLOWED: "허용되지 않은 http method",
    O_SCOPE_NOT_ALLOWED: "허용되지 않은 Scope",
    A_OK: "",
    A_PROCESSING: "처리중",
    A_BANK_ERROR: "참가기관 에러",
    A_INTERNAL_ERROR: "처리중 에러 발생",
    A_FORMAT_ERROR: "요청전문 포맷 에러",
    "A0005": "등록된 데이터 에러",
    A_CONVERSION_ERROR: "전문 변환 에러",
    A_TIMEOUT: "처리 시간 초과",
    A_DUPLICATE_TRANSACTION: "중복거래",
    A_PARTIAL_FAILURE: "일부 처리 실패",
    A_INTERNAL_SEND_FAILURE: "내부 전문 전송 실패",
    A_BANK_TIMEOUT: "참가기관 응답 시간 초과",
    A_NO_HISTORY: "거래내역 없음",
    A_OUTSIDE_HOURS: "조회 가능 시간이 아님",
    A_DEPOSIT_DAILY_LIMIT: "이용기관 입금이체 일한도 초과",
    A_DEPOSIT_PER_TRAN_LIMIT: "이용기관 입금이체 건별한도 초과",
    A_USER_WITHDRAW_PER_TRAN_LIMIT: "사용자 출금이체 건별한도 초과",
    A_USER_WITHDRAW_DAILY_LIMIT: "사용자 출금이체 일한도 초과",
    A_FINTECH_NUM_MISMATCH: "핀테크이용번호 정보 불일치",
    A_INQUIRY_CONSENT_MISSING: "제3자정보제공동의 미완료",
    A_WITHDRAW_CONSENT_MISSING: "출금동의 미완료",
    A_PASS_PHRASE_MISMATCH: "입금이체용 암호문구 불일치",
    A_NO_TRANSFER_RECORD: "이체내역 없음",
    A_USER_MISMATCH: "사용자 불일치",
    A_CONTRACT_ACCOUNT_UNREGISTERED: "등록되지 않은 이용기관 약정계좌",
    A_ACCOUNT_NOT_REGISTERED: "이용기관에 등록된 사용자 계좌가 아님",
    A_DUPLICATE_BANK_TRAN_ID: "거래고유번호 중복",
}


def rsp_message(code: str, detail: str | None = None) -> str:
    """Label for ``code``; errors append their detail in brackets the way the relay does (§3.1)."""
    label = RSP_MESSAGES.get(code, "")
    if detail is None:
        return label
    return f"{label} [{detail}]" if label else f"[{detail}]"


# --- bank_rsp_code: participant side (§3.3) --------------------------------------------------
BANK_OK: Final = "000"
BANK_NO_ACCOUNT: Final = "412"
BANK_CLOSED_ACCOUNT: Final = "415"
BANK_ACCIDENT_ACCOUNT: Final = "419"
BANK_STOPPED_ACCOUNT: Final = "420"
# The digest lists no dedicated "insufficient funds" code; 499 ("other, contact branch") is the
# closest documented participant answer, so the sandbox uses it with an explicit message.
BANK_OTHER: Final = "499"
BANK_NAME_MISMATCH: Final = "815"

BANK_RSP_MESSAGES: Final[dict[str, str]] = {
    BANK_OK: "",
    BANK_NO_ACCOUNT: "해당 계좌 없음",
    BANK_CLOSED_ACCOUNT: "해지 계좌",
    "416": "잡좌",
    BANK_ACCIDENT_ACCOUNT: "사고신고 계좌",
    BANK_STOPPED_ACCOUNT: "거래중지 계좌",
    "470": "개인정보 노출 계좌",
    "471": "전자금융 거래제한",
    "472": "고객요청 거래제한",
    "473": "명의변경/상속 계좌",
    "474": "비밀번호 오류횟수 초과",
    "475": "신규계좌 일시 거래제한",
    "476": "파산관재인 계좌",
    "477": "단말기 정보 불일치",
    BANK_OTHER: "기타 - 영업점 문의",
    BANK_NAME_MISMATCH: "예금주명 불일치",
}

# --- institutions (bank_code_std, §5) -------------------------------------------------------
SAMSUNG_SECURITIES: Final = "240"
KIS: Final = "243"
SAVINGS_BANK: Final = "050"

INSTITUTION_NAMES: Final[dict[str, str]] = {
    "004": "KB국민은행",
    "011": "NH농협은행",
    "020": "우리은행",
    "050": "저축은행",
    "081": "하나은행",
    "088": "신한은행",
    "090": "카카오뱅크",
    "092": "토스뱅크",
    "097": "오픈은행",
    "209": "유안타증권",
    "218": "KB증권",
    "238": "미래에셋증권",
    SAMSUNG_SECURITIES: "삼성증권",
    KIS: "한국투자증권",
    "247": "NH투자증권",
    "261": "교보증권",
    "262": "하이투자증권",
    "263": "현대차증권",
    "264": "키움증권",
    "265": "LS증권",
    "266": "SK증권",
    "267": "대신증권",
    "269": "한화투자증권",
    "270": "하나증권",
    "271": "토스증권",
    "278": "신한투자증권",
    "279": "DB금융투자",
    "280": "유진투자증권",
    "287": "메리츠증권",
    "288": "카카오페이증권",
    "293": "한국증권금융",
}


def institution_name(bank_code_std: str) -> str:
    return INSTITUTION_NAMES.get(bank_code_std, f"기관{bank_code_std}")


def accountinfo_bank_type(bank_code_std: str) -> str:
    """어카운트인포 ``inquiry_bank_type`` (§2.13): 1 bank, 2 savings, 4 securities."""
    if bank_code_std.startswith("2"):
        return "4"
    if bank_code_std in {SAVINGS_BANK, "012", "045", "048", "064"}:
        return "2"
    return "1"
