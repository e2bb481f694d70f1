"""Switch parts of a trained model off, temporarily, to measure what they contribute."""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def ablated(model, heads=(), mlps=()):
    """Within the block, zero the given (layer, head) outputs and skip the given layers' MLPs."""
    cfg = model.config
    for layer, head in heads:
        if not (0 <= layer < cfg.n_layer and 0 <= head < cfg.n_head):
            raise ValueError(f"heads entries must be (layer, head) with layer < {cfg.n_layer}, head < {cfg.n_head}; "
                             f"got {(layer, head)}")
    for layer in mlps:
        if not 0 <= layer < cfg.n_layer:
            raise ValueError(f"mlps entries must be layers in 0..{cfg.n_layer - 1}, got {layer}")
    masks = [torch.ones(cfg.n_head) for _ in range(cfg.n_layer)]
    for layer, head in heads:
        masks[layer][head] = 0.0
    try:
        for layer, block in enumerate(model.blocks):
            block.attn.head_mask = masks[layer] if (masks[layer] == 0).any() else None
            block.use_mlp = layer not in mlps
        yield model
    finally:
        for block in model.blocks:
            block.attn.head_mask = None
            block.use_mlp = True
