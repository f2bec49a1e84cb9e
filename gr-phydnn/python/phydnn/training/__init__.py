"""Training: backbone pretraining now; PhyDNN fine-tuning (paper Alg. 1) builds on it."""

from phydnn.training.evaluate import accuracy, predict
from phydnn.training.pretrain import PretrainConfig, pretrain

__all__ = ["PretrainConfig", "accuracy", "predict", "pretrain"]
