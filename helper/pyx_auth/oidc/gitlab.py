"""GitLab CI/CD: the OIDC token GitLab put into a variable named in the job's ``id_tokens:``.

GitLab mints ID tokens only for variables the job declares, with the audience the job names:

    id_tokens:
      PYX_TRUSTED_ACCESS_ID_TOKEN:
        aud: pyx:trusted-access

The variable name is the user's choice. By default it is di/id's and ambient-id's convention,
``<AUD>_ID_TOKEN`` (the audience upper-cased, every character outside ``A-Z0-9_`` and a leading
digit made ``_``); ``PYX_OIDC_TOKEN_VAR`` names another.
"""

from __future__ import annotations

from pyx_auth.errors import ConfigError, OIDCError
from pyx_auth.settings import GITLAB_CI, PYX_OIDC_TOKEN_VAR

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

NAME = "GitLab CI"
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_VARIABLE_CHARS = _NAME_CHARS | frozenset("abcdefghijklmnopqrstuvwxyz")

MARKERS = (GITLAB_CI,)
"""The variables ``present`` looks at (see ``oidc.CI_MARKERS``)."""


def present(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(GITLAB_CI))


def variable_for(audience: str) -> str:
    """``<AUD>_ID_TOKEN``: ``pyx:trusted-access`` gives ``PYX_TRUSTED_ACCESS_ID_TOKEN``."""
    name = "".join(char if char in _NAME_CHARS else "_" for char in audience.upper())
    if name[:1].isdigit():
        name = "_" + name[1:]
    return f"{name}_ID_TOKEN"


def variable(audience: str, environ: Mapping[str, str]) -> str:
    """The variable holding the token: ``PYX_OIDC_TOKEN_VAR``, else the convention's name."""
    name = environ.get(PYX_OIDC_TOKEN_VAR)
    if name is None:
        return variable_for(audience)
    name = name.strip()
    if not name or not _VARIABLE_CHARS.issuperset(name) or name[0].isdigit():
        raise ConfigError(
            f"{PYX_OIDC_TOKEN_VAR} must name an environment variable, such as"
            f" {variable_for(audience)}"
        )
    return name


def identity(environ: Mapping[str, str]) -> str:
    """The project and the job id."""
    return f"{environ.get('CI_PROJECT_PATH', '')}\n{environ.get('CI_JOB_ID', '')}"


def detect(audience: str, environ: Mapping[str, str], deadline: float) -> str | None:
    """The token in the job's ``id_tokens`` variable; None outside GitLab CI; ``OIDCError``
    (with the ``id_tokens:`` fix) when the variable is empty or missing, ``ConfigError`` when
    ``PYX_OIDC_TOKEN_VAR`` is not a variable name. No I/O: GitLab put the token there."""
    if not present(environ):
        return None
    name = variable(audience, environ)
    token = environ.get(name, "").strip()
    if not token:
        raise OIDCError(
            f"{NAME}: no OIDC token in ${name}; declare it in the job:"
            f" `id_tokens: {{{name}: {{aud: {audience}}}}}`"
            + ("" if PYX_OIDC_TOKEN_VAR in environ else f" (or name yours in {PYX_OIDC_TOKEN_VAR})")
        )
    return token
