"""Training on arrays: losses, the loop, metrics, the held-out split and the search.

No image files, SQL or database here: the caller assembles a :class:`TrainingData`
from the store (embeddings, database scores, the person's outcomes, the split).
"""

from tastemaker.training.data import TrainingData
from tastemaker.training.loop import TrainParams, TrainResult, train_model
from tastemaker.training.losses import LOSSES, Loss, make_loss
from tastemaker.training.metrics import evaluate
from tastemaker.training.search import SAMPLERS, SearchResult, SearchSpace, search
from tastemaker.training.split import heldout_mask

__all__ = [
    "LOSSES",
    "SAMPLERS",
    "Loss",
    "SearchResult",
    "SearchSpace",
    "TrainParams",
    "TrainResult",
    "TrainingData",
    "evaluate",
    "heldout_mask",
    "make_loss",
    "search",
    "train_model",
]
