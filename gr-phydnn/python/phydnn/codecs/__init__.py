"""Codecs: every task-oriented system as a transmitter side and a receiver side over one link
(DESIGN.md "Codecs"). No GNU Radio here.

``load_transmitter(path)`` / ``load_receiver(path)`` build a codec's sides from a bundle by
the codec its card names; ``register_codec`` adds one.
"""

from phydnn.codecs.base import (
    KINDS,
    Codec,
    CodecOutput,
    PayloadSpec,
    Receiver,
    RxPayload,
    Transmitter,
    TxPayload,
)
from phydnn.codecs.bundles import export_bundles, load_receiver, load_transmitter, payload_spec
from phydnn.codecs.registry import codec_by_id, codec_names, get_codec, register_codec

__all__ = ["KINDS", "Codec", "CodecOutput", "PayloadSpec", "Receiver", "RxPayload",
           "Transmitter", "TxPayload", "codec_by_id", "codec_names", "export_bundles",
           "get_codec", "load_receiver", "load_transmitter", "payload_spec", "register_codec"]
