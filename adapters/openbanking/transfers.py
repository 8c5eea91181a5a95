"""Guarded deposits into the linked CMA: 입금이체 `/v2.0/transfer/deposit/fin_num` (spec §2.6).

Money flows from our payout (약정) account into the user's CMA with the 2-legged `oob` token.
The guard rails, in order, all before anything is sent:

1. off unless `transfers.enabled`; only the configured target account;
2. whole KRW, at most `per_transfer_limit`;
3. the journal row (PENDING_SUBMIT, with its bank_tran_id) is committed together with the daily
   limit check (`daily_limit` over today's non-failed deposits, KST) and an audit row.

The request is sent once. A0001/A0003/A0006/A0007/A0016/A0017, a duplicate (A0008/A0326), a 5xx
or a lost reply leave the outcome unknown (spec §3.4): the transfer is asked about through
`/v2.0/transfer/result` with the same bank_tran_id, never resent with a new one. Only A0310 ("no
record") makes it FAILED, and only once `no_record_grace_seconds` have passed since it was sent,
on every KST day it may have been booked under. The same idempotency key returns the recorded
transfer instead of sending again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import structlog

from adapters.openbanking.auth import ACTOR, OpenBankingTokens
from adapters.openbanking.client import OpenBankingClient, TranIds
from adapters.openbanking.endpoints import DEPOSIT, TRANSFER_RESULT
from adapters.openbanking.errors import NO_RECORD, PARTIAL, boundary
from adapters.openbanking.mapping import (
    account_id_of,
    deposit_body,
    kst_day_start,
    result_body,
    transfer_days,
)
from adapters.openbanking.schemas import BANK_OK, OK, TransferItem, TransferReply
from adapters.openbanking.settings import OpenBankingSettings
from adapters.openbanking.stores import NewTransfer, TransferJournal, TransferRecord
from orchestrator.domain.errors import GuardrailViolation, OutcomeUnknown, SourceError
from orchestrator.domain.model import AuditEvent, TransferState
from orchestrator.domain.money import to_money
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)

PAYOUT_ACCOUNT_ID = "openbanking-payout"  # our 약정 account, as from_account_id in the journal
PROCESSING_CODE = "A0001"  # "processing": the relay took it, result not yet known
_UNRESOLVED = frozenset(s for s in TransferState if s.unresolved)
# How far after tran_dtime the participant may still book it (the next KST day near midnight).
_BOOKING_SLACK = timedelta(minutes=10)
OnChange = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class _Outcome:
    state: TransferState
    rsp_code: str | None
    message: str


class OpenBankingTransfers:
    """Deposits into the configured CMA, journaled and audited; see the module docstring."""

    def __init__(
        self,
        settings: OpenBankingSettings,
        client: OpenBankingClient,
        tokens: OpenBankingTokens,
        ids: TranIds,
        journal: TransferJournal,
        clock: Clock,
        *,
        on_change: OnChange | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._settings = settings
        self._cfg = settings.transfers
        self._client = client
        self._tokens = tokens
        self._ids = ids
        self._journal = journal
        self._clock = clock
        self._on_change = on_change
        self._new_id = new_id
        self._grace = timedelta(seconds=self._cfg.no_record_grace_seconds)

    @property
    def source(self) -> str:
        return self._client.source

    async def deposit(self, idempotency_key: str, amount: Decimal | int) -> TransferRecord:
        """Deposit `amount` KRW into the configured CMA, at most once per idempotency key.

        Returns the journal record: SUCCEEDED, FAILED (the relay refused an item), or still
        UNKNOWN/PROCESSING when transfer/result could not settle it yet (call `resolve` later;
        never deposit again under a new key for the same purpose). Raises GuardrailViolation
        (nothing sent), or the domain error of a refusal before the relay accepted it (the
        record is then FAILED).
        """
        cfg = self._cfg
        if not cfg.enabled:
            raise GuardrailViolation("openbanking.transfers_disabled", "transfers are not enabled")
        target = cfg.target_fintech_use_num
        if target is None:
            raise GuardrailViolation("openbanking.transfer_target", "no deposit target set")
        value = to_money(amount)
        if value <= 0 or value != value.to_integral_value():
            raise GuardrailViolation("openbanking.transfer_amount", "amount must be whole KRW > 0")
        if value > cfg.per_transfer_limit:
            raise GuardrailViolation(
                "openbanking.per_transfer_limit",
                f"{value} KRW exceeds the per-transfer limit of {cfg.per_transfer_limit} KRW",
            )
        existing = await self._journal.by_key(idempotency_key)
        if existing is not None:
            if existing.amount != value:
                log.warning("openbanking.transfer_key_reused", transfer_id=existing.id)
            return await self._again(existing)

        transfer_id = self._new_id()
        bank_tran_id = await self._ids.for_transfer(f"deposit:{transfer_id}")
        now = self._clock.now()
        new = NewTransfer(
            id=transfer_id,
            idempotency_key=idempotency_key,
            user_id=cfg.target_user_id,
            from_account_id=PAYOUT_ACCOUNT_ID,
            to_account_id=account_id_of(target),
            amount=value,
            bank_tran_id=bank_tran_id,
            requested_at=now,
        )
        record, created = await self._journal.record(
            new,
            daily_limit=cfg.daily_limit,
            day_start=kst_day_start(now),
            audit=self._audit(
                now,
                "openbanking.transfer_recorded",
                new.id,
                amount=str(value),
                bank_tran_id=bank_tran_id,
                to_account_id=new.to_account_id,
            ),
        )
        if not created:
            return await self._again(record)
        log.info("openbanking.transfer_recorded", transfer_id=record.id, bank_tran_id=bank_tran_id)
        return await self._send(record, target)

    async def resolve(self, record: TransferRecord) -> TransferRecord:
        """Settle an unresolved transfer from transfer/result; returns it unchanged if it can't.

        A PENDING_SUBMIT younger than the grace period may still be on its way (another task is
        sending it) and is left alone.
        """
        if not record.state.unresolved:
            return record
        now = self._clock.now()
        if now - record.requested_at < self._grace and record.state is TransferState.PENDING_SUBMIT:
            return record
        outcome: _Outcome | None = None
        for day in transfer_days(record.requested_at, slack=_BOOKING_SLACK):
            try:
                outcome = await self._ask(record, day)
            except SourceError as error:
                log.warning(
                    "openbanking.transfer_result_failed",
                    transfer_id=record.id,
                    error=type(error).__name__,
                    code=error.code,
                )
                return record
            if outcome is not None:
                break
        if outcome is None:
            if now - record.requested_at < self._grace:
                return record  # "no record" this early may be a transfer still on its way
            outcome = _Outcome(TransferState.FAILED, NO_RECORD, "no record at the relay")
        return await self._settle(record, outcome)

    async def resolve_unresolved(self) -> list[TransferRecord]:
        """Start-up recovery: ask about every unresolved deposit of this payout account."""
        return [
            await self.resolve(record)
            for record in await self._journal.unresolved(PAYOUT_ACCOUNT_ID)
        ]

    # --- internals ----------------------------------------------------------------------------

    async def _again(self, record: TransferRecord) -> TransferRecord:
        log.info("openbanking.transfer_replayed", transfer_id=record.id, state=record.state.value)
        return await self.resolve(record) if record.state.unresolved else record

    async def _send(self, record: TransferRecord, target: str) -> TransferRecord:
        body = deposit_body(self._cfg, record, target, self._clock.now())
        try:
            answer = await self._client.call(
                DEPOSIT,
                bearer=self._tokens.oob_bearer(),
                body=body,
                operation="transfer",
                accept=(PARTIAL,),
            )
            with boundary(self.source, write=True):
                reply = TransferReply.model_validate(answer)
                outcome = _deposit_outcome(reply, record.bank_tran_id)
        except OutcomeUnknown as error:
            state = (
                TransferState.PROCESSING if error.code == PROCESSING_CODE else TransferState.UNKNOWN
            )
            unknown = await self._settle(record, _Outcome(state, error.code, error.detail))
            log.warning(
                "openbanking.transfer_unknown",
                transfer_id=record.id,
                bank_tran_id=record.bank_tran_id,
                code=error.code,
            )
            return await self.resolve(unknown)
        except SourceError as error:
            # Refused before the relay accepted it (auth, format, limits, nothing sent).
            await self._settle(
                record, _Outcome(TransferState.FAILED, error.code, f"refused: {error.detail}")
            )
            raise
        settled = await self._settle(record, outcome)
        if settled.state.unresolved:
            return await self.resolve(settled)
        return settled

    async def _ask(self, record: TransferRecord, day: str) -> _Outcome | None:
        """What transfer/result says for `day`; None when it has no record on that day."""
        answer = await self._client.call(
            TRANSFER_RESULT,
            bearer=self._tokens.oob_bearer(),
            body=result_body(record, day, self._clock.now()),
            accept=(PARTIAL, NO_RECORD),
        )
        with boundary(self.source):
            reply = TransferReply.model_validate(answer)
        if reply.rsp_code == NO_RECORD:
            return None
        item = _item(reply, record.bank_tran_id)
        if item is None or not item.bank_rsp_code:
            return None
        if item.bank_rsp_code == BANK_OK:
            return _Outcome(TransferState.SUCCEEDED, BANK_OK, "confirmed by transfer/result")
        return _Outcome(
            TransferState.FAILED,
            item.bank_rsp_code,
            f"transfer/result: bank {item.bank_rsp_code} {item.bank_rsp_message}".strip(),
        )

    async def _settle(self, record: TransferRecord, outcome: _Outcome) -> TransferRecord:
        now = self._clock.now()
        action = {
            TransferState.SUCCEEDED: "openbanking.transfer_succeeded",
            TransferState.FAILED: "openbanking.transfer_failed",
        }.get(outcome.state, "openbanking.transfer_unknown")
        updated = await self._journal.update(
            record.id,
            outcome.state,
            expect=_UNRESOLVED,
            at=now,
            rsp_code=outcome.rsp_code,
            message=outcome.message[:500],
            audit=self._audit(
                now,
                action,
                record.id,
                state=outcome.state.value,
                bank_tran_id=record.bank_tran_id,
                amount=str(record.amount),
                code=outcome.rsp_code or "",
            ),
        )
        if updated is None:
            # Settled by somebody else meanwhile (another replica's recovery): theirs stands.
            latest = await self._journal.by_key(record.idempotency_key)
            return latest or record
        if outcome.state is not TransferState.FAILED and self._on_change is not None:
            target = self._cfg.target_fintech_use_num
            if target is not None:
                self._on_change(target, record.user_id)
        if not outcome.state.unresolved:
            log.info(
                action,
                transfer_id=record.id,
                bank_tran_id=record.bank_tran_id,
                code=outcome.rsp_code,
            )
        return updated

    def _audit(self, now: datetime, action: str, transfer_id: str, **detail: str) -> AuditEvent:
        return AuditEvent(
            at=now, actor=ACTOR, action=action, subject=f"transfer:{transfer_id}", detail=detail
        )


def _item(reply: TransferReply, bank_tran_id: str) -> TransferItem | None:
    for item in reply.res_list:
        if item.bank_tran_id == bank_tran_id:
            return item
    return reply.res_list[0] if len(reply.res_list) == 1 else None


def _deposit_outcome(reply: TransferReply, bank_tran_id: str) -> _Outcome:
    """A0000 or A0009 (per-item failure): the item's bank_rsp_code decides (spec §2.6)."""
    item = _item(reply, bank_tran_id)
    if item is None or not item.bank_rsp_code:
        return _Outcome(TransferState.UNKNOWN, reply.rsp_code, "no result item for our id")
    if reply.rsp_code == OK and item.bank_rsp_code == BANK_OK:
        return _Outcome(TransferState.SUCCEEDED, BANK_OK, "deposited")
    if item.bank_rsp_code == BANK_OK:
        return _Outcome(TransferState.UNKNOWN, reply.rsp_code, "item ok, list answer not")
    return _Outcome(
        TransferState.FAILED,
        item.bank_rsp_code,
        f"bank {item.bank_rsp_code} {item.bank_rsp_message}".strip(),
    )
