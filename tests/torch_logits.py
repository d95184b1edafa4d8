"""Logits of a book-naming GPT-2 checkpoint computed by PyTorch, for the CLI tests.

    python torch_logits.py CKPT HEADS IDS OUT.npy

Loads CKPT with torch.load(weights_only=True) into tools/torch_gpt2.GPTModel with a strict
load_state_dict (so every name and shape must be exactly the book's), runs it in float32 on
the given comma-separated ids and saves the [T, V] logits.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from torch_gpt2 import GPTModel  # noqa: E402


def main():
    path, heads, ids, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sd = torch.load(path, map_location="cpu", weights_only=True)
    sd = {k: v.float() for k, v in sd.items()}
    vocab, emb_dim = sd["tok_emb.weight"].shape
    context = sd["pos_emb.weight"].shape[0]
    layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("trf_blocks."))
    cfg = {"vocab_size": vocab, "emb_dim": emb_dim, "heads": heads, "context": context,
           "n_layers": layers, "qkv_bias": "trf_blocks.0.att.W_query.bias" in sd}
    model = GPTModel(cfg).eval()
    model.load_state_dict(sd, strict=True)
    with torch.no_grad():
        logits = model(torch.tensor([[int(i) for i in ids.split(",")]]))[0]
    np.save(out, logits.numpy())


if __name__ == "__main__":
    main()
