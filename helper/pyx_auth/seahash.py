"""uv's ``cache_digest``: SeaHash of a string, as uv names its pyx store folders and key files.

uv hashes a ``str`` the Rust ``Hash`` way (UTF-8 bytes, then one ``0xff`` byte) with SeaHash
4.x and prints the u64 as little-endian hex. Pure Python, so the Bazel fast path can use it.
"""

from __future__ import annotations

_MASK = 2**64 - 1
_PRIME = 0x6EED0E9DA4D94A4F
_SEEDS = (0x16F11FE89B0D677C, 0xB480A793D8E6C86C, 0x6FE2E5AAF078EBC9, 0x14F994A4C5259381)


def _diffuse(x: int) -> int:
    x = (x * _PRIME) & _MASK
    x ^= (x >> 32) >> (x >> 60)
    return (x * _PRIME) & _MASK


def seahash(data: bytes) -> int:
    """SeaHash of ``data`` with the reference seeds (one-shot form of the streaming hasher)."""
    a, b, c, d = _SEEDS
    for i in range(0, len(data), 8):
        a, b, c, d = b, c, d, _diffuse(a ^ int.from_bytes(data[i : i + 8], "little"))
    return _diffuse(a ^ b ^ c ^ d ^ len(data))


def uv_digest(text: str) -> str:
    """The 16 hex characters uv's ``cache_digest`` gives for ``text``."""
    return seahash(text.encode() + b"\xff").to_bytes(8, "little").hex()
