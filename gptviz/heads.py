"""What attention heads do, measured: role scores, reach, ablation, and why scores are divided by √d.

Every number here is computed from the trained model on real text, so a notebook can
assert it rather than claim it:

- `head_roles`: for each head, the share of its attention that lands on a key chosen by a rule
  (the previous character, the start of the current word, ...), next to the share a head that
  spread its attention evenly over the past would give (`chance`).
- `attention_reach`: how far back each head looks, and how much of its attention goes to tokens
  at least `far` positions back.
- `head_ablation`: the validation loss with one head's output zeroed, minus the normal loss.
- `softmax_saturation`: the toy measurement behind the 1/√d in scaled dot-product attention.
- `head_count_sweep`: small models of equal width and size, trained alike, with 1 head or with 4.

The 1-head-against-4-heads comparison shipped in `gptviz/data/head_count.json` was made with::

    OMP_NUM_THREADS=1 python -m gptviz.heads           # 6 runs of a few minutes each on one CPU core
    OMP_NUM_THREADS=1 python -m gptviz.heads --jobs 6  # the same, one process per run

which calls `head_count_sweep()` with the defaults below and writes the file with `save_head_count`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .ablation import ablated
from .data import as_ids, load_result, save_result
from .model import evaluating

ROLES = ("previous token", "two back", "three back", "same token", "same character", "word start", "line start",
         "first position")
ROLE_RULES = {
    "previous token": "the token just before",
    "two back": "the token two positions before",
    "three back": "the token three positions before",
    "same token": "itself",
    "same character": "earlier copies of the same character",
    "word start": "the first letter of the current word",
    "line start": "the most recent newline",
    "first position": "the first token of the window",
}


MIN_LIFT = 5.0  # a role is called when the head gives it at least 5x the share even spreading would ...
MIN_SHARE = 0.2  # ... and at least a fifth of its attention
NO_ROLE = "no clear role"


def _check_positive_int(name: str, value, low: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def text_windows(text: str, tokenizer, windows: int, length: int, seed: int = 0) -> torch.Tensor:
    """`windows` fixed random stretches of `length` token ids from `text`, shape (windows, length)."""
    _check_positive_int("windows", windows)
    _check_positive_int("length", length, 2)
    ids = as_ids(text, tokenizer)
    if len(ids) < length + 1:
        raise ValueError(f"length must be at most {len(ids) - 1} for this text, got {length}")
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(len(ids) - length, (windows,), generator=gen)
    return ids[starts[:, None] + torch.arange(length)]  # (windows, length)


def role_masks(tokens: list[str]) -> dict[str, np.ndarray]:
    """For each role, a (T, T) boolean mask: [i, j] is True when key j is what the role picks for query i.

    "same character", "word start", "line start" and "first position" count only keys more than three back, so
    they never pick a key of the four positional roles: a previous-token head does not also score as a word-start
    head on the second letter of every word."""
    T = len(tokens)
    i, j = np.indices((T, T))
    chars = np.array(tokens, dtype=object)
    is_letter = np.array([t.isalpha() for t in tokens])
    starts_word = is_letter & ~np.r_[False, is_letter[:-1]]
    last_word_start = np.maximum.accumulate(np.where(starts_word, np.arange(T), -1))  # -1: none yet
    is_newline = np.array([t == "\n" for t in tokens])
    last_newline = np.maximum.accumulate(np.where(is_newline, np.arange(T), -1))
    beyond = j < i - 3  # the other roles count only keys the four positional roles do not already pick
    return {
        "previous token": j == i - 1,
        "two back": j == i - 2,
        "three back": j == i - 3,
        "same token": j == i,
        "same character": beyond & (chars[:, None] == chars[None, :]),
        "word start": beyond & (j == last_word_start[:, None]) & (last_word_start[:, None] >= 0),
        "line start": beyond & (j == last_newline[:, None]) & (last_newline[:, None] >= 0),
        "first position": beyond & (j == 0),
    }


@dataclass
class HeadRoles:
    """Role scores of every head: scores[role] is (n_layer, n_head), the mean attention on the role's key."""

    scores: dict[str, np.ndarray]
    chance: dict[str, float]  # the same mass for attention spread evenly over the past
    skip: int  # the first `skip` query positions of each window were left out

    def lift(self, role: str) -> np.ndarray:
        """How many times more attention the role gets than even spreading would give, (n_layer, n_head)."""
        return self.scores[role] / self.chance[role]

    def called_role(self, layer: int, head: int, min_lift: float = MIN_LIFT, min_share: float = MIN_SHARE) -> str:
        """The head's role when one gets at least `min_lift` times its chance share AND at least `min_share` of
        the head's attention (the larger lift wins if two do); NO_ROLE otherwise."""
        passing = [r for r in ROLES
                   if self.lift(r)[layer, head] >= min_lift and self.scores[r][layer, head] >= min_share]
        return max(passing, key=lambda r: self.lift(r)[layer, head]) if passing else NO_ROLE

    def called_roles(self, **thresholds) -> dict[tuple[int, int], str]:
        """{(layer, head): called role} for every head."""
        n_layer, n_head = self.scores[ROLES[0]].shape
        return {(la, h): self.called_role(la, h, **thresholds) for la in range(n_layer) for h in range(n_head)}

    def named_heads(self, **thresholds) -> list[tuple[int, int]]:
        """The (layer, head) of every head with a called role."""
        return [key for key, role in self.called_roles(**thresholds).items() if role != NO_ROLE]

    def best_role(self, layer: int, head: int, min_lift: float = 3.0) -> tuple[str, float]:
        """The role this head favours most over chance, and its score; ("spread out", largest lift) when no role
        gets at least `min_lift` times its chance share."""
        role = max(ROLES, key=lambda r: self.lift(r)[layer, head])
        if self.lift(role)[layer, head] < min_lift:
            return "spread out", float(self.lift(role)[layer, head])
        return role, float(self.scores[role][layer, head])

    def table(self) -> str:
        """A fixed-width text table: one row per head, one column per role, scores in percent."""
        n_layer, n_head = self.scores[ROLES[0]].shape
        short = {"previous token": "prev", "two back": "2back", "three back": "3back",
                 "same token": "self", "same character": "samechr",
                 "word start": "wordst", "line start": "linest", "first position": "first"}
        lines = ["head  " + "".join(f"{short[r]:>9}" for r in ROLES) + "   role (lift)"]
        lines.append("chance" + "".join(f"{100 * self.chance[r]:8.0f}%" for r in ROLES))
        for layer in range(n_layer):
            for head in range(n_head):
                cells = "".join(f"{100 * self.scores[r][layer, head]:8.0f}%" for r in ROLES)
                role = self.called_role(layer, head)
                lift = f" ({self.lift(role)[layer, head]:.0f}x)" if role != NO_ROLE else ""
                lines.append(f"L{layer}H{head} {cells}   {role}{lift}")
        return "\n".join(lines)


def role_scores(attention: np.ndarray, tokens: list[list[str]], skip: int = 8) -> HeadRoles:
    """Role scores from attention (B, L, H, T, T) of B windows whose tokens are given; queries < skip ignored."""
    attention = np.asarray(attention, dtype=float)
    if attention.ndim != 5 or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(f"attention must be (windows, layers, heads, T, T), got shape {attention.shape}")
    B, L, H, T, _ = attention.shape
    if len(tokens) != B or any(len(t) != T for t in tokens):
        raise ValueError(f"tokens must be {B} lists of {T} tokens, matching attention")
    if not 0 <= skip < T - 1:
        raise ValueError(f"skip must be in 0..{T - 2}, got {skip}")
    allowed = np.tril(np.ones((T, T), dtype=bool))
    totals = {r: np.zeros((L, H)) for r in ROLES}
    counts = dict.fromkeys(ROLES, 0)
    chance_sum = dict.fromkeys(ROLES, 0.0)
    for b in range(B):
        for role, mask in role_masks(tokens[b]).items():
            mask = mask & allowed
            rows = np.flatnonzero(mask.any(axis=1))
            rows = rows[rows >= skip]  # only queries where the role picks at least one key
            if len(rows) == 0:
                continue
            mass = (attention[b][:, :, rows, :] * mask[rows]).sum(-1)  # (L, H, len(rows))
            totals[role] += mass.sum(-1)
            counts[role] += len(rows)
            chance_sum[role] += (mask[rows].sum(1) / (rows + 1)).sum()  # even spread over keys 0..i
    scores = {r: totals[r] / max(counts[r], 1) for r in ROLES}
    chance = {r: chance_sum[r] / max(counts[r], 1) for r in ROLES}
    return HeadRoles(scores, chance, skip)


@torch.no_grad()
def window_attention(model, ids: torch.Tensor) -> np.ndarray:
    """Attention weights of every head on each window (B, T): shape (B, n_layer, n_head, T, T)."""
    with evaluating(model):
        _, attention, _ = model.forward_traced(ids.to(model.device))
    return attention.double().cpu().numpy()


def head_roles(model, tokenizer, text: str, windows: int = 8, length: int = 128, seed: int = 0,
               skip: int = 8) -> HeadRoles:
    """Role scores of every head of `model`, averaged over fixed random windows of `text`."""
    ids = text_windows(text, tokenizer, windows, min(length, model.config.block_size), seed)
    tokens = [[tokenizer.chars[i] for i in row] for row in ids.tolist()]
    return role_scores(window_attention(model, ids), tokens, skip)


@dataclass
class Reach:
    """How far each head looks back, (n_layer, n_head) arrays."""

    mean_distance: np.ndarray  # mean of (query position - key position), weighted by attention
    far_mass: np.ndarray  # share of attention on keys at least `far` positions back
    far: int
    by_offset: np.ndarray  # (n_layer, n_head, T): mean weight on the key `offset` positions back


def attention_reach(attention: np.ndarray, far: int = 16) -> Reach:
    """Distance statistics of attention (B, L, H, T, T); only queries with at least `far` keys behind them count."""
    attention = np.asarray(attention, dtype=float)
    if attention.ndim != 5:
        raise ValueError(f"attention must be (windows, layers, heads, T, T), got shape {attention.shape}")
    T = attention.shape[-1]
    _check_positive_int("far", far)
    if far >= T:
        raise ValueError(f"far must be below the window length {T}, got {far}")
    i, j = np.indices((T, T))
    offset = np.where(j <= i, i - j, 0)
    rows = slice(far, T)  # queries that can look at least `far` back
    weights = attention[..., rows, :]  # (B, L, H, T - far, T)
    mean_distance = (weights * offset[rows]).sum(-1).mean(axis=(0, -1))
    far_mass = (weights * ((offset[rows] >= far) & (j[rows] <= i[rows]))).sum(-1).mean(axis=(0, -1))
    by_offset = np.zeros(attention.shape[1:3] + (T,))
    counts = np.zeros(T)
    for k in range(T):
        diagonal = np.diagonal(attention, offset=-k, axis1=-2, axis2=-1)  # (B, L, H, T - k)
        by_offset[..., k] = diagonal.mean(axis=(0, -1))
        counts[k] = diagonal.shape[-1]
    return Reach(mean_distance, far_mass, far, by_offset)


@dataclass
class Ablation:
    """Validation loss with each head zeroed in turn."""

    base_loss: float
    loss: np.ndarray  # (n_layer, n_head)

    @property
    def delta(self) -> np.ndarray:
        """Loss increase caused by removing each head, (n_layer, n_head); positive = the head helps."""
        return self.loss - self.base_loss


@torch.no_grad()
def windows_loss(model, ids: torch.Tensor, batch_size: int = 8) -> float:
    """Mean next-token loss on the windows (B, T): predict ids[:, 1:] from ids[:, :-1]."""
    total, count = 0.0, 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size].to(model.device)
        _, loss = model(chunk[:, :-1], chunk[:, 1:])
        total += loss.item() * len(chunk)
        count += len(chunk)
    return total / count


def head_ablation(model, tokenizer, text: str, windows: int = 16, length: int = 128, seed: int = 0,
                  heads=None) -> Ablation:
    """Loss on fixed windows of `text` with every head (or only `heads`, a list of (layer, head)) zeroed in turn."""
    ids = text_windows(text, tokenizer, windows, min(length, model.config.block_size - 1) + 1, seed)
    cfg = model.config
    loss = np.full((cfg.n_layer, cfg.n_head), np.nan)
    with evaluating(model):
        base = windows_loss(model, ids)
        for layer, head in heads if heads is not None else np.ndindex(cfg.n_layer, cfg.n_head):
            with ablated(model, heads=[(layer, head)]):
                loss[layer, head] = windows_loss(model, ids)
    return Ablation(base, loss)


def softmax_saturation(dims=(4, 16, 64, 256), n_keys: int = 16, trials: int = 200, seed: int = 0) -> dict:
    """Random queries and keys with unit-variance entries: how peaked softmax(q·k) gets with and without 1/√d.

    Returns {"dims", "max_weight_raw", "max_weight_scaled", "grad_raw", "grad_scaled"}: the mean largest
    attention weight, and the mean size (Frobenius norm) of the softmax's Jacobian, which is what the
    gradient flowing back to the scores is multiplied by: near zero means learning stalls.
    """
    dims = [int(d) for d in dims]
    if not dims or min(dims) < 1:
        raise ValueError(f"dims must be positive integers, got {dims}")
    _check_positive_int("n_keys", n_keys, 2)
    _check_positive_int("trials", trials)
    gen = torch.Generator().manual_seed(seed)
    out = {"dims": dims, "max_weight_raw": [], "max_weight_scaled": [], "grad_raw": [], "grad_scaled": []}
    for d in dims:
        q = torch.randn(trials, 1, d, generator=gen, dtype=torch.float64)
        k = torch.randn(trials, n_keys, d, generator=gen, dtype=torch.float64)
        raw = (q @ k.transpose(1, 2))[:, 0]  # (trials, n_keys), spread ~ √d
        for name, scores in (("raw", raw), ("scaled", raw / d**0.5)):
            p = torch.softmax(scores, dim=-1)
            jacobian = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]  # d softmax / d scores
            out[f"max_weight_{name}"].append(p.max(-1).values.mean().item())
            out[f"grad_{name}"].append(torch.linalg.matrix_norm(jacobian).mean().item())
    return out


HEAD_COUNT_PATH = Path(__file__).parent / "data" / "head_count.json"
HEAD_COUNT_MODEL = {"n_layer": 2, "n_embd": 64, "block_size": 64}  # small enough for minutes on one CPU core
HEAD_COUNT_SEEDS = (0, 1, 4)  # the seeds shipped: three runs per head count fitted the time on a shared machine
HEAD_COUNT_TRAIN = {"steps": 1500, "batch_size": 32, "lr": 3e-3, "warmup_steps": 100, "eval_batches": 50}


def head_count_sweep(n_heads=(1, 4), seeds=HEAD_COUNT_SEEDS, model=None, train=None, log=print) -> dict:
    """Validation loss of models that differ only in their number of heads (same width, same parameter count,
    same initial-weight seed and batch order for a given seed), each trained alike on the Shakespeare corpus.

    Returns {"n_heads", "seeds", "model", "train", "params": {n: count}, "val_loss": {n: [loss per seed]}}.
    """
    from .checkpoint import load_pretrained
    from .data import load_corpus
    from .model import GPT, GPTConfig
    from .training import train as train_model

    shape = {**HEAD_COUNT_MODEL, **(model or {})}
    settings = {**HEAD_COUNT_TRAIN, **(train or {})}
    for n in n_heads:
        if shape["n_embd"] % n:
            raise ValueError(f"n_heads must divide n_embd = {shape['n_embd']}, got {n}")
    _, tok = load_pretrained()
    corpus = load_corpus()
    result = {"n_heads": list(n_heads), "seeds": list(seeds), "model": shape, "train": settings, "params": {},
              "val_loss": {}}
    for n in n_heads:
        losses = []
        for seed in seeds:
            torch.manual_seed(seed)
            net = GPT(GPTConfig(vocab_size=tok.vocab_size, n_head=n, **shape))
            started = time.perf_counter()
            history = train_model(net, tok, corpus, progress=False, seed=seed, device="cpu",
                                  eval_every=settings["steps"], **settings)
            losses.append(round(history.rows[-1]["val_loss"], 4))
            result["params"][str(n)] = sum(p.numel() for p in net.parameters())
            if log:
                seconds = time.perf_counter() - started
                log(f"{n} head(s), seed {seed}: validation loss {losses[-1]:.4f} ({seconds:.0f} s)")
        result["val_loss"][str(n)] = losses
    return result


def save_head_count(result: dict, path=HEAD_COUNT_PATH) -> Path:
    """Write the result where the package ships it."""
    return save_result(result, path)


def load_head_count(path=HEAD_COUNT_PATH) -> dict:
    """The shipped comparison (see `head_count_sweep` for its keys)."""
    return load_result(path)


__all__ = ["ROLES", "ROLE_RULES", "HeadRoles", "Reach", "Ablation", "text_windows", "role_masks", "role_scores",
           "window_attention", "head_roles", "attention_reach", "head_ablation", "windows_loss",
           "softmax_saturation", "MIN_LIFT", "MIN_SHARE", "NO_ROLE",

           "head_count_sweep", "save_head_count", "load_head_count"]

def _one_run(args) -> dict:
    torch.set_num_threads(1)
    n, seed = args
    return head_count_sweep(n_heads=(n,), seeds=(seed,), log=None)


def parallel_head_count_sweep(n_heads=(1, 4), seeds=HEAD_COUNT_SEEDS, processes: int = 6) -> dict:
    """`head_count_sweep` with one process per run (each on one thread): the same numbers, sooner."""
    from multiprocessing import get_context

    runs = [(n, seed) for n in n_heads for seed in seeds]
    with get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_one_run, runs)
    result = {**parts[0], "n_heads": list(n_heads), "seeds": list(seeds), "params": {}, "val_loss": {}}
    for (n, _), part in zip(runs, parts, strict=True):
        result["params"][str(n)] = part["params"][str(n)]
        result["val_loss"].setdefault(str(n), []).extend(part["val_loss"][str(n)])
    return result


if __name__ == "__main__":
    import sys

    torch.set_num_threads(1)
    jobs = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 1
    result = head_count_sweep() if jobs == 1 else parallel_head_count_sweep(processes=jobs)
    print("wrote", save_head_count(result))
