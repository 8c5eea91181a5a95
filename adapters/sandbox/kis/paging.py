"""Continuation paging (연속조회) as KIS does it (spec §4.9).

The client asks for the next page with request header `tr_cont: N` and the previous body's
`ctx_area_fk100`/`ctx_area_nk100` copied into `CTX_AREA_FK100`/`CTX_AREA_NK100`. Keys are
opaque, `^`-separated, space-padded to 100 characters; stripped keys work too. The reply's
`tr_cont` header is F (first page, more follow), M (middle page, more follow), D (only page)
or E (last of several): clients must treat F/M and D/E alike. If the data changed since
the first page the answer is rt_cd "7" SYDB0050 and the client starts over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from adapters.sandbox.kis import errors
from adapters.sandbox.kis.params import Params

CTX_WIDTH = 100
BLANK_CTX = " " * CTX_WIDTH
T = TypeVar("T")


def ctx_key(*parts: str) -> str:
    return ("^".join(parts) + "^").ljust(CTX_WIDTH)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: Sequence[T]
    tr_cont: str
    ctx_fk: str
    ctx_nk: str


def paginate(
    rows: Sequence[T],
    *,
    size: int,
    query_key: str,
    version: int,
    tr_cont: str | None,
    params: Params,
) -> Page[T]:
    """The page a request asks for, or SYDB0050 when `version` moved since page one."""
    offset = 0
    continuing = (tr_cont or "").strip().upper() == "N"
    nk = params.text("CTX_AREA_NK100", required=False).strip()
    if continuing and nk:
        parts = nk.split("^")
        if len(parts) < 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise errors.invalid_input("CTX_AREA_NK100")
        if int(parts[2]) != version:
            raise errors.business(*errors.PAGE_DATA_CHANGED, rt_cd="7")
        offset = int(parts[1])
    chunk = rows[offset : offset + size]
    more = offset + size < len(rows)
    first = offset == 0
    letter = ("F" if first else "M") if more else ("D" if first else "E")
    fk = ctx_key(query_key)
    nk_out = ctx_key(query_key.split("^")[0], f"{offset + size:06d}", f"{version:010d}")
    return Page(chunk, letter, fk, nk_out if more else BLANK_CTX)
