"""A compact decoder-only transformer (GPT), in the shape of nanoGPT's model.py.

Training runs the fast fused attention (`F.scaled_dot_product_attention`);
inspection runs `causal_attention`, the same maths written out, which also
returns the attention weights for plotting. A test checks the two agree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
from torch.nn import functional as F

from .checks import check_float, check_int

POS_ENCODINGS = ("learned", "sinusoidal", "none")


@dataclass
class GPTConfig:
    vocab_size: int = 77  # number of distinct tokens (characters)
    block_size: int = 256  # longest context the model reads, in tokens
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 192  # width of the residual stream
    dropout: float = 0.0  # dropout probability while training
    pos_encoding: str = "learned"  # "learned", "sinusoidal" or "none"

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            setattr(self, name, check_int(name, getattr(self, name), low=1))  # numpy ints become ints (JSON-safe)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_head must divide n_embd={self.n_embd}, got n_head={self.n_head}")
        self.dropout = check_float("dropout", self.dropout, 0, 1, high_open=True)
        if self.pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"pos_encoding must be one of {POS_ENCODINGS}, got {self.pos_encoding!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def causal_attention(q, k, v):
    """Scaled dot-product attention with a causal mask, written out; returns (output, weights).

    Usually q, k, v cover the same T positions. With a key/value cache, q holds only the last
    positions of the sequence and k, v all of it; the mask then lines the queries up with the end.
    """
    T, S = q.size(-2), k.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # (..., T, S)
    future = torch.ones(T, S, dtype=torch.bool, device=q.device).triu(1 + S - T)
    scores = scores.masked_fill(future, float("-inf"))  # a token may not look ahead
    weights = torch.softmax(scores, dim=-1)  # each row sums to 1
    return weights @ v, weights  # (..., T, hs), (..., T, S)


def sinusoidal_encoding(block_size: int, n_embd: int) -> torch.Tensor:
    """The fixed sine/cosine position codes of Vaswani et al. (2017), shape (block_size, n_embd)."""
    position = torch.arange(block_size, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, n_embd, 2, dtype=torch.float32) * (-math.log(10000.0) / n_embd))
    pe = torch.zeros(block_size, n_embd)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq[: n_embd // 2])
    return pe


@dataclass
class LayerCache:
    """Keys and values one attention layer has already computed, kept to be reused."""

    keys: torch.Tensor | None = None  # (B, nh, t, hs)
    values: torch.Tensor | None = None  # (B, nh, t, hs)


@dataclass
class KVCache:
    """A key/value cache for generation: with it, each new token costs one position's work, not T.

    A token's keys and values never change once computed (later tokens cannot affect earlier ones),
    so the model stores them and, for the next token, computes only that token's query, key and value.
    """

    layers: list[LayerCache] = field(default_factory=list)

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
        self.head_mask = None  # optional (n_head,) tensor of 0/1: ablate heads by zeroing their output

    def forward(self, x, return_weights=False, cache: LayerCache | None = None):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        past = 0
        if cache is not None:  # prepend the keys and values of the earlier tokens, and remember the new ones
            if cache.keys is not None:
                past = cache.keys.size(2)
                k, v = torch.cat([cache.keys, k], dim=2), torch.cat([cache.values, v], dim=2)  # (B, nh, past+T, hs)
            cache.keys, cache.values = k, v
        if return_weights:
            y, weights = causal_attention(q, k, v)
        else:
            p = self.dropout if self.training else 0.0
            if past == 0:
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
            else:  # the T new queries sit at the end: query i may see keys 0..past+i
                mask = None if T == 1 else torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            weights = None
        if self.head_mask is not None:
            y = y * self.head_mask.view(1, -1, 1, 1).to(y)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
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
        self.use_mlp = True  # set False to ablate this block's feed-forward network

    def forward(self, x, return_weights=False, cache: LayerCache | None = None):
        attn_out, weights = self.attn(self.ln_1(x), return_weights, cache)
        x = x + attn_out
        if self.use_mlp:
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
        """What is added to the token embeddings at positions start..start+T-1, shape (T, n_embd), or None."""
        if self.config.pos_encoding == "learned":
            return self.wpe.weight[start : start + T]
        if self.config.pos_encoding == "sinusoidal":
            return self.sinusoid[start : start + T]
        return None

    def embed(self, idx, start: int = 0):
        """Token ids (B, T) at positions start.. to the start of the residual stream (B, T, n_embd)."""
        T = idx.size(1)
        if start + T > self.config.block_size:
            raise ValueError(f"sequence length {start + T} exceeds block_size={self.config.block_size}")
        x = self.wte(idx)
        pos = self.position_encoding(T, start)
        return self.drop(x if pos is None else x + pos)

    def forward(self, idx, targets=None, cache: KVCache | None = None):
        """Logits (B, T, vocab_size) and the loss if `targets` are given.

        With a `cache`, `idx` holds only the tokens that follow the cached ones; the cache grows by them.
        """
        x = self.embed(idx, 0 if cache is None else len(cache))  # (B, T, C)
        for i, block in enumerate(self.blocks):
            x, _ = block(x, cache=None if cache is None else cache.layers[i])
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def forward_traced(self, idx):
        """Forward on the explicit attention path: logits, attention (B, L, nh, T, T), hidden (B, L+1, T, C)."""
        x = self.embed(idx)
        hidden, attention = [x], []
        for block in self.blocks:
            x, weights = block(x, return_weights=True)
            hidden.append(x)
            attention.append(weights)
        logits = self.lm_head(self.ln_f(x))
        return logits, torch.stack(attention, dim=1), torch.stack(hidden, dim=1)
