"""Plot functions: data in, matplotlib Figure out, one look across every chapter.

Each module draws what the analysis module of the same name measures (`plots.heads` pictures `gptviz.heads`,
`plots.lens` pictures `gptviz.lens`, ...); `plots.attention` draws the attention weights of `trace.inspect`,
and `plots.style` holds the one style every function draws in.
"""

from .architecture import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .baselines import *  # noqa: F401,F403
from .bpe import *  # noqa: F401,F403
from .chat import *  # noqa: F401,F403
from .embeddings import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .lens import *  # noqa: F401,F403
from .positions import *  # noqa: F401,F403
from .reach import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .sampling import *  # noqa: F401,F403
from .style import *  # noqa: F401,F403
from .training import *  # noqa: F401,F403
