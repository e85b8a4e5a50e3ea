"""三包 warranty evaluation: a pure function of (purchase date, policy, date).

Periods are counted the way Chinese civil law counts them (《民法典》第二百零一条): the day of
sale is not counted, so a 7-day return period for a unit bought on 11-18 runs to the end of
11-25, and a 12-month repair period for a unit bought on 2025-11-18 runs to 2026-11-18.
"""

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext as _


@dataclass(frozen=True)
class WarrantyPolicy:
    return_days: int = 7
    exchange_days: int = 15
    repair_months: int = 12

    def __post_init__(self) -> None:
        for name in ("return_days", "exchange_days", "repair_months"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


class Remedy(StrEnum):
    RETURN = "return"
    EXCHANGE = "exchange"
    REPAIR = "repair"


class CoverageStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    NOT_OFFERED = "not_offered"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RemedyCoverage:
    remedy: Remedy
    status: CoverageStatus
    until: dt.date | None
    reason: str

    @property
    def covered(self) -> bool:
        return self.status == CoverageStatus.ACTIVE


@dataclass(frozen=True)
class WarrantyEvaluation:
    on_date: dt.date
    purchase_date: dt.date | None
    coverages: tuple[RemedyCoverage, ...]

    def coverage(self, remedy: Remedy) -> RemedyCoverage:
        return next(c for c in self.coverages if c.remedy == remedy)

    @property
    def in_warranty(self) -> bool:
        return any(c.covered for c in self.coverages)

    @property
    def summary(self) -> str:
        """The strongest remedy still available, or why none is."""
        for c in self.coverages:
            if c.covered:
                return c.reason
        return self.coverages[-1].reason


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day-of-month `months` later, clamped to the month's last day (01-31 + 1 → 02-28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _period_name(remedy: Remedy, policy: WarrantyPolicy) -> str:
    if remedy == Remedy.RETURN:
        return _("%(n)d天退货期") % {"n": policy.return_days}
    if remedy == Remedy.EXCHANGE:
        return _("%(n)d天换货期") % {"n": policy.exchange_days}
    return _("%(n)d个月保修期") % {"n": policy.repair_months}


def _coverage(
    remedy: Remedy, policy: WarrantyPolicy, purchase_date: dt.date | None, on_date: dt.date
) -> RemedyCoverage:
    length = {
        Remedy.RETURN: policy.return_days,
        Remedy.EXCHANGE: policy.exchange_days,
        Remedy.REPAIR: policy.repair_months,
    }[remedy]
    if length == 0:
        return RemedyCoverage(
            remedy,
            CoverageStatus.NOT_OFFERED,
            None,
            _("该产品不提供%(period)s") % {"period": _period_name(remedy, policy)},
        )
    if purchase_date is None:
        return RemedyCoverage(
            remedy,
            CoverageStatus.UNKNOWN,
            None,
            _("购买日期未知，无法判定是否在%(period)s内")
            % {"period": _period_name(remedy, policy)},
        )
    if remedy == Remedy.REPAIR:
        until = add_months(purchase_date, length)
    else:
        until = purchase_date + dt.timedelta(days=length)
    period = _period_name(remedy, policy)
    if on_date < purchase_date:
        return RemedyCoverage(
            remedy,
            CoverageStatus.UNKNOWN,
            until,
            _("查询日期早于购买日期 %(purchase)s") % {"purchase": purchase_date.isoformat()},
        )
    if on_date <= until:
        return RemedyCoverage(
            remedy,
            CoverageStatus.ACTIVE,
            until,
            _("在%(period)s内，截至 %(until)s") % {"period": period, "until": until.isoformat()},
        )
    return RemedyCoverage(
        remedy,
        CoverageStatus.EXPIRED,
        until,
        _("%(period)s已于 %(until)s 结束") % {"period": period, "until": until.isoformat()},
    )


def evaluate_warranty(
    *, purchase_date: dt.date | None, policy: WarrantyPolicy, on_date: dt.date
) -> WarrantyEvaluation:
    return WarrantyEvaluation(
        on_date=on_date,
        purchase_date=purchase_date,
        coverages=tuple(
            _coverage(remedy, policy, purchase_date, on_date)
            for remedy in (Remedy.RETURN, Remedy.EXCHANGE, Remedy.REPAIR)
        ),
    )
