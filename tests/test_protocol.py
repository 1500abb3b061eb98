"""Bazel's side of the protocol: the requests it sends, the answers it accepts.

Two halves. First the pure functions pyx-auth answers with (``protocol``, ``fastjson``).
Then the Bazel-exact client of ``tests/bazel_client.py`` checked against small shell helpers,
so that every other test can trust its verdicts: it must reject what Bazel rejects
(``bazel-credential-helpers.md`` §3-§4, §13 item 13) and accept what Bazel accepts.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazel_client import (
    BAZEL_TIMEOUT,
    STRICT_EXPIRES,
    BazelClient,
    HelperError,
    gson_request,
    parse_expires,
)
from pyx_auth import fastjson
from pyx_auth.errors import UsageError
from pyx_auth.hosts import split_uri
from pyx_auth.protocol import (
    EMPTY_ANSWER,
    MAX_EXPIRES_AHEAD,
    MAX_REQUEST_BYTES,
    bearer_answer,
    format_answer,
    format_expires,
    is_absolute_uri,
    is_hostless,
    parse_request,
)

# -- requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'{"uri":"https://api.pyx.dev/simple/"}',
        b'{"uri":"https://api.pyx.dev/simple/"}\n',
        b' \t{"uri": "https://api.pyx.dev/simple/", "extra": [1, {"x": null}]}\r\n',
        b'{"uri":"https:\\/\\/api.pyx.dev\\/simple\\/"}',
    ],
    ids=["bazel", "trailing-newline", "whitespace-and-extra-fields", "escaped-slashes"],
)
def test_parse_request_accepts_what_bazel_sends(data: bytes) -> None:
    assert parse_request(data).text == "https://api.pyx.dev/simple/"


def test_parse_request_decodes_gson_html_escapes() -> None:
    uri = "https://files.astralhosted.com/f.whl?a=b&c='d'<e>"
    assert b"\\u003d" in gson_request(uri) and b"\\u0026" in gson_request(uri)
    assert parse_request(gson_request(uri)).text == uri


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no request on stdin"),
        (b"  \n", "no request on stdin"),
        (b"uri=https://api.pyx.dev/", "not JSON"),
        (b'{"uri":"https://api.pyx.dev/"', "not JSON"),
        (b'{"uri":"https://a/"} {}', "not JSON"),
        (b'["https://api.pyx.dev/"]', "not a JSON object"),
        (b'"https://api.pyx.dev/"', "not a JSON object"),
        (b"{}", 'no "uri" string'),
        (b'{"url":"https://api.pyx.dev/"}', 'no "uri" string'),
        (b'{"uri":null}', 'no "uri" string'),
        (b'{"uri":42}', 'no "uri" string'),
        (b'{"uri":"/simple/"}', "not an absolute URI"),
        (b'{"uri":"api.pyx.dev/simple/"}', "not an absolute URI"),
        (b'{"uri":"https://"}', "not an absolute URI"),
        (b'{"uri":"https:api.pyx.dev/"}', "not an absolute URI"),
        (b'{"uri":"https://api.pyx.dev/a b"}', "not an absolute URI"),
        (b'{"uri":"https://api.pyx.dev/\\n"}', "not an absolute URI"),
        (b'{"uri":"https://evil.example\\\\@api.pyx.dev/"}', "not an absolute URI"),
        (b'{"uri":"https://api.pyx.dev/\\ud800"}', "not an absolute URI"),
        (b'{"uri":"https://api.pyx.dev:99999/"}', "not an absolute URI"),
        (b'{"uri":"\xff"}', "not UTF-8"),
        (b'{"uri":"' + b"a" * MAX_REQUEST_BYTES + b'"}', "larger than 64 KiB"),
    ],
)
def test_parse_request_refuses_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse_request(data)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://api.pyx.dev/simple/", True),
        ("unix:/run/cache.sock", True),
        ("grpc://cache.example:8980/x", True),
        ("mailto:a@b.example", True),
        ("https://b\u00fccher.example/", True),
        ("https://", False),
        ("https:///simple/", True),
        ("//api.pyx.dev/", False),
        ("https://a.example/\x7f", False),
    ],
)
def test_is_absolute_uri(uri: str, expected: bool) -> None:
    assert is_absolute_uri(uri) is expected


# -- answers --------------------------------------------------------------------------------


def test_format_expires_is_utc_whole_seconds_with_z() -> None:
    assert format_expires(1_900_000_000.9) == "2030-03-17T17:46:40Z"
    assert STRICT_EXPIRES.match(format_expires(time.time()))


def test_bearer_answer_expires_one_minute_before_exp() -> None:
    answer = json.loads(bearer_answer("tok", 1_900_000_060, with_expires=True, now=1_899_996_400))
    assert answer == {
        "headers": {"Authorization": ["Bearer tok"]},
        "expires": "2030-03-17T17:46:40Z",
    }


def test_bearer_answer_without_expires_or_exp_leaves_it_out() -> None:
    now = 1_800_000_000
    assert "expires" not in bearer_answer("tok", 1_900_000_060, with_expires=False, now=now)
    assert "expires" not in bearer_answer("tok", None, with_expires=True, now=now)


def test_bearer_answer_expires_never_in_the_past_nor_after_exp() -> None:
    """A token with 30 s left: Bazel must not get an ``expires`` already gone."""
    answer = json.loads(bearer_answer("tok", 1_800_000_030, with_expires=True, now=1_800_000_000))
    assert answer["expires"] == format_expires(1_800_000_001)
    nearly = json.loads(
        bearer_answer("tok", 1_800_000_000, with_expires=True, now=1_800_000_000.5)
    )
    assert nearly["expires"] == format_expires(1_800_000_000)  # never later than exp


def test_bearer_answer_token_expiring_in_2400_expires_within_a_year() -> None:
    """Bazel's ``CredentialCacheExpiry`` overflows ~292 years ahead and then caches nothing."""
    exp_2400 = int(dt.datetime(2400, 1, 1, tzinfo=dt.UTC).timestamp())
    now = 1_800_000_000.7
    answer = json.loads(bearer_answer("tok", exp_2400, with_expires=True, now=now))
    expires = parse_expires(answer["expires"]).timestamp()
    assert now < expires <= now + 366 * 24 * 3600
    assert expires == 1_800_000_000 + MAX_EXPIRES_AHEAD


@pytest.mark.parametrize(
    "uri",
    ["https:///simple/acme/main/", "http:///x", "https:///api.pyx.dev/simple/", "https://:443/x"],
)
def test_is_hostless_for_uris_bazel_sends_without_a_host(uri: str) -> None:
    parts = split_uri(uri)
    assert parts is not None and is_hostless(parts)
    assert parse_request(gson_request(uri)).text == uri


@pytest.mark.parametrize(
    "uri", ["https://api.pyx.dev/", "unix:/run/cache.sock", "https://", "mailto:a@b.example"]
)
def test_is_hostless_not_for_uris_with_a_host_or_no_authority(uri: str) -> None:
    parts = split_uri(uri)
    assert parts is None or not is_hostless(parts)


def test_format_answer_is_one_compact_line_like_json_dumps() -> None:
    headers = {"Authorization": ["Basic dTpw"], "X-Other": ["a", 'b\u00e9"\\']}
    text = format_answer(headers, 1_900_000_000)
    assert text == json.dumps(
        {"headers": headers, "expires": "2030-03-17T17:46:40Z"}, separators=(",", ":")
    )
    assert "\n" not in text
    assert format_answer({}) == EMPTY_ANSWER


# -- fastjson: the json module's behaviour without its import cost ------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(JSON_VALUES)
def test_fastjson_dumps_is_json_dumps_compact(value: object) -> None:
    assert fastjson.dumps(value) == json.dumps(value, separators=(",", ":"))


@given(JSON_VALUES, st.sampled_from(["", " ", "\n", "\t\r\n "]))
def test_fastjson_loads_round_trips(value: object, space: str) -> None:
    assert fastjson.loads(space + json.dumps(value) + space) == value


@given(st.text(alphabet='{}[]":,0123456789.eE+-truefalsn \\u"x', max_size=20))
def test_fastjson_loads_fails_exactly_where_json_fails(text: str) -> None:
    try:
        expected: object = ("ok", json.loads(text))
    except ValueError:
        expected = "error"
    try:
        actual: object = ("ok", fastjson.loads(text))
    except ValueError:
        actual = "error"
    assert repr(actual) == repr(expected)


def test_fastjson_loads_refuses_deep_nesting_as_a_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        fastjson.loads("[" * 100_000 + "]" * 100_000)


def test_fastjson_loads_reports_errors_before_json_is_ever_imported() -> None:
    """CPython 3.11's scanner cannot raise its own error class until ``json`` is imported."""
    package_parent = str(Path(fastjson.__file__).parents[1])
    code = f"""
import sys
sys.path.insert(0, {package_parent!r})
from pyx_auth import fastjson
for text in ["{{", "[1,", '{{"a" 1}}', '"\\\\x"', "nul", "[1]x"]:
    try:
        fastjson.loads(text)
    except ValueError:
        continue
    sys.exit("no ValueError for " + text)
"""
    subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True)


# -- the Bazel-exact client itself ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2030-01-01T00:00:00Z",
        "2030-01-01T00:00:00+00:00",
        "2030-01-01T00:00:00+02:00",
        "2030-01-01T00:00:00-00:00",
        "2030-01-01T00:00:00-12:00",
        "2030-01-01T23:59:60Z",
        "2030-01-01T24:00:00Z",
        "2030-02-30T00:00:00Z",
    ],
)
def test_client_accepts_expires_bazel_accepts(text: str) -> None:
    parse_expires(text)


@pytest.mark.parametrize(
    "text",
    [
        "2030-01-01T00:00:00.123Z",
        "2030-01-01t00:00:00Z",
        "2030-01-01T00:00:00z",
        "2030-01-01 00:00:00Z",
        "2030-01-01T00:00:00",
        "2030-01-01T00:00:00+0000",
        "2030-01-01T00:00:00+02",
    ],
)
def test_client_rejects_expires_bazel_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="cannot parse"):
        parse_expires(text)


def test_client_lenient_expires_rolls_over() -> None:
    assert parse_expires("2030-02-30T00:00:00Z") == parse_expires("2030-03-02T00:00:00Z")
    assert parse_expires("2030-01-01T24:00:00Z") == parse_expires("2030-01-02T00:00:00Z")
    assert parse_expires("2030-01-01T02:00:00+02:00") == parse_expires("2030-01-01T00:00:00Z")


def _helper(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "helper"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return [str(script)]


def _client(tmp_path: Path, body: str, *, timeout: float = BAZEL_TIMEOUT) -> BazelClient:
    return BazelClient(_helper(tmp_path, body), workspace=tmp_path, env={}, timeout=timeout)


def test_client_sends_gson_request_without_newline_and_closes_stdin(tmp_path: Path) -> None:
    client = _client(tmp_path, 'cat > request; printf "{}"')
    client.call("https://files.astralhosted.com/f?a=b")
    assert (tmp_path / "request").read_bytes() == (
        b'{"uri":"https://files.astralhosted.com/f?a\\u003db"}'
    )


def test_client_passes_get_and_runs_in_the_workspace(tmp_path: Path) -> None:
    client = _client(tmp_path, 'printf "%s|%s" "$*" "$PWD" > seen; printf "{}"')
    client.call("https://x.example/")
    assert (tmp_path / "seen").read_text() == f"get|{tmp_path}"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("exit 0", "no-output"),
        ("echo oops >&2; exit 3", "exit"),
        ("printf 'not json'", "parse"),
        ("printf '[1]'", "parse"),
        ("printf '{\"headers\":[]}'", "parse"),
        ('printf \'{"headers":{"A":"x"}}\'', "parse"),
        ('printf \'{"headers":{"A":[null]}}\'', "parse"),
        ('printf \'{"headers":{},"expires":null}\'', "parse"),
        ('printf \'{"expires":"2030-01-01T00:00:00.5Z"}\'', "parse"),
        ("sleep 5", "timeout"),
    ],
)
def test_client_fails_calls_bazel_fails(tmp_path: Path, body: str, kind: str) -> None:
    with pytest.raises(HelperError) as caught:
        _client(tmp_path, body, timeout=1.0).call("https://x.example/")
    assert caught.value.kind == kind


def test_client_reports_a_missing_helper(tmp_path: Path) -> None:
    client = BazelClient([str(tmp_path / "absent")], workspace=tmp_path, env={})
    with pytest.raises(HelperError, match="start"):
        client.call("https://x.example/")


@pytest.mark.parametrize(
    "answer",
    [
        '{"headers":{"A":[],"B":["1","2"]},"unknown":{"x":1}}',
        '{"headers":{}}',
        "{}",
        '{"headers":{"A":["x"]},"expires":"2030-01-01T00:00:00-12:00"}',
    ],
)
def test_client_accepts_answers_bazel_accepts(tmp_path: Path, answer: str) -> None:
    _client(tmp_path, f"printf '%s' '{answer}'").call("https://x.example/")


def test_client_reads_a_63_kib_answer_but_stalls_on_more_than_a_pipe(tmp_path: Path) -> None:
    value = "x" * (63 * 1024)
    answer = _client(tmp_path, f'printf \'{{"headers":{{"A":["{value}"]}}}}\'').call("u:x")
    assert answer.headers["A"] == [value]
    with pytest.raises(HelperError, match="timeout"):
        _client(tmp_path, "head -c 200000 /dev/zero", timeout=1.0).call("u:x")


def test_client_caches_per_uri_until_expires_or_30_minutes(tmp_path: Path) -> None:
    client = _client(tmp_path, 'printf \'{"headers":{},"expires":"2030-01-01T00:00:00Z"}\'')
    soon = parse_expires("2029-12-31T23:00:00Z").timestamp()
    client.get("https://a.example/", now=soon)
    client.get("https://a.example/", now=soon + 3000)
    assert client.calls == 1
    client.get("https://a.example/", now=soon + 3601)
    client.get("https://b.example/", now=soon)
    assert client.calls == 3
    old_bazel = _client(tmp_path, "printf '{}'")
    old_bazel.get("https://a.example/", now=0)
    old_bazel.get("https://a.example/", now=1799)
    old_bazel.get("https://a.example/", now=1800)
    assert old_bazel.calls == 2


def test_a_request_of_exactly_64_kib_is_read_and_one_byte_more_is_refused() -> None:
    """The limit is 64 KiB inclusive: a long but legal URI of exactly that size still works."""
    frame = b'{"uri":"https://api.pyx.dev/"}'
    padded = frame[:-2] + b"a" * (MAX_REQUEST_BYTES - len(frame)) + frame[-2:]
    assert len(padded) == MAX_REQUEST_BYTES == 64 * 1024
    assert parse_request(padded).text.startswith("https://api.pyx.dev/aaa")
    with pytest.raises(UsageError, match="larger than 64 KiB"):
        parse_request(padded[:-2] + b'a"}')


def test_expires_is_at_most_a_year_ahead_even_for_a_longer_token() -> None:
    """Bazel keeps an answer until ``expires``: never longer than 365 days from now."""
    now = 1_800_000_000
    answer = json.loads(bearer_answer("tok", now + 10 * 365 * 86400, with_expires=True, now=now))
    assert answer["expires"] == format_expires(now + 365 * 86400)
    assert answer["expires"] == "2028-01-15T08:00:00Z"


def test_printable_ascii_in_a_uri_is_accepted_from_the_exclamation_mark_on() -> None:
    assert is_absolute_uri("https://a.example/!")
    assert not is_absolute_uri("https://a.example/ ")
