"""The one exception tree of pyx-auth.

Every expected failure is a ``PyxAuthError`` whose message is one line, says what to do
next and never contains a token, API key or OIDC token. ``cli.main`` is the only place that
turns them into ``pyx-auth: <message>`` on stderr and an exit code.

    PyxAuthError
    ├── UsageError                bad argv, or a bad Bazel request
    ├── ConfigError               an unusable environment value (empty PYX_AUTH_TOKEN, bad URL)
    ├── NoCredentialsError        no source applies; names each source and the next step
    ├── CredentialError           a source applies but its credential is bad
    │   ├── TokenExpiredError     PYX_AUTH_TOKEN's exp is already past
    │   └── CredentialRejectedError  pyx answered 401/403 to the key, refresh token or OIDC token
    ├── OIDCError                 the CI would not give an OIDC token (provider-specific fix)
    │   └── GitHubOIDCPermissionError  GITHUB_ACTIONS set, id-token permission missing
    ├── ServiceError              pyx answered another 4xx/5xx, or JSON we cannot use
    ├── NetworkError              unreachable host or timeout
    │   └── UnreachableError      no connection (refused, DNS, reset): retried while time remains
    ├── StoreError                the store cannot be read or written, or the lock wait ran out
    ├── KeyringError              no usable keyring, or it hung
    └── LoginTimeoutError         the browser login was not finished in time

Bazel treats any non-zero exit as failure and argparse uses 2 for usage errors, so every
class exits 2 today; the code lives on the class so that changing it is one edit.
"""

from __future__ import annotations


class PyxAuthError(Exception):
    """Base class: a one-line message that is safe to print."""

    exit_code = 2


class UsageError(PyxAuthError):
    """Bad command-line arguments or a malformed credential-helper request."""


class ConfigError(PyxAuthError):
    """An environment variable or setting has a value pyx-auth cannot use."""


class NoCredentialsError(PyxAuthError):
    """No credential source is configured."""


class CredentialError(PyxAuthError):
    """A source is configured, but its credential cannot give a usable token."""


class TokenExpiredError(CredentialError):
    """A fixed token (PYX_AUTH_TOKEN) has already expired."""


class CredentialRejectedError(CredentialError):
    """pyx refused the API key, refresh token or OIDC token (HTTP 401/403)."""


class OIDCError(PyxAuthError):
    """The CI system did not hand out an OIDC token."""


class GitHubOIDCPermissionError(OIDCError):
    """GitHub Actions without the ``id-token: write`` permission (or a forked pull request)."""


class ServiceError(PyxAuthError):
    """pyx answered with an error status or a body pyx-auth cannot use."""


class NetworkError(PyxAuthError):
    """pyx could not be reached, or did not answer within the time budget."""


class UnreachableError(NetworkError):
    """The host could not be reached or dropped the connection; worth another attempt."""


class StoreError(PyxAuthError):
    """The token store cannot be read or written, or its lock could not be taken in time."""


class KeyringError(PyxAuthError):
    """The system keyring is missing, failing or hanging."""


class LoginTimeoutError(PyxAuthError):
    """``pyx-auth login`` waited its whole ``--timeout`` without the browser finishing."""
