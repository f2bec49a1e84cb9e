"""Conversions between numpy arrays / Python values and PMTs for gr-phydnn's PDUs.

PDU metadata keys follow DESIGN.md (batch_id, n_images, feature_shape, M, fingerprint, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pmt

__all__ = ["to_pmt", "from_pmt", "make_pdu", "split_pdu"]

_VECTORS = {np.uint8: pmt.init_u8vector, np.int32: pmt.init_s32vector,
            np.float32: pmt.init_f32vector, np.complex64: pmt.init_c32vector}


def to_pmt(value: Any) -> pmt.pmt_t:
    """Python scalars, strings, tuples/lists of ints and numpy vectors -> PMT."""
    if isinstance(value, np.ndarray):
        for dtype, init in _VECTORS.items():
            if value.dtype == dtype:
                return init(value.size, value.ravel().tolist()) if value.size else init(0, [])
        raise TypeError(f"no PMT vector type for dtype {value.dtype}")
    if isinstance(value, (tuple, list)):
        return pmt.init_s32vector(len(value), [int(v) for v in value])
    return pmt.to_pmt(value)


def from_pmt(value: pmt.pmt_t) -> Any:
    """PMT -> Python (uniform vectors become numpy arrays)."""
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
    return meta, np.asarray(pmt.to_python(pmt.cdr(pdu)))
