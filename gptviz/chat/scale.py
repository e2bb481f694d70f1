"""How big our model and its data are next to GPT-2, GPT-3 and InstructGPT (numbers for ours measured, others cited)."""

from __future__ import annotations

from dataclasses import dataclass

PRETRAIN_BATCH = 16  # sequences per pre-training step (README: the command that rebuilt gptviz/pretrained)


@dataclass(frozen=True)
class ModelScale:
    name: str
    parameters: str
    training_tokens: str
    vocabulary: str
    context: str
    demonstrations: str  # supervised fine-tuning examples
    comparisons: str  # human preference data
    source: str


PUBLISHED = (
    ModelScale("GPT-2", "1.5 B", "WebText, 40 GB of text (tokens not reported)", "50,257 BPE", "1,024", "none", "none",
               "Radford et al. 2019"),
    ModelScale("GPT-3", "175 B", "300 B", "50,257 BPE", "2,048", "none", "none", "Brown et al. 2020"),
    ModelScale("InstructGPT", "1.3 B / 6 B / 175 B (GPT-3)", "GPT-3's, then fine-tuning", "50,257 BPE", "2,048",
               "~13 k prompts with labeler-written replies",
               "~33 k prompts, 4 to 9 replies ranked per prompt", "Ouyang et al. 2022"),
)


def _short(n: float) -> str:
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.2g} {unit}"
    return f"{n:.0f}"


def ours(model, tokenizer, pretrain_steps: int, corpus_characters: int, demonstrations: int) -> ModelScale:
    """Our chat model's row, from the objects: the model, its tokenizer, the pre-training history and the data."""
    tokens_seen = pretrain_steps * PRETRAIN_BATCH * model.config.block_size
    return ModelScale(
        "this chapter's model", _short(model.num_params()),
        f"{_short(tokens_seen)} ({tokens_seen / corpus_characters:.1f} passes over {_short(corpus_characters)} chars)",
        f"{len(tokenizer.chars)} characters + {len(tokenizer.specials)} chat tokens", f"{model.config.block_size:,}",
        f"{_short(demonstrations)} generated questions (not written by people)", "none", "measured here")


def scale_table(rows) -> str:
    """The rows as a Markdown table, one column per model (display it with `IPython.display.Markdown`)."""
    fields = [("parameters", "parameters"), ("training tokens", "training_tokens"), ("vocabulary", "vocabulary"),
              ("context (tokens)", "context"), ("SFT demonstrations", "demonstrations"),
              ("preference data", "comparisons"), ("source", "source")]
    lines = ["| | " + " | ".join(r.name for r in rows) + " |", "|---" * (len(rows) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(str(getattr(r, field)) for r in rows) + " |" for label, field in fields]
    return "\n".join(lines)


def pretrain_steps(directory=None) -> int:
    """How many optimizer steps the shipped pre-trained model took (the last row of its history.csv)."""
    import csv

    from ..checkpoint import pretrained_dir

    with open((directory or pretrained_dir()) / "history.csv", encoding="utf-8") as file:
        return int(list(csv.DictReader(file))[-1]["step"])


def pretraining_corpus() -> tuple[int, int]:
    """(plays, characters) of the pre-training text: every play of the corpus but the held-out ones."""
    from ..data import HELD_OUT_PLAYS, play_files, shakespeare

    return len(set(play_files()) - set(HELD_OUT_PLAYS)), len(shakespeare().train_text)
