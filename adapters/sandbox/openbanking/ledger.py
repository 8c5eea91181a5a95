"""The participant-side books: registered accounts, their balances and posted transactions.

Shapes follow spec §2.2-§2.4: ``inout_type`` is Korean text (입금/출금/지급/기타, §8.8), amounts are
unsigned with a signed running balance, and there is no per-transaction id in the relay's output —
``seq`` exists only to order same-second postings and to anchor the paging cursor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from .formats import to_kst

InoutType = Literal["입금", "출금", "지급", "기타"]
INOUT_TYPES: Final[tuple[InoutType, ...]] = ("입금", "출금", "지급", "기타")
OUTFLOW_TYPES: Final = frozenset({"출금", "지급"})


def signed(inout_type: InoutType, amount: int) -> int:
    if inout_type == "입금":
        return amount
    if inout_type in OUTFLOW_TYPES:
        return -amount
    return 0


@dataclass(frozen=True)
class Transaction:
    seq: int
    at: datetime
    inout_type: InoutType
    tran_type: str
    print_content: str
    amount: int
    after_balance: int
    branch_name: str = ""

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.at, self.seq)


@dataclass
class Account:
    fintech_use_num: str
    user_seq_no: str
    bank_code_std: str
    bank_code_sub: str
    account_num: str
    account_seq: str
    account_alias: str
    account_holder_name: str
    account_holder_type: str
    account_type: str
    product_name: str
    account_issue_date: str
    maturity_date: str
    inquiry_agree_dtime: str
    transfer_agree_dtime: str | None
    account_state: str
    forced_bank_rsp_code: str
    balance: int
    hold: int = 0
    history: list[Transaction] = field(default_factory=list)

    @property
    def available(self) -> int:
        return self.balance - self.hold

    @property
    def inquiry_agreed(self) -> bool:
        return bool(self.inquiry_agree_dtime)

    @property
    def transfer_agreed(self) -> bool:
        return bool(self.transfer_agree_dtime)

    @property
    def active(self) -> bool:
        return self.account_state == "01"

    def post(
        self,
        *,
        at: datetime,
        inout_type: InoutType,
        amount: int,
        tran_type: str,
        print_content: str,
        branch_name: str = "",
    ) -> Transaction:
        """Book a movement now: the running balance is the account's balance at posting time."""
        if amount < 0:
            raise ValueError("amounts are unsigned; inout_type carries the direction")
        self.balance += signed(inout_type, amount)
        entry = Transaction(
            seq=len(self.history) + 1,
            at=to_kst(at),
            inout_type=inout_type,
            tran_type=tran_type,
            print_content=print_content,
            amount=amount if inout_type != "기타" else 0,
            after_balance=self.balance,
            branch_name=branch_name,
        )
        self.history.append(entry)
        self.history.sort(key=lambda t: t.sort_key)
        return entry

    @property
    def last_tran_date(self) -> str:
        if not self.history:
            return ""
        return self.history[-1].at.strftime("%Y%m%d")
