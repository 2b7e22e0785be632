"""journal_entry.masked, the copy the journal keeps of a body naming a credential, against its plain definition."""

from __future__ import annotations

import random

from cdpkit.mockserver.journal_entry import SECRET_FIELDS, mask, masked, secret_field


def test_masked_copies_any_json_and_masks_everything_under_a_secret_name() -> None:
    """journal_entry.masked against its plain definition, on nested dicts and lists of every JSON type: every
    string and number under a secret-named field, at any depth ({"api_key": [KEY]} is as much a credential)."""
    def reference(value, secret=False):
        if isinstance(value, dict):
            return {k: reference(v, secret or secret_field(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [reference(v, secret) for v in value]
        if secret and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return mask(str(value))
        return value

    rng = random.Random(9)
    keys = ["api_key", "Token", "name", "password", "x", "accessKeySecret", "list"]

    def value(depth: int):
        kind = rng.randrange(7 if depth < 4 else 5)
        if kind == 5:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        if kind == 6:
            return {rng.choice(keys): value(depth + 1) for _ in range(rng.randint(0, 4))}
        return [None, True, rng.randint(-9, 9), 2.5, "secret-value-" + str(rng.randint(0, 99))][kind]

    for _ in range(300):
        made = {"api_key": "sk-0123456789", "nested": value(0), "items": [value(1), value(1)]}
        original = repr(made)
        assert masked(made) == reference(made) and repr(made) == original


def test_a_secret_field_in_any_letter_case_is_never_journaled_in_the_clear() -> None:
    """masked() matches field names case-insensitively; the scan that decides whether a body needs it must
    too, or a body whose only secret is spelled "Token" or "PASSWORD" is kept as sent."""
    import orjson

    from cdpkit.mockserver.journal_entry import materialize, record

    secret = "hunter2-xyzw-value"  # names no secret field itself
    for name in sorted(SECRET_FIELDS):
        for spelled in (name, name.upper(), name.title(), name[:1].upper() + name[1:]):
            sent = {"userId": "u-1", "attributes": {spelled: secret}}
            raw = orjson.dumps(sent)
            rec = record(0.0, "zebline", "upsert_user", "POST", "/p", "", (), (), raw, sent, 200, raw, sent, (), 0.1)
            shown = orjson.dumps(materialize(rec))
            assert secret.encode() not in shown, spelled
            assert b"****alue" in shown, spelled


def test_a_secret_field_spelled_with_json_escapes_is_never_journaled_in_the_clear() -> None:
    """A JSON escape spells a name no byte scan reads ("\\u0074oken" is "token"): such a body is masked too."""
    import orjson

    from cdpkit.mockserver.journal_entry import materialize, record

    raw = b'{"userId": "u-1", "attributes": {"\\u0074oken": "hunter2-xyzw-value"}}'
    sent = orjson.loads(raw)
    assert "token" in sent["attributes"]
    rec = record(0.0, "zebline", "upsert_user", "POST", "/p", "", (), (), raw, sent, 200, b"{}", {}, (), 0.1)
    assert b"hunter2" not in orjson.dumps(materialize(rec))


def test_an_answer_with_int_keys_is_journaled_and_masked() -> None:
    """A handler's answer is written with OPT_NON_STR_KEYS, so its keys may be ints: judging and scrubbing them
    must neither fail (the journal is written after the answer is made: a failure there is a 500) nor skip them."""
    import orjson

    from cdpkit.mockserver.journal_entry import materialize, record

    token = "zz-hidden-4f9c-int-keys-value"
    answer = {1: f"unknown token {token}", 2: {"token": token}}
    raw = orjson.dumps(answer, option=orjson.OPT_NON_STR_KEYS)
    for status in (200, 401):
        rec = record(0.0, "gptbots", "get_user_cdp", "GET", "/p", "", (), (("Authorization", "Bearer " + token),),
                     b"", None, status, raw, answer, (), 0.1)
        shown = orjson.dumps(materialize(rec), option=orjson.OPT_NON_STR_KEYS)
        assert shown.count(b"****alue") == 2 + (status >= 300), shown  # a refusal's message is scrubbed too
    assert b"zz-hidden" not in shown, shown


def test_record_never_fails_and_masks_a_credential_a_refusal_or_redirect_repeats() -> None:
    """record() on random credentials (quotes, backslashes, bytes that are not UTF-8, separators, %-signs) in a
    header, the query or the body, repeated by the answer as a message quotes it (repr, as is, percent-encoded)
    and in the path: never an exception (it runs after the answer is made: one would be a 500), never the
    credential in the clear once the answer is a refusal or a redirect."""
    import urllib.parse

    import orjson

    from cdpkit.mockserver.journal_entry import materialize, record

    rng = random.Random(5)
    letters = ["a", "Z", "0", " ", '"', "'", "\\", "\udcff", "é", "#", "%", ";", "=", ",", "\t", "\x01", "/", "&"]
    for _ in range(3000):
        sent = "zz-hidden-4f9c" + "".join(rng.choice(letters) for _ in range(rng.randint(0, 12)))
        text = sent.encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # what a handler sees
        header = (rng.choice(["Authorization", "api-key", "X-Auth-Token", "Cookie"]),
                  rng.choice(["", "Bearer ", "Basic ", "Digest x=", "bearer  "]) + sent)
        query = [("API_KEY", sent)] if rng.random() < 0.3 else []
        answer = {"message": rng.choice([f"bad {text!r}", f"bad {text}", "?x=" + urllib.parse.quote_plus(text)])}
        body = {"Api_Key": text} if rng.random() < 0.3 else None
        rec = record(0.0, "v", "o", "POST", rng.choice(["/p", f"/x/{text}/y"]), "q" if query else "", query,
                     (header,), orjson.dumps(body) if body else b"", body, rng.choice([303, 401, 500]),
                     orjson.dumps(answer), answer, (), 0.1)
        shown = orjson.dumps(materialize(rec))
        assert b"zz-hidden" not in shown, (header, shown)
