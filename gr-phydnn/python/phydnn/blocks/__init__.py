"""GNU Radio blocks of gr-phydnn (the only part of the package that imports GNU Radio).

Each block moves data between GNU Radio (streams, tags, PDUs) and the core package; the
algorithms live in ``phydnn.phy``, ``phydnn.models``, ``phydnn.link`` and ``phydnn.data``.
"""

from phydnn.blocks.dataset_source import dataset_source

__all__ = ["dataset_source"]
