"""Channel codes from GNU Radio's gr-fec, called on numpy arrays (the separation baseline,
issue 23). The one package outside ``phydnn.blocks`` that imports GNU Radio: the codes are
gr-fec's own encoder and decoder objects (``generic_encoder`` / ``generic_decoder``), run
through their ``generic_work`` on whole codewords, so the torch evaluation and the GNU Radio
link decode with the same library and agree bit for bit.

``get_code(name)`` builds a code by name (:data:`CODE_NAMES`).
"""

from phydnn.fec.codes import (
    CODE_NAMES,
    ChannelCode,
    ConvolutionalCode,
    LDPCCode,
    Uncoded,
    get_code,
)

__all__ = ["CODE_NAMES", "ChannelCode", "ConvolutionalCode", "LDPCCode", "Uncoded", "get_code"]
