"""gptviz: a compact GPT to train, sample and look inside, for learning how ChatGPT works."""

from .checkpoint import load, load_pretrained, save
from .data import Corpus, load_corpus
from .device import pick_device
from .model import GPT, GPTConfig, evaluating
from .sampling import generate, next_token_probs
from .tokenizer import CharTokenizer
from .trace import Trace, inspect
from .training import History, TrainConfig, train

__all__ = [
    "GPT", "GPTConfig", "CharTokenizer", "Corpus", "History", "TrainConfig", "Trace",
    "evaluating", "generate", "inspect", "load", "load_corpus", "load_pretrained", "next_token_probs",
    "pick_device", "save", "train",
]
__version__ = "0.1.0"
