"""Plot functions: data in, matplotlib Figure out, one look across every chapter."""

from .attention import *  # noqa: F401,F403
from .blocks import *  # noqa: F401,F403
from .chat import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .decoding import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
