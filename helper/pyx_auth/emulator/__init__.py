"""A local stand-in for the pyx API, because pyx itself has shut down.

`PyxEmulator` serves the endpoints pyx-auth, uv 0.12.6, pip and twine use, over real HTTP/1.1 on
loopback (see ``shared/reference/pyx-and-uv.md`` section 4); ``pyx-auth emulator`` runs it
(`run_cli`). Modules, one concern each:

- `accounts`: API keys, access JWTs (HS256, a per-instance secret, so a token from one emulator
  is forged in the eyes of another) and single-use refresh tokens.
  ``POST /auth/cli/access-token`` (API key as ``Authorization: Bearer <key>``) -> an access JWT;
  ``POST /auth/cli/refresh`` ``{"refresh_token"}`` -> a new pair (the old token is spent);
  ``GET /auth/cli/logout`` revokes every refresh token of the access token's subject.
- `login`: ``GET /auth/cli/login/{id}`` approves session ``id``; ``GET /auth/cli/status/{id}``
  answers 404 until then, then the token pair exactly once (later polls get 404 again).
- `index`: a PEP 503 index that wants ``Bearer <jwt>`` or ``Basic __token__:<jwt>``:
  ``GET /simple/{workspace}/{view}/`` (the root page: a link to
  ``/simple/{workspace}/{view}/{project}/`` for every project published with `add_file`),
  ``GET /simple/{workspace}/{view}/{project}/`` and ``GET /files/{workspace}/{view}/{filename}``;
  and ``POST /v1/upload/{workspace}/{view}/``, the legacy PyPI upload API twine speaks
  (`upload`), storing the file with `add_file`: no ``Authorization`` 401, a token that is not
  valid (or a read-only Trusted Access token) 403, a bad form 400, an existing file name with
  other bytes 409.
- `trusted_access`: ``POST /v1/trusted-access/{workspace}/mint-token`` with ``{"token": <OIDC
  JWT>}`` -> ``{"token", "expires"}`` (shape unconfirmed, from the closed uv PR #18254), after
  checking the OIDC token against the workspace's accessors (`add_accessor`); and a fake OIDC
  issuer (``{url}/_oidc``): `issue_oidc_token`, GitHub-style ``GET
  /_oidc/github/jobs/{job}/idtoken`` (`github_oidc_env`) and Buildkite-style ``POST
  /_oidc/buildkite/v3/jobs/{job}/oidc/tokens``.
- `faults`: request counts per endpoint name (`ENDPOINTS`, `counts`), `fail_next` (status,
  body, hang), `latency` (seconds every auth endpoint sleeps), `clock_skew` (seconds added to
  every response's ``Date`` header; tokens keep the real clock), `rotate_then_delay` (seconds a
  refresh sleeps *after* rotating, so a client that gives up loses the new pair while its old
  refresh token is spent) and `rejected_refresh_tokens` (refreshes refused for a spent, revoked
  or unknown token). The unauthenticated control endpoints, for a test that runs the emulator in
  another process: ``GET /_emulator/counts`` (the counts plus ``rejected_refresh_tokens``),
  ``POST /_emulator/reset``, ``POST /_emulator/config`` (any of ``token_lifetime``,
  ``latency``, ``clock_skew``, ``rotate_then_delay`` and ``fail``: ``{endpoint, status, body,
  hang, times}``; all checked before any applies), ``POST /_emulator/api-keys`` ``{"key"}``,
  ``POST /_emulator/tokens`` ``{"subject", "lifetime"}`` and ``PUT
  /_emulator/files/{workspace}/{view}/{project}/{filename}``.
- `routes` (the routing table), `responses` (request and answer values), `server` (threaded
  HTTP/1.1 with keep-alive and an instant stop), `core` (`PyxEmulator`: the concerns combined,
  lifecycle, dispatch), `cli` (`run_cli`).

Nothing is logged: tests read other processes' stderr; secrets must not leak.
"""

from pyx_auth.emulator.cli import run_cli
from pyx_auth.emulator.core import PyxEmulator
from pyx_auth.emulator.faults import ENDPOINTS
from pyx_auth.emulator.trusted_access import TRUSTED_ACCESS_AUDIENCE

__all__ = ["ENDPOINTS", "TRUSTED_ACCESS_AUDIENCE", "PyxEmulator", "run_cli"]
