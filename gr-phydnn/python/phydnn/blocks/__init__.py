"""GNU Radio blocks of gr-phydnn (the only part of the package that imports GNU Radio).

Each block moves data between GNU Radio (streams, tags, PDUs) and the core package; the
algorithms live in ``phydnn.phy``, ``phydnn.models``, ``phydnn.link`` and ``phydnn.data``.
"""

from phydnn.blocks.burst_eraser import burst_eraser
from phydnn.blocks.channel_sim import channel_sim
from phydnn.blocks.dataset_source import dataset_source
from phydnn.blocks.deframer import deframer
from phydnn.blocks.framer import framer
from phydnn.blocks.head_tx import head_tx
from phydnn.blocks.monitor import image_grid, link_monitor
from phydnn.blocks.radio import radio_sink, radio_source, uhd_events
from phydnn.blocks.tail_rx import tail_rx

__all__ = ["burst_eraser", "channel_sim", "dataset_source", "deframer", "framer", "head_tx",
           "image_grid", "link_monitor", "radio_sink", "radio_source", "tail_rx", "uhd_events"]
