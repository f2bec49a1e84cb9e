"""qa for the PDU conversions (phydnn.blocks.pdu): numpy vectors to and from PMT uniform
vectors by their serialised form must be what pmt's own constructors build and read."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import requires_gnuradio

pytestmark = requires_gnuradio


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32, np.complex64])
@pytest.mark.parametrize("n", [0, 1, 7, 3136])
def test_vectors_are_pmts_own(dtype, n):
    import pmt

    from phydnn.blocks.pdu import from_pmt, to_pmt

    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 100).astype(dtype)
    if dtype == np.complex64:
        x = (x + 1j * rng.standard_normal(n)).astype(dtype)
    init = {np.uint8: pmt.init_u8vector, np.int32: pmt.init_s32vector,
            np.float32: pmt.init_f32vector, np.complex64: pmt.init_c32vector}[dtype]
    assert pmt.equal(to_pmt(x), init(n, x.tolist()))
    back = from_pmt(init(n, x.tolist()))
    assert back.dtype == dtype and np.array_equal(back, x)
    assert np.array_equal(np.asarray(pmt.to_python(to_pmt(x))), x)


def test_other_values_and_refusals():
    import pmt

    from phydnn.blocks.pdu import from_pmt, make_pdu, split_pdu, to_pmt

    meta, data = split_pdu(make_pdu({"batch_id": 3, "kind": "psk", "shape": (2, 3)},
                                    np.ones((2, 3), np.float32)))
    assert meta["batch_id"] == 3 and meta["kind"] == "psk"
    assert list(meta["shape"]) == [2, 3] and data.shape == (6,)
    assert from_pmt(pmt.init_f64vector(2, [1.0, 2.0])).tolist() == [1.0, 2.0]   # pmt's way
    with pytest.raises(TypeError, match="dtype"):
        to_pmt(np.zeros(3, np.float64))
    with pytest.raises(TypeError, match="PDU"):
        split_pdu(pmt.from_long(3))
