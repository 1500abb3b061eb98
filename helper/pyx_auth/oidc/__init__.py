"""CI identity providers: where the OIDC token for Trusted Access comes from.

Each provider is a module with one small surface (the ``Provider`` protocol), after di/id's
``id/_internal/oidc/ambient.py``:

- ``NAME``: how messages and ``pyx-auth status`` call it;
- ``present(environ) -> bool``: whether this is that CI. Environment lookups only, because the
  Bazel cache hit asks it on every call;
- ``identity(environ) -> str``: what tells this job from another job on the same machine (a
  self-hosted runner keeps its home folder), so a cached pyx token minted for one job is never
  handed to another. Environment lookups (or one small file read) only, for the same reason;
- ``detect(audience, environ, deadline) -> str | None``, di/id's three-way contract: ``None``
  means "not my CI", a string is the OIDC token, and an ``OIDCError`` means "my CI, but it will
  not give a token", with the provider's fix in the message.

``providers()`` is the order. Explicit settings come first (``PYX_OIDC_TOKEN``,
``PYX_OIDC_TOKEN_FILE``), as everywhere in pyx-auth; then the ambient CIs in di/id's order
(GitHub, Buildkite, GitLab; di/id's GCP and CircleCI are not supported). Network and subprocess
work happens only in ``detect``, whose heavy imports live inside it. Each provider lists in
``MARKERS`` the variables its ``present`` needs; ``CI_MARKERS`` is their union, checked first so
that outside CI (every workstation Bazel build) not even the provider modules are imported.
"""

from __future__ import annotations

import time

from pyx_auth import claims
from pyx_auth.errors import OIDCError
from pyx_auth.settings import (
    BUILDKITE,
    GITHUB_ACTIONS,
    GITLAB_CI,
    PYX_OIDC_TOKEN,
    PYX_OIDC_TOKEN_FILE,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Protocol

    class Provider(Protocol):
        """What every provider module has (a module satisfies it; only mypy sees this class,
        so that the Bazel cache hit, which calls ``present``, never imports ``typing``)."""

        @property
        def NAME(self) -> str:
            """How messages and ``pyx-auth status`` call the provider ("GitHub Actions")."""

        @property
        def MARKERS(self) -> tuple[str, ...]:
            """The variables ``present`` looks at; all are in ``CI_MARKERS``."""

        def present(self, environ: Mapping[str, str]) -> bool:
            """Whether this is the provider's CI: environment lookups only (the cache hit)."""

        def identity(self, environ: Mapping[str, str]) -> str:
            """What tells this job from another on the same machine; lookups (or one small
            file read) only."""

        def detect(self, audience: str, environ: Mapping[str, str], deadline: float) -> str | None:
            """di/id's three outcomes: None = not this CI; a string = the OIDC token; a
            ``PyxAuthError`` (``OIDCError``, or ``NetworkError`` for its token service) = this
            CI, but it will not give a token, with the fix and the provider's name in the
            message. All I/O runs within ``deadline`` (``deadline.run_within``,
            ``http_boundary.fetch``).
            """


__all__ = [
    "CI_MARKERS",
    "SHOWN_CLAIMS",
    "detect",
    "format_claims",
    "present",
    "providers",
    "shown_claims",
]

CI_MARKERS = (PYX_OIDC_TOKEN, PYX_OIDC_TOKEN_FILE, GITHUB_ACTIONS, BUILDKITE, GITLAB_CI)
"""Every provider's ``present`` needs one of these set (``tests/oidc/test_oidc_providers.py``)."""
SHOWN_CLAIMS = (
    "iss",
    "sub",
    "aud",
    "repository",
    "repository_owner",
    "project_path",
    "ref",
    "job_workflow_ref",
)
"""The claims an accessor is matched on, shown to fix a pattern; none of them is secret."""
MAX_CLAIM_CHARS = 200


def providers() -> tuple[Provider, ...]:
    """The providers in the order they are tried."""
    from pyx_auth.oidc import buildkite, generic, github, gitlab

    return (generic, github, buildkite, gitlab)


def present(environ: Mapping[str, str]) -> Provider | None:
    """The first provider whose CI this is, from the environment alone; None outside CI."""
    if not any(name in environ for name in CI_MARKERS):
        return None
    for provider in providers():
        if provider.present(environ):
            return provider
    return None


def detect(audience: str, environ: Mapping[str, str], deadline: float) -> str | None:
    """A fresh OIDC token for ``audience`` from the first provider that is present, checked.

    None when no provider is present; ``OIDCError`` when the present one cannot give a usable
    token. Like di/id's ``detect_credential``, a token is checked before it is used: a JWT
    whose ``aud`` names the audience and whose ``exp`` (if any) has not passed.
    """
    for provider in providers():
        token: str | None = provider.detect(audience, environ, deadline)
        if token is not None:
            _check(token, audience, provider.NAME)
            return token
    return None


def _check(token: str, audience: str, name: str) -> None:
    payload = claims.decode_claims(token)
    if payload is None:
        raise OIDCError(f"{name}: the OIDC token is not a JWT (three base64url parts)")
    aud = payload.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise OIDCError(
            f"{name}: the OIDC token is for audience {_text(aud)!r}, not {audience!r}; request"
            " it for that audience, or set PYX_TRUSTED_ACCESS_AUDIENCE to the one pyx expects"
        )
    exp = claims.expiry(token)
    if exp is not None and exp <= time.time():
        minutes = (time.time() - exp) / 60
        raise OIDCError(f"{name}: the OIDC token expired {minutes:.0f} min ago; get a fresh one")


def _text(value: object) -> str:
    """A claim as one short printable line (claims come from outside: no control characters)."""
    if isinstance(value, list):
        value = ",".join(str(item) for item in value)
    text = " ".join("".join(c if c.isprintable() else " " for c in str(value)).split())
    return text if len(text) <= MAX_CLAIM_CHARS else text[: MAX_CLAIM_CHARS - 3] + "..."


def shown_claims(token: str) -> dict[str, str]:
    """The token's ``SHOWN_CLAIMS`` that it has, decoded without verification, as text."""
    payload = claims.decode_claims(token) or {}
    return {name: _text(payload[name]) for name in SHOWN_CLAIMS if name in payload}


def format_claims(shown: Mapping[str, str]) -> str:
    """``sub='...', repository='...'``: ``shown_claims`` for one-line messages."""
    if not shown:
        return "no readable claims"
    return ", ".join(f"{name}={value!r}" for name, value in shown.items())
