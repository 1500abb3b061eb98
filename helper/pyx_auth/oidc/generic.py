"""Any OIDC provider: a token in ``PYX_OIDC_TOKEN`` or in the file ``PYX_OIDC_TOKEN_FILE``.

The file form is for tokens something else keeps fresh, such as a Kubernetes projected service
account token (``serviceAccountToken`` with ``audience: pyx:trusted-access``), so it is read
again for every exchange. When both are set, the variable wins.
"""

from __future__ import annotations

from pyx_auth import claims
from pyx_auth.errors import OIDCError
from pyx_auth.settings import PYX_OIDC_TOKEN, PYX_OIDC_TOKEN_FILE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

NAME = "OIDC token"
MAX_TOKEN_BYTES = 64 * 1024

MARKERS = (PYX_OIDC_TOKEN, PYX_OIDC_TOKEN_FILE)
"""The variables ``present`` looks at (see ``oidc.CI_MARKERS``)."""


def present(environ: Mapping[str, str]) -> bool:
    return PYX_OIDC_TOKEN in environ or PYX_OIDC_TOKEN_FILE in environ


def _read_token_file(path: str) -> str:
    """The token in ``path``, or ``OIDCError`` saying why there is none."""
    where = f"{path} ({PYX_OIDC_TOKEN_FILE})"
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise OIDCError(
            f"{NAME}: cannot read {where}: {exc.strerror}; check that the token is mounted there"
        ) from exc
    try:
        text = data.decode().strip() if len(data) <= MAX_TOKEN_BYTES else ""
    except UnicodeDecodeError:
        text = ""
    if not text:
        raise OIDCError(f"{NAME}: {where} holds no token; check that the token is mounted there")
    return text


def identity(environ: Mapping[str, str]) -> str:
    """Where the token comes from, and its issuer and subject (a rotated file keeps both)."""
    if PYX_OIDC_TOKEN in environ:
        where, token = PYX_OIDC_TOKEN, environ[PYX_OIDC_TOKEN].strip()
    else:
        where = environ.get(PYX_OIDC_TOKEN_FILE, "")
        try:
            token = _read_token_file(where)
        except OIDCError:
            token = ""
    payload = claims.decode_claims(token) or {}
    return f"{where}\n{payload.get('iss')}\n{payload.get('sub')}"


def detect(audience: str, environ: Mapping[str, str], deadline: float) -> str | None:
    """The token as given, None when neither variable is set, ``OIDCError`` when the one set
    holds no token. The caller checks that it is for ``audience``. The file is read within the
    run's deadline: a FIFO or a stalled network mount must not hang the run."""
    if PYX_OIDC_TOKEN in environ:
        token = environ[PYX_OIDC_TOKEN].strip()
        if not token:
            raise OIDCError(
                f"{NAME}: {PYX_OIDC_TOKEN} is set but empty; unset it or set it to an OIDC token"
            )
        return token
    path = environ.get(PYX_OIDC_TOKEN_FILE)
    if path is None:
        return None
    if not path:
        raise OIDCError(f"{NAME}: {PYX_OIDC_TOKEN_FILE} is set but empty; name the token file")
    from pyx_auth.deadline import run_within

    def timed_out() -> OIDCError:
        return OIDCError(
            f"{NAME}: {path} ({PYX_OIDC_TOKEN_FILE}) could not be read in time; check that the"
            " token is mounted there (set PYX_AUTH_TIMEOUT to wait longer)"
        )

    return run_within(deadline, lambda: _read_token_file(path), timed_out, "pyx-auth token file")
