"""How pyx-auth reads a workspace's rc files: Bazel's helper lookup, imports, line syntax.

From ``bazel-credential-helpers.md`` §8 (Bazel's ``CredentialHelperProvider``): exact scope,
then ``*.`` on the host and each parent, then the default helper; the last flag per scope wins.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyx_auth.bazel_workspace import RcFiles, find_workspace, stub_relative_path


def _rc(tmp_path: Path, text: str, **files: str) -> RcFiles:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "MODULE.bazel").write_text("")
    (workspace / ".bazelrc").write_text(text)
    for name, content in files.items():
        (workspace / name).write_text(content)
    home = tmp_path / "home-rc"
    home.mkdir()
    return RcFiles(str(workspace), str(home))


LINES = """\
# a comment --credential_helper=api.pyx.dev=/commented
build --jobs=4 --credential_helper=*.astralhosted.com=/wild
common --credential_helper=files.astralhosted.com=/exact-old
common --credential_helper files.astralhosted.com=/exact
build:ci --credential_helper=api.pyx.dev=/only-with-config-ci
test --credential_helper=api.pyx.dev=/only-for-test
common \\
    --credential_helper=/default
"""


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("files.astralhosted.com", "/exact"),  # exact scope beats the wildcard; last one wins
        ("views.astralhosted.com", "/wild"),
        ("astralhosted.com", "/wild"),  # *.domain covers the domain itself
        ("a.b.astralhosted.com", "/wild"),
        ("api.pyx.dev", "/default"),  # config-scoped and test-only lines do not count
        ("FILES.astralhosted.com", "/exact"),
    ],
)
def test_rc_files_helper_for_follows_bazels_lookup(
    tmp_path: Path, host: str, expected: str
) -> None:
    flag = _rc(tmp_path, LINES).helper_for(host)
    assert flag is not None and flag.path == expected


def test_rc_files_without_lines_find_no_helper(tmp_path: Path) -> None:
    assert _rc(tmp_path, "build --jobs=4\n").helper_for("api.pyx.dev") is None


def test_rc_files_follow_import_and_try_import(tmp_path: Path) -> None:
    rc = _rc(
        tmp_path,
        "try-import %workspace%/absent.bazelrc\nimport %workspace%/pyx.bazelrc\n",
        **{"pyx.bazelrc": "common --credential_helper=api.pyx.dev=%workspace%/stub\n"},
    )
    flag = rc.helper_for("api.pyx.dev")
    assert flag is not None and flag.origin.endswith("pyx.bazelrc:1")
    assert rc.helper_file(flag) == str(tmp_path / "ws" / "stub")
    assert rc.problems == []


def test_rc_files_report_a_missing_import_and_a_loop(tmp_path: Path) -> None:
    rc = _rc(
        tmp_path,
        "import %workspace%/absent.bazelrc\nimport %workspace%/loop.bazelrc\n",
        **{"loop.bazelrc": "import %workspace%/loop.bazelrc\n"},
    )
    assert rc.problems[0].endswith("absent.bazelrc is imported but cannot be read")
    assert "loop.bazelrc imports itself" in rc.problems[1]


def test_find_workspace_searches_upwards_like_bazel(tmp_path: Path) -> None:
    (tmp_path / "WORKSPACE.bazel").write_text("")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_workspace(str(deep)) == str(tmp_path)


@pytest.mark.parametrize("value", ["", "/abs", "../up", "a/../b", "a//b", "x=y", "a/"])
def test_stub_relative_path_refuses_what_workspace_cannot_name(value: str) -> None:
    with pytest.raises(ValueError, match="relative path inside the workspace"):
        stub_relative_path(value)
