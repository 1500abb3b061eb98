"""Trusted Access: a fake OIDC issuer (GitHub- and Buildkite-style token endpoints) and the
``mint-token`` exchange that checks an OIDC token against a workspace's accessors.

The shape is unconfirmed (from the closed uv PR #18254); see ``shared/reference/pyx-and-uv.md``.
"""

from __future__ import annotations

import fnmatch
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt

from pyx_auth.emulator.accounts import Accounts
from pyx_auth.emulator.responses import (
    BEARER_CHALLENGE,
    NO_STORE,
    Request,
    Response,
    json_response,
    problem,
)

TRUSTED_ACCESS_AUDIENCE = "pyx:trusted-access"
_GITHUB_IMMUTABLE_SUB = re.compile(r"repo:([^@/:]+)@\d+/([^@/:]+)@\d+:(.*)", re.DOTALL)


def _subject_forms(sub: str) -> list[str]:
    """``sub`` as given, plus, for GitHub's immutable ``repo:OWNER@ID/REPO@ID:...`` form, the
    same subject without the IDs, so an accessor's pattern may be written either way."""
    match = _GITHUB_IMMUTABLE_SUB.fullmatch(sub)
    return [sub] if match is None else [sub, f"repo:{match[1]}/{match[2]}:{match[3]}"]


@dataclass(frozen=True)
class _Accessor:
    """A Trusted Access accessor: who (issuer + fnmatch patterns) may read a workspace."""

    workspace: str
    issuer: str
    repository: str | None
    subject: str | None

    def matches(self, claims: Mapping[str, Any]) -> bool:
        """Issuer equal; ``repository`` (GitLab: ``project_path``) and ``sub`` fnmatch."""
        if claims.get("iss") != self.issuer:
            return False
        if self.repository is not None:
            repository = claims.get("repository", claims.get("project_path"))
            if not isinstance(repository, str):
                return False
            if not fnmatch.fnmatchcase(repository, self.repository):
                return False
        if self.subject is not None:
            sub = claims.get("sub")
            if not isinstance(sub, str):
                return False
            forms = _subject_forms(sub)
            return any(fnmatch.fnmatchcase(form, self.subject) for form in forms)
        return True


class TrustedAccess(Accounts):
    """The OIDC issuer at ``{url}/_oidc`` (one RS256 key per instance) and the exchange."""

    def _init_trusted_access(self) -> None:
        self.trusted_access_audience = TRUSTED_ACCESS_AUDIENCE
        self.mint_returns_expires = True
        """False: the mint-token answer is ``{"token"}`` alone, the other shape clients accept."""
        self._oidc_key: Any = None  # RSA key (cryptography), made on first use
        self._oidc_requesters: dict[str, dict[str, Any]] = {}  # request token -> claims
        self._accessors: list[_Accessor] = []

    @property
    def oidc_issuer(self) -> str:
        """The ``iss`` of the OIDC tokens this emulator issues."""
        return f"{self.url}/_oidc"

    def _oidc_signing_key(self) -> Any:
        from cryptography.hazmat.primitives.asymmetric import rsa

        with self._lock:
            if self._oidc_key is None:
                self._oidc_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._oidc_key

    def issue_oidc_token(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        audience: str | list[str] = TRUSTED_ACCESS_AUDIENCE,
        lifetime: int = 300,
        issuer: str | None = None,
    ) -> str:
        """An RS256 OIDC token, as a CI hands out (GitHub's live 300 s); ``claims`` override."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.oidc_issuer if issuer is None else issuer,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
            **dict(claims or {}),
        }
        return jwt.encode(payload, self._oidc_signing_key(), algorithm="RS256")

    def oidc_request_token(self, claims: Mapping[str, Any]) -> str:
        """A bearer for the GitHub- and Buildkite-style token endpoints, whose tokens carry
        ``claims`` (and the audience asked for)."""
        request_token = "oidc-rt-" + secrets.token_urlsafe(16)
        with self._lock:
            self._oidc_requesters[request_token] = dict(claims)
        return request_token

    def github_oidc_env(self, claims: Mapping[str, Any]) -> dict[str, str]:
        """What the GitHub runner sets in a job with ``permissions: id-token: write``; like the
        runner's, the request URL names the job (a new one per call)."""
        return {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": (
                f"{self.url}/_oidc/github/jobs/{secrets.token_hex(4)}/idtoken?api-version=2.0"
            ),
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.oidc_request_token(claims),
        }

    def add_accessor(
        self,
        workspace: str,
        *,
        repository: str | None = None,
        subject: str | None = None,
        issuer: str | None = None,
    ) -> None:
        """Let OIDC tokens whose ``repository`` and ``sub`` match these fnmatch patterns (from
        ``issuer``, by default this emulator's) mint tokens for ``workspace``."""
        if repository is None and subject is None:
            raise ValueError("an accessor needs a repository or a subject pattern")
        accessor = _Accessor(workspace, issuer or self.oidc_issuer, repository, subject)
        with self._lock:
            self._accessors.append(accessor)

    def _verify_oidc(self, token: str) -> tuple[dict[str, Any] | None, str]:
        """(claims, "") for a valid OIDC token of this issuer, else (None, why it is not)."""
        key = self._oidc_signing_key().public_key()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.trusted_access_audience,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            return None, "the OIDC token has expired"
        except jwt.InvalidAudienceError:
            return None, f"the OIDC token's audience is not {self.trusted_access_audience!r}"
        except jwt.InvalidSignatureError:
            return None, "the OIDC token's signature does not verify"
        except jwt.MissingRequiredClaimError as exc:
            return None, f"the OIDC token has no {exc.claim!r} claim"
        except jwt.InvalidTokenError:
            return None, "the OIDC token is malformed"
        return claims, ""

    # -- endpoints -----------------------------------------------------------------------------

    def _requester_claims(self, request: Request, scheme: str) -> dict[str, Any] | None:
        """The claims behind ``Authorization: <scheme> <request token>``, else None."""
        given, _, credential = request.headers.get("authorization", "").strip().partition(" ")
        if given.lower() != scheme:
            return None
        with self._lock:
            return self._oidc_requesters.get(credential.strip())

    def _ep_github_oidc(self, request: Request) -> Response:
        """``GET ...?api-version=2.0&audience=A`` with ``bearer <request token>`` ->
        ``{"count", "value"}``, like GitHub's ``ACTIONS_ID_TOKEN_REQUEST_URL``."""
        claims = self._requester_claims(request, "bearer")
        if claims is None:
            return problem(401, "unknown or missing OIDC request token", BEARER_CHALLENGE)
        query = parse_qs(request.query)
        if query.get("api-version") != ["2.0"]:
            return problem(400, "api-version=2.0 is required (keep the URL's query)")
        owner = claims.get("repository_owner", "")
        audience = query.get("audience", [f"https://github.com/{owner}"])[-1]
        token = self.issue_oidc_token(claims, audience=audience)
        return json_response(200, {"count": 1, "value": token}, NO_STORE)

    def _ep_buildkite_oidc(self, request: Request) -> Response:
        """``POST {"audience": A}`` with ``Token <agent token>`` -> ``{"token"}``, like the
        Buildkite agent API."""
        claims = self._requester_claims(request, "token")
        if claims is None:
            return problem(401, "unknown or missing OIDC request token", BEARER_CHALLENGE)
        try:
            audience = json.loads(request.body)["audience"]
        except (ValueError, UnicodeDecodeError, TypeError, KeyError):
            return problem(400, 'body must be {"audience": "<audience>"}')
        if not isinstance(audience, str) or not audience:
            return problem(400, "audience must be a non-empty string")
        token = self.issue_oidc_token(claims, audience=audience)
        return json_response(200, {"token": token}, NO_STORE)

    def _ep_mint_token(self, request: Request) -> Response:
        workspace = request.args[0]
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return problem(415, "Content-Type must be application/json")
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str):
            return problem(400, 'invalid-payload: body must be {"token": "<OIDC token>"}')
        claims, reason = self._verify_oidc(token)
        if claims is None:
            return problem(401, f"invalid-token: {reason}")
        with self._lock:
            accessors = [a for a in self._accessors if a.workspace == workspace]
        if not any(accessor.matches(claims) for accessor in accessors):
            return problem(
                403,
                f"invalid-accessor: valid token, but no Trusted Access accessor of workspace"
                f" {workspace!r} matches its issuer, repository and subject",
            )
        access = self.mint_access_token(f"trusted-access:{workspace}:{claims['sub']}")
        answer: dict[str, Any] = {"token": access}
        if self.mint_returns_expires:
            answer["expires"] = jwt.decode(access, options={"verify_signature": False})["exp"]
        return json_response(200, answer, NO_STORE)
