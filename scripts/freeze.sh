#!/usr/bin/env bash
# Freeze pyx-auth into the one-dir bundle dist/pyx-auth/ (executable: dist/pyx-auth/pyx-auth),
# plus dist/pyx-auth-<version>-linux-<arch>.tar.gz and its .sha256. Usage: bash scripts/freeze.sh
#
# Needs only python3 (>= 3.11) with venv and pip, and PyPI; on Debian run as root, it installs
# the shared libpython PyInstaller needs. Everything else goes into build/freeze-venv. The
# bundle runs where the glibc is at least as new as the build machine's: build on the oldest
# distribution release you want to run it on. PYTHON=/path/to/python3 picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
venv=build/freeze-venv
bundle=dist/pyx-auth

# Reproducible output: fixed hash seed during analysis, fixed timestamps in the archive.
# 315532800 is 1980-01-01, the earliest time a zip (base_library.zip) can record.
export PYTHONHASHSEED=0
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"
# PyInstaller's binary cache (which --clean empties) lives here rather than in ~/.cache, so
# that builds of other checkouts cannot race with this one.
export PYINSTALLER_CONFIG_DIR="$PWD/build/pyinstaller-config"

# PyInstaller bundles libpython; Debian's python3 links it statically, so install the shared one.
# (Not `grep -q`: it exits at the first match, ldconfig then dies of SIGPIPE, and under pipefail
# the pipeline fails although the library is there.)
python_version=$("${PYTHON:-python3}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
shared=$("${PYTHON:-python3}" -c 'import sysconfig; print(sysconfig.get_config_var("Py_ENABLE_SHARED"))')
if [ "$shared" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    && ! ldconfig -p | grep -F "libpython$python_version.so" >/dev/null; then
    echo "--- apt-get install libpython$python_version (PyInstaller needs the shared libpython)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libpython$python_version" >/dev/null
fi

echo "--- build venv ($venv): pyinstaller and pyx-auth with its dependencies" >&2
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# Not editable: PyInstaller must see the installed package, and a local path is rebuilt and
# reinstalled on every run, so the bundle always holds the current source.
"$venv/bin/python" -m pip install -q '.[freeze]'

echo "--- pyinstaller packaging/pyx-auth.spec" >&2
rm -rf "$bundle" dist/pyx-auth-*.tar.gz dist/pyx-auth-*.tar.gz.sha256
"$venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/pyx-auth.spec

version=$("$bundle/pyx-auth" --version)   # also a smoke test: the bundle starts
version=${version#pyx-auth }
archive="pyx-auth-$version-linux-$(uname -m).tar.gz"

echo "--- dist/$archive" >&2
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf - -C dist pyx-auth | gzip -9 -n > "dist/$archive"
(cd dist && sha256sum "$archive" > "$archive.sha256")

echo "bundle:  $bundle/ $(du -sh "$bundle" | cut -f1) ($(find "$bundle" -type f | wc -l) files)"
echo "archive: dist/$archive $(du -h "dist/$archive" | cut -f1), sha256 $(cut -d' ' -f1 "dist/$archive.sha256")"
echo "built in $((SECONDS - started)) s"
