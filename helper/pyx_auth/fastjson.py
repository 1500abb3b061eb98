"""JSON for the Bazel cache hit, without importing ``json`` (and with it ``re``, ~4 ms).

CPython's ``json`` package is a thin Python layer over the C accelerator ``_json``; what the
layer costs at start-up is ``re``, for its top-level whitespace and number patterns. ``loads``
calls the accelerator's scanner with exactly the settings ``json.loads`` gives it, and strips
the surrounding JSON whitespace itself; ``dumps`` writes the few shapes pyx-auth emits with
the accelerator's string escaper. Where ``_json`` does not exist (other interpreters), both
fall back to the ``json`` package. Errors are ``ValueError``, as with ``json``.
"""

from __future__ import annotations

JSON_WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _DecoderSettings:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder()``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


try:
    from _json import encode_basestring_ascii as _quote
    from _json import make_scanner as _make_scanner
except ImportError:  # pragma: no cover - CPython always has _json
    from json import dumps as _json_dumps
    from json import loads as _json_loads

    def loads(text: str) -> object:
        """``json.loads(text)``."""
        return _json_loads(text)

    def dumps(value: object) -> str:
        """``json.dumps(value, separators=(",", ":"))``."""
        return _json_dumps(value, separators=(",", ":"))

else:
    # typeshed types the context as a scanner; the C scanner only reads the attributes above.
    _scan = _make_scanner(_DecoderSettings())  # type: ignore[arg-type]

    def loads(text: str) -> object:
        """``json.loads(text)`` for a ``str``: one JSON value, maybe with whitespace around."""
        start = len(text) - len(text.lstrip(JSON_WHITESPACE))
        try:
            value, end = _scan(text, start)
        except StopIteration as stop:
            raise ValueError(f"expecting a JSON value at character {stop.value}") from None
        except RecursionError:
            raise ValueError("the JSON value is nested too deeply") from None
        except SystemError:
            # CPython 3.11's scanner raises its syntax errors as json.decoder.JSONDecodeError,
            # and fails like this while json.decoder is not imported: let json report it.
            from json import loads as json_loads

            return json_loads(text)
        if text[end:].strip(JSON_WHITESPACE):
            raise ValueError(f"extra data after the JSON value at character {end}")
        return value

    def dumps(value: object) -> str:
        """Compact JSON, byte for byte what ``json.dumps(value, separators=(",", ":"))`` gives.

        Only the shapes pyx-auth writes: dicts with string keys, lists, strings, integers,
        booleans and None.
        """
        if isinstance(value, str):
            return _quote(value)
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return int.__repr__(value)
        if isinstance(value, list | tuple):
            return "[" + ",".join(dumps(item) for item in value) + "]"
        if isinstance(value, dict):
            items = []
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(f"keys must be str, not {type(key).__name__}")
                items.append(_quote(key) + ":" + dumps(item))
            return "{" + ",".join(items) + "}"
        raise TypeError(f"{type(value).__name__} is not serialisable here")
