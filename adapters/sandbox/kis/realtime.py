"""What the real-time (websocket) service says, and its state (spec §2.4, §6 OPSP codes, §7.2).

Control replies are JSON: `header.tr_id/tr_key/encrypt` and `body.rt_cd/msg_cd/msg1`, plus
`output.iv/key` on a successful subscription. Data frames are text
`<0|1>|<tr_id>|<count>|<f1^f2^…>`, `1` meaning the fields are AES-256-CBC encrypted with the
session's key and iv and base64-encoded (execution notices). PINGPONG heartbeats must be echoed.

`RealtimeState` (reachable as `broker.realtime`) holds the websocket fault levers; it is plain
data, like the rest of the broker's state. Live connections are not state: they belong to the
running app (`websocket.Hub`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import BaseModel, ConfigDict, Field

from adapters.sandbox.kis.prices import DayStats
from adapters.sandbox.kis.ticks import SymbolKind, tick_size
from adapters.sandbox.kis.wire import num, rate

TRADES = "H0STCNT0"
QUOTES = "H0STASP0"
NOTICES = {"real": "H0STCNI0", "paper": "H0STCNI9"}
PINGPONG = "PINGPONG"
# 40 per session in the official sample and python-kis; the 2026 notice says 41 (spec §7.2).
MAX_SUBSCRIPTIONS = 40

# Control codes and messages (spec §6, AIX table).
SUBSCRIBED = ("OPSP0000", "SUBSCRIBE SUCCESS")
UNSUBSCRIBED = ("OPSP0001", "UNSUBSCRIBE SUCCESS")
ALREADY_SUBSCRIBED = ("OPSP0002", "ALREADY IN SUBSCRIBE")
NOT_SUBSCRIBED = ("OPSP0003", "UNSUBSCRIBE ERROR(not found!)")
MAX_OVER = ("OPSP0008", "MAX SUBSCRIBE OVER")
BAD_APPROVAL = ("OPSP0011", "invalid approval : NOT FOUND")
BAD_TR_ID = ("OPSP8991", "SUBSCRIBE ERROR : invalid tr_id")
BAD_TR_KEY = ("OPSP8992", "SUBSCRIBE ERROR : invalid tr_key")
APPKEY_IN_USE = ("OPSP8996", "ALREADY IN USE appkey")
BAD_TR_TYPE = ("OPSP8997", "JSON PARSING ERROR : invalid tr_type")
BAD_CUSTTYPE = ("OPSP8998", "JSON PARSING ERROR : invalid custtype")
NO_TR_KEY = ("OPSP9990", "JSON PARSING ERROR : tr_key not found")
NO_INPUT = ("OPSP9991", "JSON PARSING ERROR : input not found")
NO_BODY = ("OPSP9992", "JSON PARSING ERROR : body not found")
NO_HEADER = ("OPSP9998", "JSON PARSING ERROR : header not found")
BAD_JSON = ("OPSP9999", "JSON PARSING ERROR : invalid json format")

TRADE_FIELDS: tuple[str, ...] = (
    "MKSC_SHRN_ISCD", "STCK_CNTG_HOUR", "STCK_PRPR", "PRDY_VRSS_SIGN", "PRDY_VRSS",
    "PRDY_CTRT", "WGHN_AVRG_STCK_PRC", "STCK_OPRC", "STCK_HGPR", "STCK_LWPR", "ASKP1",
    "BIDP1", "CNTG_VOL", "ACML_VOL", "ACML_TR_PBMN", "SELN_CNTG_CSNU", "SHNU_CNTG_CSNU",
    "NTBY_CNTG_CSNU", "CTTR", "SELN_CNTG_SMTN", "SHNU_CNTG_SMTN", "CCLD_DVSN", "SHNU_RATE",
    "PRDY_VOL_VRSS_ACML_VOL_RATE", "OPRC_HOUR", "OPRC_VRSS_PRPR_SIGN", "OPRC_VRSS_PRPR",
    "HGPR_HOUR", "HGPR_VRSS_PRPR_SIGN", "HGPR_VRSS_PRPR", "LWPR_HOUR", "LWPR_VRSS_PRPR_SIGN",
    "LWPR_VRSS_PRPR", "BSOP_DATE", "NEW_MKOP_CLS_CODE", "TRHT_YN", "ASKP_RSQN1",
    "BIDP_RSQN1", "TOTAL_ASKP_RSQN", "TOTAL_BIDP_RSQN", "VOL_TNRT",
    "PRDY_SMNS_HOUR_ACML_VOL", "PRDY_SMNS_HOUR_ACML_VOL_RATE", "HOUR_CLS_CODE",
    "MRKT_TRTM_CLS_CODE", "VI_STND_PRC",
)  # fmt: skip
QUOTE_FIELDS: tuple[str, ...] = (
    "MKSC_SHRN_ISCD", "BSOP_HOUR", "HOUR_CLS_CODE",
    *(f"ASKP{i}" for i in range(1, 11)),
    *(f"BIDP{i}" for i in range(1, 11)),
    *(f"ASKP_RSQN{i}" for i in range(1, 11)),
    *(f"BIDP_RSQN{i}" for i in range(1, 11)),
    *(
        "TOTAL_ASKP_RSQN", "TOTAL_BIDP_RSQN", "OVTM_TOTAL_ASKP_RSQN", "OVTM_TOTAL_BIDP_RSQN",
        "ANTC_CNPR", "ANTC_CNQN", "ANTC_VOL", "ANTC_CNTG_VRSS", "ANTC_CNTG_VRSS_SIGN",
        "ANTC_CNTG_PRDY_CTRT", "ACML_VOL", "TOTAL_ASKP_RSQN_ICDC", "TOTAL_BIDP_RSQN_ICDC",
        "OVTM_TOTAL_ASKP_ICDC", "OVTM_TOTAL_BIDP_ICDC", "STCK_DEAL_CLS_CODE",
    ),
)  # fmt: skip


class WsFaultPlan(BaseModel):
    """The body of `POST /_sandbox/websocket`: drop connections, delay frames, beat now.

    `drop_now` closes every open session at once; `drop_after_frames` closes a session after
    that many more data frames (mid-stream); `delay_seconds` holds every batch of frames back
    that long (null removes it); `heartbeat` sends one PINGPONG round now, closing the sessions
    that left the previous one unanswered.
    """

    model_config = ConfigDict(extra="forbid")

    drop_now: bool = False
    drop_after_frames: int | None = Field(default=None, ge=0)
    delay_seconds: float | None = Field(default=None, ge=0)
    heartbeat: bool = False


@dataclass(slots=True)
class RealtimeState:
    """Websocket levers and counters of one environment."""

    drop_after_frames: int | None = None
    delay_seconds: float = 0.0
    sessions_opened: int = 0
    dropped: int = 0
    frames_sent: int = 0

    def apply(self, plan: WsFaultPlan) -> None:
        if "drop_after_frames" in plan.model_fields_set:
            self.drop_after_frames = plan.drop_after_frames
        if "delay_seconds" in plan.model_fields_set:
            self.delay_seconds = plan.delay_seconds or 0.0

    def snapshot(self) -> dict[str, object]:
        return {
            "drop_after_frames": self.drop_after_frames,
            "delay_seconds": self.delay_seconds,
            "sessions_opened": self.sessions_opened,
            "dropped": self.dropped,
            "frames_sent": self.frames_sent,
        }


def session_secret(seed: int, env: str, serial: int) -> tuple[str, str]:
    """The AES-256 key (32 characters) and iv (16) of one session, as text, as KIS sends them."""
    digest = hashlib.sha256(f"kis-ws|{seed}|{env}|{serial}".encode()).hexdigest()
    return digest[:32], digest[32:48]


def encrypt(key: str, iv: str, text: str) -> str:
    """AES-256-CBC with PKCS#7 padding over the UTF-8 text, base64-encoded."""
    padder = padding.PKCS7(128).padder()
    data = padder.update(text.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def control(
    tr_id: str,
    tr_key: str,
    result: tuple[str, str],
    *,
    encrypt_flag: str = "N",
    secret: tuple[str, str] | None = None,
) -> str:
    """A control reply; rt_cd "0" for the success codes, "9" for OPSP8996, else "1"."""
    code, message = result
    rt_cd = "0" if code in ("OPSP0000", "OPSP0001") else "9" if code == "OPSP8996" else "1"
    body: dict[str, object] = {"rt_cd": rt_cd, "msg_cd": code, "msg1": message}
    if secret is not None:
        body["output"] = {"iv": secret[1], "key": secret[0]}
    header = {"tr_id": tr_id, "tr_key": tr_key, "encrypt": encrypt_flag}
    return json.dumps({"header": header, "body": body}, ensure_ascii=False)


def pingpong(at: datetime) -> str:
    return json.dumps({"header": {"tr_id": PINGPONG, "datetime": at.strftime("%Y%m%d%H%M%S")}})


def frame(tr_id: str, records: list[tuple[str, ...]], *, secret: tuple[str, str] | None) -> str:
    """A data frame of `records`; encrypted (flag 1) when a secret is given."""
    text = "^".join("^".join(values) for values in records)
    if secret is None:
        return f"0|{tr_id}|{len(records):03d}|{text}"
    return f"1|{tr_id}|{len(records):03d}|{encrypt(secret[0], secret[1], text)}"


def _sign(last: int, prev: int, upper: int, lower: int) -> str:
    if last == upper:
        return "1"
    if last == lower:
        return "4"
    return "2" if last > prev else "3" if last == prev else "5"


def trade_record(
    pdno: str, at: datetime, stats: DayStats, step_volume: int, kind: SymbolKind
) -> tuple[str, ...]:
    """One H0STCNT0 record from the price engine's day so far."""
    tick = tick_size(stats.last, kind)
    change = stats.last - stats.prev_close
    vwap = stats.turnover // stats.volume if stats.volume else stats.last
    values = {
        "MKSC_SHRN_ISCD": pdno,
        "STCK_CNTG_HOUR": at.strftime("%H%M%S"),
        "STCK_PRPR": num(stats.last),
        "PRDY_VRSS_SIGN": _sign(stats.last, stats.prev_close, stats.upper, stats.lower),
        "PRDY_VRSS": num(change),
        "PRDY_CTRT": rate(change, stats.prev_close, 2),
        "WGHN_AVRG_STCK_PRC": num(vwap),
        "STCK_OPRC": num(stats.open),
        "STCK_HGPR": num(stats.high),
        "STCK_LWPR": num(stats.low),
        "ASKP1": num(stats.last + tick),
        "BIDP1": num(stats.last),
        "CNTG_VOL": num(step_volume),
        "ACML_VOL": num(stats.volume),
        "ACML_TR_PBMN": num(stats.turnover),
        "CCLD_DVSN": "1",
        "OPRC_HOUR": "090000",
        "OPRC_VRSS_PRPR": num(stats.last - stats.open),
        "HGPR_VRSS_PRPR": num(stats.last - stats.high),
        "LWPR_VRSS_PRPR": num(stats.last - stats.low),
        "BSOP_DATE": f"{stats.day:%Y%m%d}",
        "NEW_MKOP_CLS_CODE": "20",
        "TRHT_YN": "N",
        "ASKP_RSQN1": num(step_volume),
        "BIDP_RSQN1": num(step_volume),
        "HOUR_CLS_CODE": "0",
        "MRKT_TRTM_CLS_CODE": "N",
        "VI_STND_PRC": num(stats.prev_close),
    }
    return tuple(values.get(name, "0") for name in TRADE_FIELDS)


def quote_record(
    pdno: str, at: datetime, stats: DayStats, depth: int, kind: SymbolKind
) -> tuple[str, ...]:
    """One H0STASP0 record: ten levels a tick apart on each side of the last price."""
    tick = tick_size(stats.last, kind)
    values: dict[str, str] = {
        "MKSC_SHRN_ISCD": pdno,
        "BSOP_HOUR": at.strftime("%H%M%S"),
        "HOUR_CLS_CODE": "0",
        "ACML_VOL": num(stats.volume),
        "STCK_DEAL_CLS_CODE": "0",
        "TOTAL_ASKP_RSQN": num(depth * 10),
        "TOTAL_BIDP_RSQN": num(depth * 10),
    }
    for level in range(1, 11):
        values[f"ASKP{level}"] = num(min(stats.upper, stats.last + level * tick))
        values[f"BIDP{level}"] = num(max(stats.lower, stats.last - (level - 1) * tick))
        values[f"ASKP_RSQN{level}"] = num(depth)
        values[f"BIDP_RSQN{level}"] = num(depth)
    return tuple(values.get(name, "0") for name in QUOTE_FIELDS)
