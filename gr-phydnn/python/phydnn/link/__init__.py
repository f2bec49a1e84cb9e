"""Link layer as plain functions over numpy arrays (PHY header, preamble, segmentation).

No GNU Radio here; the framer/deframer blocks call into this package.
"""

__all__: list[str] = []
