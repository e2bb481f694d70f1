"""Faults injected into a training run: a real Ctrl-C, or a loss that turns into NaN, at a chosen forward pass."""

import os
import signal


def at_training_pass(model, n, fault):
    """Call `fault(output)` at the model's n-th forward pass in training mode; what it returns replaces the output."""
    calls = {"n": 0}

    def hook(module, inputs, output):
        if module.training:
            calls["n"] += 1
            if calls["n"] == n:
                return fault(output)

    model.register_forward_hook(hook)
    return model


def sigint_at(model, n):
    """A real SIGINT (Ctrl-C) in the middle of the model's n-th forward pass in training mode."""
    return at_training_pass(model, n, lambda output: os.kill(os.getpid(), signal.SIGINT))


def _nan(output):
    if not isinstance(output, tuple):  # a recurrent model's logits
        return output * float("nan")
    logits, loss = output  # a GPT's: its loss, when it computes one, else its logits
    return (logits, loss * float("nan")) if loss is not None else (logits * float("nan"), None)


def nan_at(model, n):
    """The model's n-th forward pass in training mode returns NaN, as after a too-large update."""
    return at_training_pass(model, n, _nan)
