"""Which URIs are pyx URIs, and how uv spells the API URL it hashes.

These are the checks that decide where a token may go, so they are small, pure and
table-tested (``tests/test_hosts.py``). Hosts are compared after parsing: lower-cased,
trailing dot removed, userinfo ignored, IDNs in their ASCII form, ports defaulted per scheme.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

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


def normalize_host(host: str) -> str | None:
    """Lower-case ASCII form of a host without its trailing dot, or None if it is no host."""
    host = host.rstrip(".").lower()
    if not host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    return host


def parse_origin(uri: str) -> Origin | None:
    """The origin of an absolute URI, or None when it has no scheme, no host or a bad port."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or parts.hostname is None:
        return None
    host = normalize_host(parts.hostname)
    if host is None:
        return None
    return Origin(scheme, host, port if port is not None else DEFAULT_PORTS.get(scheme))


def has_userinfo(uri: str) -> bool:
    """Whether the URI names a user (``https://user@host/``)."""
    return "@" in urlsplit(uri).netloc


def canonical_url(url: str) -> str | None:
    """The URL exactly as uv serialises its ``CanonicalUrl``, which it hashes for the store.

    Credentials stripped, host lower-cased, default port dropped, an empty path made ``/``,
    one trailing ``/`` removed from a longer path, the path percent-decoded.
    """
    origin = parse_origin(url)
    if origin is None or origin.scheme not in DEFAULT_PORTS:
        return None
    parts = urlsplit(url)
    path = unquote(parts.path) or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    query = f"?{parts.query}" if parts.query else ""
    return f"{origin}{path}{query}"


def parent_domain(host: str) -> str | None:
    """``pyx.dev`` for ``api.pyx.dev``; None for IP addresses and hosts with fewer labels."""
    labels = host.split(".")
    if len(labels) < 3 or host.replace(".", "").isdigit():
        return None
    return ".".join(labels[1:])


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
        host == parent_domain(api.host)
        or is_under(host, cdn_domain)
        or host in extra_hosts
    )
