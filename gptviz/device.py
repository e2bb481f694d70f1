"""Pick where the model runs: a GPU when there is one, the CPU otherwise."""

from __future__ import annotations

import torch

DEVICES = ("cpu", "cuda", "mps")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """`device` if given (checked to exist), else cuda, then mps, then cpu."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not isinstance(device, (str, torch.device)):
        raise ValueError(f"device must be one of {DEVICES}, 'auto' or None, got {device!r}")
    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device must be one of {DEVICES}, 'auto' or None, got {device!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was asked for but CUDA is not available here (no GPU, or a CPU-only "
                         "torch); pass device='cpu', or None for the best device there is")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device='mps' was asked for but MPS is not available; use device='cpu'")
    if device.type not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, 'auto' or None, got {device.type!r}")
    return device
