"""Values as the mock runtime's requests carry them: decoded without rehydrating
anything, secrets kept as `Secret` and masked whenever shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Wire signatures (sdk/go/common/resource/properties.go); the SDK keeps them in runtime.rpc.
_SIG_KEY = "4dabf18193072939515e22adb298388d"


_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"


_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"


_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"


_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"


_UNKNOWN_WIRE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


# What the SDK's runtime.rpc calls each signature (check_sdk compares them).
WIRE_SIGNATURES = {
    "_special_sig_key": _SIG_KEY,
    "_special_secret_sig": _SECRET_SIG,
    "_special_resource_sig": _RESOURCE_SIG,
    "_special_output_value_sig": _OUTPUT_SIG,
    "_special_asset_sig": _ASSET_SIG,
    "_special_archive_sig": _ARCHIVE_SIG,
    "UNKNOWN": _UNKNOWN_WIRE,
}


@dataclass(frozen=True)
class Secret:
    """A value the program marked secret. Renderers show `SECRET_MASK`, never the value."""

    value: Any

    def __repr__(self) -> str:  # keep secrets out of logs and test failure output
        return "Secret(***)"


class _Unknown:
    """An output whose value the mock runtime never knew (rare outside previews)."""

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:  # one UNKNOWN in every process a plan passes through
        return "UNKNOWN"


UNKNOWN = _Unknown()


SECRET_MASK = "[secret]"


UNKNOWN_MASK = "[unknown]"


def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def decode_struct(struct: Any) -> dict[str, Any]:
    """Decode a protobuf Struct from a request into plain Python.

    Resource references become their URN strings (never rehydrated: that is the stock
    monitor's hang), secrets become `Secret`, unknowns `UNKNOWN`, integral numbers ints (the wire
    has only doubles), and keys whose value is null are dropped, as the SDK does.
    """
    decoded = decode_value(struct)
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def decode_value(value: Any) -> Any:
    from google.protobuf import struct_pb2

    if isinstance(value, struct_pb2.Value):
        kind = value.WhichOneof("kind")
        if kind is None or kind == "null_value":
            return None
        value = getattr(value, kind)
    if isinstance(value, struct_pb2.Struct):
        signature = value.fields.get(_SIG_KEY)
        if signature is not None:
            return _decode_special(signature.string_value, value)
        out = {}
        for key in value.fields:
            item = decode_value(value.fields[key])
            if item is not None:
                out[key] = item
        return out
    if isinstance(value, struct_pb2.ListValue):
        return [decode_value(item) for item in value.values]
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return _number(value)
    if value == _UNKNOWN_WIRE:
        return UNKNOWN
    return value


def _decode_special(signature: str, struct: Any) -> Any:
    fields = struct.fields
    if signature == _SECRET_SIG:
        return Secret(decode_value(fields["value"]) if "value" in fields else None)
    if signature == _RESOURCE_SIG:
        return fields["urn"].string_value
    if signature == _OUTPUT_SIG:
        inner = decode_value(fields["value"]) if "value" in fields else UNKNOWN
        secret = "secret" in fields and fields["secret"].bool_value
        return Secret(inner) if secret else inner
    if signature == _ASSET_SIG:
        return {"asset": {k: decode_value(fields[k]) for k in fields if k != _SIG_KEY}}
    if signature == _ARCHIVE_SIG:
        return {"archive": {k: decode_value(fields[k]) for k in fields if k != _SIG_KEY}}
    raise ValueError(f"unrecognised property signature {signature!r} in a request")


def encode_value(value: Any) -> Any:
    """The inverse of `decode_value`, as plain JSON-like data ready for `Struct.update`."""
    if isinstance(value, Secret):
        return {_SIG_KEY: _SECRET_SIG, "value": encode_value(value.value)}
    if value is UNKNOWN:
        return _UNKNOWN_WIRE
    if isinstance(value, Mapping):
        return {str(k): encode_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    return value


def dump_value(value: Any) -> Any:
    """`value` as JSON data that `load_value` turns back into the same value: secrets and
    unknowns keep their wire signatures, None stays (a recorded plan keeps every byte)."""
    if isinstance(value, Secret):
        return {_SIG_KEY: _SECRET_SIG, "value": dump_value(value.value)}
    if value is UNKNOWN:
        return _UNKNOWN_WIRE
    if isinstance(value, Mapping):
        return {str(k): dump_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [dump_value(v) for v in value]
    return value


def load_value(value: Any) -> Any:
    """The inverse of `dump_value`."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return Secret(load_value(value.get("value")))
        return {k: load_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [load_value(v) for v in value]
    if value == _UNKNOWN_WIRE:
        return UNKNOWN
    return value


def encode_struct(values: Mapping[str, Any]) -> Any:
    from google.protobuf import struct_pb2

    struct = struct_pb2.Struct()
    struct.update(encode_value(dict(values)))
    return struct


def reveal(value: Any) -> Any:
    """`value` with every `Secret` unwrapped (for the mock's own use, never for display)."""
    if isinstance(value, Secret):
        return reveal(value.value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def mask(value: Any, *, secret: bool = False) -> Any:
    """`value` with every secret scalar replaced by `SECRET_MASK`: safe to print or write.

    A secret mapping or list keeps its shape (keys are not secret, and the SDK marks a whole
    `stringData` secret when one entry is), so a masked Kubernetes Secret is still well formed.
    """
    if isinstance(value, Secret):
        return mask(value.value, secret=True)
    if value is UNKNOWN:
        return UNKNOWN_MASK
    if isinstance(value, dict):
        return {k: mask(v, secret=secret) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, secret=secret) for v in value]
    return SECRET_MASK if secret else value


def contains_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False
