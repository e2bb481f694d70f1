"""One style for every picture: each plot function draws its text at the style's sizes and leaves rcParams alone."""

import inspect
from types import SimpleNamespace

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import font_scalings

from gptviz import plots
from gptviz.head_jobs import POSITION_CLASSES, PositionDamage
from gptviz.heads import ROLES, HeadRoles
from gptviz.lens import Lens
from gptviz.plots import style
from gptviz.sampling import Step

VOCAB = list("abcdef \n")
TOKENS = list("to be or\nnot")
RNG = np.random.default_rng(0)


def causal(T):
    a = np.tril(RNG.random((T, T)))
    return a / a.sum(-1, keepdims=True)


T = len(TOKENS)
PROBS = np.linspace(1, 2, len(VOCAB)) / np.linspace(1, 2, len(VOCAB)).sum()
TIMINGS = {"lengths": [16, 32, 64], "loop_seconds": [1e-3, 2e-3, 4e-3], "parallel_seconds": [1e-4, 1.5e-4, 2e-4],
           "no_cache_seconds": [0.1, 0.3, 0.9], "cache_seconds": [0.05, 0.1, 0.2]}
TABLE = {"speaker": {"format": 0.9, "accuracy": 0.5, "chance": 0.2}}
RUN = SimpleNamespace(label="learned", steps=[0, 10, 20], losses=[0.7, 0.4, 0.1], accuracy=0.9)
PROFILES = {"rnn": np.logspace(0, -4, 12), "lstm": np.full(12, 0.5)}
GATES = {g: RNG.random((6, 4)) for g in ("input", "forget", "output")}
STEPS = [Step("a", 0, 0.8, 0.8, 1, 1.0), Step("b", 1, 0.1, 0.1, 3, 2.0)]
LENS = Lens(list("abcd"), RNG.dirichlet(np.ones(len(VOCAB)), size=(3, 4)), np.array([1, 2, 3]))

# every public plot function, called with small but realistic data
CASES = {
    "attention_heatmap": lambda: plots.attention_heatmap(causal(T), TOKENS),
    "attention_grid": lambda: plots.attention_grid(np.stack([np.stack([causal(T)] * 2)] * 2), TOKENS,
                                                   subtitles={(0, 0): "previous token"}),
    "query_attention_text": lambda: plots.query_attention_text(causal(T)[4], TOKENS, 4),
    "attention_view": lambda: plots.attention_view(causal(T), TOKENS, 4),
    "update_attention_view": lambda: plots.update_attention_view(
        plots.update_attention_view(None, causal(T), TOKENS, 3), causal(T), TOKENS, 6, "redrawn"),
    "head_matrix": lambda: plots.head_matrix(RNG.random((2, 3)), "numbers", colorbar_label="score"),
    "role_scores_figure": lambda: plots.role_scores_figure(
        HeadRoles({r: RNG.random((2, 2)) for r in ROLES}, {r: 0.05 for r in ROLES}, 0)),
    "role_lift_figure": lambda: plots.role_lift_figure(
        HeadRoles({r: RNG.random((2, 2)) for r in ROLES}, {r: 0.05 for r in ROLES}, 0)),
    "head_grid": lambda: plots.head_grid(np.tile(np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None],
                                                 (2, 2, 1, 1)), TOKENS, subtitles={(0, 0): "previous token"}),
    "position_damage_figure": lambda: plots.position_damage_figure(
        [PositionDamage(POSITION_CLASSES, np.full(7, 1 / 7), np.ones(7), RNG.random((2, 2, 7)), np.ones((2, 2)), m)
         for m in ("zero", "mean")], [(0, 0), (1, 1)], {(0, 0): "previous token"}),
    "head_count_figure": lambda: plots.head_count_figure(
        {"n_heads": [1, 4], "seeds": [0, 1], "model": {"n_embd": 64}, "val_loss": {"1": [1.9, 1.8], "4": [1.8, 1.7]}}),
    "softmax_saturation_figure": lambda: plots.softmax_saturation_figure(
        {"dims": [4, 16], "max_weight_raw": [0.5, 0.9], "max_weight_scaled": [0.3, 0.3], "grad_raw": [0.3, 0.1],
         "grad_scaled": [0.3, 0.3]}),
    "attention_by_offset_figure": lambda: plots.attention_by_offset_figure(RNG.random((2, 2, 10)), far=4),
    "token_strip": lambda: plots.token_strip(["to", " be", "\n", "or"]),
    "token_count_bars": lambda: plots.token_count_bars({"characters": 100, "BPE": 40}),
    "embedding_map": lambda: plots.embedding_map(RNG.random((3, 2)), "aB.", ["vowel", "capital", "punct"], [0.3, 0.1]),
    "neighbour_table": lambda: plots.neighbour_table([("a", [("A", 0.4), ("o", 0.2)]), ("?", [("!", 0.6)])],
                                                     {"a": "vowels", "A": "capitals", "o": "vowels", "?": "punct",
                                                      "!": "punct"}),
    "model_diagram": lambda: plots.model_diagram(SimpleNamespace(n_layer=2, n_head=2, n_embd=8, vocab_size=7,
                                                                 block_size=16), T=5),
    "positional_heatmap": lambda: plots.positional_heatmap(RNG.normal(size=(16, 8)), mark=3),
    "similarity_by_offset_figure": lambda: plots.similarity_by_offset_figure(
        {"sin": (np.arange(5), np.linspace(1, 0, 5))}),
    "task_curves_figure": lambda: plots.task_curves_figure([RUN], chance=0.69),
    "similarity_matrices_figure": lambda: plots.similarity_matrices_figure({"a": np.eye(6), "b": np.eye(6)}),
    "sweep_curves_figure": lambda: plots.sweep_curves_figure(
        {"runs": {"x": [{"steps": [1, 2], "losses": [0.7, 0.1], "accuracy": 0.95}]}}, ["x"], chance=0.69),
    "parameter_share_bars": lambda: plots.parameter_share_bars({"attention": 10, "feed-forward (MLP)": 20}),
    "logit_lens_grid": lambda: plots.logit_lens_grid(LENS, VOCAB),
    "lens_loss_bars": lambda: plots.lens_loss_bars([3.0, 2.0, 1.5], 2.5),
    "neuron_text": lambda: plots.neuron_text("ROMEO:\nBut", RNG.random(10)),
    "neuron_histogram": lambda: plots.neuron_histogram(RNG.random(20), RNG.random(30), "speaker name", 0.8),
    "ablation_bars": lambda: plots.ablation_bars({"full model": 1.5, "no MLPs at all": 4.0}),
    "next_token_bars": lambda: plots.next_token_bars(PROBS, VOCAB, 5),
    "sampling_bars": lambda: plots.sampling_bars(PROBS, np.where(PROBS > 0.12, PROBS, 0), VOCAB, top=5),
    "temperature_panels": lambda: plots.temperature_panels(np.log(PROBS), VOCAB, top=5),
    "entropy_curve": lambda: plots.entropy_curve([0.5, 1, 2], [1, 2, 2.5], len(VOCAB)),
    "generation_steps_figure": lambda: plots.generation_steps_figure(STEPS),
    "repetition_bars": lambda: plots.repetition_bars({"greedy": 0.6, "T=1": [0.1, 0.0, 0.05]}),
    "cumulative_mass_figure": lambda: plots.cumulative_mass_figure({"sure": PROBS[::-1] ** 4 / (PROBS ** 4).sum(),
                                                                    "unsure": PROBS}, top_p=0.9, top=6),
    "loss_curves": lambda: plots.loss_curves({"step": [0, 1], "train_loss": [3, 1], "val_loss": [3, 1.5]}, 2.5),
    "lr_curves": lambda: plots.lr_curves({"lr 0.01": {"step": [0, 1], "val_loss": [4.3, 3.0]}}, start=4.34),
    "slow_vs_fast_figure": lambda: plots.slow_vs_fast_figure(
        [1, 2], [2, 4], [1, 1], slow_label="slow", fast_label="fast", xlabel="n", ratio_label="ratio",
        left_title="time", ratio_title="ratio", title="both"),
    "loop_vs_parallel_figure": lambda: plots.loop_vs_parallel_figure(TIMINGS),
    "kv_cache_figure": lambda: plots.kv_cache_figure(TIMINGS),
    "gradient_vs_distance": lambda: plots.gradient_vs_distance(PROFILES, mark=8),
    "gradient_panels": lambda: plots.gradient_panels(PROFILES, PROFILES, mark=8),
    "accuracy_vs_gap": lambda: plots.accuracy_vs_gap(
        {"gaps": [5, 50], "chance": 0.125, "steps": 3, "accuracy": {"rnn": [[1.0, 0.9], [0.2, 0.1]]}},
        live={"rnn": {5: 1.0}}),
    "task_losses": lambda: plots.task_losses({"rnn gap 50": np.linspace(2, 1, 40)}, chance_loss=2.08),
    "lstm_gates": lambda: plots.lstm_gates(GATES, "A0123?", cell=RNG.normal(size=(6, 4))),
    "letter_memory_curves": lambda: plots.letter_memory_curves({"rnn": np.logspace(0, -8, 20)}),
    "spectral_radius_plot": lambda: plots.spectral_radius_plot(np.logspace(0, -5, 20), 0.6),
    "architecture_diagram": lambda: plots.architecture_diagram(),
    "attention_on_text": lambda: plots.attention_on_text("ab\nc", [0.1, 0.2, 0.3, 0.4], highlight=(0, 2)),
    "before_after_bars": lambda: plots.before_after_bars({"before": TABLE, "after": TABLE}),
    "answer_loss_curve": lambda: plots.answer_loss_curve([3.0, 2.0, 1.5]),
    "first_token_comparison": lambda: plots.first_token_comparison({"a": PROBS, "b": PROBS[::-1]}, VOCAB, top=4),
    "preference_pipeline": lambda: plots.preference_pipeline(),
    "attention_distance_figure": lambda: plots.attention_distance_figure(RNG.random((2, 2, 10)), RNG.random(10), far=4),
    "context_loss_figure": lambda: plots.context_loss_figure(
        [8, 16, 32], {"model": ([2.0, 1.8, 1.7], [0.1] * 3), "uniform": ([3.0, 3.2, 3.1], [0.1] * 3)}),
    "perturbation_figure": lambda: plots.perturbation_figure(
        [1, 4, 16], {"model": ([0.5, 0.1, 0.01], [0.01] * 3), "uniform": ([0.01] * 3, [0.001] * 3)}, far=4),
}
HELPERS = {"new_figure", "new_panels", "token_label", "readable_tokens", "readable_window"}  # public, not pictures
# far from every style's sizes, so a size taken from the global rcParams instead of the style shows
ELSEWHERE = {"font.size": 4.0, "axes.titlesize": 4.5, "axes.labelsize": 5.0, "xtick.labelsize": 5.5,
             "ytick.labelsize": 5.5, "legend.fontsize": 6.0, "figure.titlesize": 6.5, "figure.dpi": 50}


def test_every_public_plot_function_is_checked():
    functions = {name for name, value in vars(plots).items()
                 if inspect.isfunction(value) and not name.startswith("_")}
    assert functions - HELPERS == set(CASES)


def text_sizes(fig: Figure) -> dict[str, set[float]]:
    """Font sizes (points) of every visible, non-empty text in the drawn figure, by kind."""
    FigureCanvasAgg(fig).draw()  # ticks made while drawing must take the style too
    sizes = {"title": set(), "label": set(), "tick": set(), "legend": set(), "suptitle": set(), "other": set()}

    def add(kind, text):
        if text.get_visible() and text.get_text():
            sizes[kind].add(text.get_fontsize())

    if fig._suptitle is not None:
        add("suptitle", fig._suptitle)
    for ax in fig.axes:
        for title in (ax.title, ax._left_title, ax._right_title):
            add("title", title)
        for axis in (ax.xaxis, ax.yaxis):
            add("label", axis.label)
            if axis.get_visible() and ax.axison:
                for label in axis.get_ticklabels(which="both"):
                    add("tick", label)
        legend = ax.get_legend()
        for text in legend.get_texts() if legend else ():
            add("legend", text)
        for text in ax.texts:
            add("other", text)
    return sizes


@pytest.mark.parametrize("name", sorted(CASES))
def test_plot_texts_take_the_style_sizes_and_leave_rcparams_alone(name):
    rc = style.rc()
    with mpl.rc_context(ELSEWHERE):
        before = dict(mpl.rcParams)
        fig = CASES[name]()
        assert dict(mpl.rcParams) == before  # nothing leaked out of the style's context
        sizes = text_sizes(fig)
    assert isinstance(fig, Figure)
    assert fig.dpi == rc["figure.dpi"]
    assert sizes["title"] | sizes["suptitle"], "every picture has a title"
    assert sizes["title"] <= {rc["axes.titlesize"]}
    assert sizes["suptitle"] <= {rc["figure.titlesize"]}
    assert sizes["label"] <= {rc["axes.labelsize"]}
    assert sizes["tick"] <= {rc["xtick.labelsize"], rc["ytick.labelsize"]}
    assert sizes["legend"] <= {rc["legend.fontsize"]}
    # any other text is the style's base size, or a named step from it (a deliberate exception, e.g. "large")
    allowed = {round(rc["font.size"] * scale, 3) for scale in font_scalings.values() if scale}
    assert {round(s, 3) for s in sizes["other"]} <= allowed


def test_the_style_is_restored_when_a_plot_function_raises():
    before = dict(mpl.rcParams)
    with pytest.raises(ValueError, match="tokens"):
        plots.token_strip([])
    assert dict(mpl.rcParams) == before


def test_an_axes_made_outside_the_style_gets_its_sizes():
    """A notebook that lays out its own panels (Figure.subplots) and fills them with plot functions."""
    rc = style.rc()
    with mpl.rc_context(ELSEWHERE):
        fig = Figure(figsize=(10, 3), layout="constrained")
        for ax in fig.subplots(1, 2):
            plots.spectral_radius_plot(np.logspace(0, -5, 20), 0.6, ax=ax)
        sizes = text_sizes(fig)
    assert sizes["tick"] == {rc["xtick.labelsize"]}
    assert sizes["label"] == {rc["axes.labelsize"]}


def test_use_switches_every_later_picture_and_rejects_unknown_names(monkeypatch):
    monkeypatch.setitem(style.STYLES, "projector", {**style.STYLES["notebook"], "axes.titlesize": 21.0})
    monkeypatch.setattr(style, "_current", ["notebook"])
    style.use("projector")
    assert CASES["loss_curves"]().axes[0].title.get_fontsize() == 21.0
    style.use("notebook")
    assert CASES["loss_curves"]().axes[0].title.get_fontsize() == style.STYLES["notebook"]["axes.titlesize"]
    with pytest.raises(ValueError, match="style must be one of"):
        style.use("poster")


# every name `gptviz.plots` exported before its modules were arranged by topic
EXPORTED = """DIVERGING KIND_COLOURS KIND_LABELS PALETTE SEQUENTIAL ablation_bars accuracy_vs_gap answer_loss_curve
architecture_diagram attention_by_offset_figure attention_grid attention_heatmap attention_on_text
attention_view before_after_bars embedding_map entropy_curve first_token_comparison generation_steps_figure
gradient_panels gradient_vs_distance head_matrix kv_cache_figure lens_loss_bars letter_memory_curves
logit_lens_grid loop_vs_parallel_figure loss_curves lstm_gates neuron_histogram neuron_text new_figure
next_token_bars parameter_share_bars positional_heatmap preference_pipeline query_attention_text
repetition_bars role_scores_figure sampling_bars similarity_by_offset_figure slow_vs_fast_figure
softmax_saturation_figure spectral_radius_plot task_curves_figure task_losses temperature_panels
token_count_bars token_label token_strip update_attention_view""".split()


def test_every_name_and_the_module_path_the_notebooks_import_still_work():
    from gptviz.plots import chat as chat_plots  # chapter 09 imports the module itself

    assert [name for name in EXPORTED if not hasattr(plots, name)] == []
    assert chat_plots.preference_pipeline is plots.preference_pipeline


def test_the_explorers_own_figures_take_the_style_sizes(tiny_model, tok):
    from gptviz.widgets.attention import positional_figure
    from gptviz.widgets.core import overview_figure

    rc = style.rc()
    with mpl.rc_context(ELSEWHERE):
        for fig in (overview_figure(tiny_model, tok, "ROMEO:\nBut"), positional_figure(RNG.normal(size=(16, 8)), 3)):
            sizes = text_sizes(fig)
            assert fig.dpi == rc["figure.dpi"]
            assert sizes["title"] == {rc["axes.titlesize"]}
            assert sizes["label"] == {rc["axes.labelsize"]}
            assert sizes["tick"] == {rc["xtick.labelsize"]}
