"""Switch parts of a trained model off, temporarily, to measure what they contribute.

`ablated` attaches forward hooks for the length of a `with` block, so the model carries no switches
of its own. A head is ablated by replacing its slice of the attention output (the input of
`attn.c_proj`, where the heads' outputs sit side by side), an MLP by replacing its output:

- mode "zero": with zeros (the head says nothing, the MLP adds nothing);
- mode "mean": with their average over a reference text (`mean_activations`, measured on the model
  without any ablation), which keeps the typical size of what flows into the residual stream and
  removes only what depends on the input.

Blocks nest: each adds its own hooks and removes only those on exit, so leaving an inner block
restores exactly the state the outer one set up.
"""

from __future__ import annotations

import operator
import weakref
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .model import evaluating

ABLATION_MODES = ("zero", "mean")
_PAUSED = weakref.WeakSet()  # models whose ablation hooks stand aside while mean_activations measures them


@dataclass
class MeanActivations:
    """Average outputs over a reference text, of every head and of every MLP."""

    heads: torch.Tensor  # (n_layer, n_head, head_size)
    mlps: torch.Tensor  # (n_layer, n_embd)


def _integer(value) -> int:
    if isinstance(value, bool):
        raise TypeError("a bool is not a layer or head index")
    return operator.index(value)


def _reference_ids(model, ids) -> torch.Tensor:
    try:
        ids = torch.as_tensor(ids, device=model.device)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"reference must be token ids (T,) or (B, T), got {type(ids).__name__}") from None
    if ids.dtype not in (torch.int64, torch.int32) or ids.dim() not in (1, 2) or ids.numel() == 0:
        raise ValueError(f"reference must be a non-empty integer tensor of token ids, (T,) or (B, T); "
                         f"got dtype {ids.dtype}, shape {tuple(ids.shape)}")
    return ids.long()


@torch.no_grad()
def mean_activations(model, ids) -> MeanActivations:
    """The average output of every head and every MLP over the token ids (B, T), or (T,) read in block_size windows.

    Measured in eval mode on the whole model: any `ablated` block around the call stands aside meanwhile."""
    ids = _reference_ids(model, ids)
    windows = ids.split(model.config.block_size) if ids.dim() == 1 else [ids]
    sums = {"heads": [0.0] * len(model.blocks), "mlps": [0.0] * len(model.blocks)}

    def add(kind, layer):
        def hook(_module, args, output=None):
            value = args[0] if output is None else output  # (B, T, C)
            sums[kind][layer] = sums[kind][layer] + value.double().sum(dim=(0, 1))
        return hook

    handles = []
    _PAUSED.add(model)
    try:
        for layer, block in enumerate(model.blocks):
            handles.append(block.attn.c_proj.register_forward_pre_hook(add("heads", layer)))
            handles.append(block.mlp.register_forward_hook(add("mlps", layer)))
        with evaluating(model):
            for window in windows:
                model(window.view(-1, window.size(-1)))
    finally:
        _PAUSED.discard(model)
        for handle in handles:
            handle.remove()
    count = ids.numel()
    cfg = model.config
    heads = torch.stack(sums["heads"]).float() / count  # (n_layer, n_embd)
    return MeanActivations(heads.view(cfg.n_layer, cfg.n_head, -1), torch.stack(sums["mlps"]).float() / count)


def _check_targets(model, heads, mlps) -> tuple[list[tuple[int, int]], list[int]]:
    """The (layer, head) pairs and MLP layers as lists (iterated once: a generator works), checked against the model."""
    cfg = model.config
    pairs, layers = [], []
    for name, given in (("heads", heads), ("mlps", mlps)):
        try:
            iter(given)
        except TypeError:
            raise ValueError(f"{name} must be an iterable, got {given!r}") from None
    for entry in heads:
        try:
            layer, head = entry
            layer, head = _integer(layer), _integer(head)
        except (TypeError, ValueError):
            raise ValueError(f"heads must hold (layer, head) pairs of integers, e.g. [(0, 1)]; got entry {entry!r}"
                             ) from None
        if not (0 <= layer < cfg.n_layer and 0 <= head < cfg.n_head):
            raise ValueError(f"heads entries must be (layer, head) with layer < {cfg.n_layer}, head < {cfg.n_head}; "
                             f"got {(layer, head)}")
        pairs.append((layer, head))
    for entry in mlps:
        try:
            layer = _integer(entry)
        except TypeError:
            raise ValueError(f"mlps must hold layer numbers (integers), got entry {entry!r}") from None
        if not 0 <= layer < cfg.n_layer:
            raise ValueError(f"mlps entries must be layers in 0..{cfg.n_layer - 1}, got {layer}")
        layers.append(layer)
    return list(dict.fromkeys(pairs)), list(dict.fromkeys(layers))


def _means(model, mode: str, reference) -> MeanActivations | None:
    if mode not in ABLATION_MODES:
        raise ValueError(f"mode must be one of {ABLATION_MODES}, got {mode!r}")
    if mode == "zero":
        if reference is not None:
            raise ValueError("reference is only used with mode='mean'")
        return None
    if reference is None:
        raise ValueError("mode='mean' needs a reference: token ids, or mean_activations(model, ids)")
    means = reference if isinstance(reference, MeanActivations) else mean_activations(model, reference)
    cfg = model.config
    expected = (cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head)
    if tuple(means.heads.shape) != expected or tuple(means.mlps.shape) != (cfg.n_layer, cfg.n_embd):
        raise ValueError(f"reference means have shapes {tuple(means.heads.shape)} and {tuple(means.mlps.shape)}, "
                         f"this model needs {expected} and {(cfg.n_layer, cfg.n_embd)}")
    return means


def _heads_hook(model, heads: list[int], values: torch.Tensor):
    """A pre-hook for `attn.c_proj` that replaces the given heads' outputs by `values` (len(heads), head_size)."""
    index, n_head = torch.tensor(heads), model.config.n_head

    def hook(_module, args):
        if model in _PAUSED:
            return None
        y = args[0]  # (B, T, C): the heads' outputs side by side
        per_head = y.view(*y.shape[:-1], n_head, -1).clone()  # (B, T, nh, hs)
        per_head[..., index.to(y.device), :] = values.to(y)
        return (per_head.view(y.shape), *args[1:])

    return hook


def _mlp_hook(model, values: torch.Tensor | None):
    """A forward hook for `mlp` that replaces its output by zeros or by `values` (n_embd,)."""

    def hook(_module, _args, output):
        if model in _PAUSED:
            return None
        return torch.zeros_like(output) if values is None else values.to(output).expand_as(output)

    return hook


@contextmanager
def ablated(model, heads=(), mlps=(), mode: str = "zero", reference=None):
    """Within the block, ablate the given (layer, head) outputs and the given layers' MLPs.

    mode "zero" replaces them with zeros; mode "mean" with their average over `reference` (token ids,
    or a `mean_activations(model, ids)` computed once). Blocks nest; leaving one restores the state before it.
    """
    pairs, layers = _check_targets(model, heads, mlps)
    means = _means(model, mode, reference)
    head_size = model.config.n_embd // model.config.n_head
    handles = []
    try:
        for layer, block in enumerate(model.blocks):
            chosen = [head for at, head in pairs if at == layer]
            if chosen:
                values = torch.zeros(len(chosen), head_size) if means is None else means.heads[layer, chosen]
                handles.append(block.attn.c_proj.register_forward_pre_hook(_heads_hook(model, chosen, values)))
            if layer in layers:
                means_of_mlp = None if means is None else means.mlps[layer]
                handles.append(block.mlp.register_forward_hook(_mlp_hook(model, means_of_mlp)))
        yield model
    finally:
        for handle in handles:
            handle.remove()
