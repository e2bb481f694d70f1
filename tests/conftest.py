"""Small models and texts shared by the unit tests (built once per session, in a second or two)."""

import pytest
import torch

import gptviz

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n" * 40


@pytest.fixture(scope="session")
def text():
    return TEXT


@pytest.fixture(scope="session")
def tok():
    return gptviz.CharTokenizer.from_text(TEXT)


@pytest.fixture(scope="session")
def tiny_config(tok):
    return gptviz.GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32)


@pytest.fixture()
def tiny_model(tiny_config):
    torch.manual_seed(0)
    return gptviz.GPT(tiny_config).eval()


@pytest.fixture(scope="session")
def pretrained():
    return gptviz.load_pretrained()
