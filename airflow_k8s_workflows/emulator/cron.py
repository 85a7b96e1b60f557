"""CronJob schedules: validated like the API server (robfig/cron's standard parser and its
messages), evaluated with ``croniter`` in the CronJob's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (min, max, names) for minute, hour, day of month, month, day of week
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
MISSED_CAP = 1000
_GO_DURATION = re.compile(r"^([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+$")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class CronError(ValueError):
    """The text robfig/cron gives for an unparseable schedule."""


@dataclass(frozen=True)
class Schedule:
    expression: str  # five standard fields for croniter, or "" for @every
    every: timedelta | None = None

    def next_after(self, after: datetime, tz: tzinfo) -> datetime | None:
        """The first activation strictly after ``after`` (in UTC); None if it never fires."""
        if self.every is not None:
            # robfig's ConstantDelaySchedule: whole seconds after the given time
            base = after.replace(microsecond=0)
            return (base + self.every).astimezone(timezone.utc)
        from croniter import CroniterError, croniter

        try:
            nxt = croniter(self.expression, after.astimezone(tz)).get_next(datetime)
        except CroniterError:
            return None  # e.g. "0 0 31 2 *"
        return nxt.astimezone(timezone.utc)

    def most_recent(self, earliest: datetime, now: datetime, tz: tzinfo) -> tuple[datetime | None, int]:
        """The latest activation in (earliest, now] and how many there were (capped at ``MISSED_CAP``)."""
        if self.every is not None:
            base = earliest.replace(microsecond=0)
            n = int((now - base) / self.every)
            return ((base + n * self.every).astimezone(timezone.utc), n) if n > 0 else (None, 0)
        latest: datetime | None = None
        count = 0
        t = self.next_after(earliest, tz)
        while t is not None and t <= now:
            latest = t
            count += 1
            if count >= MISSED_CAP:
                return self._latest_at_or_before(now, tz) or latest, count
            t = self.next_after(t, tz)
        return latest, count

    def _latest_at_or_before(self, now: datetime, tz: tzinfo) -> datetime | None:
        from croniter import CroniterError, croniter

        try:
            prev = croniter(self.expression, (now + timedelta(microseconds=1)).astimezone(tz)).get_prev(
                datetime
            )
        except CroniterError:
            return None
        return prev.astimezone(timezone.utc)


def parse(schedule: str) -> Schedule:
    """Parse a CronJob schedule; raises ``CronError`` with robfig/cron's message."""
    spec = schedule.strip()
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, _, rest = spec.partition(" ")
        location = head.split("=", 1)[1]
        load_zone(location, f"provided bad location {location}: ")
        spec = rest.strip()
    if spec.startswith("@"):
        return _descriptor(spec)
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    for text, bounds in zip(fields, _BOUNDS, strict=True):
        for expr in text.split(","):
            _check_range(expr, *bounds)
    normalized = " ".join(f.replace("?", "*") for f in fields)
    return Schedule(normalized)


def load_zone(name: str, prefix: str = "") -> tzinfo:
    """A time zone by IANA name; ``CronError`` as Go's time.LoadLocation words it."""
    if name == "UTC" or name == "":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"{prefix}unknown time zone {name}")


def _descriptor(spec: str) -> Schedule:
    if spec in _DESCRIPTORS:
        return Schedule(_DESCRIPTORS[spec])
    if spec.startswith("@every "):
        text = spec[len("@every ") :].strip()
        seconds = _go_duration(text)
        if seconds is None:
            raise CronError(f'failed to parse duration {spec}: time: invalid duration "{text}"')
        # robfig rounds sub-second delays up to one second
        return Schedule("", timedelta(seconds=max(1, int(seconds))))
    raise CronError(f"unrecognized descriptor: {spec}")


def _go_duration(text: str) -> float | None:
    if not _GO_DURATION.match(text):
        return None
    total = 0.0
    for number, unit in re.findall(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)", text):
        total += float(number) * _GO_UNITS[unit]
    return total


def _check_range(expr: str, low: int, high: int, names: dict[str, int]) -> None:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    if low_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start = _int_or_name(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _int_or_name(low_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 2:
        step = _must_int(range_and_step[1])
        if len(low_high) == 1 and low_high[0] not in ("*", "?"):
            end = high  # "N/step" means "N-max/step"
    elif len(range_and_step) == 1:
        step = 1
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")


def _int_or_name(text: str, names: dict[str, int]) -> int:
    if names and text.lower() in names:
        return names[text.lower()]
    return _must_int(text)


def _must_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise CronError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    num = int(text)
    if num < 0:
        raise CronError(f"negative number ({num}) not allowed: {text}")
    return num
