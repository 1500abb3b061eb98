"""Which URIs get a pyx token: uv's pinned examples, made stricter, and every trick on a host.

The rows marked "uv" are the examples pinned by uv 0.12.6's unit tests (``pyx-and-uv.md`` §5);
pyx-auth agrees with all of them. The other rows pin the rules the Bazel issue adds: realm
match with port, ``https`` only (except a loopback test API), case and one trailing dot
ignored, userinfo never moving the host, look-alike and IDN hosts refused.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyx_auth.errors import ConfigError
from pyx_auth.hosts import (
    canonical_url,
    check_api_url,
    check_cdn_domain,
    has_userinfo,
    is_ip_literal,
    is_pyx,
    normalize_host,
    parent_domain,
    parse_origin,
    percent_decode,
    split_uri,
)
from pyx_auth.settings import Settings

DEFAULTS: dict[str, str] = {}

DEFAULT_API_ROWS = [
    # uv's test_is_known_url / test_is_known_domain / test_matches_domain
    ("https://api.pyx.dev/simple/", True, "uv: the API realm"),
    ("https://api.pyx.dev/v1/", True, "uv: any path on the API realm"),
    ("https://astralhosted.com/packages/", True, "uv: the CDN domain"),
    ("https://files.astralhosted.com/packages/", True, "uv: a CDN subdomain"),
    ("https://bar.foo.astralhosted.com/x", True, "uv: a CDN subdomain at any depth"),
    ("http://astralhosted.com/packages/", False, "uv: the CDN over http"),
    ("https://pypi.org/simple/", False, "uv: an unknown domain"),
    ("https://badastralhosted.com/packages/", False, "uv: a look-alike without the dot"),
    ("https://pyx.dev", True, "uv: the API host's parent domain"),
    ("https://foo.api.pyx.dev", False, "uv: a child of the API host"),
    ("https://beta.pyx.dev/", False, "uv: a sibling of the API host"),
    ("https://pyx.com/", False, "uv: another TLD"),
    ("https://astral-sh-staging-api.pyx.dev", False, "uv: staging is not a default host"),
    # the static-IP API host, with the default API only
    ("https://api-static.pyx.dev/simple/", True, "the static-IP API host"),
    # userinfo never moves the host
    ("https://api.pyx.dev@evil.example/", False, "userinfo api.pyx.dev, host evil.example"),
    ("https://api.pyx.dev:443@evil.example/", False, "userinfo with a port-like colon"),
    ("https://user:pw@evil.example/api.pyx.dev", False, "the pyx host only in the path"),
    ("https://evil.example@api.pyx.dev/", True, "host api.pyx.dev (get refuses its userinfo)"),
    ("https://api.pyx.dev#@evil.example/", True, "the @ is in the fragment"),
    ("https://api.pyx.dev?@evil.example/", True, "the @ is in the query"),
    # ports
    ("https://api.pyx.dev:443/simple/", True, "the explicit default port"),
    ("https://api.pyx.dev:/simple/", True, "an empty port is the default"),
    ("https://api.pyx.dev:8443/simple/", False, "another port of the API host (uv: yes)"),
    ("https://files.astralhosted.com:8443/x", False, "another port on the CDN (uv: yes)"),
    ("https://pyx.dev:444/", False, "another port of the parent domain (uv: yes)"),
    # case and trailing dot
    ("HTTPS://API.PYX.DEV/simple/", True, "upper-case scheme and host"),
    ("https://Files.AstralHosted.COM/x", True, "mixed-case CDN host"),
    ("https://api.pyx.dev./simple/", True, "the API host with its trailing dot"),
    ("https://files.astralhosted.com./x", True, "a CDN host with its trailing dot"),
    ("https://api.pyx.dev../simple/", False, "two trailing dots are another name"),
    # http is never pyx here
    ("http://api.pyx.dev/simple/", False, "the API host over http (uv: yes)"),
    ("http://pyx.dev/", False, "the parent domain over http (uv: yes)"),
    ("http://files.astralhosted.com/x", False, "a CDN host over http"),
    ("ftp://api.pyx.dev/", False, "another scheme"),
    ("unix:/run/api.pyx.dev.sock", False, "no host at all"),
    # look-alikes
    ("https://api.pyx.dev.evil.example/", False, "pyx host as a subdomain of another"),
    ("https://astralhosted.com.evil.example/", False, "CDN domain as a subdomain of another"),
    ("https://evilastralhosted.com/", False, "CDN domain as a suffix without a dot"),
    ("https://api-pyx.dev/", False, "hyphen instead of dot"),
    ("https://api.pyx.devil/", False, "a longer TLD"),
    ("https://dev/", False, "the API host's grandparent (uv: yes)"),
    ("https://api%2Epyx.dev/", False, "a percent-encoded dot is not a dot here"),
    ("https://api.pyx.dev%2Eevil.example/", False, "a percent-encoded dot to another host"),
    # IDN
    ("https://\u0430pi.pyx.dev/", False, "Cyrillic a (xn--pi-7kc.pyx.dev)"),
    ("https://files.astralhost\u00e9d.com/", False, "an accented look-alike CDN"),
    (
        "https://\uff46\uff49\uff4c\uff45\uff53.astralhosted.com/",
        True,
        "full-width letters: IDNA maps them to files.",
    ),
    ("https://api\u3002pyx.dev/", True, "an ideographic full stop is a dot in IDNA"),
    ("https://evil.com%2f.astralhosted.com/", False, "a percent-encoded host is no host"),
    ("https://[api.pyx.dev]/", False, "brackets hold IPv6 literals only"),
]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [(uri, expected) for uri, expected, _ in DEFAULT_API_ROWS],
    ids=[why for _, _, why in DEFAULT_API_ROWS],
)
def test_is_pyx_uri_with_default_api(uri: str, expected: bool) -> None:
    assert is_pyx(parse_origin(uri), Settings(DEFAULTS)) is expected


CUSTOM_ROWS = [
    # a custom https API with a port, and a custom CDN
    (
        {"PYX_API_URL": "https://pyx.corp.example:8443/prefix"},
        "https://pyx.corp.example:8443/simple/",
        True,
    ),
    ({"PYX_API_URL": "https://pyx.corp.example:8443"}, "https://pyx.corp.example/simple/", False),
    ({"PYX_API_URL": "https://pyx.corp.example:8443"}, "https://corp.example/", True),
    ({"PYX_API_URL": "https://pyx.corp.example:8443"}, "https://api.pyx.dev/simple/", False),
    ({"PYX_API_URL": "https://pyx.corp.example:8443"}, "https://api-static.pyx.dev/", False),
    ({"PYX_CDN_DOMAIN": "cdn.corp.example"}, "https://files.cdn.corp.example/x", True),
    ({"PYX_CDN_DOMAIN": "cdn.corp.example"}, "https://files.astralhosted.com/x", False),
    ({"PYX_CDN_DOMAIN": "CDN.Corp.Example."}, "https://cdn.corp.example/x", True),
    ({"PYX_CDN_DOMAIN": "b\u00fccher.example"}, "https://files.xn--bcher-kva.example/", True),
    ({"PYX_CDN_DOMAIN": "b\u00fccher.example"}, "https://files.b\u00fccher.example/", True),
    # plain http only for a loopback test API, and only on its own realm
    ({"PYX_API_URL": "http://127.0.0.1:8000"}, "http://127.0.0.1:8000/simple/", True),
    ({"PYX_API_URL": "http://127.0.0.1:8000"}, "http://127.0.0.1:8001/simple/", False),
    ({"PYX_API_URL": "http://127.0.0.1:8000"}, "https://127.0.0.1:8000/simple/", False),
    ({"PYX_API_URL": "http://127.0.0.1:8000"}, "http://localhost:8000/simple/", False),
    ({"PYX_API_URL": "http://LOCALHOST:8000"}, "http://localhost:8000/simple/", True),
    ({"PYX_API_URL": "http://pyx.internal.example"}, "http://pyx.internal.example/simple/", False),
]


@pytest.mark.parametrize(("env", "uri", "expected"), CUSTOM_ROWS)
def test_is_pyx_uri_with_custom_api_or_cdn(env: dict[str, str], uri: str, expected: bool) -> None:
    assert is_pyx(parse_origin(uri), Settings(env)) is expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://u@api.pyx.dev/", True),
        ("https://:pw@api.pyx.dev/", True),
        ("https://@api.pyx.dev/", True),
        ("https://api.pyx.dev/@x", False),
        ("https://api.pyx.dev/?a=@b", False),
    ],
)
def test_has_userinfo_only_in_the_authority(uri: str, expected: bool) -> None:
    assert has_userinfo(uri) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("API.PYX.DEV", "api.pyx.dev"),
        ("api.pyx.dev.", "api.pyx.dev"),
        ("api.pyx.dev..", "api.pyx.dev."),
        ("b\u00fccher.example", "xn--bcher-kva.example"),
        ("", None),
        (".", None),
        ("\u00e9" * 64 + ".example", None),  # a label longer than IDNA's 63: no ASCII form
    ],
)
def test_normalize_host(host: str, expected: str | None) -> None:
    assert normalize_host(host) == expected


SPLIT_SAMPLES = [
    "https://api.pyx.dev/simple/a/?x=1#f",
    "https://user:pw@API.pyx.dev:8443/p",
    "https://a@b@c.example/",
    "http://[::1]:8080/x",
    "https://h.example?q",
    "https://h.example#f/x",
    "https://h.example:/x",
    "https:///x",
    "mailto:a@b.example",
    "unix:/run/x.sock",
    "  https://padded.example/  ",
]


@pytest.mark.parametrize("uri", SPLIT_SAMPLES)
def test_split_uri_agrees_with_urlsplit(uri: str) -> None:
    mine = split_uri(uri)
    theirs = urlsplit(uri.strip())
    assert mine is not None
    assert mine.scheme == theirs.scheme
    assert (mine.host or "").lower() == (theirs.hostname or "")
    assert mine.port == theirs.port
    assert mine.path == theirs.path
    assert (mine.query or "", mine.fragment or "") == (theirs.query, theirs.fragment)
    assert (mine.userinfo is not None) == ("@" in theirs.netloc)


@pytest.mark.parametrize(
    "uri",
    [
        "no-scheme",
        "/relative",
        "1http://x/",
        "https://h.example:99999/",
        "https://h:x/",
        "https://[::1/",
        "https://[::1]x/",
        "https://a]b/",
        "https://[api.pyx.dev]/",
        "https://evil.com%2f.astralhosted.com/",
        ":empty",
    ],
)
def test_split_uri_refuses_what_is_no_absolute_uri(uri: str) -> None:
    assert split_uri(uri) is None or parse_origin(uri) is None


@given(st.text(alphabet="%0aAfF\u00e9/\ud800x", max_size=12))
def test_percent_decode_is_unquote(text: str) -> None:
    assert percent_decode(text) == unquote(text)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.pyx.dev", "https://api.pyx.dev/"),
        ("https://API.pyx.dev:443/", "https://api.pyx.dev/"),
        ("http://LOCALHOST:8000", "http://localhost:8000/"),
        ("http://127.0.0.1:80/simple/", "http://127.0.0.1/simple"),
        ("https://api.pyx.dev//", "https://api.pyx.dev/"),
        ("https://Example.COM:8443/prefix/", "https://example.com:8443/prefix"),
        ("https://u:p@example.com/a%20b?x=1", "https://example.com/a b?x=1"),
        ("ftp://example.com", None),
        ("https://", None),
    ],
)
def test_canonical_url_matches_uv(url: str, expected: str | None) -> None:
    assert canonical_url(url) == expected


def test_plain_http_on_port_443_of_a_cdn_host_gets_no_token() -> None:
    """Port 443 alone is not https: the token would cross the network in clear text."""
    assert is_pyx(parse_origin("https://files.astralhosted.com:443/x"), Settings(DEFAULTS))
    assert not is_pyx(parse_origin("http://files.astralhosted.com:443/x"), Settings(DEFAULTS))
    assert not is_pyx(parse_origin("http://pyx.dev:443/"), Settings(DEFAULTS))


def test_a_two_label_api_host_trusts_no_top_level_domain() -> None:
    """The parent of ``pyx.example`` would be the TLD ``example``: no parent is trusted."""
    settings = Settings({"PYX_API_URL": "https://pyx.example"})
    assert is_pyx(parse_origin("https://pyx.example/simple/"), settings)
    assert not is_pyx(parse_origin("https://example/"), settings)


def test_an_ipv4_api_host_trusts_no_parent_domain() -> None:
    """``10.0.0.1`` has no parent domain; ``0.0.1`` is not a name under it."""
    settings = Settings({"PYX_API_URL": "https://10.0.0.1"})
    assert is_pyx(parse_origin("https://10.0.0.1/simple/"), settings)
    assert not is_pyx(parse_origin("https://0.0.1/"), settings)


def test_ports_up_to_65535_are_ports_and_larger_ones_no_uri() -> None:
    highest = split_uri("https://a.example:65535/")
    assert highest is not None and highest.port == 65535
    assert split_uri("https://a.example:65536/") is None


def test_schemes_with_digits_and_signs_after_the_first_letter_are_schemes() -> None:
    """Bazel fetches ``s3://`` and ``git+https://`` URIs too; they are URIs, not pyx ones."""
    for uri, scheme in (("s3://bucket/key", "s3"), ("git+https://host/r", "git+https")):
        parts = split_uri(uri)
        assert parts is not None and parts.scheme == scheme and parts.host is not None
    assert split_uri("3s://bucket/key") is None


def test_only_spaces_and_control_characters_around_a_uri_are_ignored() -> None:
    padded = split_uri(" \t https://a.example/x! \n")
    assert padded is not None and padded.host == "a.example" and padded.path == "/x!"


# -- settings that would give tokens to hosts nobody controls ------------------------------------

CDN_DOMAIN_ROWS = [
    ("astralhosted.com", None, "the default"),
    ("cdn.corp.example", None, "a name under a registrable domain"),
    ("corp.example", None, "a registrable domain under an unlisted TLD"),
    ("acme.herokuapp.com", None, "a registrable name under a private suffix"),
    ("xn--bcher-kva.example", None, "an IDN in its ASCII form"),
    ("s3.amazonaws.com", "not a public suffix", "a private public suffix: anyone's bucket"),
    ("github.io", "not a public suffix", "anyone's GitHub Pages"),
    ("herokuapp.com", "not a public suffix", "anyone's Heroku app"),
    ("co.uk", "not a public suffix", "an ICANN second-level suffix"),
    ("com", "not a public suffix", "a TLD"),
    ("1.2.3.4", "not an IP address", "an IPv4 address"),
    ("127.1", "not an IP address", "IPv4 shorthand that URL parsers accept"),
    ("10.0.0.0x1", "not an IP address", "a hex IPv4 part"),
    (".astralhosted.com", "without a leading dot", "a leading dot"),
    ("*.astralhosted.com", "wildcard", "a wildcard"),
    ("files.*.example", "wildcard", "a wildcard inside"),
]


@pytest.mark.parametrize(
    ("domain", "refusal"),
    [(domain, refusal) for domain, refusal, _ in CDN_DOMAIN_ROWS],
    ids=[why for _, _, why in CDN_DOMAIN_ROWS],
)
def test_check_cdn_domain(domain: str, refusal: str | None) -> None:
    if refusal is None:
        check_cdn_domain(domain, "PYX_CDN_DOMAIN")
        return
    with pytest.raises(ConfigError, match=refusal) as caught:
        check_cdn_domain(domain, "PYX_CDN_DOMAIN")
    assert str(caught.value).startswith("PYX_CDN_DOMAIN must be ")


PARENT_ROWS = [
    ("api.pyx.dev", "pyx.dev"),
    ("a.b.corp.example", "b.corp.example"),
    ("pyx.dev", None),  # the parent of a two-label host would be its TLD
    ("example", None),
    ("127.0.0.1", None),
    ("10.1.2.3", None),
    ("1.2.3.0x4", None),
    ("::ffff:1.2.3.4", None),  # not 2.3.4
    ("2001:db8::1", None),
]


@pytest.mark.parametrize(("host", "parent"), PARENT_ROWS)
def test_parent_domain_never_of_an_ip_literal(host: str, parent: str | None) -> None:
    assert parent_domain(host) == parent


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1", True),
        ("0x7f.1", True),
        ("::1", True),
        ("1.2.3.4.", True),
        ("api.pyx.dev", False),
        ("1.2.3.com", False),
        ("0xcafe.example", False),
        ("x.0xg", False),
    ],
)
def test_is_ip_literal_as_url_parsers_read_hosts(host: str, expected: bool) -> None:
    assert is_ip_literal(host) is expected


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://api.pyx.dev", False),
        ("https://api.pyx.dev\\@evil.example/", True),
        ("https://evil.example\\.api.pyx.dev/", True),
        ("https://api.pyx.dev/a\\b", True),
    ],
)
def test_check_api_url_refuses_a_backslash(url: str, refused: bool) -> None:
    if not refused:
        check_api_url(url, "PYX_API_URL")
        return
    with pytest.raises(ConfigError, match=r"^PYX_API_URL contains a backslash"):
        check_api_url(url, "PYX_API_URL")


PARENT_RULE_ROWS = [
    ({"PYX_API_URL": "https://acme.herokuapp.com"}, "https://herokuapp.com/", False),
    ({"PYX_API_URL": "https://acme.herokuapp.com"}, "https://acme.herokuapp.com/simple/", True),
    ({"PYX_API_URL": "https://pyx.acme.co.uk"}, "https://acme.co.uk/", True),
    ({"PYX_API_URL": "https://acme.co.uk"}, "https://co.uk/", False),
    ({"PYX_API_URL": "https://[::ffff:1.2.3.4]:8443"}, "https://2.3.4/", False),
    ({"PYX_API_URL": "https://10.1.2.3"}, "https://1.2.3/", False),
    ({"PYX_API_URL": "https://a.b.s3.amazonaws.com"}, "https://b.s3.amazonaws.com/", True),
    ({"PYX_API_URL": "https://bucket.s3.amazonaws.com"}, "https://s3.amazonaws.com/", False),
]


@pytest.mark.parametrize(("env", "uri", "expected"), PARENT_RULE_ROWS)
def test_api_parent_domain_rule_only_for_a_registrable_parent(
    env: dict[str, str], uri: str, expected: bool
) -> None:
    assert is_pyx(parse_origin(uri), Settings(env)) is expected
