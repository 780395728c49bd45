"""Price windows in the catalog: their validation, and which window is in force when (midnight
wraps, time zones, days of the week, daylight saving), as pure functions.

The shapes follow DeepSeek's two published schedules (api-docs.deepseek.com/quick_start/pricing,
as reported when each took effect): the 2025 off-peak discount, every day 16:30-00:30 UTC at
half price (deepseek-chat) or a quarter (deepseek-reasoner); and the peak pricing from
2026-08-17, 09:00-12:00 and 14:00-18:00 Beijing time Monday to Friday at twice the off-peak
price (docs.apiyi.com, 2026-08-15; ai-tldr.dev, 2026-06-29).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from routing.catalog import Catalog, Price
from routing.estimate import priced_at
from routing.price_windows import PriceWindow, describe_window, segments, window_at, window_rates
from tests.routing.factories import catalog_data

OFF_PEAK_2025 = {"start": "16:30", "end": "00:30", "tz": "UTC", "multiplier": 0.5}
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
PEAK_2026 = [
    {"start": "09:00", "end": "12:00", "tz": "Asia/Shanghai", "days": WEEKDAYS, "multiplier": 2},
    {"start": "14:00", "end": "18:00", "tz": "Asia/Shanghai", "days": WEEKDAYS, "multiplier": 2},
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def windows(*items: dict[str, Any]) -> list[PriceWindow]:
    return [PriceWindow.model_validate(item) for item in items]


def catalog_with(windows_data: list[dict[str, Any]]) -> Catalog:
    data = catalog_data()
    data["models"][0]["price_windows"] = windows_data
    return Catalog.model_validate(data)


def refusal(windows_data: list[dict[str, Any]]) -> str:
    with pytest.raises(ValidationError) as caught:
        catalog_with(windows_data)
    return str(caught.value)


# --- in force when ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-12-01T16:29:59+00:00", None),
        ("2026-12-01T16:30:00+00:00", 0),  # the start is in the window
        ("2026-12-01T23:59:59+00:00", 0),
        ("2026-12-02T00:00:00+00:00", 0),  # past midnight, still the window of the day before
        ("2026-12-02T00:29:59+00:00", 0),
        ("2026-12-02T00:30:00+00:00", None),  # the end is not
        ("2026-12-02T12:00:00+00:00", None),
    ],
)
def test_a_window_across_midnight_holds_until_its_end_the_next_day(
    moment: str, expected: int | None
) -> None:
    assert window_at(windows(OFF_PEAK_2025), at(moment)) == expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-12-04T00:59:59+00:00", None),  # Friday 08:59:59 in Beijing
        ("2026-12-04T01:00:00+00:00", 0),  # Friday 09:00 in Beijing
        ("2026-12-04T04:00:00+00:00", None),  # 12:00 in Beijing: the lunch gap
        ("2026-12-04T06:00:00+00:00", 1),
        ("2026-12-04T09:59:59+00:00", 1),
        ("2026-12-05T02:00:00+00:00", None),  # Saturday: no peak
        ("2026-12-07T01:30:00+00:00", 0),  # Monday again
    ],
)
def test_windows_are_read_on_their_zones_clock_and_on_their_days_only(
    moment: str, expected: int | None
) -> None:
    assert window_at(windows(*PEAK_2026), at(moment)) == expected


def test_a_window_starting_late_on_its_last_day_runs_into_the_next_day() -> None:
    friday_night = windows({"start": "22:00", "end": "02:00", "days": ["fri"], "multiplier": 0.5})
    assert window_at(friday_night, at("2026-12-05T01:00:00+00:00")) == 0  # Saturday 01:00
    assert window_at(friday_night, at("2026-12-06T01:00:00+00:00")) is None  # Sunday 01:00
    sunday_night = windows({"start": "22:00", "end": "02:00", "days": ["sun"], "multiplier": 0.5})
    assert window_at(sunday_night, at("2026-12-07T01:00:00+00:00")) == 0  # across the week's end


def test_a_window_in_a_zone_with_daylight_saving_keeps_its_local_hours() -> None:
    evening = windows({"start": "18:00", "end": "22:00", "tz": "Europe/Berlin", "multiplier": 0.5})
    assert window_at(evening, at("2026-07-01T16:00:00+00:00")) == 0  # 18:00 CEST
    assert window_at(evening, at("2026-12-01T16:00:00+00:00")) is None  # 17:00 CET
    assert window_at(evening, at("2026-12-01T17:00:00+00:00")) == 0  # 18:00 CET


def test_a_whole_day_runs_to_midnight_and_seconds_may_be_given() -> None:
    weekend = windows({"start": "00:00", "end": "24:00", "days": ["sat", "sun"], "multiplier": 0.5})
    assert window_at(weekend, at("2026-12-05T00:00:00+00:00")) == 0
    assert window_at(weekend, at("2026-12-06T23:59:59+00:00")) == 0
    assert window_at(weekend, at("2026-12-07T00:00:00+00:00")) is None
    precise = windows({"start": "12:00:05", "end": "12:00:10", "multiplier": 0.5})
    assert window_at(precise, at("2026-12-01T12:00:04+00:00")) is None
    assert window_at(precise, at("2026-12-01T12:00:05+00:00")) == 0


def test_a_schedule_lists_each_price_once_in_order() -> None:
    found = segments(windows(OFF_PEAK_2025), at("2026-12-01T10:00:00+00:00"),
                     at("2026-12-02T10:00:00+00:00"))
    assert [(item.start.hour, item.start.minute, item.window) for item in found] == [
        (10, 0, None), (16, 30, 0), (0, 30, None)]
    assert found[-1].end == at("2026-12-02T10:00:00+00:00")
    weekend = segments(windows(*PEAK_2026), at("2026-12-04T05:00:00+00:00"),
                       at("2026-12-07T02:00:00+00:00"))
    # Friday's afternoon peak, then nothing until Monday's morning peak
    assert [(item.start, item.window) for item in weekend] == [
        (at("2026-12-04T05:00:00+00:00"), None),
        (at("2026-12-04T06:00:00+00:00"), 1),
        (at("2026-12-04T10:00:00+00:00"), None),
        (at("2026-12-07T01:00:00+00:00"), 0),
    ]


# --- prices ----------------------------------------------------------------------------


def test_a_window_prices_by_multiplier_or_by_its_own_rates() -> None:
    base = Price(input=0.56, output=1.68)
    half, own = windows(OFF_PEAK_2025, {"start": "01:00", "end": "02:00", "input_per_mtok": 0.14,
                                        "output_per_mtok": 0.42})
    assert window_rates(base, half) == (0.28, 0.84)
    assert window_rates(base, own) == (0.14, 0.42)


def test_a_model_is_priced_as_the_window_in_force_at_the_moment_given() -> None:
    model = catalog_with([OFF_PEAK_2025]).model("a1")
    assert priced_at(model, at("2026-12-01T17:00:00+00:00")).price == Price(input=0.05, output=0.2)
    assert priced_at(model, at("2026-12-01T12:00:00+00:00")) is model
    plain = catalog_with([]).model("a1")
    assert priced_at(plain, at("2026-12-01T17:00:00+00:00")) is plain


def test_windows_are_described_with_their_zone_and_days() -> None:
    assert describe_window(windows(OFF_PEAK_2025)[0]) == "16:30-00:30 UTC"
    assert describe_window(windows(*PEAK_2026)[0]) == (
        "09:00-12:00 Asia/Shanghai mon,tue,wed,thu,fri")


# --- refused, naming the field ---------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "field", "says"),
    [
        ({"start": "25:00", "end": "01:00", "multiplier": 0.5}, "price_windows.0.start",
         "'25:00' is not a time of day"),
        ({"start": "9:00", "end": "10:00", "multiplier": 0.5}, "price_windows.0.start",
         "HH:MM"),
        ({"start": "09:00", "end": "24:01", "multiplier": 0.5}, "price_windows.0.end",
         "or 24:00"),
        ({"start": "09:00", "end": "10:00", "tz": "Mars/Olympus", "multiplier": 0.5},
         "price_windows.0.tz", "unknown time zone 'Mars/Olympus'"),
        ({"start": "09:00", "end": "10:00", "days": ["monday"], "multiplier": 0.5},
         "price_windows.0.days", "'mon'"),
        ({"start": "09:00", "end": "10:00", "days": [], "multiplier": 0.5},
         "price_windows.0.days", "name at least one day"),
        ({"start": "09:00", "end": "09:00", "multiplier": 0.5}, "price_windows.0",
         "a window needs a length"),
        ({"start": "09:00", "end": "10:00"}, "price_windows.0", "needs its price"),
        ({"start": "09:00", "end": "10:00", "input_per_mtok": 0.1}, "price_windows.0",
         "output_per_mtok: a window needs its price"),
        ({"start": "09:00", "end": "10:00", "multiplier": 0.5, "input_per_mtok": 0.1},
         "price_windows.0", "not both"),
        ({"start": "09:00", "end": "10:00", "multiplier": 0}, "price_windows.0.multiplier",
         "greater than 0"),
        ({"start": "09:00", "end": "10:00", "multiplier": 0.5, "price": 1}, "price_windows.0",
         "Extra inputs"),
    ],
)
def test_a_bad_window_is_refused_naming_its_field(
    window: dict[str, Any], field: str, says: str
) -> None:
    message = refusal([window])
    assert f"models.0.{field}" in message and says in message, message


def test_overlapping_windows_are_refused_naming_both_and_when() -> None:
    message = refusal([OFF_PEAK_2025, {"start": "00:00", "end": "01:00", "days": ["wed"],
                                       "multiplier": 0.8}])
    assert "models[0].price_windows[1]: overlaps models[0].price_windows[0]" in message
    assert "from wed 00:00 to wed 00:30 UTC" in message


def test_windows_of_one_model_in_two_zones_are_refused() -> None:
    message = refusal([OFF_PEAK_2025, {**PEAK_2026[0]}])
    assert "models[0].price_windows[1].tz: 'Asia/Shanghai' differs from" in message


def test_windows_that_touch_are_not_an_overlap() -> None:
    catalog = catalog_with([
        {"start": "08:00", "end": "12:00", "multiplier": 2},
        {"start": "12:00", "end": "08:00", "multiplier": 0.5},
    ])
    model = catalog.model("a1")
    assert window_at(model.price_windows, at("2026-12-01T11:59:59+00:00")) == 0
    assert window_at(model.price_windows, at("2026-12-01T12:00:00+00:00")) == 1


def test_the_same_hours_on_different_days_are_not_an_overlap() -> None:
    catalog_with([
        {"start": "09:00", "end": "17:00", "days": WEEKDAYS, "multiplier": 2},
        {"start": "09:00", "end": "17:00", "days": ["sat", "sun"], "multiplier": 0.5},
    ])


def test_a_catalog_file_window_reads_back_as_it_was_written() -> None:
    model = catalog_with(PEAK_2026).model("a1")
    assert model.price_windows[0].days == frozenset(WEEKDAYS)
    again = Catalog.model_validate(catalog_with(PEAK_2026).model_dump(mode="json"))
    assert again.model("a1").price_windows == model.price_windows


def test_a_whole_week_of_windows_leaves_no_second_uncovered() -> None:
    model = catalog_with([{"start": "00:00", "end": "24:00", "multiplier": 0.9}]).model("a1")
    moment = at("2026-12-01T00:00:00+00:00")
    for _ in range(7 * 24):
        assert window_at(model.price_windows, moment) == 0
        moment += timedelta(hours=1)
