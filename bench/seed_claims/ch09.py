"""Chapter 09's live fine-tune: 24 steps of 8 questions from the pre-trained model with the chat tokens added."""

from __future__ import annotations

import copy

from gptviz import chat


def claims(seed: int, shared: dict) -> dict[str, tuple[float, float | None]]:
    """Chapter 09's live fine-tune: the held-out answer loss drops (and how many replies already end with <|end|>)."""
    if "chat_ready" not in shared:
        shared["chat_ready"] = chat.add_chat_tokens(copy.deepcopy(shared["model"]), shared["tok"])
    model, tok = shared["chat_ready"]
    dataset = shared.setdefault("chat_dataset", chat.build_dataset())
    live = copy.deepcopy(model)
    held_out = dataset.test[::4]
    loss_before = chat.answer_loss(live, tok, held_out)
    chat.finetune(live, tok, dataset, steps=24, batch_size=8, lr=1e-3, seed=seed)
    return {"held-out answer loss drop > 0.8": (loss_before - chat.answer_loss(live, tok, held_out), 0.8),
            "format rate after 24 steps (no check)": (chat.evaluate(live, tok, held_out).format_rate(), None)}
