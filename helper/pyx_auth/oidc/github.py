"""GitHub Actions: ask the runner's token service for an OIDC token with the audience.

The runner sets ``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` only when
the job has ``permissions: id-token: write``, and never for pull requests from forks. The request
is ``GET $URL&audience=<aud>`` with the request token as bearer; the answer is ``{"value": jwt}``.
The URL already has a query (``api-version=2.0``), which must be kept (di/id#441).
"""

from __future__ import annotations

from pyx_auth.errors import GitHubOIDCPermissionError, OIDCError
from pyx_auth.settings import GITHUB_ACTIONS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

NAME = "GitHub Actions"
GITHUB_REPOSITORY = "GITHUB_REPOSITORY"
REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
PERMISSION_FIX = (
    "add `permissions: id-token: write` to the job or workflow (pull requests from forks never"
    " get an OIDC token; use an API key there)"
)

MARKERS = (GITHUB_ACTIONS,)
"""The variables ``present`` looks at (see ``oidc.CI_MARKERS``)."""


def present(environ: Mapping[str, str]) -> bool:
    return environ.get(GITHUB_ACTIONS) == "true"


def identity(environ: Mapping[str, str]) -> str:
    """The repository and the request URL, which names this job's plan and job ids."""
    return f"{environ.get(GITHUB_REPOSITORY, '')}\n{environ.get(REQUEST_URL, '')}"


def detect(audience: str, environ: Mapping[str, str], deadline: float) -> str | None:
    """The runner's OIDC token for ``audience``; None outside GitHub Actions; an error when the
    job lacks the permission (``GitHubOIDCPermissionError``), the token service fails (an
    ``OIDCError`` naming the status) or cannot be reached within the deadline
    (``NetworkError``). The one request goes through ``http_boundary.fetch``."""
    if not present(environ):
        return None
    url, request_token = environ.get(REQUEST_URL), environ.get(REQUEST_TOKEN)
    pairs = ((REQUEST_URL, url), (REQUEST_TOKEN, request_token))
    missing = [name for name, value in pairs if not value]
    if missing or url is None or request_token is None:
        raise GitHubOIDCPermissionError(
            f"{NAME}: no OIDC token available ({' and '.join(missing)} not set); {PERMISSION_FIX}"
        )
    from pyx_auth import http_boundary

    response = http_boundary.fetch(
        "GET",
        url,
        deadline=deadline,
        label=f"{NAME}: ",
        url_name=REQUEST_URL,
        credential=REQUEST_TOKEN,
        headers={"Authorization": f"bearer {request_token}"},
        params={"audience": audience},
    )
    if response.status_code != 200:
        raise OIDCError(
            f"{NAME}: the OIDC token request failed with HTTP {response.status_code}; rerun the"
            f" job, and check that it has `permissions: id-token: write`"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    value = body.get("value") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise OIDCError(f'{NAME}: the OIDC token request answered without a token ("value")')
    return value.strip()
