"""Redraw the README's picture, docs/overview.png: one head of the shipped model and its next-character guess.

Run: PYTHONPATH=. python3 tools/make_readme_picture.py
"""

from pathlib import Path

import gptviz
from gptviz.widgets.core import overview_figure

PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\nJULIET:\nAy me"

if __name__ == "__main__":
    model, tok = gptviz.load_pretrained()
    out = Path(__file__).resolve().parents[1] / "docs" / "overview.png"
    overview_figure(model, tok, PROMPT, layer=2, head=1).savefig(out, bbox_inches="tight")
    print(f"wrote {out}")
