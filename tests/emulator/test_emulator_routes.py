"""The emulator's routing table: what is not a route is a 404 problem."""

from __future__ import annotations

import httpx
import pytest

from emulator_http import assert_problem

# -- anything else ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/nope"),
        ("DELETE", "/auth/cli/refresh"),
        ("GET", "/auth/cli/status"),
        ("GET", "/simple/acme/"),
        ("GET", "/files/acme/main/"),
        ("GET", "/_emulator/nope"),
    ],
)
def test_unknown_route_404_problem(emulator_client: httpx.Client, method: str, path: str) -> None:
    assert_problem(emulator_client.request(method, path), 404)
