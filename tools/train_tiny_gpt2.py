"""Trains a small GPT-2 on the CPU in minutes: an evaluation fixture with real, trained weights.

    /usr/bin/python3 tools/train_tiny_gpt2.py --out ~/.cache/pthrun/tiny-python-docs-256 \
        [--width 128] [--layers 4] [--heads 4] [--context 256] [--batch 4] [--minutes 25] [--threads 1] \
        [--pthrun build/pthrun]

(the README's evaluation model was made with exactly those values)

Random weights say nothing about what bf16, f16 or int8 storage costs a model: trained weights
have the outliers and structure that quantization has to cope with. This makes one with the
GPT-2 vocabulary, so that pthrun's tokenizer, loader and kernels run on it unchanged.

Text: the reStructuredText sources of Python's documentation, from Debian's python3.11-doc
package (/usr/share/doc/python3.11/html/_sources, about 12 MB of English prose and examples;
licence: the Python Software Foundation License Version 2, see
/usr/share/doc/python3.11-doc/copyright). The files are read in sorted order, joined by
<|endoftext|>, tokenized by `pthrun tokenize`; every 20th file is held out for validation.

Model: the book's GPTModel (tools/torch_gpt2.py) with --layers blocks of --width channels and
--heads heads, a context of --context, the output head tied to the token embedding (as GPT-2).
AdamW, cosine learning rate, batches of --batch random windows, until --steps or --minutes.

Writes to --out:
  model.pth         the state dict in the book's naming (torch.save; pthrun loads it)
  config.json       n_head and friends, which pthrun reads beside the checkpoint
  valid.ids         the validation tokens, one id per line (for perplexity)
  train.log         the loss every 25 steps and the final validation loss
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_gpt2 import GPTModel  # noqa: E402

DEFAULT_TEXT = "/usr/share/doc/python3.11/html/_sources"


def corpus_files(root):
    files = []
    for directory, _, names in os.walk(root):
        files += [os.path.join(directory, n) for n in names if n.endswith(".txt")]
    if not files:
        sys.exit(f"train_tiny_gpt2: no .txt files under {root} (apt-get install python3.11-doc)")
    return sorted(files)


def tokenize(pthrun, files, path):
    """Joins the files with <|endoftext|> and returns pthrun's ids."""
    with open(path, "wb") as out:
        for f in files:
            with open(f, "rb") as src:
                out.write(src.read())
            out.write(b"\n<|endoftext|>")
    ids = subprocess.run([pthrun, "tokenize", "--special", "-f", path], check=True, capture_output=True).stdout
    return torch.tensor(json.loads(ids), dtype=torch.long)


def evaluate(model, tokens, context, batch=16):
    """Mean cross-entropy over consecutive windows of the tokens."""
    model.eval()
    losses, count = 0.0, 0
    with torch.no_grad():
        starts = list(range(0, len(tokens) - context - 1, context))
        for i in range(0, len(starts), batch):
            x = torch.stack([tokens[s:s + context] for s in starts[i:i + batch]])
            y = torch.stack([tokens[s + 1:s + context + 1] for s in starts[i:i + batch]])
            logits = model(x)
            losses += torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
            count += y.numel()
    model.train()
    return losses / count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--pthrun", default=os.path.join(HERE, "..", "build", "pthrun"))
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100000)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    files = corpus_files(args.text)
    valid_files = files[::20]
    train_files = [f for f in files if f not in set(valid_files)]
    train = tokenize(args.pthrun, train_files, os.path.join(args.out, "train.txt"))
    valid = tokenize(args.pthrun, valid_files, os.path.join(args.out, "valid.txt"))
    with open(os.path.join(args.out, "valid.ids"), "w") as f:
        f.write("\n".join(str(int(t)) for t in valid) + "\n")

    cfg = {"vocab_size": 50257, "emb_dim": args.width, "heads": args.heads, "context": args.context,
           "n_layers": args.layers, "qkv_bias": True}
    model = GPTModel(cfg)
    model.out_head.weight = model.tok_emb.weight  # tied, as GPT-2
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0, 0.02)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95))
    log = open(os.path.join(args.out, "train.log"), "w")

    def say(text):
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()

    say(f"{len(train_files)} training files, {len(train)} tokens; {len(valid_files)} validation files, "
        f"{len(valid)} tokens; {sum(p.numel() for p in model.parameters())} parameters")
    start, step, budget = time.time(), 0, args.minutes * 60
    warmup = 50
    while step < args.steps and time.time() - start < budget:
        # Cosine decay over the time budget (the step count it allows is not known beforehand).
        progress = min((time.time() - start) / budget, 1.0)
        lr = args.lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * progress))
        for group in optimizer.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(train) - args.context - 1, (args.batch,))
        x = torch.stack([train[s:s + args.context] for s in starts])
        y = torch.stack([train[s + 1:s + args.context + 1] for s in starts])
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 25 == 0 or step < 3:
            say(f"step {step} loss {loss.item():.3f} lr {lr:.2e} {time.time() - start:.0f}s")
        step += 1
    valid_loss = evaluate(model, valid, args.context)
    say(f"after {step} steps: validation loss {valid_loss:.4f}, perplexity {math.exp(valid_loss):.2f}")

    torch.save(model.state_dict(), os.path.join(args.out, "model.pth"))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump({"model_type": "gpt2", "vocab_size": 50257, "n_positions": args.context, "n_embd": args.width,
                   "n_layer": args.layers, "n_head": args.heads}, f, indent=2)
    for name in ("train.txt", "valid.txt"):
        os.remove(os.path.join(args.out, name))


if __name__ == "__main__":
    main()
