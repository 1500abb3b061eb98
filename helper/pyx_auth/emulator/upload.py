"""The legacy PyPI upload form that twine sends (``multipart/form-data``), parsed and checked.

twine 7 posts ``:action=file_upload``, ``protocol_version=1``, the core metadata (``name``,
``version``, ...), ``filetype``, ``pyversion``, ``sha256_digest`` and ``blake2_256_digest`` (older
clients also ``md5_digest``), and the file as the ``content`` part with its file name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

_DIGESTS: dict[str, Callable[[bytes], str]] = {
    "sha256_digest": lambda data: hashlib.sha256(data).hexdigest(),
    "blake2_256_digest": lambda data: hashlib.blake2b(data, digest_size=32).hexdigest(),
    "md5_digest": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
}


@dataclass(frozen=True)
class Upload:
    """One distribution file to publish."""

    project: str
    version: str
    filename: str
    content: bytes


class UploadError(ValueError):
    """The form is not a valid upload; the message is the 400 answer's detail."""


def parse_upload(content_type: str, body: bytes) -> Upload:
    """The upload in a ``multipart/form-data`` body; UploadError says what is wrong with it."""
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for name, filename, data in _parts(content_type, body):
        if filename is None:
            fields.setdefault(name, data.decode("utf-8", "replace"))
        else:
            files.setdefault(name, (filename, data))
    if fields.get(":action") != "file_upload":
        raise UploadError("':action' must be 'file_upload'")
    if not fields.get("name") or not fields.get("version"):
        raise UploadError("'name' and 'version' are required")
    if "content" not in files:
        raise UploadError("a 'content' file part is required")
    filename, content = files["content"]
    for field, digest in _DIGESTS.items():
        sent = fields.get(field)
        if sent is not None and sent.strip().lower() != digest(content):
            raise UploadError(f"{field} does not match the content")
    return Upload(fields["name"], fields["version"], filename, content)


def _parts(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    """(field name, file name or None, bytes) of each part, byte for byte."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise UploadError("Content-Type must be multipart/form-data with a boundary")
    sections = (b"\r\n" + body).split(b"\r\n--" + boundary.encode())
    if len(sections) < 2 or not sections[-1].startswith(b"--"):
        raise UploadError("the multipart body is truncated")
    parts: list[tuple[str, str | None, bytes]] = []
    for section in sections[1:-1]:
        head, sep, data = section.partition(b"\r\n\r\n")
        if not sep:
            raise UploadError("a multipart part has no header block")
        disposition = Message()
        for line in head.decode("utf-8", "replace").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-disposition":
                disposition["content-disposition"] = value.strip()
        field = disposition.get_param("name", header="content-disposition")
        if not isinstance(field, str):
            raise UploadError("a multipart part has no field name")
        parts.append((field, disposition.get_filename(), data))
    return parts
