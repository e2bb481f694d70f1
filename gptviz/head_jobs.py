"""What each head is needed for: switch it off and see which kinds of prediction get worse.

A head with a job costs loss on the predictions that job serves (the previous-character head on the second letter
of a word, the line-start head at the end of a line); two heads do different jobs when each hurts a kind of
prediction the other spares (a double dissociation). `direct_and_total` separates a head's own path to the logits
from its effect through the layers above.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from .ablation import MeanActivations, ablated, mean_activations
from .model import evaluating

POSITION_CLASSES = ("1st letter", "2nd letter", "3rd letter", "4th+ letter", "space", "punctuation", "line end")
POSITION_RULES = {
    "1st letter": "the first letter of a word",
    "2nd letter": "the second letter of a word",
    "3rd letter": "the third letter of a word",
    "4th+ letter": "the fourth letter of a word or later",
    "space": "a space",
    "punctuation": "any other character that is not a letter, a space or a newline",
    "line end": "the newline that ends a line",
}


def position_classes(ids: torch.Tensor, tokenizer) -> dict[str, np.ndarray]:
    """For windows of ids (B, T): which of the T - 1 predicted characters (ids[:, 1:]) fall in each class."""
    chars = np.array(tokenizer.chars, dtype=object)[np.asarray(ids)]  # (B, T)
    letter = np.vectorize(str.isalpha, otypes=[bool])(chars)
    in_word = np.zeros(chars.shape, dtype=int)  # 1 for a word's first letter, 2 for its second, ...
    for t in range(chars.shape[1]):
        in_word[:, t] = np.where(letter[:, t], (in_word[:, t - 1] if t else 0) + 1, 0)
    target, place = chars[:, 1:], in_word[:, 1:]
    return {
        "1st letter": place == 1, "2nd letter": place == 2, "3rd letter": place == 3, "4th+ letter": place >= 4,
        "space": target == " ", "punctuation": (place == 0) & (target != " ") & (target != "\n"),
        "line end": target == "\n",
    }


@torch.no_grad()
def position_losses(model, ids: torch.Tensor) -> np.ndarray:
    """The loss at every predicted position: (B, T - 1) for windows ids (B, T), predicting ids[:, 1:]."""
    with evaluating(model):
        logits, _ = model(ids[:, :-1].to(model.device))
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:].to(model.device),
                                                   reduction="none")
    return losses.double().cpu().numpy()


@dataclass
class PositionDamage:
    """Loss increase caused by ablating each head, on each class of predicted character."""

    classes: tuple[str, ...]
    share: np.ndarray  # (n_class,): how often each class occurs among the predicted characters
    base: np.ndarray  # (n_class,): the model's loss on each class, every head on
    damage: np.ndarray  # (n_layer, n_head, n_class): mean loss increase on the class with that head ablated
    overall: np.ndarray  # (n_layer, n_head): mean loss increase over all positions
    mode: str


def ablation_by_position(model, tokenizer, ids: torch.Tensor, mode: str = "zero", reference=None) -> PositionDamage:
    """Ablate each head in turn ("zero" or "mean", see gptviz.ablation) and measure the loss on each class."""
    classes = position_classes(ids, tokenizer)
    base = position_losses(model, ids)
    cfg = model.config
    damage = np.zeros((cfg.n_layer, cfg.n_head, len(POSITION_CLASSES)))
    overall = np.zeros((cfg.n_layer, cfg.n_head))
    if mode == "mean" and reference is not None and not isinstance(reference, MeanActivations):
        reference = mean_activations(model, reference)  # once, not once per head
    for layer, head in np.ndindex(cfg.n_layer, cfg.n_head):
        with ablated(model, heads=[(layer, head)], mode=mode, reference=reference):
            delta = position_losses(model, ids) - base
        overall[layer, head] = delta.mean()
        damage[layer, head] = [delta[classes[c]].mean() if classes[c].any() else np.nan for c in POSITION_CLASSES]
    share = np.array([classes[c].mean() for c in POSITION_CLASSES])
    base_by_class = np.array([base[classes[c]].mean() if classes[c].any() else np.nan for c in POSITION_CLASSES])
    return PositionDamage(POSITION_CLASSES, share, base_by_class, damage, overall, mode)


@dataclass
class Jobs:
    """Heads that are needed for different predictions: each pair is doubly dissociated."""

    heads: list[tuple[int, int]]  # the largest such set found
    witness: dict  # {(head_a, head_b): (class_a, class_b, ratio)}: a hurts class_a more, b hurts class_b more
    candidates: list[tuple[int, int]]  # heads whose ablation costs at least min_effect on some class


def dissociation(damage_a: np.ndarray, damage_b: np.ndarray, classes, min_effect: float) -> tuple[str, str, float]:
    """The strongest crossover between two heads' damage profiles (n_class,): classes x, y and the ratio
    (a[x] / a[y]) * (b[y] / b[x]), over x, y with a[x] > a[y], b[y] > b[x] and a[x], b[y] >= min_effect.
    Damage below min_effect / 5 counts as min_effect / 5 (a head that does not matter there). ratio 0: none."""
    floor = min_effect / 5
    a, b = np.maximum(damage_a, floor), np.maximum(damage_b, floor)
    best = ("", "", 0.0)
    for x, y in np.ndindex(len(classes), len(classes)):
        if a[x] > a[y] and b[y] > b[x] and damage_a[x] >= min_effect and damage_b[y] >= min_effect:
            ratio = float(a[x] / a[y] * b[y] / b[x])
            if ratio > best[2]:
                best = (classes[x], classes[y], ratio)
    return best


def distinct_jobs(result: PositionDamage, min_effect: float = 0.05, min_ratio: float = 3.0, among=None) -> Jobs:
    """The largest set of heads whose ablations hurt different predictions, every pair doubly dissociated:
    head a costs more on class x than on class y, head b the reverse, by a combined factor of at least
    `min_ratio`, each costing at least `min_effect` nats on its class. A model whose heads all do the same
    job (or none) gives a set of at most one head. `among`: only these (layer, head) are considered."""
    if min_effect <= 0 or min_ratio <= 1:
        raise ValueError(f"min_effect must be > 0 and min_ratio > 1, got {min_effect} and {min_ratio}")
    damage = np.nan_to_num(result.damage, nan=0.0)
    n_layer, n_head, _ = damage.shape
    allowed = None if among is None else {(int(la), int(h)) for la, h in among}
    candidates = [(la, h) for la, h in np.ndindex(n_layer, n_head)
                  if damage[la, h].max() >= min_effect and (allowed is None or (la, h) in allowed)]
    witness = {}
    for i, a in enumerate(candidates):
        for b in candidates[i + 1:]:
            found = dissociation(damage[a], damage[b], result.classes, min_effect)
            if found[2] >= min_ratio:
                witness[a, b] = witness[b, a] = found
    best: list = candidates[:1]
    for size in range(2, len(candidates) + 1):  # few candidates: trying every subset is cheap
        found = next((list(group) for group in itertools.combinations(candidates, size)
                      if all((a, b) in witness for a, b in itertools.combinations(group, 2))), None)
        if found is None:
            break
        best = found
    return Jobs(best, {pair: witness[pair] for pair in itertools.combinations(best, 2)}, candidates)


@torch.no_grad()
def direct_and_total(model, ids: torch.Tensor, heads, mode: str = "zero", reference=None) -> dict:
    """For each (layer, head): the loss increase when it is ablated everywhere ("total"), and when it is removed
    only from the final residual stream, the path straight to the logits, with every later layer still reading
    it ("direct"). total < direct: the rest of the network makes up for part of the loss; total > direct: later
    layers build on the head. Returns {(layer, head): (direct, total)}."""
    means = None
    if mode == "mean":
        means = reference if isinstance(reference, MeanActivations) else mean_activations(model, reference)
    elif mode != "zero":
        raise ValueError(f"mode must be 'zero' or 'mean', got {mode!r}")
    cfg = model.config
    hs = cfg.n_embd // cfg.n_head
    inputs, captured = ids[:, :-1].to(model.device), {}
    handles = [block.attn.c_proj.register_forward_pre_hook(
        lambda _m, args, layer=layer: captured.__setitem__(layer, args[0])) for layer, block in enumerate(model.blocks)]
    handles.append(model.ln_f.register_forward_pre_hook(lambda _m, args: captured.__setitem__("final", args[0])))
    targets = ids[:, 1:].to(model.device)
    try:
        with evaluating(model):
            base = model(inputs, targets)[1].item()
    finally:
        for handle in handles:
            handle.remove()
    out = {}
    for layer, head in heads:
        weight = model.blocks[layer].attn.c_proj.weight[:, head * hs:(head + 1) * hs]  # (C, hs)
        part = captured[layer][..., head * hs:(head + 1) * hs]  # (B, T, hs): this head's output
        replacement = 0.0 if means is None else means.heads[layer, head].to(part)
        residual = captured["final"] - (part - replacement) @ weight.T  # (B, T, C)
        logits = model.lm_head(model.ln_f(residual))
        direct = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets).item() - base
        with evaluating(model), ablated(model, heads=[(layer, head)], mode=mode, reference=means):
            total = model(inputs, targets)[1].item() - base
        out[layer, head] = (direct, total)
    return out


__all__ = ["POSITION_CLASSES", "POSITION_RULES", "position_classes", "position_losses", "PositionDamage",
           "ablation_by_position", "Jobs", "dissociation", "distinct_jobs", "direct_and_total"]
