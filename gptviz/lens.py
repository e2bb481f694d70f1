"""Inside a block: what the feed-forward networks hold, what they compute, and what each layer adds.

- `parameter_groups`: where the model's parameters are (the MLPs hold most of them).
- `logit_lens`: read the residual stream after every block as if it were the last one
  (final layer norm, then the unembedding), to see the prediction take shape layer by layer.
- `mlp_activations`, `context_selectivity`, `find_context_neurons`: the hidden units of the MLPs,
  and a measurement of which of them fire on a given kind of context.
- `mlp_ablation_losses`: the validation loss with feed-forward networks switched off.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .ablation import MeanActivations, ablated, mean_activations
from .checks import check_int
from .model import evaluating
from .trace import inspect

# ---------------------------------------------------------------- parameters

def parameter_groups(model) -> dict[str, int]:
    """Number of parameters in each part of the model; the tied output layer is counted once, as the embedding."""
    groups = {"token embedding": 0, "position embedding": 0, "attention": 0, "feed-forward (MLP)": 0,
              "layer norms": 0}
    seen = set()
    for name, p in model.named_parameters():  # named_parameters lists a tied tensor once
        if id(p) in seen:
            continue
        seen.add(id(p))
        if name.startswith("wte"):
            groups["token embedding"] += p.numel()
        elif name.startswith("wpe"):
            groups["position embedding"] += p.numel()
        elif ".attn." in name:
            groups["attention"] += p.numel()
        elif ".mlp." in name:
            groups["feed-forward (MLP)"] += p.numel()
        elif ".ln_" in name or name.startswith("ln_f"):
            groups["layer norms"] += p.numel()
        else:
            raise ValueError(f"parameter {name} belongs to no known group")
    return groups


def parameter_groups_for(vocab_size: int, block_size: int, n_embd: int, n_layer: int,
                         learned_positions: bool = True) -> dict[str, int]:
    """`parameter_groups` computed from a GPT-2-style config alone (tied output layer, 4x MLP, biases everywhere):
    the same counts for our model, and for GPT-2 small (50257, 1024, 768, 12) the 124 M of Radford et al. (2019)."""
    C = n_embd
    return {"token embedding": vocab_size * C, "position embedding": block_size * C if learned_positions else 0,
            "attention": n_layer * (4 * C * C + 4 * C),  # c_attn (C -> 3C) and c_proj (C -> C), with biases
            "feed-forward (MLP)": n_layer * (8 * C * C + 5 * C),  # c_fc (C -> 4C) and c_proj (4C -> C), with biases
            "layer norms": (2 * n_layer + 1) * 2 * C}


def mlp_share(model) -> float:
    """Fraction of all parameters that sit in the feed-forward networks."""
    groups = parameter_groups(model)
    return groups["feed-forward (MLP)"] / sum(groups.values())


@torch.no_grad()
def permutation_gap(layer, x: torch.Tensor, perm: torch.Tensor) -> float:
    """Largest difference between layer(x[:, perm]) and layer(x)[:, perm], for x (B, T, C).

    0 for a position-wise layer (the MLP): shuffling the positions only shuffles its outputs. A layer that mixes
    positions (attention) gives another answer for a shuffled input."""
    with evaluating(layer):
        whole, shuffled = _output(layer(x)), _output(layer(x[:, perm]))
    return float((shuffled - whole[:, perm]).abs().max())


def _output(result):
    """A module's output tensor (attention returns (output, weights))."""
    return result[0] if isinstance(result, tuple) else result


# ---------------------------------------------------------------- logit lens

@dataclass
class Lens:
    """Next-token distributions read from the residual stream after the embedding and after each block."""

    tokens: list[str]  # the T input tokens
    probs: np.ndarray  # (n_layer + 1, T, vocab_size)
    targets: np.ndarray  # (T - 1,) id of the token that actually follows positions 0..T-2

    @property
    def target_probs(self) -> np.ndarray:
        """(n_layer + 1, T - 1): probability each stage gives to the token that really comes next."""
        T = len(self.tokens)
        return self.probs[:, np.arange(T - 1), self.targets]

    @property
    def losses(self) -> np.ndarray:
        """(n_layer + 1,): cross-entropy of each stage's prediction, averaged over the text (nats per token)."""
        return -np.log(np.maximum(self.target_probs, 1e-12)).mean(axis=1)


@torch.no_grad()
def decode_hidden(model, hidden) -> np.ndarray:
    """Next-token probabilities from residual-stream states (..., n_embd): final norm, then unembedding."""
    h = torch.as_tensor(np.asarray(hidden), dtype=torch.float32, device=model.device)
    logits = model.lm_head(model.ln_f(h))
    return torch.softmax(logits.double(), dim=-1).cpu().numpy()


def logit_lens(model, tokenizer, text: str) -> Lens:
    """Decode the residual stream after every block of `text` (at most block_size characters)."""
    trace = inspect(model, tokenizer, text)
    return Lens(tokens=trace.tokens, probs=decode_hidden(model, trace.hidden), targets=np.asarray(trace.ids[1:]))


def lens_losses(model, tokenizer, text: str) -> np.ndarray:
    """(n_layer + 1,) logit-lens loss per stage over a text of any length, cut into block_size windows."""
    block = model.config.block_size
    windows = [text[i : i + block] for i in range(0, len(text) - 1, block)]
    windows = [w for w in windows if len(w) >= 2]
    if not windows:
        raise ValueError("text must have at least 2 characters")
    weights = np.array([len(w) - 1 for w in windows], dtype=float)
    losses = np.stack([logit_lens(model, tokenizer, w).losses for w in windows])
    return (losses * weights[:, None]).sum(0) / weights.sum()


# ---------------------------------------------------------------- neurons

@torch.no_grad()
def mlp_activations(model, tokenizer, text: str) -> np.ndarray:
    """(n_layer, len(text), 4 * n_embd): every MLP hidden unit (after GELU) at every position.

    A text longer than block_size is read in consecutive block_size windows.
    """
    if not text:
        raise ValueError("text must contain at least one character")
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long, device=model.device)
    captured: list[list[torch.Tensor]] = [[] for _ in model.blocks]
    hooks = [block.mlp.gelu.register_forward_hook(lambda _m, _i, out, layer=layer: captured[layer].append(out[0]))
             for layer, block in enumerate(model.blocks)]
    try:
        with evaluating(model):
            for start in range(0, len(ids), model.config.block_size):
                model(ids[start : start + model.config.block_size][None])
    finally:
        for hook in hooks:
            hook.remove()
    return torch.stack([torch.cat(chunks) for chunks in captured]).cpu().numpy()


_NAME_WORD = r"(?:[A-Z][A-Za-z.'-]*|&|of|de|the)"  # ROMEO, Ghost, First, &, KING OF FRANCE, Jaques de Boys
SPEAKER_LINE = re.compile(rf"(?:\A|(?<=\n\n)){_NAME_WORD}(?: {_NAME_WORD})*:$", flags=re.MULTILINE)
"""A speaker line: after a blank line, a name whose every word is capitalised ('ROMEO:', 'Ghost:', 'First Clown:'),
then ':' and the end of the line. A verse line ending in ':' after a blank line ('I talk of you:') is not one."""


def _speaker_lines(text: str) -> np.ndarray:
    """True for every character on a speaker line such as 'ROMEO:' or 'Ghost:'."""
    mask = np.zeros(len(text), dtype=bool)
    for m in SPEAKER_LINE.finditer(text):
        mask[m.start() : m.end()] = True
    return mask


def _context_speaker_name(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Capital letters in a speaker's name, against capital letters anywhere else."""
    chars = np.array(list(text))
    capital = np.char.isupper(chars)
    return _speaker_lines(text) & capital, capital


def _context_speaker_newline(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The newline that ends a speaker line (a speech follows), against every other newline."""
    chars = np.array(list(text))
    newline = chars == "\n"
    after_name = np.zeros(len(text), dtype=bool)
    after_name[1:] = _speaker_lines(text)[:-1]
    return newline & after_name, newline


def _context_word_start(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Lower-case letters that start a word, against lower-case letters inside a word."""
    chars = np.array(list(text))
    lower = np.char.islower(chars)
    previous_letter = np.zeros(len(text), dtype=bool)
    previous_letter[1:] = np.char.isalpha(chars[:-1])
    return lower & ~previous_letter, lower


CONTEXTS: dict[str, Callable[[str], tuple[np.ndarray, np.ndarray]]] = {
    "speaker name": _context_speaker_name,
    "end of a speaker line": _context_speaker_newline,
    "start of a word": _context_word_start,
}
"""Each context returns (positive, among): the positions in the context, and the positions compared.
Comparing like with like (capitals with capitals, newlines with newlines) means a neuron can only
tell them apart by using the context, not the current character alone."""


def context_labels(text: str, context: str) -> tuple[np.ndarray, np.ndarray]:
    """(positive, among) boolean masks over the characters of `text` for a named context."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {list(CONTEXTS)}, got {context!r}")
    return CONTEXTS[context](text)


def auc_scores(activations: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Area under the ROC curve of every column of `activations` (n, units) as a detector of `positive` (n,).

    1 = the unit is always higher on positive positions, 0.5 = no better than chance, 0 = always lower.
    """
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        raise ValueError("positive must contain both True and False entries")
    ranks = np.argsort(np.argsort(activations, axis=0, kind="stable"), axis=0) + 1.0  # ranks 1..n per unit
    return (ranks[positive].sum(0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def context_selectivity(activations: np.ndarray, positive: np.ndarray, among: np.ndarray) -> np.ndarray:
    """(n_layer, units) AUC of every neuron for `positive` positions, compared only within `among`."""
    L, T, U = activations.shape
    if positive.shape != (T,) or among.shape != (T,):
        raise ValueError(f"positive and among must have shape ({T},)")
    flat = activations[:, among].transpose(1, 0, 2).reshape(int(among.sum()), L * U)
    return auc_scores(flat, positive[among]).reshape(L, U)


def _previous_is(text: str, allowed) -> np.ndarray:
    """True where the previous character passes `allowed` (a set of characters or a test on one)."""
    test = allowed if callable(allowed) else allowed.__contains__
    return np.array([i > 0 and test(text[i - 1]) for i in range(len(text))], dtype=bool)


def _after_blank_line(text: str) -> np.ndarray:
    """True on every character of a line that follows a blank line (where speaker names stand)."""
    mask, start = np.zeros(len(text), dtype=bool), 0
    for line in text.split("\n"):
        mask[start : start + len(line)] = start >= 2 and text[start - 2 : start] == "\n\n"
        start += len(line) + 1
    return mask


RULES: dict[str, tuple[str, Callable[[str], np.ndarray]]] = {
    "speaker name": ("the line follows a blank line", lambda text: _after_blank_line(text)),
    "end of a speaker line": ("the previous character is ':'", lambda text: _previous_is(text, {":"})),
    "start of a word": ("the previous character is a space", lambda text: _previous_is(text, {" "})),
}
"""A one-rule baseline per context: a yes/no test on what came before, which a neuron must beat to
show that it reads more than that one cue."""


def rule_auc(rule: np.ndarray, positive: np.ndarray, among: np.ndarray) -> float:
    """AUC of a yes/no rule as a detector of `positive` within `among`: (1 + hit rate − false-alarm rate) / 2."""
    rule, positive, among = (np.asarray(a, dtype=bool) for a in (rule, positive, among))
    pos, neg = positive & among, ~positive & among
    if not pos.any() or not neg.any():
        raise ValueError("positive must mark some but not all of the positions in among")
    return float((1 + rule[pos].mean() - rule[neg].mean()) / 2)


def auc_where_rule_ties(activation: np.ndarray, rule: np.ndarray, positive: np.ndarray,
                        among: np.ndarray) -> float | None:
    """A neuron's AUC over only the (positive, negative) pairs that the rule cannot rank (it says the same for both):
    what the neuron knows beyond the rule. None when the rule ranks every pair."""
    activation, rule = np.asarray(activation, dtype=float), np.asarray(rule, dtype=bool)
    total, weight = 0.0, 0
    for value in (True, False):
        group = among & (rule == value)
        pairs = int((positive & group).sum() * (~positive & group).sum())
        if pairs:
            total += pairs * float(auc_scores(activation[group][:, None], positive[group])[0])
            weight += pairs
    return total / weight if weight else None


@dataclass
class RuleComparison:
    """A context neuron beside the one-rule baseline for its context, on the same text."""

    context: str
    rule: str  # the rule, in words
    rule_auc: float
    neuron_auc: float
    neuron_auc_on_ties: float | None  # the neuron on the pairs the rule cannot rank
    tied_share: float  # share of all (positive, negative) pairs the rule cannot rank


def compare_with_rules(neurons, activations: np.ndarray, text: str) -> list[RuleComparison]:
    """For each ContextNeuron, its AUC on `text` (activations from `mlp_activations`) beside its context's rule."""
    rows = []
    for n in neurons:
        positive, among = context_labels(text, n.context)
        description, rule_of = RULES[n.context]
        rule = rule_of(text)
        a = activations[n.layer, :, n.unit]
        pos, neg = positive & among, ~positive & among
        tied = sum(int((pos & (rule == v)).sum() * (neg & (rule == v)).sum()) for v in (True, False))
        rows.append(RuleComparison(n.context, description, rule_auc(rule, positive, among),
                                   float(auc_scores(a[among][:, None], positive[among])[0]),
                                   auc_where_rule_ties(a, rule, positive, among), tied / (pos.sum() * neg.sum())))
    return rows


@dataclass
class ContextNeuron:
    """A neuron found to respond to a context, with its score on the text it was found on and a fresh one."""

    context: str
    layer: int
    unit: int
    auc_found: float  # on the text used to pick it (optimistic: the best of many)
    auc_check: float  # on a different text (the honest figure)


def find_context_neurons(model, tokenizer, search_text: str, check_text: str,
                         contexts=tuple(CONTEXTS)) -> list[ContextNeuron]:
    """For each context, the MLP neuron that best separates it on `search_text`, re-measured on `check_text`."""
    search_acts = mlp_activations(model, tokenizer, search_text)
    check_acts = mlp_activations(model, tokenizer, check_text)
    found = []
    for context in contexts:
        scores = context_selectivity(search_acts, *context_labels(search_text, context))
        layer, unit = np.unravel_index(np.argmax(scores), scores.shape)
        check = context_selectivity(check_acts[:, :, [unit]], *context_labels(check_text, context))[layer, 0]
        found.append(ContextNeuron(context, int(layer), int(unit), float(scores[layer, unit]), float(check)))
    return found


def top_contexts(text: str, activation: np.ndarray, k: int = 5, width: int = 12,
                 among: np.ndarray | None = None) -> list[tuple[str, float]]:
    """The k snippets of `text` ending where `activation` (len(text),) is highest: (snippet, activation).

    `among` (a boolean mask) restricts the search to those positions.
    """
    activation = np.asarray(activation, dtype=float)
    if len(activation) != len(text):
        raise ValueError(f"activation must have one value per character ({len(text)}), got {len(activation)}")
    if among is not None:
        activation = np.where(among, activation, -np.inf)
    picked: list[int] = []
    for i in np.argsort(-activation, kind="stable"):
        if np.isneginf(activation[i]):
            break
        if all(abs(i - j) > width // 2 for j in picked):  # avoid near-duplicate snippets
            picked.append(int(i))
        if len(picked) == k:
            break
    return [(text[max(0, i - width + 1) : i + 1], float(activation[i])) for i in picked]


# ---------------------------------------------------------------- ablation

@torch.no_grad()
def text_loss(model, tokenizer, text: str, windows: int = 16) -> float:
    """Mean next-token loss on `windows` evenly spaced block_size windows of `text` (no randomness)."""
    block = model.config.block_size
    if len(text) < block + 1:
        raise ValueError(f"text has {len(text)} characters; it needs at least block_size + 1 = {block + 1}")
    windows = check_int("windows", windows, low=1)
    starts = np.linspace(0, len(text) - block - 1, windows).astype(int)
    batch = torch.tensor([tokenizer.encode(text[s : s + block + 1]) for s in starts], device=model.device)
    with evaluating(model):
        logits, _ = model(batch[:, :-1])  # (windows, block, vocab_size)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1)).item()


def mlp_ablation_losses(model, tokenizer, text: str, windows: int = 16, mode: str = "zero",
                        reference=None) -> dict[str, float]:
    """Loss of the full model, with each layer's MLP switched off alone, and with every MLP off.

    mode "zero" (default) removes an MLP's output; mode "mean" replaces it with its average over `reference`
    (token ids, or `gptviz.ablation.mean_activations`), which keeps its typical contribution and removes only
    what depends on the input."""
    n_layer = model.config.n_layer
    if mode == "mean" and reference is not None and not isinstance(reference, MeanActivations):
        reference = mean_activations(model, reference)  # measured once for all the conditions
    losses = {"full model": text_loss(model, tokenizer, text, windows)}
    for layer in range(n_layer):
        with ablated(model, mlps=[layer], mode=mode, reference=reference):
            losses[f"no MLP in block {layer}"] = text_loss(model, tokenizer, text, windows)
    with ablated(model, mlps=range(n_layer), mode=mode, reference=reference):
        losses["no MLPs at all"] = text_loss(model, tokenizer, text, windows)
    return losses


__all__ = [
    "CONTEXTS", "RULES", "SPEAKER_LINE", "ContextNeuron", "RuleComparison", "auc_where_rule_ties", "compare_with_rules",
    "rule_auc", "Lens", "auc_scores", "context_labels", "context_selectivity", "decode_hidden",
    "find_context_neurons", "lens_losses", "logit_lens", "mlp_ablation_losses", "mlp_activations", "mlp_share",
    "parameter_groups", "parameter_groups_for", "permutation_gap", "text_loss", "top_contexts",
]
