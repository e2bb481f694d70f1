"""Chapter 08's exercises: write top-p, predict what beam search does, size the KV cache, write a repetition penalty."""

from __future__ import annotations

import numpy as np
import torch

from ..decoding import beam_search, cache_tensor_bytes, filled_cache, sample_texts
from ..sampling import filter_probs, generate, next_token_probs, penalize_repeats, repetition_rate
from .core import Exercise, Wrong, register
from .kinds import describe, function, near, number, prediction, pretrained

CONFIDENT = "ROMEO:\nBut soft, what light through yonder windo"
HESITANT = "ROMEO:\n"


def same_tensor(got, expected) -> bool:
    """True when `got` (a tensor or an array) holds the same numbers as `expected`; Wrong for another shape."""
    if hasattr(got, "detach"):
        got = got.detach().cpu().numpy()
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        raise Wrong(f"the result has shape {got.shape}; it needs one entry per token, shape {expected.shape}")
    return bool(np.allclose(got, expected, atol=1e-6))


def model_probs(text: str) -> torch.Tensor:
    model, tok = pretrained()
    return torch.tensor(next_token_probs(model, tok, text), dtype=torch.float64)


# 08.1 · write top-p

def top_p_reference(probs, p):
    return filter_probs(torch.log(torch.as_tensor(probs, dtype=torch.float64)), 1.0, top_p=p)


def nucleus_without_the_crossing_token(probs, p):
    sorted_probs, order = probs.sort(descending=True)
    keep = sorted_probs.cumsum(0) < p  # stops one token early: the token that reaches p is dropped
    keep[0] = True
    kept = torch.zeros_like(probs).scatter_(0, order, sorted_probs * keep)
    return kept / kept.sum()


def nucleus_not_renormalised(probs, p):
    kept = top_p_reference(probs, p)
    return torch.where(kept > 0, probs, torch.zeros_like(probs))


def above_p(probs, p):
    kept = torch.where(probs >= 1 - p, probs, torch.zeros_like(probs))
    return kept / kept.sum()


def top_p_inputs() -> list[tuple]:
    toy = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    return [(model_probs(HESITANT), 0.9), (model_probs(CONFIDENT), 0.9), (toy, 0.81), (toy, 0.45), (toy, 0.95),
            (toy, 1.0)]


register(Exercise(
    id="08.1",
    title="Write top-p (nucleus) filtering",
    check=function(
        top_p_reference, top_p_inputs, name="top_p_filter", same=same_tensor,
        why="the same nucleus as filter_probs on every input: a hesitant and a confident context, and the edge "
            "cases where p is crossed in the middle of a token's share and p = 1 (everything kept).",
        mistakes=[
            (nucleus_without_the_crossing_token, "You stop one token early: keep the token whose probability makes "
             "the total reach p (the mass of the tokens ranked ABOVE it is still below p)."),
            (nucleus_not_renormalised, "The right tokens, but they do not sum to 1: divide by their total."),
            (above_p, "That keeps every token above a threshold; top-p keeps the favourites, in order, until their "
                      "total reaches p."),
        ],
        hint="Sort the probabilities (descending), take the running total, keep a token while the total of the "
             "tokens before it is below p, then renormalise and put the tokens back in vocabulary order.",
    ),
    code='''def top_p_filter(probs, p):
    sorted_probs, order = probs.sort(descending=True)
    mass_before = sorted_probs.cumsum(0) - sorted_probs  # mass of the tokens ranked above each one
    kept = torch.where(mass_before < p, sorted_probs, torch.zeros_like(sorted_probs))
    kept = torch.zeros_like(probs).scatter(0, order, kept)  # back to vocabulary order
    return kept / kept.sum()''',
    explanation="Top-p keeps the smallest set of favourites whose total reaches p: a token stays when the tokens "
                "ranked above it hold less than p. After a confident context that is one or two tokens; after a "
                "hesitant one, a dozen or more.",
    reference=lambda: top_p_reference,
    wrong=lambda: [nucleus_without_the_crossing_token, nucleus_not_renormalised, above_p, "top_p_filter"],
    answer_name="top_p_filter",
))


# 08.2 · predict, then measure: does beam search repeat like greedy or like sampling?

def greedy_or_sampling(guess) -> str:
    if not isinstance(guess, str) or guess.strip().lower() not in ("greedy", "sampling"):
        raise Wrong(f'the prediction is "greedy" or "sampling", not {describe(guess)}')
    return guess.strip().lower()


def beam_rates() -> dict[str, float]:
    model, tok = pretrained()
    beam, _ = beam_search(model, tok, HESITANT, 200, beam_width=4)
    greedy = generate(model, tok, HESITANT, 200, temperature=0)
    samples = sample_texts(model, tok, HESITANT, 4, 200, temperature=1.0, seed=0)
    return {"beam": repetition_rate(beam), "greedy": repetition_rate(greedy),
            "sampling": float(np.mean([repetition_rate(t) for t in samples]))}


def reveal_beam(guess: str) -> str:
    rates = beam_rates()
    closer = min(("greedy", "sampling"), key=lambda name: abs(rates[name] - rates["beam"]))
    verdict = "as you predicted" if guess == closer else f"not as you predicted: it is closer to {closer}"
    return (f"measured on 200 characters: beam (width 4) repeats {rates['beam']:.0%} of its 10-character pieces, "
            f"greedy {rates['greedy']:.0%}, sampling at T = 1 {rates['sampling']:.0%} on average; {verdict}. "
            "Searching harder for the most likely text finds the same loops greedy falls into (Holtzman et al. 2020).")


register(Exercise(
    id="08.2",
    title="Predict: does beam-search text repeat like greedy text or like sampled text?",
    check=prediction(greedy_or_sampling, reveal_beam),
    code='prediction = "greedy"  # or "sampling": your guess before measuring',
    explanation="Beam search looks for the most likely text, as greedy does, only harder; the most likely text of "
                "this model is a loop, so beam text repeats far more than sampled text.",
    reference=lambda: "greedy",
    wrong=lambda: ["beam", 3, "", None],
    answer_name="prediction",
))


# 08.3 · the size of the cache

READ = 100  # characters the model has read


def cache_bytes_after_reading() -> int:
    model, tok = pretrained()
    text = ("ROMEO:\nBut soft, what light through yonder window breaks? " * 3)[:READ]
    return cache_tensor_bytes(filled_cache(model, tok, text))


def per(factor: float):
    return lambda value, truth: near(value, truth * factor)


register(Exercise(
    id="08.3",
    title="How many bytes does the key/value cache hold after 100 characters?",
    check=number(
        cache_bytes_after_reading,
        why="{truth:,.0f} bytes, the size of the real cache tensors: a key and a value (2) per layer, per position, "
            "each of n_embd float32 numbers (4 bytes).",
        mistakes=[
            (per(0.5), "Half the size: count both keys and values (and 4 bytes per float32 number)."),
            (per(1 / 4), "Too small by 4: did you leave out the layers (each of the 4 keeps its own keys and values) "
                         "or the bytes (4 per float32 number)?"),
            (per(2.56), "That is the size at the full 256-character context; the model has read 100 characters."),
            (per(8), "That is in bits; give bytes (a float32 number takes 4 bytes)."),
        ],
        hint="2 (keys and values) × n_layer × characters read × n_embd × 4 bytes; model.config has the sizes.",
        rel=1e-6,
    ),
    code="c = model.config\n"
         "answer = 2 * c.n_layer * 100 * c.n_embd * 4  # keys and values, per layer and position, float32",
    explanation="A cache entry is a key and a value vector of n_embd numbers for every layer and every position "
                "read. The heads split those vectors but do not add to them.",
    reference=lambda: 2 * pretrained()[0].config.n_layer * READ * pretrained()[0].config.n_embd * 4,
    wrong=lambda: [cache_bytes_after_reading() / 2, cache_bytes_after_reading() / 4, cache_bytes_after_reading() * 8,
                   cache_bytes_after_reading() * 2.56, "153600"],
))


# 08.4 · write a repetition penalty

def penalize_reference(logits, seen_ids, penalty):
    return penalize_repeats(logits, seen_ids, penalty)


def ctrl_divide_all(logits, seen_ids, penalty):
    out = logits.clone()
    seen = list(set(seen_ids))
    out[seen] = logits[seen] / penalty
    return out


def penalize_the_unseen(logits, seen_ids, penalty):
    out = logits.clone()
    unseen = [i for i in range(len(logits)) if i not in set(seen_ids)]
    out[unseen] = torch.where(logits[unseen] > 0, logits[unseen] / penalty, logits[unseen] * penalty)
    return out


def subtract_penalty(logits, seen_ids, penalty):
    out = logits.clone()
    seen = list(set(seen_ids))
    out[seen] = logits[seen] - penalty
    return out


def penalty_inputs() -> list[tuple]:
    model, tok = pretrained()
    prompt = "ROMEO:\nWhat light is "
    logits = torch.log(model_probs(prompt)) + 1.5  # logits up to a shift: some positive, most negative
    return [(logits, tok.encode(prompt), 1.3), (torch.tensor([2.0, -1.0, 0.5, -3.0]), [0, 1, 1], 2.0),
            (torch.tensor([2.0, -1.0, 0.5, -3.0]), [], 2.0), (logits, tok.encode(prompt), 1.0)]


register(Exercise(
    id="08.4",
    title="Write a repetition penalty",
    check=function(
        penalize_reference, penalty_inputs, name="penalize", same=same_tensor,
        why="the same as gptviz.sampling.penalize_repeats on every input, a repeated id, no id and penalty 1 "
            "included: every seen token moves down, whatever the sign of its logit.",
        mistakes=[
            (ctrl_divide_all, "Dividing a negative logit by the penalty brings it closer to 0, so the token becomes "
                              "MORE likely: multiply negative logits instead (CTRL's formula has this flaw)."),
            (penalize_the_unseen, "You pushed down the tokens NOT yet in the text; the penalty is for the seen ones."),
            (subtract_penalty, "Subtracting is another penalty; this one divides positive logits by `penalty` and "
                               "multiplies negative ones."),
        ],
        hint="For each id in seen_ids: a positive logit is divided by penalty, a negative one multiplied by it; "
             "return a new tensor.",
    ),
    code='''def penalize(logits, seen_ids, penalty):
    out = logits.clone()
    seen = sorted(set(seen_ids))
    out[seen] = torch.where(logits[seen] > 0, logits[seen] / penalty, logits[seen] * penalty)
    return out''',
    explanation="Keskar et al. (2019) divide the logit of every token already in the text by a penalty of about "
                "1.2; multiplying the negative ones instead makes sure they too become less likely.",
    reference=lambda: penalize_reference,
    wrong=lambda: [ctrl_divide_all, penalize_the_unseen, subtract_penalty, 1.3],
    answer_name="penalize",
))
