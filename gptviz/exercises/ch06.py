"""Chapter 06's exercises: count an MLP's parameters, predict which MLP the model misses most, read the logit lens."""

from __future__ import annotations

import numpy as np

from ..data import load_corpus
from ..lens import logit_lens, mlp_ablation_losses
from .core import Exercise, Wrong, register
from .kinds import choice, describe, function, prediction, pretrained

# 06.1 · parameters of one MLP, as a function of the width


def mlp_parameters(C):
    """Weights and biases of one block's MLP at width C: C -> 4C -> C."""
    return C * 4 * C + 4 * C + 4 * C * C + C


def weights_only(C):
    return 8 * C * C


def one_bias(C):
    return 8 * C * C + 4 * C


def square_layers(C):
    return 2 * (C * C + C)


def twice_wide(C):
    return 4 * C * C + 3 * C


def mlp_inputs() -> list[tuple[int]]:
    return [(192,), (1,), (768,), (32,)]


register(Exercise(
    id="06.1",
    title="How many parameters does one block's MLP have, for width C?",
    check=function(
        mlp_parameters, mlp_inputs, name="mlp_parameters",
        same=lambda got, expected: isinstance(got, (int, np.integer)) and not isinstance(got, bool)
        and int(got) == expected,
        why="8C² weights (C × 4C and 4C × C) and 5C biases (4C, then C): at C = 192 that is 295,872 per block, "
            "and times 4 blocks what the bar chart counts.",
        mistakes=[
            (weights_only, "Only the weights: each of the two layers has a bias too (4C for the first, C for the "
                           "second)."),
            (one_bias, "One bias is missing: the second layer (4C -> C) has C biases."),
            (square_layers, "The hidden layer is 4 times wider than the stream: C -> 4C -> C, not C -> C -> C."),
            (twice_wide, "Both layers are C × 4C in size: 8C² weights in all, not 4C²."),
        ],
        hint="Count the first layer (C inputs -> 4C outputs, plus 4C biases) and the second (4C -> C, plus C biases). "
             "Return a whole number.",
    ),
    code='''def mlp_parameters(C):
    first = C * 4 * C + 4 * C   # c_fc: weights C x 4C, one bias per hidden unit
    second = 4 * C * C + C      # c_proj: weights 4C x C, one bias per output
    return first + second''',
    explanation="The MLP widens the stream four times and narrows it back: two weight matrices of C·4C entries "
                "each, plus a bias per output of each layer (4C, then C). 8C² + 5C; at C = 192, 295,872.",
    reference=lambda: mlp_parameters,
    wrong=lambda: [weights_only, one_bias, square_layers, twice_wide, lambda C: 8.0 * C * C + 5 * C + 0.5],
    answer_name="mlp_parameters",
))


# 06.2 · predict, then measure: which MLP does the model miss most?

def ablation() -> dict[str, float]:
    model, tok = pretrained()
    return mlp_ablation_losses(model, tok, load_corpus().val_text, windows=16)


def a_block(guess) -> int:
    model, _ = pretrained()
    if not isinstance(guess, (int, np.integer)) or isinstance(guess, bool) or not 0 <= guess < model.config.n_layer:
        raise Wrong(f"a prediction here is a block number, 0 to {model.config.n_layer - 1}; got {describe(guess)}")
    return int(guess)


def reveal_worst_block(guess: int) -> str:
    losses = ablation()
    single = {int(name.rsplit(" ", 1)[1]): loss for name, loss in losses.items() if name.startswith("no MLP in")}
    worst = max(single, key=single.get)
    listed = ", ".join(f"block {b}: {loss:.2f}" for b, loss in single.items())
    verdict = "your prediction is right" if guess == worst else f"the measurement says block {worst}"
    return (f"the loss with one MLP removed ({listed}; full model {losses['full model']:.2f}): {verdict}. "
            "The later blocks were trained on what block 0's MLP writes into the stream; without it they receive "
            "vectors unlike any they saw, and the model does worse than guessing uniformly.")


register(Exercise(
    id="06.2",
    title="Predict which block's MLP the model misses most, then measure",
    check=prediction(a_block, reveal_worst_block),
    code="prediction = 0  # the block whose MLP you think matters most (0 to 3)",
    explanation="`gptviz.lens.mlp_ablation_losses` switches one MLP off at a time and measures the loss on the held-"
                "out plays. Block 0's MLP is the one the trained model depends on most: the loss jumps from about "
                "1.45 to about 5.9 nats per character.",
    reference=lambda: 0,
    wrong=lambda: [4, -1, "0", 1.5, (0,)],
    answer_name="prediction",
))


# 06.3 · the logit lens: when does the right character reach the top 5?

LINE = "ROMEO:\nBut soft, what light through yonder window"
STAGES = ("embedding", "after block 0", "after block 1", "after block 2", "after block 3")


def top5_hit_rates(line: str = LINE) -> np.ndarray:
    """Per stage: the share of positions whose true next character is among the stage's five favourites."""
    model, tok = pretrained()
    result = logit_lens(model, tok, line)
    top5 = np.argsort(-result.probs[:, :-1], axis=-1)[..., :5]  # (stages, T - 1, 5)
    return (top5 == result.targets[None, :, None]).any(-1).mean(-1)


def first_stage() -> str:
    rates = top5_hit_rates()
    return STAGES[int(np.argmax(rates >= 0.5))] if (rates >= 0.5).any() else "none"


def stage_name(answer) -> str:
    if not isinstance(answer, str) or answer not in STAGES:
        raise Wrong(f"answer with one of the stage names {list(STAGES)}; got {describe(answer)}")
    return answer


register(Exercise(
    id="06.3",
    title="At which stage is the right next character first in the top 5 for half the positions?",
    check=choice(
        first_stage, normalise=stage_name,
        why="{truth} is the first stage whose top 5 holds the true next character at half the positions or more: "
            "one block is enough to turn 'predict yourself' into plausible next letters.",
        mistakes=[
            (lambda answer, truth: answer == "embedding", "Measure it: decoded straight after the embedding, each "
             "character mostly predicts itself, which is rarely the next character."),
            (lambda answer, truth: STAGES.index(answer) > STAGES.index(truth), "A stage can already pass before the "
             "last block: look for the FIRST stage whose share reaches 0.5."),
        ],
        hint="For each stage of lens.logit_lens(model, tok, line), count the positions whose target is among the "
             "five largest probabilities; take the first stage where that share is at least 0.5.",
    ),
    code='''from gptviz import lens
result = lens.logit_lens(model, tok, "ROMEO:\\nBut soft, what light through yonder window")
top5 = np.argsort(-result.probs[:, :-1], axis=-1)[..., :5]           # (stages, T - 1, 5)
hit_rate = (top5 == result.targets[None, :, None]).any(-1).mean(-1)  # one share per stage
stages = ["embedding"] + [f"after block {i}" for i in range(model.config.n_layer)]
answer = stages[int(np.argmax(hit_rate >= 0.5))]''',
    explanation="The logit lens decodes the residual stream after each stage; a position counts as a hit when the "
                "true next character is among that stage's five most probable. The share jumps after the first "
                "block (about 0.75, against about 0.02 for the bare embedding).",
    reference=first_stage,
    wrong=lambda: ["embedding", "after block 3", "block 0", 1],
))


__all__ = ["mlp_parameters", "top5_hit_rates", "first_stage"]
