"""Root filesystems for local base images, made from this machine's files: nothing is pulled.

The container tests (buildah, Docker, podman) build their base images ``FROM scratch`` from a
tarball written here: the host's static busybox for shell steps, this machine's Python for pip
steps, and the libraries a frozen bundle needs for the CI image.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Iterable
from pathlib import Path

import pip

STDLIB_LEFT_OUT = (
    "site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "lib2to3",
    "ensurepip", "pydoc_data",
)  # fmt: skip
"""Parts of the standard library a pip step never imports (and site-packages: 1 GB here);
also left out: the static library (config-*) and optimised byte code (*.opt-N.pyc)."""
PASSWD = b"root:x:0:0:root:/root:/bin/sh\n"


def is_static_elf(path: str) -> bool:
    """An ELF executable without a PT_INTERP segment, i.e. one that runs in an empty image."""
    with open(path, "rb") as handle:
        header = handle.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only, as on our CI
            return False
        endian = "<" if header[5] == 1 else ">"
        phoff, phentsize, phnum = (
            struct.unpack_from(endian + "Q", header, 0x20)[0],
            *struct.unpack_from(endian + "HH", header, 0x36),
        )
        for index in range(phnum):
            handle.seek(phoff + index * phentsize)
            (p_type,) = struct.unpack(endian + "I", handle.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def ldd_libraries(elves: Iterable[Path], env: dict[str, str] | None = None) -> set[Path]:
    """Every library path ``ldd`` names for ``elves`` (the loader included; "not found" skipped)."""
    needed: set[Path] = set()
    for elf in elves:
        listing = subprocess.run(
            ["ldd", str(elf)], capture_output=True, text=True, env=env, check=False
        ).stdout
        for line in listing.splitlines():
            path = next((Path(word) for word in line.split() if word.startswith("/")), None)
            if path is not None:
                needed.add(path)
    return needed


def system_libraries(bundle: Path) -> set[Path]:
    """The libraries from outside a frozen bundle that it loads: glibc's, and zlib for the
    bootloader.

    The executable starts without the bundle on the library path (it then sets LD_LIBRARY_PATH
    to ``_internal/`` and re-executes itself), so its own libraries must come from the system.
    """
    system = {name: value for name, value in os.environ.items() if name != "LD_LIBRARY_PATH"}
    with_bundle = {**system, "LD_LIBRARY_PATH": str(bundle / "_internal")}
    needed = ldd_libraries([bundle / "pyx-auth"], system)
    needed |= ldd_libraries(bundle.rglob("*.so*"), with_bundle)
    return {path for path in needed if not path.resolve().is_relative_to(bundle.resolve())}


def _directory(archive: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    entry = tarfile.TarInfo(name)
    entry.type, entry.mode = tarfile.DIRTYPE, mode
    archive.addfile(entry)


def _symlink(archive: tarfile.TarFile, name: str, target: str) -> None:
    link = tarfile.TarInfo(name)
    link.type, link.linkname = tarfile.SYMTYPE, target
    archive.addfile(link)


def _copy(archive: tarfile.TarFile, path: Path) -> None:
    """``path`` at its own place in the image, its content read through any symlink."""
    archive.add(path.resolve(), str(path).lstrip("/"), recursive=False)


def add_busybox(archive: tarfile.TarFile, busybox: str) -> None:
    """/bin/busybox with a link per applet, /bin/sh among them, and the usual folders."""
    for folder, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("srv", 0o755),
                         ("tmp", 0o1777), ("usr", 0o755), ("usr/local", 0o755),
                         ("usr/local/bin", 0o755)):  # fmt: skip
        _directory(archive, folder, mode)
    archive.add(busybox, "bin/busybox")
    applets = subprocess.run(
        [busybox, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            _symlink(archive, f"bin/{applet}", "busybox")
    passwd = tarfile.TarInfo("etc/passwd")
    passwd.size = len(PASSWD)
    archive.addfile(passwd, io.BytesIO(PASSWD))


def add_libraries(archive: tarfile.TarFile, libraries: Iterable[Path]) -> None:
    """Each library at the path the loader looks for it, with the folders above it."""
    folders: set[str] = set()
    for library in sorted(libraries):
        parts = library.parent.parts[1:]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in folders:
                folders.add(folder)
                _directory(archive, folder)
        _copy(archive, library)


def add_python(archive: tarfile.TarFile) -> str:
    """This machine's Python at its own path (interpreter, libraries, standard library less
    ``STDLIB_LEFT_OUT``) plus the pip this test run uses; returns the interpreter's path."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = Path(sys.base_prefix) / "bin" / f"python{version}"
    stdlib = Path(sysconfig.get_paths(vars={"installed_base": sys.base_prefix})["stdlib"])
    dynload = Path(str(sysconfig.get_config_var("DESTSHARED")))
    extensions = [so for so in dynload.glob("*.so") if "tkinter" not in so.name]
    add_libraries(archive, ldd_libraries([interpreter, *extensions]) | {interpreter})

    def keep(entry: tarfile.TarInfo) -> tarfile.TarInfo | None:
        relative = Path(entry.name).relative_to(str(stdlib).lstrip("/"))
        top = relative.parts[0] if relative.parts else ""
        left_out = top in STDLIB_LEFT_OUT or top.startswith("config-") or ".opt-" in entry.name
        return None if left_out else entry

    archive.add(stdlib, str(stdlib).lstrip("/"), filter=keep)
    if not dynload.is_relative_to(stdlib):
        archive.add(dynload, str(dynload).lstrip("/"))
    site = stdlib / "site-packages"
    _directory(archive, str(site).lstrip("/"))
    archive.add(Path(pip.__file__).parent, f"{str(site).lstrip('/')}/pip")
    _symlink(archive, "usr/local/bin/python3", str(interpreter))
    return str(interpreter)
