import datetime as dt

import pytest

from aftercare.catalog.warranty import (
    CoverageStatus,
    Remedy,
    WarrantyPolicy,
    add_months,
    evaluate_warranty,
)

POLICY = WarrantyPolicy()
BOUGHT = dt.date(2026, 11, 18)


def status(on: dt.date, purchase=BOUGHT, policy=POLICY):
    evaluation = evaluate_warranty(purchase_date=purchase, policy=policy, on_date=on)
    return {c.remedy: (c.status, c.until) for c in evaluation.coverages}


def test_inside_every_period_on_purchase_day():
    assert status(BOUGHT) == {
        Remedy.RETURN: (CoverageStatus.ACTIVE, dt.date(2026, 11, 25)),
        Remedy.EXCHANGE: (CoverageStatus.ACTIVE, dt.date(2026, 12, 3)),
        Remedy.REPAIR: (CoverageStatus.ACTIVE, dt.date(2027, 11, 18)),
    }


def test_last_day_of_return_period_is_inside_and_next_day_outside():
    assert status(dt.date(2026, 11, 25))[Remedy.RETURN][0] == CoverageStatus.ACTIVE
    assert status(dt.date(2026, 11, 26))[Remedy.RETURN][0] == CoverageStatus.EXPIRED


def test_exchange_reason_reads_as_in_the_issue():
    evaluation = evaluate_warranty(
        purchase_date=BOUGHT, policy=POLICY, on_date=dt.date(2026, 11, 26)
    )
    exchange = evaluation.coverage(Remedy.EXCHANGE)
    assert exchange.reason == "在15天换货期内，截至 2026-12-03"
    assert evaluation.summary == "在15天换货期内，截至 2026-12-03"
    assert evaluation.coverage(Remedy.RETURN).reason == "7天退货期已于 2026-11-25 结束"


def test_repair_period_ends_on_anniversary():
    assert status(dt.date(2027, 11, 18))[Remedy.REPAIR][0] == CoverageStatus.ACTIVE
    assert status(dt.date(2027, 11, 19))[Remedy.REPAIR][0] == CoverageStatus.EXPIRED


def test_month_end_purchase_is_clamped():
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2023, 1, 31), 1) == dt.date(2023, 2, 28)
    assert add_months(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
    assert add_months(dt.date(2026, 11, 30), 14) == dt.date(2028, 1, 30)


def test_unknown_purchase_date():
    evaluation = evaluate_warranty(purchase_date=None, policy=POLICY, on_date=BOUGHT)
    assert {c.status for c in evaluation.coverages} == {CoverageStatus.UNKNOWN}
    assert not evaluation.in_warranty


def test_product_without_return_period():
    policy = WarrantyPolicy(return_days=0, exchange_days=15, repair_months=36)
    result = status(BOUGHT, policy=policy)
    assert result[Remedy.RETURN] == (CoverageStatus.NOT_OFFERED, None)
    assert result[Remedy.REPAIR] == (CoverageStatus.ACTIVE, dt.date(2029, 11, 18))


def test_date_before_purchase_is_not_covered():
    assert status(dt.date(2026, 11, 1))[Remedy.RETURN][0] == CoverageStatus.UNKNOWN


def test_negative_policy_refused():
    with pytest.raises(ValueError):
        WarrantyPolicy(return_days=-1)
