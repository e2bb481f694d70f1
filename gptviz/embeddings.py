"""The learned character embeddings: a 2-D picture of them, and measurements of how they group.

The picture (`project`) is a principal-component projection: the two directions along which
the embedding vectors differ most. A projection can mislead, so the grouping is measured in
the full space: `neighbour_agreement` counts how often a character's nearest neighbour is of
the same kind (vowel with vowel, capital with capital...), next to what random placement would give.

`frequency_direction` measures why the picture's first axis sorts characters by frequency: the output
layer is the embedding table itself (weight tying) with no bias, so a character's baseline score can
only come from the dot product of its row with the part of the final vector that every position shares.
"""

from __future__ import annotations

import string
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .model import evaluating

GROUPS = ("vowels", "consonants", "capitals", "digits", "punctuation", "whitespace")


def embedding_matrix(model) -> np.ndarray:
    """The token embedding table of a GPT as a (vocab_size, n_embd) array."""
    return model.wte.weight.detach().cpu().double().numpy()


def char_group(char: str) -> str:
    """Which of GROUPS a single character belongs to."""
    if len(char) != 1:
        raise ValueError(f"char must be a single character, got {char!r}")
    if char in "aeiou":
        return "vowels"
    if char in string.ascii_lowercase:
        return "consonants"
    if char in string.ascii_uppercase:
        return "capitals"
    if char.isdigit():
        return "digits"
    if char.isspace():
        return "whitespace"
    return "punctuation"


def char_groups(chars) -> list[str]:
    """The group of every character of the vocabulary, in vocabulary order."""
    return [char_group(c) for c in chars]


@dataclass
class Projection:
    coords: np.ndarray  # (n, k) coordinates on the top-k principal directions
    explained: np.ndarray  # (k,) share of the total variance each direction carries


def project(vectors, k: int = 2) -> Projection:
    """Principal-component projection of the rows of `vectors` to k dimensions (via torch.pca_lowrank's SVD)."""
    vectors = np.asarray(vectors, dtype=float)
    if vectors.ndim != 2 or vectors.shape[0] < 2:
        raise ValueError(f"vectors must be a 2-D array with at least two rows, got shape {vectors.shape}")
    if not isinstance(k, int) or not 1 <= k <= min(vectors.shape):
        raise ValueError(f"k must be an integer in 1..{min(vectors.shape)}, got {k!r}")
    centred = vectors - vectors.mean(0)
    _, s, vh = np.linalg.svd(centred, full_matrices=False)  # exact, so the picture is the same on every machine
    coords = centred @ vh[:k].T
    signs = np.sign(coords[np.abs(coords).argmax(0), np.arange(k)])  # fix each axis's sign for reproducibility
    return Projection(coords * signs, (s[:k] ** 2) / (s**2).sum())


def pca_lowrank_check(vectors, k: int = 2) -> np.ndarray:
    """The same top-k directions from torch.pca_lowrank (randomised), as (k, n_embd) rows; for the tests."""
    _, _, v = torch.pca_lowrank(torch.as_tensor(np.asarray(vectors, dtype=float)), q=k + 4, center=True, niter=8)
    return v[:, :k].T.numpy()


def cosine_similarity(vectors) -> np.ndarray:
    """(n, n) cosine similarity between the rows of `vectors`."""
    vectors = np.asarray(vectors, dtype=float)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
    return unit @ unit.T


def neighbour_agreement(vectors, labels) -> tuple[float, float]:
    """Share of rows whose nearest other row (by cosine) has the same label, and that share for random rows."""
    labels = np.asarray(labels)
    if len(labels) != len(vectors) or len(labels) < 2:
        raise ValueError(f"labels must give one label per row of vectors ({len(vectors)}), got {len(labels)}")
    sim = cosine_similarity(vectors)
    np.fill_diagonal(sim, -np.inf)
    agree = float((labels[sim.argmax(1)] == labels).mean())
    n = len(labels)
    sizes = np.array([np.sum(labels == g) for g in np.unique(labels)])
    chance = float((sizes * (sizes - 1)).sum() / (n * (n - 1)))  # chance a random other row shares the label
    return agree, chance


def centroid_accuracy(vectors, labels) -> tuple[float, float]:
    """Leave-one-out nearest-centroid classification by cosine: the share of rows whose own group's centre
    (computed without them) is the most similar, and the share got by always answering the biggest group."""
    labels = np.asarray(labels)
    if len(labels) != len(vectors) or len(labels) < 2:
        raise ValueError(f"labels must give one label per row of vectors ({len(vectors)}), got {len(labels)}")
    vectors = np.asarray(vectors, dtype=float)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
    groups = list(dict.fromkeys(labels.tolist()))
    sums = {g: unit[labels == g].sum(0) for g in groups}
    sizes = {g: int((labels == g).sum()) for g in groups}
    correct = 0
    for i, own in enumerate(labels.tolist()):
        best, best_sim = None, -np.inf
        for g in groups:
            total, n = (sums[g] - unit[i], sizes[g] - 1) if g == own else (sums[g], sizes[g])
            if n == 0:
                continue
            sim = unit[i] @ total / max(np.linalg.norm(total), 1e-12)
            if sim > best_sim:
                best, best_sim = g, sim
        correct += best == own
    return correct / len(labels), max(sizes.values()) / len(labels)


def nearest_characters(vectors, chars, char: str, k: int = 5) -> list[tuple[str, float]]:
    """The k characters whose embeddings are most similar (cosine) to that of `char`, with the similarity."""
    chars = list(chars)
    if char not in chars:
        raise ValueError(f"char must be one of the vocabulary's characters, got {char!r}")
    if not isinstance(k, int) or not 1 <= k < len(chars):
        raise ValueError(f"k must be an integer in 1..{len(chars) - 1}, got {k!r}")
    sim = cosine_similarity(vectors)[chars.index(char)]
    order = [j for j in np.argsort(-sim, kind="stable") if chars[j] != char][:k]
    return [(chars[j], float(sim[j])) for j in order]


def group_cohesion(vectors, labels) -> dict[str, tuple[float, float]]:
    """For each label with two or more members: (mean cosine within the group, mean cosine to everyone else)."""
    labels = np.asarray(labels)
    sim = cosine_similarity(vectors)
    out = {}
    for group in dict.fromkeys(labels.tolist()):
        inside = labels == group
        if inside.sum() < 2:
            continue
        within = sim[np.ix_(inside, inside)][~np.eye(inside.sum(), dtype=bool)].mean()
        out[group] = (float(within), float(sim[np.ix_(inside, ~inside)].mean()))
    return out


def case_offset_alignment(vectors, chars) -> tuple[float, float]:
    """Mean cosine between the offsets embedding(X) - embedding(x) over letter pairs, and between random offsets.

    If the model has a 'capital letter' direction, the offsets of A-a, B-b, ... point the same way.
    The baseline: the same measure for offsets between unrelated lowercase letters (b-a, d-c, ...).
    """
    index = {c: i for i, c in enumerate(chars)}
    letters = [c for c in string.ascii_lowercase if c in index and c.upper() in index]
    if len(letters) < 4:
        raise ValueError("chars must contain at least four letters in both cases")
    vectors = np.asarray(vectors, dtype=float)
    upper = vectors[[index[c.upper()] for c in letters]]
    lower = vectors[[index[c] for c in letters]]
    half = len(letters) // 2
    unrelated = lower[1 : 2 * half : 2] - lower[0 : 2 * half : 2]  # disjoint pairs, so no offset shares a letter
    return _mean_pairwise_cosine(upper - lower), _mean_pairwise_cosine(unrelated)


def _mean_pairwise_cosine(offsets) -> float:
    sim = cosine_similarity(offsets)
    return float(sim[~np.eye(len(offsets), dtype=bool)].mean())


def log_frequency(text: str, chars) -> np.ndarray:
    """log(count + 1) of each character of `chars` in `text`, in vocabulary order."""
    counts = Counter(text)
    return np.log(np.array([counts[c] for c in chars], dtype=float) + 1.0)


def unigram_probs(text: str, chars) -> np.ndarray:
    """How often each character of `chars` occurs in `text`, as probabilities (one added to every count)."""
    counts = np.exp(log_frequency(text, chars))  # count + 1
    return counts / counts.sum()


@dataclass
class FrequencyDirection:
    """How the embedding table carries each character's frequency (see `frequency_direction`)."""

    mean_logit_r: float  # correlation over characters of e_c . h_mean (the baseline score) with log-frequency
    pc1_r: float  # correlation of the first principal coordinate with log-frequency
    pc1_cos: float  # |cosine| between the first principal direction and h_mean
    kl_to_unigram: float  # KL(unigram || softmax(E h_mean)), nats: the baseline scores as a distribution
    loss: float  # the model's loss on the windows, nats per character
    loss_without_shared: float  # the same with the direction of h_mean removed from every final vector
    shared_share: float  # |h_mean| / mean |h|: how much of the final vector every position shares


@torch.no_grad()
def frequency_direction(model, ids: torch.Tensor, log_freq) -> FrequencyDirection:
    """Measure the frequency direction of a GPT with a tied, bias-free output layer on windows `ids` (B, T).

    h is the final vector after the last LayerNorm (what the output layer reads); h_mean is its mean over every
    position. Logits are E h (E: the embedding table), so E h_mean is a score each character gets at every
    position on average: its baseline. The intervention removes the direction of h_mean from every h.
    """
    if model.lm_head.weight is not model.wte.weight or model.lm_head.bias is not None:
        raise ValueError("model must tie its output layer to the embedding table, without a bias")
    log_freq = np.asarray(log_freq, dtype=float)
    if log_freq.shape != (model.config.vocab_size,):
        raise ValueError(f"log_freq must hold one number per token ({model.config.vocab_size}), got {log_freq.shape}")
    if ids.ndim != 2 or ids.size(1) < 2:
        raise ValueError(f"ids must be (windows, length >= 2), got shape {tuple(ids.shape)}")
    with evaluating(model):
        _, _, hidden = model.forward_traced(ids.to(model.device))
        h = model.ln_f(hidden[:, -1]).double().cpu()  # (B, T, C): what the output layer reads
    table = model.wte.weight.detach().double().cpu()  # (V, C)
    h_mean = h.reshape(-1, h.size(-1)).mean(0)  # (C,)
    baseline = (table @ h_mean).numpy()  # (V,): each character's average score
    centred = table.numpy() - table.numpy().mean(0)
    _, _, vh = np.linalg.svd(centred, full_matrices=False)
    unigram = np.exp(log_freq) / np.exp(log_freq).sum()
    log_p = baseline - baseline.max() - np.log(np.exp(baseline - baseline.max()).sum())
    unit = h_mean / h_mean.norm()

    def loss_of(final):
        logits = final[:, :-1] @ table.T  # (B, T-1, V)
        return float(F.cross_entropy(logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1).cpu()))

    return FrequencyDirection(
        mean_logit_r=float(np.corrcoef(baseline, log_freq)[0, 1]),
        pc1_r=float(np.corrcoef(centred @ vh[0], log_freq)[0, 1]),
        pc1_cos=float(abs(vh[0] @ unit.numpy())),
        kl_to_unigram=float((unigram * (np.log(unigram) - log_p)).sum()),
        loss=loss_of(h),
        loss_without_shared=loss_of(h - (h @ unit)[..., None] * unit),
        shared_share=float(h_mean.norm() / h.norm(dim=-1).mean()),
    )


def rows_with_gradient(table, ids) -> list[int]:
    """The rows of an embedding `table` (V, C) that get a gradient when a loss depends only on the vectors looked
    up for `ids`: the lookup passes the gradient to exactly the rows it read."""
    embedding = torch.nn.Embedding.from_pretrained(torch.as_tensor(table, dtype=torch.float32).clone(), freeze=False)
    looked_up = embedding(torch.as_tensor(ids, dtype=torch.long))  # (T, C)
    target = torch.randn(looked_up.shape, generator=torch.Generator().manual_seed(0))
    ((looked_up - target) ** 2).sum().backward()  # any loss on the looked-up vectors
    return torch.nonzero(embedding.weight.grad.abs().sum(1)).flatten().tolist()


def neighbour_table(vectors, chars, queries, k: int = 3) -> list[tuple[str, list[tuple[str, float]]]]:
    """For each query character, its k nearest characters by cosine in the full space, with the similarities."""
    return [(q, nearest_characters(vectors, chars, q, k)) for q in queries]


__all__ = ["GROUPS", "Projection", "embedding_matrix", "char_group", "char_groups", "project", "pca_lowrank_check",
           "cosine_similarity", "neighbour_agreement", "centroid_accuracy", "nearest_characters",
           "group_cohesion", "case_offset_alignment", "log_frequency", "unigram_probs", "FrequencyDirection",
           "frequency_direction", "neighbour_table", "rows_with_gradient"]
