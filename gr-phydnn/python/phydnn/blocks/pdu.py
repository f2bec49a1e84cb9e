"""Conversions between numpy arrays / Python values and PMTs for gr-phydnn's PDUs.

PDU metadata keys follow DESIGN.md (batch_id, n_images, feature_shape, M, fingerprint, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pmt

__all__ = ["to_pmt", "from_pmt", "make_pdu", "split_pdu"]

# PMT's serialised form of a uniform vector (pmt_serialize.cc, the wire format of GNU
# Radio's ZMQ message blocks): 0x0a, the element type, the length (u32 big-endian), the
# number of pad bytes and those bytes, then the elements big-endian. numpy writes and reads
# it in one call each, where pmt's Python constructors and pmt.to_python go element by
# element through Python objects (a 3136-symbol segment: 0.12 ms to build, 0.25 ms to read
# back, against 0.035 and 0.056 ms this way)
_WIRE = {np.dtype(np.uint8): (0x00, ">u1"), np.dtype(np.int32): (0x05, ">i4"),
         np.dtype(np.float32): (0x08, ">f4"), np.dtype(np.complex64): (0x0a, ">c8")}
_WIRE_TYPES = {code: np.dtype(big) for code, big in _WIRE.values()}
_UNIFORM_VECTOR = 0x0a


def to_pmt(value: Any) -> pmt.pmt_t:
    """Python scalars, strings, tuples/lists of ints and numpy vectors -> PMT."""
    if isinstance(value, np.ndarray):
        wire = _WIRE.get(value.dtype)
        if wire is None:
            raise TypeError(f"no PMT vector type for dtype {value.dtype}")
        head = bytes([_UNIFORM_VECTOR, wire[0]]) + value.size.to_bytes(4, "big") + b"\x01\x00"
        return pmt.deserialize_str(head + value.ravel().astype(wire[1]).tobytes())
    if isinstance(value, (tuple, list)):
        return pmt.init_s32vector(len(value), [int(v) for v in value])
    return pmt.to_pmt(value)


def from_pmt(value: pmt.pmt_t) -> Any:
    """PMT -> Python (uniform vectors of the types above become numpy arrays, read from
    their serialised form)."""
    if pmt.is_uniform_vector(value):
        wire = pmt.serialize_str(value)
        big = _WIRE_TYPES.get(wire[1]) if wire[0] == _UNIFORM_VECTOR else None
        if big is not None:
            return np.frombuffer(wire, big, offset=7 + wire[6]).astype(big.newbyteorder("="))
    return pmt.to_python(value)


def make_pdu(meta: dict[str, Any], data: np.ndarray) -> pmt.pmt_t:
    """A PDU (pair of metadata dict and uniform vector)."""
    d = pmt.make_dict()
    for key, value in meta.items():
        d = pmt.dict_add(d, pmt.intern(key), to_pmt(value))
    return pmt.cons(d, to_pmt(np.ascontiguousarray(data)))


def split_pdu(pdu: pmt.pmt_t) -> tuple[dict[str, Any], np.ndarray]:
    """The metadata (as a Python dict) and the data vector (as numpy) of a PDU."""
    if not pmt.is_pair(pdu):
        raise TypeError("expected a PDU (a pair of metadata dict and uniform vector)")
    meta = pmt.to_python(pmt.car(pdu)) or {}
    return meta, np.asarray(from_pmt(pmt.cdr(pdu)))
