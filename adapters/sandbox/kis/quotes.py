"""quotations/inquire-price (FHKST01010100, the same TR on real and paper; spec §4.8).

The quote is read off the deterministic price path: last price, the day's open/high/low and
volume so far, the previous close and the ±30 % limits, and `aspr_unit`, the tick at the
current price. Fields the sandbox has no model for are answered "0" or "".
"""

from __future__ import annotations

from decimal import Decimal

from adapters.sandbox.kis import errors
from adapters.sandbox.kis.calls import Call, Reply, success
from adapters.sandbox.kis.ticks import tick_size
from adapters.sandbox.kis.wire import num, rate

QUOTE_DONE = ("MCA00000", "정상처리 되었습니다.")
_UNMODELLED_ZERO = (
    "hts_frgn_ehrt",
    "frgn_ntby_qty",
    "pgtr_ntby_qty",
    "pvt_scnd_dmrs_prc",
    "pvt_frst_dmrs_prc",
    "pvt_pont_val",
    "pvt_frst_dmsp_prc",
    "pvt_scnd_dmsp_prc",
    "dmrs_val",
    "dmsp_val",
    "cpfn",
    "lstn_stcn",
    "hts_avls",
    "per",
    "pbr",
    "eps",
    "bps",
    "vol_tnrt",
    "whol_loan_rmnd_rate",
    "apprch_rate",
    "frgn_hldn_qty",
    "last_ssts_cntg_qty",
    "prdy_vrss_vol_rate",
    "d250_hgpr_vrss_prpr_rate",
    "d250_lwpr_vrss_prpr_rate",
    "dryy_hgpr_vrss_prpr_rate",
    "dryy_lwpr_vrss_prpr_rate",
    "w52_hgpr_vrss_prpr_ctrt",
    "w52_lwpr_vrss_prpr_ctrt",
)


def _sign(last: int, prev_close: int, upper: int, lower: int) -> str:
    """prdy_vrss_sign: 1 upper limit, 2 up, 3 flat, 4 lower limit, 5 down."""
    if last == upper:
        return "1"
    if last == lower:
        return "4"
    return "2" if last > prev_close else "3" if last == prev_close else "5"


def inquire_price(call: Call) -> Reply:
    """GET quotations/inquire-price: the current quote of one symbol."""
    broker, p = call.broker, call.params
    p.text("FID_COND_MRKT_DIV_CODE", choices=("J", "NX", "UN"))
    pdno = p.text("FID_INPUT_ISCD").strip()
    symbol = broker.prices.symbols.get(pdno)
    if symbol is None:
        raise errors.invalid_input("FID_INPUT_ISCD")
    stats = broker.prices.day_stats(pdno, broker.now(), broker.clock.session)
    change = stats.last - stats.prev_close
    vwap = Decimal(stats.turnover) / stats.volume if stats.volume else Decimal(stats.last)
    output = {
        "iscd_stat_cls_code": "55",
        "marg_rate": "20.00",
        "rprs_mrkt_kor_name": "KOSPI200" if symbol.market == "KOSPI" else "KOSDAQ",
        "new_hgpr_lwpr_cls_code": "",
        "bstp_kor_isnm": symbol.sector,
        "temp_stop_yn": "N",
        "oprc_rang_cont_yn": "N",
        "clpr_rang_cont_yn": "N",
        "crdt_able_yn": "Y",
        "grmn_rate_cls_code": "40",
        "elw_pblc_yn": "N",
        "stck_prpr": num(stats.last),
        "prdy_vrss": num(change),
        "prdy_vrss_sign": _sign(stats.last, stats.prev_close, stats.upper, stats.lower),
        "prdy_ctrt": rate(change, stats.prev_close, 2),
        "acml_tr_pbmn": num(stats.turnover),
        "acml_vol": num(stats.volume),
        "stck_oprc": num(stats.open),
        "stck_hgpr": num(stats.high),
        "stck_lwpr": num(stats.low),
        "stck_mxpr": num(stats.upper),
        "stck_llam": num(stats.lower),
        "stck_sdpr": num(stats.prev_close),
        "wghn_avrg_stck_prc": num(vwap, 2),
        "rstc_wdth_prc": num(stats.upper - stats.prev_close),
        "stck_fcam": "100",
        "stck_sspr": num(int(stats.last * Decimal("0.8"))),
        "aspr_unit": num(tick_size(stats.last, symbol.kind)),
        "hts_deal_qty_unit_val": "1",
        "stac_month": "12",
        "d250_hgpr": num(stats.high),
        "d250_hgpr_date": f"{stats.day:%Y%m%d}",
        "d250_lwpr": num(stats.low),
        "d250_lwpr_date": f"{stats.day:%Y%m%d}",
        "stck_dryy_hgpr": num(stats.high),
        "dryy_hgpr_date": f"{stats.day:%Y%m%d}",
        "stck_dryy_lwpr": num(stats.low),
        "dryy_lwpr_date": f"{stats.day:%Y%m%d}",
        "w52_hgpr": num(stats.high),
        "w52_hgpr_date": f"{stats.day:%Y%m%d}",
        "w52_lwpr": num(stats.low),
        "w52_lwpr_date": f"{stats.day:%Y%m%d}",
        "ssts_yn": "Y",
        "stck_shrn_iscd": pdno,
        "fcam_cnnm": "100",
        "cpfn_cnnm": "0",
        "vi_cls_code": "N",
        "ovtm_vi_cls_code": "N",
        "invt_caful_yn": "N",
        "mrkt_warn_cls_code": "00",
        "short_over_yn": "N",
        "sltr_yn": "N",
        "mang_issu_cls_code": "N",
        **dict.fromkeys(_UNMODELLED_ZERO, "0"),
    }
    return Reply({"output": output, **success(broker, QUOTE_DONE)})
