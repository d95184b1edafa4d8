"""Writes a Hugging Face save_pretrained folder holding the weights of a GPT-2 checkpoint in HF
naming, with GPT-2's tokenizer files: what llama.cpp's convert_hf_to_gguf.py reads, so that
llama.cpp and pthrun run the same weights.

    python tools/hf_folder.py CKPT OUT_DIR [--heads N] [--vocab-dir /work/shared/gpt2]

CKPT is a state dict in HF naming (`pthrun init --naming hf`, `pthrun convert --naming hf`).
Needs transformers (a venv with `pip install transformers`); the model is loaded strictly, so a
checkpoint that does not match GPT2LMHeadModel fails here rather than later.
"""

import argparse
import json
import os

import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

HEADS = {768: 12, 1024: 16, 1280: 20, 1600: 25}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--heads", type=int)
    parser.add_argument("--vocab-dir", default="/work/shared/gpt2")
    args = parser.parse_args()

    sd = torch.load(args.checkpoint, map_location="cpu")
    vocab, width = sd["transformer.wte.weight"].shape
    context = sd["transformer.wpe.weight"].shape[0]
    layers = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("transformer.h."))
    heads = args.heads
    if heads is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "config.json")
        heads = json.load(open(beside))["n_head"] if os.path.exists(beside) else HEADS[width]
    # n_ctx too: llama.cpp's converter reads it (OpenAI's config.json has it).
    config = GPT2Config(vocab_size=vocab, n_positions=context, n_ctx=context, n_embd=width, n_layer=layers, n_head=heads)
    model = GPT2LMHeadModel(config)
    sd.setdefault("lm_head.weight", sd["transformer.wte.weight"])
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    missing = [k for k in missing if not k.endswith((".attn.bias", ".attn.masked_bias"))]
    if missing or unexpected:
        raise SystemExit(f"hf_folder: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(args.out)
    tokenizer = GPT2Tokenizer(os.path.join(args.vocab_dir, "encoder.json"), os.path.join(args.vocab_dir, "vocab.bpe"))
    tokenizer.save_pretrained(args.out)
    print(f"{args.out}: GPT-2 with {layers} layers, width {width}, {heads} heads, vocabulary {vocab}, context {context}")


if __name__ == "__main__":
    main()
