"""TTO CDP (seed 000): bodies of ``POST /v1/track``, ``/v1/identify``, ``/v1/alias``; the query of ``/v1/settings``.

Valid messages look like the document's examples (TTO-COMMON-TYPE, TTO-TIMESTAMP-STRING): ``type``
names the endpoint, ``msg_id`` is sent, ``timestamp`` is epoch seconds as a string of digits. Traits
follow the document's normalisation (traits_convention.json: TTO-TRAITS-PHONE, -LOWERCASE,
-BIRTH-DATE, -GENDER, -REGION) and are coherent with each other: the e-mail is built from the names,
the age from the birth date, the phone's calling code, city, state and ZIP from one country.

TTO's market is Hong Kong and Taiwan (zh_TW, the default market): ``name`` carries the person's
Chinese name, as the identify example does (張三), while ``first_name``/``last_name`` are lowercase
a-z as the document requires: the surname's Hong Kong (chan) or Taiwan (chen) romanisation and the
English (HK) or Wade-Giles (TW) given name people put on their cards and passports.

The API key travels in the body (TTO-API-KEY-BODY) and in the settings query. Credentials are never
invented: payloads carry the document's own placeholder ``your_api_key_here`` (:data:`API_KEY_PLACEHOLDER`)
and :mod:`cdpkit.generators.transport` swaps in ``--cred api_key``. A payload whose key is anything else
(missing, empty, an unknown key) is sent as it is, so invalid payloads stay invalid on the wire.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Callable

from cdpkit.generators.draw import Draw
from cdpkit.generators.registry import Operation, Payload

MARKETS = ("zh_TW", "en_US", "zh_CN")  # TTO FROM TOPKEE: Hong Kong first; HKD in the document's example
API_KEY_PLACEHOLDER = "your_api_key_here"  # the document's own example value; transport replaces it
PAYLOAD_LIMIT_BYTES = 32 * 1024  # TTO-PAYLOAD-LIMIT (the mock's assumption, from Segment)
_NOT_AZ = re.compile(r"[^a-z]")

# (traditional, simplified, Hong Kong romanisation, Taiwan Wade-Giles, pinyin) of common surnames.
SURNAMES: tuple[tuple[str, str, str, str, str], ...] = (
    ("陳", "陈", "chan", "chen", "chen"), ("王", "王", "wong", "wang", "wang"), ("李", "李", "lee", "li", "li"),
    ("張", "张", "cheung", "chang", "zhang"), ("林", "林", "lam", "lin", "lin"), ("黃", "黄", "wong", "huang", "huang"),
    ("劉", "刘", "lau", "liu", "liu"), ("吳", "吴", "ng", "wu", "wu"), ("楊", "杨", "yeung", "yang", "yang"),
    ("趙", "赵", "chiu", "chao", "zhao"), ("周", "周", "chow", "chou", "zhou"), ("何", "何", "ho", "ho", "he"),
    ("梁", "梁", "leung", "liang", "liang"), ("郭", "郭", "kwok", "kuo", "guo"), ("許", "许", "hui", "hsu", "xu"),
    ("蔡", "蔡", "choi", "tsai", "cai"), ("鄭", "郑", "cheng", "cheng", "zheng"), ("謝", "谢", "tse", "hsieh", "xie"),
    ("曾", "曾", "tsang", "tseng", "zeng"), ("馬", "马", "ma", "ma", "ma"), ("羅", "罗", "law", "lo", "luo"),
    ("葉", "叶", "yip", "yeh", "ye"), ("徐", "徐", "tsui", "hsu", "xu"), ("蘇", "苏", "so", "su", "su"),
)


class Market:
    """One country's place data: calling code, currency (with its decimals), and (city, state, zip) draws."""

    def __init__(self, country: str, calling: str, currency: str, decimals: int,
                 cities: tuple[tuple[str, str | None], ...], zip_digits: int | None, phone: Callable[[Draw], str]) -> None:
        self.country, self.calling, self.currency, self.decimals = country, calling, currency, decimals
        self.cities, self.zip_digits, self.phone = cities, zip_digits, phone


def _hk_phone(d: Draw) -> str:
    return "852" + d.choice("569") + "".join(d.rng.choices("0123456789", k=7))  # HK mobiles: 8 digits starting 5, 6 or 9


HK = Market("hk", "852", "HKD", 2, (("hongkong", None), ("kowloon", None), ("shatin", None), ("tsuenwan", None),
                                    ("tuenmun", None), ("causewaybay", None), ("mongkok", None), ("taipo", None)), None, _hk_phone)
TW = Market("tw", "886", "TWD", 0, (("taipei", None), ("newtaipei", None), ("taichung", None), ("kaohsiung", None),
                                    ("tainan", None), ("taoyuan", None), ("hsinchu", None), ("keelung", None)), 5, Draw.phone_digits)
CN = Market("cn", "86", "CNY", 2, (("beijing", "bj"), ("shanghai", "sh"), ("guangzhou", "gd"), ("shenzhen", "gd"),
                                   ("hangzhou", "zj"), ("chengdu", "sc"), ("wuhan", "hb"), ("nanjing", "js"), ("xian", "sn")), 6, Draw.phone_digits)
US = Market("us", "1", "USD", 2, (), 5, Draw.phone_digits)


def _ascii_letters(text: str) -> str:
    """Lowercase a-z only: accents folded (José -> jose), everything else dropped (O'Neil -> oneil)."""
    return _NOT_AZ.sub("", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower())


# -- identities ------------------------------------------------------------------------------------


USER_ID_STYLES: tuple[Callable[[Draw], str], ...] = (
    lambda d: f"user_{d.digits(d.integer(4, 8))}",  # the document's user_12345
    lambda d: "M" + d.digits(9),  # member numbers
    lambda d: "%08x" % d.epoch_seconds() + d.hex(16),  # database object ids
    lambda d: f"registered_user_{d.digits(d.integer(3, 6))}",  # the alias example
)


def user_id(d: Draw) -> str:
    return d.choice(USER_ID_STYLES)(d)


def anonymous_id(d: Draw) -> str:
    """A browser-stored id (TTO-ANONYMOUS-ID-LIFETIME): a UUID, or a session-style id as in the alias example."""
    return d.uuid4() if d.chance(0.8) else f"anonymous_session_{d.alnum(12)}"


def _identity(d: Draw) -> dict[str, str]:
    """user_id alone, anonymous_id alone, or both (TTO-IDENTIFIERS)."""
    roll = d.rng.random()
    if roll < 0.4:
        return {"user_id": user_id(d)}
    if roll < 0.65:
        return {"anonymous_id": anonymous_id(d)}
    return {"user_id": user_id(d), "anonymous_id": anonymous_id(d)}


# -- traits ----------------------------------------------------------------------------------------


def _person(d: Draw) -> tuple[dict[str, str], Market]:
    """Name fields and the market they belong to, coherent with the locale and with each other."""
    gender = d.choice("fm")
    given_method = "first_name_female" if gender == "f" else "first_name_male"
    if d.locale in ("zh_TW", "zh_CN"):
        trad, simp, hk, tw, pinyin = d.choice(SURNAMES)
        if d.locale == "zh_CN":
            market, cjk, last, first = CN, simp, pinyin, d.fake("first_romanized_name")
        elif d.chance(0.5):
            market, cjk, last, first = HK, trad, hk, d.rng.choice(_en_pool(given_method))
        else:
            market, cjk, last, first = TW, trad, tw, d.fake("first_romanized_name")
        name = cjk + d.fake(given_method)
    else:
        market = US if d.locale == "en_US" else None
        first, last = d.fake(given_method), d.fake("last_name")
        name = f"{first} {last}"
    fields = {"name": name, "gender": gender}
    first, last = _ascii_letters(first), _ascii_letters(last)
    if first and last:  # non-Latin scripts are not transliterated: the name stays in `name` only
        fields.update(first_name=first, last_name=last)
    return fields, market or _generic_market(d)


def _en_pool(method: str) -> tuple[str, ...]:
    from cdpkit.generators.draw import pool

    return pool("en_US", method)


def _generic_market(d: Draw) -> Market:
    """A locale without a table: its own country code and phone numbers, no city/state/zip."""
    return Market(d.locale[-2:].lower(), "", "USD", 2, (), None, Draw.phone_digits)


def _place(d: Draw, market: Market) -> dict[str, str]:
    if market is US:
        city = _ascii_letters(d.fake("city"))
        out = {"city": city, "state": d.fake("state_abbr").lower(), "zip_post": d.fake("zipcode")}
        return {k: v for k, v in out.items() if v}
    out = {}
    if market.cities:
        city, state = d.choice(market.cities)
        out["city"] = city
        if state:
            out["state"] = state
    if market.zip_digits:
        out["zip_post"] = d.digits(market.zip_digits)
    return out


def traits(d: Draw) -> Payload:
    """A subset of the 22 standard fields, normalised as the document asks (traits_convention.json)."""
    person, market = _person(d)
    born = d.birth_date()
    handle = person.get("first_name", "") + person.get("last_name", "") or d.alnum(8)
    full: dict[str, Any] = {
        **person,
        "email": f"{handle}{d.integer(1, 999)}@{d.fake('free_email_domain')}",
        "phone": market.phone(d),
        "date_date": born.strftime("%Y%m%d"),
        "age": int((d.birth_date(0, 0) - born).days // 365.25),
        "country": market.country,
        **_place(d, market),
        "ip": d.fake("ipv4_public"),
        "username": f"{handle}{d.integer(1, 99)}",
        "company": d.fake("company"),
        "title": d.fake("job"),
        "address": d.fake("address").replace("\n", ", "),
        "avatar": f"https://cdn.example.com/avatars/{d.hex(16)}.jpg",
        "website": f"https://{handle}.example.com",
        "id": f"crm-{d.digits(8)}",
        "created_at": str(d.epoch_seconds()),
        "description": d.fake("sentence"),
    }
    keep = ("name", "email", "phone")  # what both examples send
    return {k: v for k, v in full.items() if k in keep or d.chance(0.45)}


# -- messages --------------------------------------------------------------------------------------


def _context(d: Draw) -> dict[str, Any]:
    """上下文信息: device, page and traffic source, as a browser SDK reports them."""
    path = "/" + d.choice(("", "products", "cart", "checkout", "blog", "promo")) + ("/" + d.alnum(6) if d.chance(0.5) else "")
    context: dict[str, Any] = {
        "ip": d.fake("ipv4_public"),
        "locale": d.locale.replace("_", "-"),
        "user_agent": d.fake("user_agent"),
        "page": {"path": path, "url": f"https://shop.example.com{path}", "title": d.fake("catch_phrase")},
    }
    if d.chance(0.5):
        context["device"] = {"type": d.choice(("mobile", "desktop", "tablet")), "manufacturer": d.choice(("Apple", "Samsung", "Xiaomi", "OPPO"))}
    if d.chance(0.4):
        context["campaign"] = {"source": d.choice(("google", "facebook", "instagram", "line", "newsletter")),
                               "medium": d.choice(("cpc", "social", "email")), "name": f"sale_{d.integer(1, 12):02d}"}
    return context


def _message(d: Draw, kind: str) -> Payload:
    message: Payload = {"type": kind, "api_key": API_KEY_PLACEHOLDER, "msg_id": d.uuid4()}
    if kind != "alias":
        message.update(_identity(d))
    message["timestamp"] = str(d.epoch_seconds())  # TTO-TIMESTAMP-STRING
    if d.chance(0.5):
        message["context"] = _context(d)
    return message


def _market_of(d: Draw) -> Market:
    return {"zh_TW": HK if d.chance(0.5) else TW, "zh_CN": CN}.get(d.locale, US)


def products(d: Draw, market: Market) -> list[dict[str, Any]]:
    """1-4 line items in one currency, prices in its minor unit, integer quantities ≥ 1."""
    items = []
    for index in range(d.integer(1, 4)):
        price = round(d.rng.uniform(10, 2000), market.decimals) if market.decimals else d.integer(30, 6000)
        item: dict[str, Any] = {"id": f"SKU-{d.digits(6)}", "name": d.fake("catch_phrase"), "price": price,
                                "currency": market.currency, "quantity": d.integer(1, 3), "index": index}
        if d.chance(0.6):
            item.update(category=d.choice(("apparel", "beauty", "electronics", "home", "food")), brand=d.fake("company"))
        if d.chance(0.3):
            item.update(variant=d.choice(("red", "blue", "black", "s", "m", "l")), list_id=f"list-{d.integer(1, 40)}", list_name="search results")
        items.append(item)
    return items


def _total(items: list[dict[str, Any]], market: Market) -> float | int:
    total = sum(item["price"] * item["quantity"] for item in items)
    return round(total, market.decimals) if market.decimals else int(total)


COMMERCE_EVENTS = ("Purchase", "AddToCart", "InitiateCheckout")
OTHER_EVENTS: dict[str, Callable[[Draw], dict[str, Any]]] = {
    "PageView": lambda d: {"title": d.fake("catch_phrase"), "referrer": d.fake("uri")},
    "Search": lambda d: {"query": d.fake("word")},
    "CompleteRegistration": lambda d: {"method": d.choice(("email", "phone", "facebook", "google"))},
    "Lead": lambda d: {"form_id": f"form-{d.integer(1, 30)}", "key1": "diy 1"},
}


def track(d: Draw) -> Payload:
    """A commerce event with coherent products and totals, or a browsing event with custom properties."""
    message = _message(d, "track")
    if d.chance(0.5):
        market = _market_of(d)
        message["event"] = d.choice(COMMERCE_EVENTS)
        items = products(d, market)
        total = _total(items, market)
        properties: dict[str, Any] = {"currency": market.currency, "value": total}
        if message["event"] == "Purchase":
            properties.update(revenue=total, order_id=f"ORD-{d.digits(8)}")
        if d.chance(0.75):  # TTO-PRODUCTS-PLACEMENT: beside properties, or inside them as Segment does
            message["products"] = items
        else:
            properties["products"] = items
        message["properties"] = properties
    else:
        message["event"] = d.choice(tuple(OTHER_EVENTS))
        message["properties"] = OTHER_EVENTS[message["event"]](d)
    if d.chance(0.3):
        message["traits"] = traits(d)
    return message


def identify(d: Draw) -> Payload:
    return {**_message(d, "identify"), "traits": traits(d)}


def alias(d: Draw) -> Payload:
    """The new identity (user_id) and the one it replaces (previous_id: usually the anonymous id)."""
    message = _message(d, "alias")
    previous = anonymous_id(d) if d.chance(0.7) else user_id(d)
    return {**message, "user_id": user_id(d), "previous_id": previous}


def settings(d: Draw) -> Payload:
    return {"api_key": API_KEY_PLACEHOLDER}


# -- one-violation builders ------------------------------------------------------------------------


def _without(payload: Payload, *keys: str) -> Payload:
    return {k: v for k, v in payload.items() if k not in keys}


def no_api_key(d: Draw, payload: Payload) -> Payload:
    """TTO-API-KEY-BODY: the body carries no key, or an empty one."""
    return _without(payload, "api_key") if d.chance(0.5) else {**payload, "api_key": ""}


def unknown_api_key(d: Draw, payload: Payload) -> Payload:
    """TTO-API-KEY-AUTH: a well-formed key no source was issued (only the server's state can tell)."""
    return {**payload, "api_key": f"tto-{d.hex(32)}"}


def no_settings_key(d: Draw, payload: Payload) -> Payload:
    """TTO-SETTINGS-QUERY-KEY: no ?api_key (or an empty one)."""
    return {} if d.chance(0.5) else {"api_key": ""}


def other_type(d: Draw, payload: Payload) -> Payload:
    """TTO-TYPE-MATCH: type names another operation (or a Segment call TTO does not have)."""
    others = [t for t in ("track", "identify", "alias", "page", "screen", "group") if t != payload["type"]]
    return {**payload, "type": d.choice(others)}


def no_identity(d: Draw, payload: Payload) -> Payload:
    """TTO-IDENTITY-REQUIRED: neither user_id nor anonymous_id."""
    return _without(payload, "user_id", "anonymous_id")


def bad_id_type(d: Draw, payload: Payload) -> Payload:
    """TTO-ID-TYPES: one present identifier empty or not a string."""
    fields = [k for k in ("msg_id", "user_id", "anonymous_id", "event", "previous_id") if k in payload]
    return {**payload, d.choice(fields): d.choice(("", 12345, None, ["x"]))}


def bad_timestamp(d: Draw, payload: Payload) -> Payload:
    """TTO-TIMESTAMP-ACCEPTED: a time that is not epoch seconds."""
    when = d.iso_datetime()
    return {**payload, "timestamp": d.choice((when, when[:10], "yesterday", -int(d.epoch_seconds()), ""))}


def string_object(d: Draw, payload: Payload) -> Payload:
    """TTO-DATA-OBJECT-TYPE: traits/properties/context as text that holds no JSON object (a track may send the
    text of one, as its table's STRING says; no operation takes other text)."""
    fields = [k for k in ("traits", "properties", "context") if k in payload] or ["context"]
    return {**payload, d.choice(fields): d.choice(("alelos", "[1, 2]", "null", '{"email": "a@example.com"', "USD"))}


def no_event(d: Draw, payload: Payload) -> Payload:
    """TTO-TRACK-EVENT: a track without event."""
    return _without(payload, "event")


def bad_products(d: Draw, payload: Payload) -> Payload:
    """TTO-PRODUCTS-PLACEMENT (assumption): products is one object instead of a list, or a list of product ids."""
    items = payload.get("products") or (payload.get("properties") or {}).get("products") or products(d, _market_of(d))
    broken = items[0] if d.chance(0.5) else [item["id"] for item in items]
    properties = _without(payload.get("properties") or {}, "products")
    return {**payload, "properties": properties, "products": broken}


def no_alias_id(d: Draw, payload: Payload) -> Payload:
    """TTO-ALIAS-IDS: previous_id or user_id missing."""
    return _without(payload, d.choice(("previous_id", "user_id")))


def oversized(d: Draw, payload: Payload) -> Payload:
    """TTO-PAYLOAD-LIMIT: a body over 32 KB (a long custom value); only the server's handler sees the size."""
    filler = d.alnum(64) * (PAYLOAD_LIMIT_BYTES // 64 + 1)
    field = "properties" if "event" in payload else "context"
    return {**payload, field: {**(payload.get(field) or {}), "notes": filler}}


_COMMON = {
    "TTO-API-KEY-BODY": no_api_key,
    "TTO-API-KEY-AUTH": unknown_api_key,
    "TTO-TYPE-MATCH": other_type,
    "TTO-ID-TYPES": bad_id_type,
    "TTO-TIMESTAMP-ACCEPTED": bad_timestamp,
    "TTO-DATA-OBJECT-TYPE": string_object,
    "TTO-PAYLOAD-LIMIT": oversized,
}
_STATE_ONLY = frozenset({"TTO-API-KEY-AUTH", "TTO-PAYLOAD-LIMIT"})

OPERATIONS = [
    Operation("track", valid=track, aliases=("events",), summary="a behaviour event (commerce or browsing)",
              invalid={**_COMMON, "TTO-IDENTITY-REQUIRED": no_identity, "TTO-TRACK-EVENT": no_event, "TTO-PRODUCTS-PLACEMENT": bad_products},
              conventions=("message_convention.json#/$defs/track",), state_only=_STATE_ONLY),
    Operation("identify", valid=identify, aliases=("profiles",), summary="a user's traits",
              invalid={**_COMMON, "TTO-IDENTITY-REQUIRED": no_identity},
              conventions=("message_convention.json#/$defs/identify",), state_only=_STATE_ONLY),
    Operation("alias", valid=alias, aliases=("merge",), summary="previous_id joins user_id",
              invalid={**_COMMON, "TTO-ALIAS-IDS": no_alias_id},
              conventions=("message_convention.json#/$defs/alias",), state_only=_STATE_ONLY),
    Operation("settings", valid=settings, aliases=("config",), summary="the source's configuration (?api_key=)",
              invalid={"TTO-SETTINGS-QUERY-KEY": no_settings_key, "TTO-API-KEY-AUTH": unknown_api_key},
              state_only=frozenset({"TTO-API-KEY-AUTH"})),
]
