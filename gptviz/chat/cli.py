"""Fine-tune the chat model (`python -m gptviz.chat finetune`) or score it (`... evaluate`)."""

from __future__ import annotations

import argparse
import json

from .dataset import INVENT_SHARE, build_dataset
from .evaluation import evaluate
from .finetuning import FINETUNE_BATCH, FINETUNE_LR, FINETUNE_STEPS
from .shipped import chat_model_dir, chat_ready_pretrained, load_chat_model, make_chat_model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gptviz.chat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ft = sub.add_parser("finetune", help="fine-tune the shipped model on the chat dataset and save it")
    ft.add_argument("--out", default=str(chat_model_dir()))
    ft.add_argument("--steps", type=int, default=FINETUNE_STEPS)
    ft.add_argument("--batch-size", type=int, default=FINETUNE_BATCH)
    ft.add_argument("--lr", type=float, default=FINETUNE_LR)
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--invent", type=float, default=INVENT_SHARE, help="share of passages with invented names")
    ft.add_argument("--device", default="cpu", help="cpu (the default) or cuda")
    sub.add_parser("evaluate", help="score the pre-trained and the shipped fine-tuned model on the test questions")
    args = parser.parse_args(argv)
    if args.command == "finetune":
        info = make_chat_model(args.out, args.steps, args.batch_size, args.lr, args.seed, invent=args.invent,
                               device=args.device)
        print(json.dumps({k: info[k] for k in ("seconds", "before", "after", "before_train", "after_train")}, indent=1))
    else:
        test = build_dataset().test
        for name, (model, tokenizer) in (("pre-trained", chat_ready_pretrained()), ("fine-tuned", load_chat_model())):
            print(name, json.dumps(evaluate(model, tokenizer, test).table()))

