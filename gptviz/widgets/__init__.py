"""Interactive explorers: controls plus a figure, with the update logic in plain, testable functions."""

from .attention import *  # noqa: F401,F403
from .chat import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .decoding import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
