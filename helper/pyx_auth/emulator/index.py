"""The authenticated PEP 503 index (root and project pages, file downloads) and uploads to it."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

from pyx_auth.emulator.accounts import Accounts
from pyx_auth.emulator.responses import (
    BASIC_CHALLENGE,
    Request,
    Response,
    html_page,
    index_token,
    json_response,
    problem,
)
from pyx_auth.emulator.upload import UploadError, parse_upload

_PEP503_RUN = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503 project name normalisation, so ``Foo_Bar`` and ``foo.bar`` are one project."""
    return _PEP503_RUN.sub("-", name).lower()


def _unauthorized() -> Response:
    # pip sends netrc/keyring credentials only after a 401 carrying a Basic challenge.
    return problem(401, "valid pyx access token required", BASIC_CHALLENGE)


class Index(Accounts):
    """``/simple/{workspace}/{view}/[{project}/]``, ``/files/...`` and ``/v1/upload/...``."""

    def _init_index(self) -> None:
        # (workspace, view) -> normalized project -> filename -> bytes
        self._files: dict[tuple[str, str], dict[str, dict[str, bytes]]] = {}

    def add_file(self, workspace: str, view: str, project: str, filename: str, data: bytes) -> None:
        """Publish `filename` under `project` in the index ``/simple/{workspace}/{view}/``."""
        for part in (workspace, view, project, filename):
            if not part or "/" in part:
                raise ValueError(f"invalid path component {part!r}")
        with self._lock:
            projects = self._files.setdefault((workspace, view), {})
            projects.setdefault(normalize(project), {})[filename] = bytes(data)

    def _authorized(self, request: Request) -> bool:
        """Bearer <jwt>, or Basic __token__:<jwt> (what pip sends from netrc or keyring)."""
        token = index_token(request.headers)
        return token is not None and self.verify(token) is not None

    def _ep_simple_root(self, request: Request) -> Response:
        """The PEP 503 root page: every project of the view (rules_python reads it first)."""
        if not self._authorized(request):
            return _unauthorized()
        workspace, view = request.args
        base = f"{self.url}/simple/{quote(workspace)}/{quote(view)}"
        with self._lock:
            names = sorted(self._files.get((workspace, view), {}))
        return html_page("Simple index", [(f"{base}/{quote(name)}/", name) for name in names])

    def _ep_simple_project(self, request: Request) -> Response:
        if not self._authorized(request):
            return _unauthorized()
        workspace, view, name = request.args
        project = normalize(name)
        with self._lock:
            files = dict(self._files.get((workspace, view), {}).get(project, {}))
        if not files:
            return problem(404, f"project {project!r} not found in {workspace}/{view}")
        files_base = f"{self.url}/files/{quote(workspace)}/{quote(view)}"
        links = [
            (f"{files_base}/{quote(name)}#sha256={hashlib.sha256(data).hexdigest()}", name)
            for name, data in sorted(files.items())
        ]
        return html_page(f"Links for {project}", links)

    def _ep_files(self, request: Request) -> Response:
        if not self._authorized(request):
            return _unauthorized()
        workspace, view, filename = request.args
        with self._lock:
            projects = self._files.get((workspace, view), {})
            data = next((f[filename] for f in projects.values() if filename in f), None)
        if data is None:
            return problem(404, f"file {filename!r} not found in {workspace}/{view}")
        return Response(200, data, [("Content-Type", "application/octet-stream")])

    def _ep_upload(self, request: Request) -> Response:
        """``POST /v1/upload/{workspace}/{view}/``: the legacy upload API, as twine speaks it.

        No credentials: 401 with a Basic challenge. A token that is not this emulator's, has
        expired or came from Trusted Access (read only): 403. An existing file name: 200 if the
        bytes are the same (a retried upload), else 409 (what ``twine --skip-existing`` skips).
        """
        if "authorization" not in request.headers:
            return problem(401, "credentials required: __token__ and a pyx token", BASIC_CHALLENGE)
        token = index_token(request.headers)
        claims = self.verify(token) if token else None
        if claims is None:
            return problem(403, "invalid or expired pyx token")
        if str(claims.get("sub", "")).startswith("trusted-access:"):
            return problem(403, "Trusted Access tokens are read-only")
        try:
            upload = parse_upload(request.headers.get("content-type", ""), request.body)
        except UploadError as exc:
            return problem(400, str(exc))
        workspace, view = request.args
        with self._lock:
            project = self._files.get((workspace, view), {}).get(normalize(upload.project), {})
            existing = project.get(upload.filename)
        if existing is not None and existing != upload.content:
            return problem(409, f"file {upload.filename!r} already exists")
        try:
            self.add_file(workspace, view, upload.project, upload.filename, upload.content)
        except ValueError as exc:
            return problem(400, str(exc))
        return json_response(200, {})

    def _ctl_files(self, request: Request) -> Response:
        workspace, view, project, filename = request.args
        self.add_file(workspace, view, project, filename, request.body)
        return json_response(200, {})
