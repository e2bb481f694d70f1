"""The chat template: a conversation as one token sequence, with special tokens for the roles and the end of a turn.

    <|system|>Answer with one name or one title.<|end|>
    <|user|>VIOLA: ...
    Who speaks first?<|end|>
    <|assistant|>VIOLA<|end|>

`<|system|>`, `<|user|>`, `<|assistant|>` and `<|end|>` are four tokens added after the 77 characters of the
pre-trained vocabulary. Ordinary text never encodes to them (`CharTokenizer.encode` refuses a text that spells one
out), so a user cannot end a turn or speak as the assistant by typing; generation stops at the first `<|end|>`.
The pre-trained model learns the new tokens during fine-tuning, starting from the mean embedding (`add_chat_tokens`).
"""

from __future__ import annotations

import torch

SYSTEM_TOKEN, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
CHAT_TOKENS = (SYSTEM_TOKEN, USER, ASSISTANT, END)
SYSTEM = "Answer with one name or one title."  # the system line every training conversation starts with
TURN_BREAK = "\n"  # after each <|end|>, only so that a printed conversation reads one turn a line
MAX_ANSWER = 32  # longest reply, in characters, that still counts as following the format


def _check_text(name: str, text, tokenizer=None) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{name} must be a non-empty string, got {text!r}")
    if any(token in text for token in CHAT_TOKENS):
        raise ValueError(f"{name} must not spell out a chat token {CHAT_TOKENS}, got {text!r}")
    if tokenizer is not None:
        tokenizer.encode(text)  # a clear ValueError for a character the model does not know
    return text.strip()


def format_prompt(question: str, history: tuple[tuple[str, str], ...] = (), system: str | None = SYSTEM) -> str:
    """The conversation so far as one text (chat tokens written out) ending where the assistant's reply starts.

    `system=None` leaves the system line out."""
    question = _check_text("question", question)
    history = tuple((_check_text(f"history[{i}][0]", q), _check_text(f"history[{i}][1]", a))
                    for i, (q, a) in enumerate(history))
    head = "" if system is None else SYSTEM_TOKEN + _check_text("system", system) + END + TURN_BREAK
    turns = "".join(USER + q + END + TURN_BREAK + ASSISTANT + a + END + TURN_BREAK for q, a in history)
    return head + turns + USER + question + END + TURN_BREAK + ASSISTANT


def token_count(text: str) -> int:
    """How many tokens a conversation written by `format_prompt` is: each written-out chat token counts as one."""
    return len(text) - sum(text.count(t) * (len(t) - 1) for t in CHAT_TOKENS)


def encode_chat(tokenizer, text: str) -> list[int]:
    """Token ids of a conversation built by `format_prompt`: the written-out chat tokens become special tokens."""
    missing = [t for t in CHAT_TOKENS if t not in tokenizer.special_ids]
    if missing:
        raise ValueError(f"the tokenizer has no chat tokens {missing}: load the chat model, or call add_chat_tokens")
    return tokenizer.encode(text, allowed_special=True)


def parse_reply(continuation: str) -> tuple[str, bool]:
    """The reply's first line, and whether it follows the format: one line of 1..MAX_ANSWER characters, then <|end|>."""
    line = continuation.split("\n", 1)[0].split(END, 1)[0]
    for token in CHAT_TOKENS:
        line = line.split(token, 1)[0]
    follows = continuation.startswith(line + END) and 1 <= len(line.strip()) == len(line) <= MAX_ANSWER
    return line, follows


def fit_history(question: str, history, budget: int, system: str | None = SYSTEM) -> tuple[tuple[str, str], ...]:
    """The most recent earlier turns that fit in `budget` tokens together with the question."""

    def size(turns):
        return token_count(format_prompt(question, turns, system))

    kept: list[tuple[str, str]] = []
    for turn in reversed(list(history)):
        if size((turn, *kept)) > budget:
            break
        kept.insert(0, turn)
    return tuple(kept)


@torch.no_grad()
def add_chat_tokens(model, tokenizer):
    """The tokenizer with the chat tokens, and the model (changed in place) with one embedding row for each.

    A new row starts as the mean of the existing rows: a token the model has never seen starts as "an average
    character", and with the tied output layer its logit starts near the average logit (unlikely, not impossible).
    """
    new = [t for t in CHAT_TOKENS if t not in tokenizer.special_ids]
    grown = tokenizer.with_specials(new)
    if model.config.vocab_size != tokenizer.vocab_size:
        raise ValueError(f"model has {model.config.vocab_size} tokens, tokenizer {tokenizer.vocab_size}")
    if not new:
        return model, grown
    old = model.wte.weight  # (V, C); lm_head shares it (weight tying)
    rows = old.mean(0, keepdim=True).expand(len(new), -1)
    embedding = torch.nn.Embedding(grown.vocab_size, old.size(1), device=old.device, dtype=old.dtype)
    embedding.weight.copy_(torch.cat([old, rows]))
    model.wte = embedding
    model.lm_head = torch.nn.Linear(old.size(1), grown.vocab_size, bias=False, device=old.device, dtype=old.dtype)
    model.lm_head.weight = model.wte.weight  # keep the tying
    model.config.vocab_size = grown.vocab_size
    return model, grown
