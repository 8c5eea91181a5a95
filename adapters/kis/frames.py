"""Decoding KIS real-time frames (spec §7.2): `<0|1>|<tr_id>|<count>|<f1^f2^…>`, `1` meaning
AES-256-CBC encrypted (key and iv from the subscribe reply) and base64-encoded.

Trade records (H0STCNT0) have 46 fields, execution notices (H0STCNI0/H0STCNI9) 26 (23 before
2025: python-kis#68; both are read). Field positions are the official sample's column order.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from orchestrator.domain.model import OrderEvent, OrderEventKind, Side

KST = ZoneInfo("Asia/Seoul")
TRADES = "H0STCNT0"
NOTICE_TRS = {"real": "H0STCNI0", "paper": "H0STCNI9"}
TRADE_FIELDS = 46
# Positions in the notice record.
_ODER_NO, _OODER_NO, _SIDE, _RCTF, _PDNO, _QTY, _PRICE, _HOUR = 2, 3, 4, 5, 8, 9, 10, 11
_RFUS, _CNTG, _ACPT = 12, 13, 14


class FrameError(ValueError):
    """A frame that cannot be read (malformed, or not decryptable with the session's key)."""


class NoticeDecryptError(FrameError):
    """The key or iv does not decrypt this notice: check they are the `output.key`/`output.iv`
    of this session's subscribe reply (they change with every connection)."""


@dataclass(frozen=True, slots=True)
class Frame:
    encrypted: bool
    tr_id: str
    count: int
    payload: str


@dataclass(frozen=True, slots=True)
class Trade:
    symbol: str
    price: Decimal
    hhmmss: str


def split(text: str) -> Frame:
    parts = text.split("|", 3)
    if len(parts) != 4 or parts[0] not in ("0", "1") or not parts[2].isdigit():
        raise FrameError(f"not a KIS data frame: {text[:40]!r}")
    return Frame(parts[0] == "1", parts[1], int(parts[2]), parts[3])


class Decryptor:
    """AES-256-CBC with the session's key (32 characters) and iv (16), PKCS#7 padding."""

    def __init__(self, key: str, iv: str) -> None:
        try:
            self._algorithm = algorithms.AES(key.encode())
            self._mode = modes.CBC(iv.encode())
        except ValueError as e:
            raise NoticeDecryptError(f"bad AES key/iv from the subscribe reply: {e}") from None

    def decrypt(self, payload: str) -> str:
        try:
            data = base64.b64decode(payload, validate=True)
            decryptor = Cipher(self._algorithm, self._mode).decryptor()
            padded = decryptor.update(data) + decryptor.finalize()
            unpadder = padding.PKCS7(128).unpadder()
            return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError) as e:
            raise NoticeDecryptError(
                f"notice not decryptable with this session's key/iv ({type(e).__name__}): "
                "use the key and iv of this connection's subscribe reply"
            ) from None


def trades(frame: Frame) -> list[Trade]:
    """The (symbol, price, time) of each trade record in an H0STCNT0 frame."""
    fields = frame.payload.split("^")
    if frame.count <= 0 or len(fields) < frame.count * TRADE_FIELDS:
        raise FrameError(f"H0STCNT0 frame with {len(fields)} fields for {frame.count} records")
    out = []
    for i in range(frame.count):
        base = i * TRADE_FIELDS
        try:
            price = Decimal(fields[base + 2])
        except InvalidOperation:
            raise FrameError(f"H0STCNT0 price {fields[base + 2]!r}") from None
        out.append(Trade(fields[base], price, fields[base + 1]))
    return out


def notice(
    text: str, account_id: str, account_digits: str, today: date, hts_id: str
) -> OrderEvent | None:
    """The OrderEvent of one decrypted notice record, or None when it is for another account.

    The first field is the HTS ID the notices were registered under; in CBC a wrong iv garbles
    exactly the first block, so a different first field means the key or iv is wrong.
    """
    fields = text.split("^")
    if fields[0] != hts_id:
        raise NoticeDecryptError(
            "notice does not start with our HTS ID: the key/iv is not this connection's "
            "(use output.key and output.iv of this session's subscribe reply)"
        )
    if len(fields) < 23:
        raise FrameError(f"notice record with {len(fields)} fields (23 or 26 expected)")
    if fields[1].replace("-", "") != account_digits:
        return None
    if fields[_RFUS] == "1":
        kind = OrderEventKind.REJECTED
    elif fields[_CNTG] == "2":
        kind = OrderEventKind.FILLED
    elif fields[_RCTF] == "2" or fields[_ACPT] == "3":
        kind = OrderEventKind.CANCELLED
    elif fields[_RCTF] == "1":
        kind = OrderEventKind.MODIFIED
    else:
        kind = OrderEventKind.ACCEPTED
    order_id = fields[_ODER_NO]
    if kind in (OrderEventKind.CANCELLED, OrderEventKind.MODIFIED) and fields[_OODER_NO]:
        order_id = fields[_OODER_NO]
    try:
        quantity = int(fields[_QTY] or 0)
        price = Decimal(fields[_PRICE]) if kind is OrderEventKind.FILLED else None
        hour = fields[_HOUR]
        at = datetime.combine(
            today, time(int(hour[:2]), int(hour[2:4]), int(hour[4:6])), tzinfo=KST
        )
    except (ValueError, InvalidOperation, IndexError):
        raise FrameError("notice record with unreadable quantity, price or time") from None
    return OrderEvent(
        kind=kind,
        account_id=account_id,
        order_id=order_id,
        symbol=fields[_PDNO],
        side=Side.SELL if fields[_SIDE] == "01" else Side.BUY,
        quantity=quantity,
        price=price,
        at=at,
    )
