"""The recurrent cells written out by hand: a tanh RNN (Elman 1990) and an LSTM, step by step.

Each step is a plain function of the weights, in PyTorch's layout, so that every hidden state and
every LSTM gate can be recorded; tests check them against `nn.RNNCell` / `nn.LSTMCell`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def rnn_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """One step of an Elman (1990) RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""
    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)  # (B, H)


def lstm_step(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step (Hochreiter & Schmidhuber 1997, forget gate of Gers et al. 2000); returns h, c, (i, f, o).

    The cell state c is a running sum: the forget gate f decides how much of it survives a step,
    the input gate i how much new content g enters, the output gate o how much of it is shown as h.
    """
    i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=1)  # PyTorch's order
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g  # (B, H): keep some of the old memory, write some new
    h = o * torch.tanh(c)  # (B, H)
    return h, c, (i, f, o)


class _Cell(nn.Module):
    """Weights in PyTorch's layout and initialisation (uniform in +-1/sqrt(hidden_size))."""

    n_blocks = 1

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.hidden_size = hidden_size
        rows = self.n_blocks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))
        for p in self.parameters():
            nn.init.uniform_(p, -1 / math.sqrt(hidden_size), 1 / math.sqrt(hidden_size))

    def weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class TanhRNNCell(_Cell):
    """A hand-written `nn.RNNCell`: forward(x, h) -> next h."""

    def forward(self, x, h):
        return rnn_step(x, h, *self.weights())


class LSTMCell(_Cell):
    """A hand-written `nn.LSTMCell`: forward(x, (h, c)) -> (h, c, gates)."""

    n_blocks = 4

    def forward(self, x, state):
        return lstm_step(x, *state, *self.weights())
