"""A compact decoder-only transformer (GPT), in the shape of nanoGPT's model.py.

One attention layer serves everything: training runs the fast fused attention
(`F.scaled_dot_product_attention`); inspection runs `causal_attention`, the same maths written
out, which also returns the attention weights for plotting (a test checks the two agree, dropout
included). Generation reuses earlier keys and values through a `KVCache`, and a batch of prompts of
different lengths is decoded at once by padding them on the left: `key_valid` hides the padding
from attention and each token gets its own position.

Positions enter in one of two ways: a vector added to the token embeddings once, before the first
block ("learned", "sinusoidal"), or a rotation of every layer's queries and keys ("rope", Su et al.
2021), which makes a query-key score depend only on how far apart the two tokens are.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
from torch.nn import functional as F

from .checks import check_float, check_int

POS_ENCODINGS = ("learned", "sinusoidal", "none", "rope")
ROPE_BASE = 10000.0  # the slowest rotation turns once every ~2π·10000 positions, as in Su et al. (2021)


@dataclass
class GPTConfig:
    vocab_size: int = 77  # number of distinct tokens (characters)
    block_size: int = 256  # longest context the model reads, in tokens
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 192  # width of the residual stream
    dropout: float = 0.0  # dropout probability while training
    pos_encoding: str = "learned"  # "learned", "sinusoidal", "none" or "rope" (rotated queries and keys)

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            setattr(self, name, check_int(name, getattr(self, name), low=1))  # numpy ints become ints (JSON-safe)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_head must divide n_embd={self.n_embd}, got n_head={self.n_head}")
        self.dropout = check_float("dropout", self.dropout, 0, 1, high_open=True)
        if self.pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"pos_encoding must be one of {POS_ENCODINGS}, got {self.pos_encoding!r}")
        if self.pos_encoding == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"pos_encoding='rope' rotates pairs of dimensions: the head size n_embd/n_head must be "
                             f"even, got {self.n_embd}/{self.n_head} = {self.n_embd // self.n_head}")

    def to_dict(self) -> dict:
        return asdict(self)


def causal_mask(T: int, S: int, device=None) -> torch.Tensor:
    """Which of S keys each of the last T queries may see, (T, S): query i sees keys 0..S-T+i."""
    return torch.ones(T, S, dtype=torch.bool, device=device).tril(S - T)


def padding_mask(T: int, key_valid: torch.Tensor) -> torch.Tensor:
    """The causal mask with the left padding hidden, (B, 1, T, S), for the last T queries of `key_valid` (B, S).

    A position may always see itself, so that a padding query still has one key (and no NaN)."""
    S = key_valid.size(1)
    own = torch.arange(S, device=key_valid.device)[None] == torch.arange(S - T, S, device=key_valid.device)[:, None]
    allowed = (causal_mask(T, S, key_valid.device) & key_valid[:, None, :]) | own  # (B, T, S)
    return allowed[:, None]


def causal_attention(q, k, v, allowed=None, dropout: float = 0.0):
    """Scaled dot-product attention with a causal mask, written out; returns (output, weights).

    Usually q, k, v cover the same T positions. With a key/value cache, q holds only the last
    positions of the sequence and k, v all of it; the mask then lines the queries up with the end.
    `allowed` (..., T, S) replaces the causal mask (to hide padding); `dropout` zeroes that share of
    the weights, as the fused path does in training (the weights returned are the ones applied).
    """
    T, S = q.size(-2), k.size(-2)
    if allowed is None:
        allowed = causal_mask(T, S, q.device)
    scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # (..., T, S)
    scores = scores.masked_fill(~allowed, float("-inf"))  # a token may not look ahead (nor at padding)
    weights = torch.softmax(scores, dim=-1)  # each row sums to 1
    if dropout > 0:
        weights = F.dropout(weights, dropout)
    return weights @ v, weights  # (..., T, hs), (..., T, S)


def sinusoidal_encoding(block_size: int, n_embd: int) -> torch.Tensor:
    """The fixed sine/cosine position codes of Vaswani et al. (2017), shape (block_size, n_embd)."""
    position = torch.arange(block_size, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, n_embd, 2, dtype=torch.float32) * (-math.log(10000.0) / n_embd))
    pe = torch.zeros(block_size, n_embd)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq[: n_embd // 2])
    return pe


def rope_angles(positions: torch.Tensor, head_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angles p·θᵢ, θᵢ = 10000^(−2i/head_size), for positions (..., T): (..., T, hs/2)."""
    theta = ROPE_BASE ** (-torch.arange(0, head_size, 2, dtype=torch.float32, device=positions.device) / head_size)
    angles = positions.to(torch.float32)[..., None] * theta  # (..., T, hs/2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotate each pair of dimensions (i, i + hs/2) of x (B, nh, T, hs) by the angle p·θᵢ of its token's position.

    `positions` is (T,) or (B, T). A rotation keeps lengths, and rotating a query at p and a key at p' leaves
    their dot product a function of p − p' only: attention sees relative offsets (RoPE, Su et al. 2021).
    """
    half = x.size(-1) // 2
    cos, sin = rope_angles(positions, x.size(-1))
    if cos.dim() == 3:  # (B, T, hs/2): one row of positions per sequence, the same for every head
        cos, sin = cos[:, None], sin[:, None]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


@dataclass
class LayerCache:
    """Keys and values one attention layer has already computed, kept to be reused."""

    keys: torch.Tensor | None = None  # (B, nh, t, hs)
    values: torch.Tensor | None = None  # (B, nh, t, hs)


@dataclass
class KVCache:
    """A key/value cache for generation: each new token runs through the layers alone, not with the whole text again.

    A token's keys and values never change once computed (later tokens cannot affect earlier ones),
    so the model stores them and, for the next token, computes only that token's query, key and value.
    That query still attends over all n cached keys: attention costs O(n) per step, O(N^2) over N tokens.
    """

    layers: list[LayerCache] = field(default_factory=list)
    key_valid: torch.Tensor | None = None  # (B, t): False where a cached token is left padding; None: none is

    @classmethod
    def empty(cls, n_layer: int) -> KVCache:
        return cls([LayerCache() for _ in range(n_layer)])

    def __len__(self) -> int:
        """How many positions are cached."""
        keys = self.layers[0].keys if self.layers else None
        return 0 if keys is None else keys.size(2)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)  # queries, keys, values at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.dropout = config.dropout
        self.rope = config.pos_encoding == "rope"

    def forward(self, x, return_weights=False, cache: LayerCache | None = None, mask=None, positions=None):
        """x (B, T, C) -> output (B, T, C), and the attention weights (B, nh, T, S) if `return_weights`.

        `cache` holds the earlier tokens' keys and values and receives these ones; `mask` (B, 1, T, S)
        says which keys each query may see (None: causal). With RoPE, `positions` (T,) or (B, T) are the
        tokens' positions, by which their queries and keys are rotated (the cache keeps rotated keys).
        """
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if self.rope:
            if positions is None:
                raise ValueError("pos_encoding='rope' needs the tokens' positions")
            q, k = apply_rope(q, positions), apply_rope(k, positions)
        if cache is not None:  # prepend the keys and values of the earlier tokens, and remember the new ones
            if cache.keys is not None:
                k, v = torch.cat([cache.keys, k], dim=2), torch.cat([cache.values, v], dim=2)  # (B, nh, S, hs)
            cache.keys, cache.values = k, v
        p = self.dropout if self.training else 0.0
        if return_weights:  # the explicit path: the same maths written out, keeping the weights
            y, weights = causal_attention(q, k, v, mask, p)
        else:
            S = k.size(2)
            if mask is None and 1 < T < S:  # the T new queries sit at the end: query i may see keys 0..S-T+i
                mask = causal_mask(T, S, x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=mask is None and T == S)
            weights = None
        # c_proj reads the heads' outputs side by side: gptviz.ablation hooks its input to switch heads off
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y)), weights


class MLP(nn.Module):
    """The feed-forward network: the same two-layer perceptron applied at every position."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x, return_weights=False, cache: LayerCache | None = None, mask=None, positions=None):
        attn_out, weights = self.attn(self.ln_1(x), return_weights, cache, mask, positions)
        x = x + attn_out
        x = x + self.mlp(self.ln_2(x))
        return x, weights


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embeddings
        if config.pos_encoding == "learned":
            self.wpe = nn.Embedding(config.block_size, config.n_embd)
        elif config.pos_encoding == "sinusoidal":
            self.register_buffer("sinusoid", sinusoidal_encoding(config.block_size, config.n_embd), persistent=False)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf, 2017)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2: scale residual projections by depth
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        return self.wte.weight.device

    def position_encoding(self, T: int, start: int = 0) -> torch.Tensor | None:
        """What is added to the token embeddings at positions start..start+T-1, shape (T, n_embd), or None.

        None for "none" and for "rope", which rotates queries and keys inside attention instead."""
        if self.config.pos_encoding == "learned":
            return self.wpe.weight[start : start + T]
        if self.config.pos_encoding == "sinusoidal":
            return self.sinusoid[start : start + T]
        return None

    def embed(self, idx, start: int = 0, positions=None):
        """Token ids (B, T) to the start of the residual stream (B, T, n_embd).

        The tokens sit at positions start..start+T-1, or at `positions` (B, T) when given (every row its own).
        """
        B, T = idx.shape
        block_size = self.config.block_size
        if positions is None:
            if start + T > block_size:
                raise ValueError(f"sequence length {start + T} exceeds block_size={block_size}")
            pos = self.position_encoding(T, start)
        else:
            if positions.shape != (B, T):
                raise ValueError(f"positions must have the shape of idx {(B, T)}, got {tuple(positions.shape)}")
            if positions.numel() and not 0 <= int(positions.min()) <= int(positions.max()) < block_size:
                raise ValueError(f"positions must be in 0..{block_size - 1} (block_size={block_size}), "
                                 f"got {int(positions.min())}..{int(positions.max())}")
            table = self.position_encoding(block_size)
            pos = None if table is None else table[positions]  # (B, T, n_embd)
        x = self.wte(idx)
        return self.drop(x if pos is None else x + pos)

    def _start(self, idx, cache: KVCache | None, key_valid, positions):
        """The residual stream's start (B, T, C), the attention mask (None: plainly causal, no padding), and the
        tokens' positions for RoPE ((T,) or (B, T); None for the other encodings)."""
        B, T = idx.shape
        past = 0 if cache is None else len(cache)
        if key_valid is None and (cache is None or cache.key_valid is None):
            x = self.embed(idx, past, positions)
            return x, None, self._rope_positions(idx, past, positions)
        if key_valid is not None and key_valid.shape != (B, T):
            raise ValueError(f"key_valid must have the shape of idx {(B, T)}, got {tuple(key_valid.shape)}")
        earlier = cache.key_valid if cache is not None and cache.key_valid is not None else None
        if earlier is None:
            earlier = torch.ones(B, past, dtype=torch.bool, device=idx.device)
        new = torch.ones(B, T, dtype=torch.bool, device=idx.device) if key_valid is None else key_valid.bool()
        keys = torch.cat([earlier, new], dim=1)  # (B, past + T): which keys are real tokens
        if positions is None:  # a token's position counts the real tokens before it
            positions = (keys.cumsum(1) - 1)[:, past:].clamp(min=0)
        x = self.embed(idx, past, positions)
        if cache is not None:
            cache.key_valid = keys
        return x, padding_mask(T, keys), self._rope_positions(idx, past, positions)

    def _rope_positions(self, idx, start: int, positions):
        """The positions RoPE rotates by: `positions` (B, T) if given, else start..start+T-1; None without RoPE."""
        if self.config.pos_encoding != "rope":
            return None
        if positions is not None:
            return positions
        return torch.arange(start, start + idx.size(1), device=idx.device)

    def forward(self, idx, targets=None, cache: KVCache | None = None, key_valid=None, positions=None):
        """Logits (B, T, vocab_size) and the loss if `targets` are given.

        With a `cache`, `idx` holds only the tokens that follow the cached ones; the cache grows by them.
        For prompts of different lengths in one batch, pad them on the left and pass `key_valid` (B, T),
        False at the padding: no token attends to it, and positions count only the real tokens (unless
        `positions` (B, T) are given). The cache remembers the padding for the later calls.
        """
        x, mask, rope = self._start(idx, cache, key_valid, positions)  # (B, T, C)
        for i, block in enumerate(self.blocks):
            x, _ = block(x, cache=None if cache is None else cache.layers[i], mask=mask, positions=rope)
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def forward_traced(self, idx, key_valid=None, positions=None):
        """Forward on the explicit attention path: logits, attention (B, L, nh, T, T), hidden (B, L+1, T, C).

        In training mode, dropout (of the attention weights too) applies as in `forward`."""
        x, mask, rope = self._start(idx, None, key_valid, positions)
        hidden, attention = [x], []
        for block in self.blocks:
            x, weights = block(x, return_weights=True, mask=mask, positions=rope)
            hidden.append(x)
            attention.append(weights)
        logits = self.lm_head(self.ln_f(x))
        return logits, torch.stack(attention, dim=1), torch.stack(hidden, dim=1)


@contextmanager
def evaluating(model: nn.Module):
    """Eval mode (no dropout) inside a `with` block; every module's previous mode comes back after, even on errors."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
