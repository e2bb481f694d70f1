"""Chapter 08: softmax, temperature, top-k, top-p, step-by-step generation, and its explorers."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import gptviz
from gptviz import plots
from gptviz.sampling import entropy_bits, filter_probs, generation_steps, repetition_rate
from gptviz.widgets import decoding as widgets


def test_generation_steps_follow_generate(tiny_model, tok):
    for kwargs in (dict(temperature=1.0, seed=1), dict(temperature=0.8, top_k=4, seed=2), dict(temperature=0)):
        steps = generation_steps(tiny_model, tok, "ROMEO:", 25, **kwargs)
        assert "".join(s.token for s in steps) == gptviz.generate(tiny_model, tok, "ROMEO:", 25, **kwargs)
        assert all(0 < s.prob <= 1 and 0 < s.sampled_prob <= 1 and s.rank >= 1 for s in steps)
    assert all(s.rank == 1 and s.sampled_prob == 1.0 for s in generation_steps(tiny_model, tok, "RO", 10, 0))


def test_first_step_probability_is_the_models(tiny_model, tok):
    step = generation_steps(tiny_model, tok, "ROMEO:", 1, seed=0)[0]
    probs = gptviz.next_token_probs(tiny_model, tok, "ROMEO:")
    assert step.prob == pytest.approx(probs[step.id])
    assert step.rank == 1 + int((probs > probs[step.id]).sum())
    assert step.entropy == pytest.approx(float(entropy_bits(probs)))


def test_entropy_bits():
    assert entropy_bits(np.full(8, 1 / 8)) == pytest.approx(3.0)
    assert entropy_bits(np.eye(4)[2]) == pytest.approx(0.0)
    assert entropy_bits(np.full((3, 4), 0.25)).shape == (3,)


def test_temperature_matches_softmax_of_scaled_logits_and_raises_entropy():
    torch.manual_seed(0)
    logits = torch.randn(30) * 3
    for T in (0.5, 1.0, 2.0):
        torch.testing.assert_close(filter_probs(logits, T), torch.softmax(logits.double() / T, -1))
    entropies = [float(entropy_bits(filter_probs(logits, T).numpy())) for T in (0.25, 0.5, 1, 2, 4)]
    assert np.all(np.diff(entropies) > 0)
    assert entropies[-1] < np.log2(30)


def test_repetition_rate():
    assert repetition_rate("abcdefgh", 3) == 0.0
    assert repetition_rate("abababab", 2) == pytest.approx(5 / 7)  # 7 pieces, all but the first two seen before
    assert repetition_rate("ab", 5) == 0.0
    with pytest.raises(ValueError, match="n must"):
        repetition_rate("abc", 0)


def test_greedy_text_repeats_more_than_sampled_text(pretrained):
    model, tok = pretrained
    greedy = gptviz.generate(model, tok, "ROMEO:\n", 200, temperature=0)
    sampled = [gptviz.generate(model, tok, "ROMEO:\n", 200, temperature=1.0, seed=s) for s in range(2)]
    assert repetition_rate(greedy) > 0.3
    assert repetition_rate(greedy) > 2 * max(repetition_rate(t) for t in sampled)


def test_sampling_view_marks_what_top_k_and_top_p_cut(pretrained):
    model, tok = pretrained
    fig, sample = widgets.sampling_view(model, tok, "ROMEO:\nWhat", 0.8, top_k=5, top_p=None, sample_length=20)
    assert isinstance(fig, Figure) and len(sample) == 20
    assert "5 candidates" in fig.axes[0].get_title()
    fig, _ = widgets.sampling_view(model, tok, "ROMEO:\nWhat", 0, top_k=0, top_p=1.0, sample_length=5)
    assert "1 candidates" in fig.axes[0].get_title()


def test_candidates_are_sorted_and_checked(tiny_model, tok):
    options = widgets.candidates(tiny_model, tok, "ROMEO:", 5)
    assert len(options) == 5 and [p for _, p in options] == sorted((p for _, p in options), reverse=True)
    probs = gptviz.next_token_probs(tiny_model, tok, "ROMEO:")
    assert options[0] == (tok.chars[int(np.argmax(probs))], pytest.approx(probs.max()))
    with pytest.raises(ValueError, match="k must"):
        widgets.candidates(tiny_model, tok, "ROMEO:", 0)


def test_pick_token_explorer_buttons(tiny_model, tok):
    box = widgets.pick_token_explorer(tiny_model, tok, "ROMEO:", k=4)
    text = box.children[0].children[0].children[0]
    choice, (add, sample, undo) = box.children[1], box.children[2].children
    assert len(choice.options) == 4
    picked = choice.options[1][1]
    choice.value = picked
    add.click()  # the options then change to the next position's candidates
    assert text.value == "ROMEO:" + picked
    sample.click()
    assert len(text.value) == len("ROMEO:") + 2
    undo.click()
    undo.click()
    assert text.value == "ROMEO:"


def test_sampling_explorer_redraws_on_slider_change(tiny_model, tok):
    box = widgets.sampling_explorer(tiny_model, tok, "ROMEO:")
    prompt, temperature, top_k, top_p = box.children[0].children
    output = box.children[1]
    temperature.value = 0.0
    assert len(output.outputs) == 2  # the figure and the sample
    top_k.value = 3
    assert len(output.outputs) == 2
    prompt.value = "ROMEO: é"  # an unknown character: the message is shown, not raised
    (message,) = output.outputs
    assert message["data"]["text/plain"] == "Can't show this: the model does not know 'é' (U+00E9)"


def test_decoding_plots_return_figures(tiny_model, tok):
    probs = gptviz.next_token_probs(tiny_model, tok, "ROMEO:")
    logits = np.log(probs)
    assert isinstance(plots.sampling_bars(probs, probs, tok.chars, top=5), Figure)
    assert isinstance(plots.temperature_panels(logits, tok.chars), Figure)
    assert isinstance(plots.entropy_curve([0.5, 1, 2], [1, 2, 3], tok.vocab_size), Figure)
    assert isinstance(plots.generation_steps_figure(generation_steps(tiny_model, tok, "RO", 8, seed=0)), Figure)
    assert isinstance(plots.repetition_bars({"greedy": 0.6, "T=1": 0.1}), Figure)
    timings = {"lengths": np.array([8, 16]), "no_cache_seconds": np.array([2.0, 5.0]),
               "cache_seconds": np.array([1.0, 1.5]), "speedup": np.array([2.0, 3.3])}
    assert isinstance(plots.kv_cache_figure(timings), Figure)
    with pytest.raises(ValueError, match="vocabulary"):
        plots.sampling_bars(probs[:-1], probs, tok.chars)
    with pytest.raises(ValueError, match="temperatures"):
        plots.temperature_panels(logits, tok.chars, temperatures=(0, 1))
    with pytest.raises(ValueError, match="steps"):
        plots.generation_steps_figure([])


# --------------------------------------------------------------------------- checks that can fail

def flat_model(tiny_config):
    """A model that has learnt nothing: every logit 0, so every next character is equally likely."""
    model = gptviz.GPT(tiny_config).eval()
    with torch.no_grad():
        model.lm_head.weight.zero_()  # tied to the embedding, so the input carries nothing either
    return model


CONFIDENT, HESITANT = "ROMEO:\nBut soft, what light through yonder windo", "ROMEO:\n"


def test_top_p_adapts_on_the_shipped_model_only(pretrained, tiny_config, tok):
    from gptviz.decoding import confident_vs_hesitant, top_p_adapts
    model, ptok = pretrained
    found = confident_vs_hesitant(model, ptok, CONFIDENT, HESITANT, 0.9)
    assert top_p_adapts(found)
    assert found[CONFIDENT]["nucleus"] <= 2 and found[HESITANT]["nucleus"] >= 10
    torch.manual_seed(0)
    untrained = gptviz.GPT(tiny_config).eval()
    for broken in (untrained, flat_model(tiny_config)):  # the same check fails where nothing was learnt
        assert not top_p_adapts(confident_vs_hesitant(broken, tok, "ROMEO:\nBut soft, what", "ROMEO:\n", 0.9))


def test_nucleus_size_matches_filter_probs():
    from gptviz.decoding import nucleus_size
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    assert [nucleus_size(probs, p) for p in (0.4, 0.5, 0.79, 0.81, 0.96, 1.0)] == [1, 1, 2, 3, 4, 4]


def test_outsiders_where_unsure_holds_on_the_model_and_fails_on_a_flat_one(pretrained, tiny_config, tok):
    from gptviz.decoding import outsiders_where_unsure, surprise_entropy
    model, ptok = pretrained
    assert outsiders_where_unsure(generation_steps(model, ptok, "ROMEO:\n", 200, temperature=0.8, seed=3))
    flat = generation_steps(flat_model(tiny_config), tok, "ROMEO:", 60, temperature=1.0, seed=0)
    # a flat model: all tokens tie, so every pick is rank 1 — give it the ranks a sampler that ignores the model has
    flat = [gptviz.sampling.Step(s.token, s.id, s.prob, s.sampled_prob, 1 + i % 2, s.entropy)
            for i, s in enumerate(flat)]
    assert not outsiders_where_unsure(flat)
    with pytest.raises(ValueError, match="both kinds"):
        surprise_entropy(flat[::2])


def test_stop_sequence_on_the_shipped_model_ends_a_speech(pretrained):
    model, tok = pretrained
    text = gptviz.generate(model, tok, "ROMEO:\n", 300, temperature=0.8, seed=1, stop="\n\n")
    assert text.endswith("\n\n") and text.count("\n\n") == 1 and len(text) < 300


# --------------------------------------------------------------------------- beam search

def test_beam_of_width_one_is_greedy_and_its_score_is_the_rescored_logprob(tiny_model, tok):
    from gptviz.decoding import beam_search, sequence_logprob
    greedy = gptviz.generate(tiny_model, tok, "ROMEO:", 20, temperature=0)
    text, score = beam_search(tiny_model, tok, "ROMEO:", 20, beam_width=1)
    assert text == greedy
    for width in (1, 3, 6):
        text, score = beam_search(tiny_model, tok, "ROMEO:", 20, beam_width=width)
        assert len(text) == 20
        assert score == pytest.approx(sequence_logprob(tiny_model, tok, "ROMEO:", text), abs=1e-4)


def test_beam_vs_greedy_check_passes_for_the_beam_and_fails_for_a_sample(pretrained):
    from gptviz.decoding import beam_search, beam_vs_greedy
    model, tok = pretrained
    text, score = beam_search(model, tok, "ROMEO:\n", 80, beam_width=4)
    beam, greedy = beam_vs_greedy(model, tok, "ROMEO:\n", text)
    assert beam == pytest.approx(score, abs=1e-3) and beam > greedy
    sample = gptviz.generate(model, tok, "ROMEO:\n", 80, temperature=1.0, seed=0)
    not_beam, greedy_again = beam_vs_greedy(model, tok, "ROMEO:\n", sample)  # a broken "beam": a plain sample
    assert greedy_again == greedy and not not_beam >= greedy


def test_sequence_logprob_adds_the_log_probabilities(tiny_model, tok):
    from gptviz.decoding import sequence_logprob
    first = np.log(gptviz.next_token_probs(tiny_model, tok, "ROMEO:")[tok.stoi["\n"]])
    second = np.log(gptviz.next_token_probs(tiny_model, tok, "ROMEO:\n")[tok.stoi["B"]])
    assert sequence_logprob(tiny_model, tok, "ROMEO:", "\nB") == pytest.approx(first + second, abs=1e-5)
    assert sequence_logprob(tiny_model, tok, "ROMEO:", "") == 0.0
    with pytest.raises(ValueError, match="block_size"):
        sequence_logprob(tiny_model, tok, "ROMEO:", "a" * 40)


@pytest.mark.parametrize("kwargs, name", [(dict(beam_width=0), "beam_width"), (dict(max_new_tokens=0), "max_new"),
                                          (dict(max_new_tokens=40), "max_new_tokens")])
def test_beam_search_arguments_are_checked(tiny_model, tok, kwargs, name):
    from gptviz.decoding import beam_search
    with pytest.raises(ValueError, match=name):
        beam_search(tiny_model, tok, "ROMEO:", **{"max_new_tokens": 5, **kwargs})


# --------------------------------------------------------------------------- many samples at once

def test_sample_texts_draw_from_the_filtered_distribution(tiny_model, tok):
    from gptviz.decoding import sample_texts
    texts = sample_texts(tiny_model, tok, "ROMEO:", 6, 20, temperature=1.0, seed=0)
    assert len(texts) == 6 and all(len(t) == 20 for t in texts) and len(set(texts)) > 1
    assert texts == sample_texts(tiny_model, tok, "ROMEO:", 6, 20, temperature=1.0, seed=0)
    greedy = gptviz.generate(tiny_model, tok, "ROMEO:", 20, temperature=0)
    assert sample_texts(tiny_model, tok, "ROMEO:", 3, 20, temperature=0) == [greedy] * 3
    penalized = gptviz.generate(tiny_model, tok, "ROMEO:", 20, temperature=0, repetition_penalty=3.0)
    assert sample_texts(tiny_model, tok, "ROMEO:", 2, 20, temperature=0, repetition_penalty=3.0) == [penalized] * 2
    first = {t[0] for t in sample_texts(tiny_model, tok, "ROMEO:", 40, 1, temperature=1.0, top_k=2, seed=1)}
    probs = gptviz.next_token_probs(tiny_model, tok, "ROMEO:")
    assert first <= {tok.chars[i] for i in np.argsort(-probs)[:2]}
    with pytest.raises(ValueError, match="max_new_tokens"):
        sample_texts(tiny_model, tok, "ROMEO:", 2, 40)


def test_new_decoding_plots(tok):
    probs = np.linspace(1, 2, tok.vocab_size)
    probs /= probs.sum()
    sure = np.eye(tok.vocab_size)[0] * 0.9 + 0.1 / tok.vocab_size
    fig = plots.cumulative_mass_figure({"sure": sure, "unsure": probs}, 0.9)
    assert isinstance(fig, Figure) and "keeps 1" in fig.axes[0].get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="top_p"):
        plots.cumulative_mass_figure({"sure": sure}, 0)
    assert isinstance(plots.repetition_bars({"greedy": 0.4, "T=1": [0.0, 0.02, 0.05]}), Figure)
    with pytest.raises(ValueError, match="rates"):
        plots.repetition_bars({"T=1": []})
