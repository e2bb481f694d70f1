"""From a next-token predictor to a chat assistant: a chat dataset built from the plays, fine-tuning, evaluation.

The chat format is a two-character play: the user's turn and the assistant's turn are speeches
(`User:` / `Assistant:`), each followed by a blank line, written with the shipped tokenizer's
characters only. The package reads in this order:

- `template`: the chat format, and how a reply is read back;
- `dataset`: questions generated from facts the corpus really contains (see its docstring);
- `finetuning`: supervised fine-tuning with the loss on the answers only;
- `decoding`: greedy replies for a batch of prompts through the model's key/value cache;
- `evaluation`: format and accuracy per question kind, and where the answer's attention goes;
- `shipped`: the fine-tuned model shipped in gptviz/data/chat_model, and how it was made.

Reproduce the shipped fine-tuned model with: `python -m gptviz.chat finetune --out gptviz/data/chat_model`.
"""

from .cli import main
from .dataset import (
    IN_CONTEXT_KINDS,
    INVENT_SHARE,
    KIND_NAMES,
    LINE_CHARS,
    MAX_PROMPT,
    MIN_SPEECHES,
    PASSAGE_SPEECHES,
    QUESTION_KINDS,
    QUESTIONS,
    ChatDataset,
    ChatExample,
    Play,
    Speech,
    build_dataset,
    chance_accuracy,
    character_examples,
    cut_line,
    invented_name,
    is_eponymous,
    is_test_character,
    load_plays,
    parse_play,
    passage_example,
    passage_text,
    quote_of,
    rename_speaker,
    title_of,
    with_invented_names,
)
from .decoding import greedy_replies, reply
from .evaluation import (
    Evaluation,
    answer_attention,
    answer_span,
    attention_on_answer,
    compare_replies,
    comparison_table,
    evaluate,
)
from .finetuning import FINETUNE_BATCH, FINETUNE_LR, FINETUNE_STEPS, answer_loss, encode_examples, finetune
from .shipped import CHAT_MODEL_DIR, chat_model_dir, chat_model_info, load_chat_model, make_chat_model, weights_digest
from .template import ASSISTANT, END, MAX_ANSWER, USER, fit_history, format_prompt, parse_reply

__all__ = [
    "ASSISTANT", "CHAT_MODEL_DIR", "END", "FINETUNE_BATCH", "FINETUNE_LR", "FINETUNE_STEPS", "IN_CONTEXT_KINDS",
    "INVENT_SHARE", "KIND_NAMES", "LINE_CHARS", "MAX_ANSWER", "MAX_PROMPT", "MIN_SPEECHES",
    "PASSAGE_SPEECHES", "QUESTIONS", "QUESTION_KINDS", "USER",
    "ChatDataset", "ChatExample", "Evaluation", "Play", "Speech",
    "answer_attention", "answer_loss", "answer_span", "attention_on_answer", "build_dataset", "chance_accuracy",
    "character_examples", "chat_model_dir", "chat_model_info", "compare_replies", "comparison_table", "cut_line",
    "encode_examples", "evaluate", "finetune", "fit_history", "format_prompt", "greedy_replies", "invented_name",
    "is_eponymous", "is_test_character", "load_chat_model", "load_plays", "main", "make_chat_model", "parse_play",
    "parse_reply", "passage_example", "passage_text", "quote_of", "rename_speaker", "reply", "title_of",
    "weights_digest", "with_invented_names",
]
