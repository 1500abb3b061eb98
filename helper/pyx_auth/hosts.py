"""Which URIs are pyx URIs, and how uv spells the API URL it hashes.

These are the checks that decide where a token may go, so they are small, pure and
table-tested (``tests/test_hosts.py``). Hosts are compared after parsing: lower-cased,
one trailing dot removed, userinfo ignored, IDNs in their ASCII form, ports defaulted per
scheme. URIs are split by RFC 3986's generic syntax here rather than with ``urllib.parse``,
whose imports (``re``, ``ipaddress``) would cost the Bazel cache hit about 2 ms.
"""

from __future__ import annotations

from pyx_auth.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyx_auth.settings import Settings

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


class Origin:
    """Scheme, host and port of a URL: what uv calls its realm."""

    __slots__ = ("host", "port", "scheme")

    def __init__(self, scheme: str, host: str, port: int | None) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Origin) and (self.scheme, self.host, self.port) == (
            other.scheme,
            other.host,
            other.port,
        )

    def __hash__(self) -> int:
        return hash((self.scheme, self.host, self.port))

    def __str__(self) -> str:
        """``scheme://host[:port]``, the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port is None or self.port == DEFAULT_PORTS.get(self.scheme):
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"


SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")
C0_CONTROL_OR_SPACE = "".join(map(chr, range(0x21)))
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class SplitUri:
    """The components of a URI (RFC 3986 §3), as written; ``host`` is None without authority."""

    __slots__ = ("fragment", "host", "path", "port", "query", "scheme", "userinfo")

    def __init__(
        self,
        scheme: str,
        *,
        userinfo: str | None,
        host: str | None,
        port: int | None,
        path: str,
        query: str | None,
        fragment: str | None,
    ) -> None:
        self.scheme = scheme
        self.userinfo = userinfo
        self.host = host
        self.port = port
        self.path = path
        self.query = query
        self.fragment = fragment


def split_uri(uri: str) -> SplitUri | None:
    """Split an absolute URI; None without a scheme, or with a bad port, bracket or ``%`` host.

    Like a browser, surrounding spaces and control characters are ignored. The userinfo ends
    at the *last* ``@`` of the authority, so ``https://api.pyx.dev@evil.example/`` is on
    ``evil.example``. The scheme is lower-cased; nothing else is normalised.
    """
    uri = uri.strip(C0_CONTROL_OR_SPACE)
    scheme, colon, rest = uri.partition(":")
    if not colon or not scheme[:1].isalpha() or not SCHEME_CHARS.issuperset(scheme):
        return None
    rest, hash_sign, fragment = rest.partition("#")
    rest, question_mark, query = rest.partition("?")
    userinfo = host = None
    port: int | None = None
    path = rest
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        path = slash + path
        if "@" in authority:
            userinfo, _, authority = authority.rpartition("@")
        if authority.startswith("["):
            host, bracket, port_text = authority[1:].partition("]")
            if not bracket or (port_text and not port_text.startswith(":")) or ":" not in host:
                return None  # brackets hold IPv6 literals only
            port_text = port_text[1:]
        else:
            host, _, port_text = authority.partition(":")
            if "[" in host or "]" in host or "%" in host:
                return None  # no percent-encoded host names: uv and Java refuse them too
        if port_text:
            if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
                return None
            port = int(port_text)
    return SplitUri(
        scheme.lower(),
        userinfo=userinfo,
        host=host,
        port=port,
        path=path,
        query=query if question_mark else None,
        fragment=fragment if hash_sign else None,
    )


def percent_decode(text: str, errors: str = "replace") -> str:
    """``%XX`` runs decoded as UTF-8, exactly like ``unquote(text, errors=errors)``."""
    if "%" not in text:
        return text
    decoded: list[str] = []
    data = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        pair = text[index + 1 : index + 3]
        if char == "%" and len(pair) == 2 and HEX_DIGITS.issuperset(pair):
            data.append(int(pair, 16))
            index += 3
            continue
        if char.isascii():
            data.append(ord(char))
        else:  # unquote keeps non-ASCII text as it is, even lone surrogates
            decoded += (data.decode("utf-8", errors), char)
            data.clear()
        index += 1
    decoded.append(data.decode("utf-8", errors))
    return "".join(decoded)


def ascii_host(host: str) -> str | None:
    """The lower-case ASCII (IDNA) form of a host name, or None if it has none."""
    host = host.lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    return host or None


def normalize_host(host: str) -> str | None:
    """A host as pyx-auth compares it: ASCII, lower-case, without one trailing dot."""
    return ascii_host(host[:-1] if host.endswith(".") else host)


def parse_origin(uri: str) -> Origin | None:
    """The origin of an absolute URI, or None when it has no scheme, no host or a bad port."""
    return origin_of(split_uri(uri))


def origin_of(parts: SplitUri | None) -> Origin | None:
    """The origin of split URI components, as ``parse_origin`` gives it."""
    if parts is None or parts.host is None:
        return None
    host = normalize_host(parts.host)
    if host is None:
        return None
    port = parts.port if parts.port is not None else DEFAULT_PORTS.get(parts.scheme)
    return Origin(parts.scheme, host, port)


def has_userinfo(uri: str) -> bool:
    """Whether the URI carries userinfo (``https://user@host/``, even an empty one)."""
    parts = split_uri(uri)
    return parts is not None and parts.userinfo is not None


def canonical_url(url: str) -> str | None:
    """The URL exactly as uv serialises its ``CanonicalUrl``, which it hashes for the store.

    Credentials stripped, host lower-cased, default port dropped, an empty path made ``/``,
    one trailing ``/`` removed from a longer path, the path percent-decoded.
    """
    parts = split_uri(url)
    origin = origin_of(parts)
    if parts is None or origin is None or origin.scheme not in DEFAULT_PORTS:
        return None
    path = percent_decode(parts.path) or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    query = f"?{parts.query}" if parts.query else ""
    return f"{origin}{path}{query}"


def is_ip_literal(host: str) -> bool:
    """An IPv6 literal, or a host that URL parsers read as IPv4 (its last label a number).

    WHATWG's rule: ``127.0.0.1``, ``127.1`` and ``1.2.3.0x4`` are all addresses.
    """
    last = host.rstrip(".").rpartition(".")[2]
    if ":" in host or last.isdigit():
        return True
    return last[:2] in ("0x", "0X") and HEX_DIGITS.issuperset(last[2:])


def is_public_suffix(domain: str) -> bool:
    """Whether anyone can register names directly under ``domain``: ``co.uk``, ``github.io``.

    From the Public Suffix List snapshot that ships with ``publicsuffixlist`` (never fetched
    at run time); loading it takes tens of ms, so only non-default settings ask.
    """
    global _PSL  # noqa: PLW0603 - parsed once per process, and only when needed
    if domain == DEFAULT_API_PARENT:  # the default settings' one case: no list loaded
        return False
    if _PSL is None:
        from publicsuffixlist import PublicSuffixList

        _PSL = PublicSuffixList()
    return bool(_PSL.is_public(domain))


_PSL: Any = None
DEFAULT_API_PARENT = "pyx.dev"
"""The parent domain of the default API host, ``api.pyx.dev``: a registrable domain, known
without the list, so the default Bazel cache hit (which lists its hosts for the stub's
snapshot) stays standard-library only."""


def parent_domain(host: str) -> str | None:
    """``pyx.dev`` for ``api.pyx.dev``; None for IP literals and hosts with fewer labels.

    Only a candidate: the rule applies only if it is no public suffix (``is_pyx_origin``).
    """
    labels = host.split(".")
    if len(labels) < 3 or is_ip_literal(host):
        return None
    return ".".join(labels[1:])


def check_api_url(url: str, name: str) -> None:
    """Refuse an API URL on which pyx-auth and uv could disagree about the host."""
    if "\\" in url:
        raise ConfigError(
            f"{name} contains a backslash, which URL parsers read differently (the API key"
            " could go to another host); write the URL with forward slashes"
        )


def check_cdn_domain(domain: str, name: str) -> None:
    """Refuse a CDN domain whose hosts nobody in particular controls.

    Every ``https`` host under it gets the token, so it must be a registrable domain: not a
    public suffix (``s3.amazonaws.com``, ``github.io``, ``co.uk``), not an IP address, and
    written plainly, without a leading dot or a wildcard. ``domain`` is normalised.
    """
    if domain.startswith((".", "*")) or "*" in domain:
        problem = "a domain without a leading dot or wildcard"
    elif is_ip_literal(domain):
        problem = "a domain name, not an IP address"
    elif is_public_suffix(domain):
        problem = "a registrable domain, not a public suffix under which anyone can get a host"
    else:
        return
    raise ConfigError(f"{name} must be {problem}, such as astralhosted.com (got {domain!r})")


def is_under(host: str, domain: str) -> bool:
    """``host`` equals ``domain`` or is a subdomain of it at any depth (dot-separated)."""
    return host == domain or host.endswith("." + domain)


def allows_plain_http(api: Origin) -> bool:
    """Plain ``http`` is pyx only for a loopback test API such as the emulator."""
    return api.scheme == "http" and api.host in LOOPBACK_HOSTS


def is_pyx_origin(
    origin: Origin, api: Origin, cdn_domain: str, extra_hosts: tuple[str, ...] = ()
) -> bool:
    """Whether a pyx token may be sent to ``origin``.

    pyx origins are: the API realm itself (scheme, host and port all equal; ``http`` only for a
    loopback API); and, over ``https`` on port 443 only, the API host's parent domain, any
    host equal to or under the CDN domain, and ``extra_hosts`` (the static-IP API host).
    """
    if origin == api:
        return api.scheme == "https" or allows_plain_http(api)
    if origin.scheme != "https" or origin.port != DEFAULT_PORTS["https"]:
        return False
    host = origin.host
    return (
        (host == parent_domain(api.host) and not is_public_suffix(host))
        or is_under(host, cdn_domain)
        or host in extra_hosts
    )


def is_pyx(origin: Origin | None, settings: Settings) -> bool:
    """Whether a pyx token may be sent to ``origin`` under these settings: the one rule that
    ``get``, the keyring backend and the snapshot share."""
    return origin is not None and is_pyx_origin(
        origin, settings.api, settings.cdn_domain, settings.extra_pyx_hosts
    )
