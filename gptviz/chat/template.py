"""The chat format: the conversation as one text, and how a reply is read back from the model's continuation.

The user's turn and the assistant's turn are speeches (`User:` / `Assistant:`), each followed by a
blank line, as a speech is in the plays; a reply counts as following the format if it is one line
of 1..MAX_ANSWER characters followed by END.
"""

from __future__ import annotations

USER = "User:\n"  # the user's turn starts like a speech in the plays...
ASSISTANT = "Assistant:\n"  # ...and so does the assistant's
END = "\n\n"  # a blank line ends a turn, as it ends a speech in the corpus
MAX_ANSWER = 32  # longest reply, in characters, that still counts as following the format


def format_prompt(question: str, history: tuple[tuple[str, str], ...] = ()) -> str:
    """The conversation so far as one text ending where the assistant's reply starts."""
    for name, text in (("question", question), *((f"history[{i}]", t) for i, turn in enumerate(history) for t in turn)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{name} must be a non-empty string, got {text!r}")
    turns = "".join(USER + q.strip() + END + ASSISTANT + a.strip() + END for q, a in history)
    return turns + USER + question.strip() + END + ASSISTANT


def parse_reply(continuation: str) -> tuple[str, bool]:
    """The reply's first line, and whether the reply follows the format: one line of 1..MAX_ANSWER chars, then END."""
    line = continuation.split("\n", 1)[0]
    follows = continuation.startswith(line + END) and 1 <= len(line.strip()) == len(line) <= MAX_ANSWER
    return line, follows


def fit_history(question: str, history, budget: int) -> tuple[tuple[str, str], ...]:
    """The most recent earlier turns that fit in `budget` characters together with the question."""
    kept: list[tuple[str, str]] = []
    for turn in reversed(list(history)):
        if len(format_prompt(question, (turn, *kept))) > budget:
            break
        kept.insert(0, turn)
    return tuple(kept)
