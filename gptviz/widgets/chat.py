"""A small chat box: the conversation goes to a (fine-tuned) model, the reply's first-character odds beside it."""

from __future__ import annotations

import html
import io

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..chat import MAX_ANSWER, SYSTEM, fit_history, format_prompt, greedy_replies, parse_reply, token_count
from ..chat.decoding import first_token_probs
from ..plots import PALETTE, next_token_bars
from ..trace import check_characters


def user_turn(question: str, passage: str = "") -> str:
    """What the user sends: the passage (if any) above the question, as in the chat dataset."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty string, got {question!r}")
    passage = "\n".join(line.strip() for line in (passage or "").strip().splitlines() if line.strip())
    return (passage + "\n" if passage else "") + question.strip()


def chat_step(model, tokenizer, question: str, passage: str = "", history=(), system: str | None = SYSTEM):
    """One exchange: (reply, follows_format, new history, prompt, next-token probabilities where the reply starts).

    What the user types is ordinary text: a chat token spelled out in it (`<|end|>`) is refused, never obeyed."""
    turn = check_characters(tokenizer, user_turn(question, passage))
    budget = model.config.block_size - MAX_ANSWER - 1  # room for the reply and its <|end|>
    size = token_count(format_prompt(turn, system=system))
    if size > budget:
        raise ValueError(f"the message is {size} tokens with the chat template; "
                         f"at most {budget} fit in the model's context")
    history = fit_history(turn, tuple(history), budget, system=system)
    prompt = format_prompt(turn, history, system)
    reply, follows = parse_reply(greedy_replies(model, tokenizer, [prompt])[0])
    probs = first_token_probs(model, tokenizer, prompt)
    return reply, follows, (*history, (turn, reply or "...")), prompt, probs


def transcript(history) -> str:
    """The conversation as plain text, one `You:` / `Model:` block per turn."""
    blocks = [f"You:   {q.replace(chr(10), chr(10) + '       ')}\nModel: {a}" for q, a in history]
    return "\n\n".join(blocks) if blocks else "(no messages yet)"


def first_token_figure(probs, vocabulary, reply: str, top: int = 8) -> Figure:
    """Bars of the most likely first characters of the reply."""
    title = f"First character of the reply\n(it chose {reply[:1]!r})" if reply else "First character of the reply"
    return next_token_bars(probs, vocabulary, top, title)


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """A figure as PNG bytes (for an Image widget: nothing is printed into the notebook's outputs)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def chat_box(model, tokenizer, passage: str = "", question: str = "Who speaks first?", send_first: bool = True):
    """Passage and question boxes, a send button, the conversation and the reply's first-character odds beside it."""
    passage_box = widgets.Textarea(value=passage, description="passage", placeholder="optional: NAME: line, one a line",
                                   layout={"width": "560px", "height": "90px"})
    question_box = widgets.Text(value=question, description="question", continuous_update=False,
                                layout={"width": "560px"})
    send, clear = widgets.Button(description="send", button_style="primary"), widgets.Button(description="clear")
    conversation = widgets.HTML(layout={"width": "600px"})
    odds = widgets.Image(format="png", layout={"width": "420px"})
    status = widgets.HTML()
    state = {"history": ()}

    def show_conversation(note=""):
        text = transcript(state["history"]) + (f"\n       ({note})" if note else "")
        conversation.value = f"<pre style='font-size: 13px'>{html.escape(text)}</pre>"

    def refuse(message):  # one line under the boxes, in place of the odds (they were another question's)
        status.value = f"<b style='color: {PALETTE[3]}'>Can't send this:</b> {html.escape(' '.join(message.split()))}"
        odds.value = b""

    def on_send(_=None):
        if not question_box.value.strip():
            if not state.get("emptying"):  # the box emptied after a send is no request; an empty send is
                refuse("type a question first.")
            return
        try:
            reply, follows, history, _, probs = chat_step(model, tokenizer, question_box.value, passage_box.value,
                                                          state["history"])
        except ValueError as err:  # shown, not swallowed
            refuse(str(err))
            return
        status.value = ""
        state["history"] = history
        show_conversation("" if follows else "no clean end of turn: the format was not followed")
        odds.value = figure_png(first_token_figure(probs, tokenizer.tokens, reply))
        passage_box.value = ""  # it is part of the conversation now; the next question can refer to it
        state["emptying"] = True
        try:
            question_box.value = ""
        finally:
            state["emptying"] = False

    def on_clear(_=None):
        state["history"] = ()
        show_conversation()
        odds.value = b""
        status.value = ""

    send.on_click(on_send)
    clear.on_click(on_clear)
    question_box.observe(on_send, names="value")  # Enter sends too; sending empties the box, which is ignored
    box = widgets.VBox([passage_box, widgets.HBox([question_box, send, clear]), status,
                        widgets.HBox([conversation, odds])])
    box.send, box.clear, box.state = on_send, on_clear, state  # for tests and the notebook
    box.conversation, box.status, box.odds = conversation, status, odds
    show_conversation()
    if send_first and question:
        on_send()
    return box


__all__ = ["user_turn", "chat_step", "transcript", "first_token_figure", "figure_png", "chat_box"]
