"""The link layer as plain functions over numpy arrays (no GNU Radio): preamble, PHY header,
segmentation and reassembly, per-segment synchronisation, and the receiver's demodulation
into the tail (DESIGN.md "link")."""

from phydnn.link.endpoints import RECEIVERS, Prediction, RxTail, TxHead
from phydnn.link.header import HEADER_SYMBOLS, HeaderError, PhyHeader, decode_header, encode_header
from phydnn.link.preamble import PREAMBLE, RAMP, SYNC_WORD
from phydnn.link.segment import (
    Reassembler,
    ReceivedBatch,
    frame_symbols,
    segment_batch,
    segment_layout,
)
from phydnn.link.sync import SegmentSync, SyncResult, estimate_from_known

__all__ = [
    "HEADER_SYMBOLS",
    "PREAMBLE",
    "RECEIVERS",
    "RAMP",
    "SYNC_WORD",
    "HeaderError",
    "PhyHeader",
    "Prediction",
    "Reassembler",
    "ReceivedBatch",
    "RxTail",
    "SegmentSync",
    "SyncResult",
    "TxHead",
    "decode_header",
    "encode_header",
    "estimate_from_known",
    "frame_symbols",
    "segment_batch",
    "segment_layout",
]
