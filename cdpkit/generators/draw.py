"""Per-payload randomness: a seeded ``random.Random`` plus pools of Faker values built once per locale.

Faker is far too slow to call per field when a load test wants tens of thousands of payloads per
second, and seeding a Faker instance per payload costs even more. So every Faker method a builder
asks for is called :data:`POOL_SIZE` times once per (locale, method), with a Faker seed derived from
that pair alone, and payloads then *pick* from the pool with their own ``random.Random``. A payload
is therefore a pure function of (operation, seed, locale, installed Faker version): reproducible
byte for byte, whatever order pools happen to be built in and whatever ``PYTHONHASHSEED`` is.
"""

from __future__ import annotations

import functools
import random
import re
import string
import time
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence, TypeVar

from faker import Faker

POOL_SIZE = 512
DEFAULT_LOCALE = "en_US"
# Timestamps fall in a fixed window, not around "now", so seeded output never drifts with the clock.
WINDOW_START = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp())
WINDOW_END = int(datetime(2025, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp())

T = TypeVar("T")
_ALNUM = string.ascii_lowercase + string.digits
_HEX = "0123456789abcdef"
_NOT_DIGIT = re.compile(r"\D")
# Country calling codes of the vendors' markets, for phone numbers written with their country code.
CALLING_CODES = {
    "en_US": "1", "zh_CN": "86", "zh_TW": "886", "th_TH": "66", "fa_IR": "98", "en_GB": "44",
    "ja_JP": "81", "ko_KR": "82", "de_DE": "49", "fr_FR": "33", "id_ID": "62", "vi_VN": "84",
}


@functools.lru_cache(maxsize=None)
def faker_for(locale: str) -> Faker:
    """One Faker per locale; an unknown locale is a ValueError that says what to pass instead."""
    try:
        return Faker(locale)
    except AttributeError:
        raise ValueError(
            f"unknown locale {locale!r}; use a Faker locale such as en_US, zh_CN, zh_TW, th_TH, fa_IR"
        ) from None


@functools.lru_cache(maxsize=None)
def pool(locale: str, method: str) -> tuple[Any, ...]:
    """``POOL_SIZE`` values of ``Faker(locale).<method>()``; falls back to en_US where the locale lacks it."""
    faker = faker_for(locale)
    if not hasattr(faker, method):
        faker = faker_for(DEFAULT_LOCALE)
        if not hasattr(faker, method):
            raise AttributeError(f"Faker has no provider method {method!r}")
    faker.seed_instance(zlib.crc32(f"{locale}:{method}".encode()))
    produce = getattr(faker, method)
    return tuple(produce() for _ in range(POOL_SIZE))


def _digits_with_code(raw: str, code: str, locale: str) -> str:
    digits = _NOT_DIGIT.sub("", raw.split("x")[0])
    international = raw.lstrip().startswith("+") or digits.startswith("00" + code)
    if international and digits.lstrip("0").startswith(code):
        digits = digits.lstrip("0")[len(code):]
    if locale == "en_US" and len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return code + digits.lstrip("0")


@functools.lru_cache(maxsize=None)
def phone_pool(locale: str) -> tuple[str, ...]:
    """The locale's pooled Faker phone numbers as digits with the country code first.

    Extension, punctuation and trunk zeros are removed once here, not per payload. A locale without
    a known calling code uses en_US numbers, so code and number always agree.
    """
    source = locale if locale in CALLING_CODES else DEFAULT_LOCALE
    code = CALLING_CODES[source]
    return tuple(_digits_with_code(raw, code, source) for raw in pool(source, "phone_number"))


class Draw:
    """What a builder draws from: ``rng`` (seeded per payload) and ``fake(method)`` (pooled Faker)."""

    __slots__ = ("rng", "locale")

    def __init__(self, rng: random.Random, locale: str = DEFAULT_LOCALE) -> None:
        self.rng = rng
        self.locale = locale

    def fake(self, method: str) -> Any:
        """A value of ``Faker(locale).<method>()`` drawn from the locale's pool."""
        return self.rng.choice(pool(self.locale, method))

    def phone_digits(self) -> str:
        """A market phone number as digits only, country code first (e.g. ``66812345678``)."""
        return self.rng.choice(phone_pool(self.locale))

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high], both ends included."""
        return self.rng.randint(low, high)

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def uuid4(self) -> str:
        """A version-4 UUID from the payload's rng (``uuid.uuid4()`` would break seeded reproducibility)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def email_id(self) -> str:
        """An e-mail address used as an identifier; the short prefix keeps pooled addresses apart."""
        return f"{self.alnum(3)}.{self.fake('free_email')}"

    def hex(self, length: int) -> str:
        return "".join(self.rng.choices(_HEX, k=length))

    def alnum(self, length: int) -> str:
        """Lowercase letters and digits, as generated identifiers usually are."""
        return "".join(self.rng.choices(_ALNUM, k=length))

    def digits(self, length: int) -> str:
        """``length`` digits, the first one not zero."""
        return str(self.rng.randint(1, 9)) + "".join(self.rng.choices(string.digits, k=length - 1))

    def epoch_seconds(self, start: int = WINDOW_START, end: int = WINDOW_END) -> int:
        return self.rng.randint(start, end)

    def epoch_millis(self, start: int = WINDOW_START, end: int = WINDOW_END) -> int:
        return self.rng.randint(start * 1000, end * 1000)

    def iso_datetime(self, start: int = WINDOW_START, end: int = WINDOW_END) -> str:
        """An ISO 8601 UTC datetime with seconds, e.g. ``2024-05-01T08:30:00Z``."""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.epoch_seconds(start, end)))

    def birth_date(self, min_age: int = 18, max_age: int = 80) -> datetime:
        """A date of birth for someone aged min_age..max_age at the end of the window."""
        end = datetime.fromtimestamp(WINDOW_END, tz=timezone.utc)
        return end - timedelta(days=self.rng.randint(min_age * 365, max_age * 365))
