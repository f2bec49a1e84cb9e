"""Training: backbone pretraining and PhyDNN fine-tuning (paper 003, Alg. 1)."""

from phydnn.training.config import FinetuneConfig, load_config
from phydnn.training.evaluate import accuracy, codebook_usage, link_accuracy, predict
from phydnn.training.finetune import CARD_SNRS, evaluate_into_card, finetune, snapshot_path
from phydnn.training.pretrain import PretrainConfig, pretrain

__all__ = [
    "CARD_SNRS",
    "FinetuneConfig",
    "PretrainConfig",
    "accuracy",
    "codebook_usage",
    "evaluate_into_card",
    "finetune",
    "link_accuracy",
    "load_config",
    "predict",
    "pretrain",
    "snapshot_path",
]
