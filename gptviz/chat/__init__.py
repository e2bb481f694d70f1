"""From a next-token predictor to a chat assistant: a chat dataset built from the plays, fine-tuning, evaluation.

The chat template marks the roles and the end of a turn with four special tokens (`<|system|>`, `<|user|>`,
`<|assistant|>`, `<|end|>`) added to the pre-trained model's 77 characters; ordinary text never encodes to
them. The package reads in this order:

- `template`: the chat template, the new tokens (and embedding rows), and how a reply is read back;
- `dataset`: questions generated from facts the corpus really contains (see its docstring);
- `finetuning`: supervised fine-tuning with the loss on the answers only;
- `decoding`: greedy replies for a batch of prompts through the model's key/value cache;
- `evaluation`: format and accuracy per question kind, where the answer's attention goes, and head ablation;
- `fewshot`: the alternative to fine-tuning: solved examples in the base model's prompt;
- `scale`: our model and data next to GPT-2, GPT-3 and InstructGPT;
- `shipped`: the fine-tuned model shipped in gptviz/data/chat_model, and how it was made.

Reproduce the shipped fine-tuned model with: `python -m gptviz.chat finetune --out gptviz/data/chat_model`.
"""

from . import fewshot
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
from .decoding import first_token_probs, greedy_replies, prompt_ids, reply
from .evaluation import (
    Evaluation,
    accuracy_without_heads,
    answer_attention,
    answer_span,
    attention_on_answer,
    compare_replies,
    comparison_table,
    evaluate,
    head_ablation,
    is_causal_head,
    prompt_attention,
)
from .fewshot import few_shot_accuracy, few_shot_prompt, solved_examples
from .finetuning import FINETUNE_BATCH, FINETUNE_LR, FINETUNE_STEPS, answer_loss, encode_examples, finetune
from .scale import PUBLISHED, ModelScale, ours, pretrain_steps, pretraining_corpus, scale_table
from .shipped import (
    CHAT_MODEL_DIR,
    chat_model_dir,
    chat_model_info,
    chat_ready_pretrained,
    load_chat_model,
    make_chat_model,
    weights_digest,
)
from .template import (
    ASSISTANT,
    CHAT_TOKENS,
    END,
    MAX_ANSWER,
    SYSTEM,
    SYSTEM_TOKEN,
    USER,
    add_chat_tokens,
    encode_chat,
    fit_history,
    format_prompt,
    parse_reply,
    token_count,
)

__all__ = [
    "CHAT_TOKENS", "PUBLISHED", "SYSTEM", "SYSTEM_TOKEN", "ModelScale", "accuracy_without_heads", "add_chat_tokens",
    "chat_ready_pretrained", "encode_chat", "few_shot_accuracy", "few_shot_prompt", "first_token_probs",
    "fewshot", "head_ablation", "is_causal_head", "ours", "pretrain_steps", "pretraining_corpus",
    "prompt_attention", "prompt_ids", "scale_table", "solved_examples", "token_count",
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
