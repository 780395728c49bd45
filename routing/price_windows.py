"""Time-of-day prices: a model's price windows, and which one is in force when. Pure.

A window is a span of wall-clock time in one time zone, every day or on the ``days`` it names
(the day it starts on, in its zone), during which the model is billed at the window's price:
its own rates (``input_per_mtok`` and ``output_per_mtok``, USD per million tokens) or
``multiplier`` times the catalog ``price``. Outside every window the catalog price holds. A
window may be cheaper (an off-peak discount) or dearer (a peak surcharge). It may cross
midnight (``start: "16:30", end: "00:30"``); ``end: "24:00"`` ends at midnight, so
``00:00``-``24:00`` is a whole day; the start is in the window and the end is not.

The windows of one model share one time zone and never overlap (``window_problems``), so at
any instant at most one is in force. Times are read on the zone's wall clock, so a window in a
zone with daylight saving keeps its local hours all year. A price schedule (``segments``) is
made of the instants its windows start and end; on the night the clocks go back, the
repeated hour is priced by the wall clock when a call is made (``window_at``), which the
schedule, sampled at each segment's start, may not show.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "WEEKDAYS",
    "PriceWindow",
    "Segment",
    "Weekday",
    "describe_window",
    "segments",
    "window_at",
    "window_problems",
    "window_rates",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9]))?$")
_DAY_S = 86_400
_WEEK_S = 7 * _DAY_S


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=256)
def _seconds(text: str) -> int:
    if text == "24:00":
        return _DAY_S
    found = _TIME.match(text)
    assert found is not None  # the validators let only these through
    hours, minutes, seconds = found.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)


class PriceWindow(BaseModel):
    """One span of the week during which a model has another price."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(description="HH:MM or HH:MM:SS on the zone's wall clock")
    end: str = Field(description="HH:MM or HH:MM:SS, or 24:00; before start: the next day")
    tz: str = Field(default="UTC", description="an IANA time zone, e.g. UTC or Asia/Shanghai")
    # None: every day; else the days the window starts on, in its zone
    days: frozenset[Weekday] | None = None
    input_per_mtok: float | None = Field(default=None, ge=0)
    output_per_mtok: float | None = Field(default=None, ge=0)
    multiplier: float | None = Field(default=None, gt=0)
    name: str | None = Field(default=None, min_length=1, max_length=40)

    @field_validator("start")
    @classmethod
    def _start_is_a_time(cls, text: str) -> str:
        if not _TIME.match(text):
            raise ValueError(f"{text!r} is not a time of day as HH:MM or HH:MM:SS (e.g. 16:30)")
        return text

    @field_validator("end")
    @classmethod
    def _end_is_a_time(cls, text: str) -> str:
        if text != "24:00" and not _TIME.match(text):
            raise ValueError(
                f"{text!r} is not a time of day as HH:MM or HH:MM:SS (e.g. 00:30), or 24:00"
            )
        return text

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            _zone(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}: give an IANA name such as UTC or Asia/Shanghai"
            ) from None
        return name

    @field_validator("days")
    @classmethod
    def _some_days(cls, days: frozenset[Weekday] | None) -> frozenset[Weekday] | None:
        if days is not None and not days:
            raise ValueError("name at least one day, or leave days out for every day")
        return days

    @model_validator(mode="after")
    def _length_and_one_price(self) -> PriceWindow:
        if self.start_s == self.end_s % _DAY_S and self.end_s != _DAY_S:
            raise ValueError(
                f"start and end are both {self.start}: a window needs a length "
                "(00:00 to 24:00 for a whole day)"
            )
        rates = (self.input_per_mtok, self.output_per_mtok)
        if self.multiplier is not None and any(rate is not None for rate in rates):
            raise ValueError(
                "give either multiplier or input_per_mtok and output_per_mtok, not both"
            )
        if self.multiplier is None and None in rates:
            missing = "input_per_mtok" if self.input_per_mtok is None else "output_per_mtok"
            if rates == (None, None):
                missing = "multiplier, or input_per_mtok and output_per_mtok"
            raise ValueError(f"{missing}: a window needs its price")
        return self

    @property
    def start_s(self) -> int:
        return _seconds(self.start)

    @property
    def end_s(self) -> int:
        return _seconds(self.end)

    @property
    def wraps(self) -> bool:
        """Whether it ends on the day after it starts."""
        return self.end_s <= self.start_s

    def spans(self) -> list[tuple[int, int]]:
        """Its spans of the week in seconds from Monday 00:00, ``[from, to)``, split at the
        week's end."""
        length = (self.end_s - self.start_s) % _DAY_S or _DAY_S
        found: list[tuple[int, int]] = []
        for index, day in enumerate(WEEKDAYS):
            if self.days is not None and day not in self.days:
                continue
            begin = index * _DAY_S + self.start_s
            finish = begin + length
            if finish <= _WEEK_S:
                found.append((begin, finish))
            else:
                found += [(begin, _WEEK_S), (0, finish - _WEEK_S)]
        return found


class _PriceLike(Protocol):
    @property
    def input(self) -> float: ...

    @property
    def output(self) -> float: ...


def window_rates(base: _PriceLike, window: PriceWindow) -> tuple[float, float]:
    """The input and output price (USD per million tokens) while ``window`` is in force."""
    if window.multiplier is not None:
        return base.input * window.multiplier, base.output * window.multiplier
    assert window.input_per_mtok is not None and window.output_per_mtok is not None
    return window.input_per_mtok, window.output_per_mtok


@lru_cache(maxsize=256)
def _spans(window: PriceWindow) -> tuple[tuple[int, int], ...]:
    return tuple(window.spans())


def _week_second(window: PriceWindow, when: datetime) -> int:
    local = when.astimezone(_zone(window.tz))
    return local.weekday() * _DAY_S + local.hour * 3600 + local.minute * 60 + local.second


def window_at(windows: Sequence[PriceWindow], when: datetime) -> int | None:
    """The index of the window in force at ``when`` (an aware datetime), or None."""
    for index, window in enumerate(windows):
        second = _week_second(window, when)
        if any(begin <= second < finish for begin, finish in _spans(window)):
            return index
    return None


def _local_edges(window: PriceWindow, day: date) -> list[datetime]:
    """Where the window starts and ends when it starts on ``day`` (none: not on that day)."""
    if window.days is not None and WEEKDAYS[day.weekday()] not in window.days:
        return []
    zone = _zone(window.tz)
    start = datetime.combine(day, time(), zone) + timedelta(seconds=window.start_s)
    end_day = day + timedelta(days=1) if window.wraps or window.end_s == _DAY_S else day
    end = datetime.combine(end_day, time(), zone) + timedelta(seconds=window.end_s % _DAY_S)
    # the wall-clock times, read in the zone (a datetime + timedelta keeps the wall clock)
    return [start, end]


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time at one price: ``window`` in force (its index), or None for the
    catalog price."""

    start: datetime
    end: datetime
    window: int | None


def segments(windows: Sequence[PriceWindow], start: datetime, end: datetime) -> list[Segment]:
    """The prices from ``start`` to ``end`` (aware datetimes), in order, adjacent segments
    of the same window merged; a single segment when there are no windows."""
    # a submit asks once per job with the same arguments: worked out once
    return list(_segments(tuple(windows), start, end))


@lru_cache(maxsize=64)
def _segments(
    windows: tuple[PriceWindow, ...], start: datetime, end: datetime
) -> tuple[Segment, ...]:
    if end <= start:
        return ()
    edges = {start.astimezone(UTC), end.astimezone(UTC)}
    for window in windows:
        zone = _zone(window.tz)
        first = start.astimezone(zone).date() - timedelta(days=1)
        for offset in range((end.astimezone(zone).date() - first).days + 2):
            for edge in _local_edges(window, first + timedelta(days=offset)):
                moment = edge.astimezone(UTC)
                if start < moment < end:
                    edges.add(moment)
    ordered = sorted(edges)
    found: list[Segment] = []
    for begin, finish in zip(ordered, ordered[1:], strict=False):
        index = window_at(windows, begin)
        if found and found[-1].window == index:
            found[-1] = Segment(found[-1].start, finish, index)
        else:
            found.append(Segment(begin, finish, index))
    return tuple(found)


def describe_window(window: PriceWindow) -> str:
    """``16:30-00:30 UTC`` or ``09:00-12:00 Asia/Shanghai mon,tue,wed,thu,fri``."""
    days = "" if window.days is None else " " + ",".join(d for d in WEEKDAYS if d in window.days)
    return f"{window.start}-{window.end} {window.tz}{days}"


class _ModelLike(Protocol):
    @property
    def price_windows(self) -> tuple[PriceWindow, ...]: ...


def _overlap(a: PriceWindow, b: PriceWindow) -> tuple[int, int] | None:
    for begin_a, end_a in _spans(a):
        for begin_b, end_b in _spans(b):
            if begin_a < end_b and begin_b < end_a:
                return max(begin_a, begin_b), min(end_a, end_b)
    return None


def _week_time(second: int) -> str:
    day, rest = divmod(second, _DAY_S)
    return f"{WEEKDAYS[day % 7]} {rest // 3600:02d}:{rest % 3600 // 60:02d}"


def window_problems(models: Sequence[_ModelLike]) -> list[str]:
    """Each model's windows in more than one time zone, or overlapping, led by their path."""
    problems: list[str] = []
    for index, model in enumerate(models):
        windows = model.price_windows
        path = f"models[{index}].price_windows"
        zones = [window.tz for window in windows]
        for position, zone in enumerate(zones):
            if zone != zones[0]:
                problems.append(
                    f"{path}[{position}].tz: {zone!r} differs from {path}[0].tz {zones[0]!r}; "
                    "give one model's windows in one time zone"
                )
        if any(zone != zones[0] for zone in zones):
            continue
        for later in range(len(windows)):
            for earlier in range(later):
                shared = _overlap(windows[earlier], windows[later])
                if shared is not None:
                    problems.append(
                        f"{path}[{later}]: overlaps {path}[{earlier}] from "
                        f"{_week_time(shared[0])} to {_week_time(shared[1])} {zones[0]}"
                    )
    return problems
