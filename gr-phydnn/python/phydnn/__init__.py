"""gr-phydnn: pretrained DNNs fine-tuned to speak PSK at their split point (paper 003).

The core package (``phydnn.phy``, ``phydnn.models``, ``phydnn.data``, ``phydnn.training``,
``phydnn.link``) imports no GNU Radio; ``phydnn.blocks`` wraps it for GNU Radio.
Sub-packages are imported on use, so ``import phydnn`` is cheap.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
