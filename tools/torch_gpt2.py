"""The book's GPTModel (Raschka, *Build a Large Language Model From Scratch*) in PyTorch, with
the book's parameter names, so that its state dict is what pthrun reads in "book" naming.

Shared by the fixture generator (tests/fixtures/make_model_fixtures.py) and the scripts that
measure PyTorch next to pthrun (tools/torch_*.py). The book's dropout layers are left out:
the rate is 0 at inference, and they own no parameters.

    model = GPTModel(preset_config("gpt2-small", context=1024))
"""

import math

import torch
import torch.nn as nn

# GPT-2's published sizes (width, layers, heads), as pthrun's presets.
PRESETS = {
    "gpt2-small": (768, 12, 12),
    "gpt2-medium": (1024, 24, 16),
    "gpt2-large": (1280, 36, 20),
    "gpt2-xl": (1600, 48, 25),
}


def preset_config(name, context=1024, vocab_size=50257, qkv_bias=True):
    emb_dim, n_layers, heads = PRESETS[name]
    return {"vocab_size": vocab_size, "emb_dim": emb_dim, "heads": heads, "context": context,
            "n_layers": n_layers, "qkv_bias": qkv_bias}


class LayerNorm(nn.Module):
    """Biased variance, eps 1e-5, parameters named scale/shift."""

    def __init__(self, emb_dim):
        super().__init__()
        self.eps = 1e-5
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return self.scale * (x - mean) / torch.sqrt(var + self.eps) + self.shift


class GELU(nn.Module):
    """The tanh approximation (GPT-2's gelu_new)."""

    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class FeedForward(nn.Module):
    def __init__(self, emb_dim):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(emb_dim, 4 * emb_dim), GELU(),
                                    nn.Linear(4 * emb_dim, emb_dim))

    def forward(self, x):
        return self.layers(x)


class MultiHeadAttention(nn.Module):
    """Causal self-attention; `mask` is a persistent buffer (1 = masked), so
    it appears in the state dict as in the book."""

    def __init__(self, emb_dim, context, heads, qkv_bias):
        super().__init__()
        assert emb_dim % heads == 0
        self.heads, self.head_dim = heads, emb_dim // heads
        self.W_query = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.W_key = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.W_value = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.out_proj = nn.Linear(emb_dim, emb_dim)
        self.register_buffer("mask", torch.triu(torch.ones(context, context), diagonal=1))

    def forward(self, x):
        B, T, C = x.shape
        NH, HS = self.heads, self.head_dim
        q = self.W_query(x).view(B, T, NH, HS).transpose(1, 2)   # (B, NH, T, HS)
        k = self.W_key(x).view(B, T, NH, HS).transpose(1, 2)
        v = self.W_value(x).view(B, T, NH, HS).transpose(1, 2)
        scores = q @ k.transpose(2, 3)                              # (B, NH, T, T)
        scores = scores.masked_fill(self.mask.bool()[:T, :T], -torch.inf)
        weights = torch.softmax(scores / HS ** 0.5, dim=-1)
        ctx = (weights @ v).transpose(1, 2).reshape(B, T, C)
        return self.out_proj(ctx)


class TransformerBlock(nn.Module):
    """Pre-norm block. The book's dropout layers are left out: rate 0 here,
    and they own no parameters, so names and outputs are unchanged."""

    def __init__(self, cfg):
        super().__init__()
        self.att = MultiHeadAttention(cfg["emb_dim"], cfg["context"], cfg["heads"], cfg["qkv_bias"])
        self.ff = FeedForward(cfg["emb_dim"])
        self.norm1 = LayerNorm(cfg["emb_dim"])
        self.norm2 = LayerNorm(cfg["emb_dim"])

    def forward(self, x):
        x = x + self.att(self.norm1(x))
        return x + self.ff(self.norm2(x))


class GPTModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context"], cfg["emb_dim"])
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)

    def forward(self, idx):
        B, T = idx.shape
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        x = self.trf_blocks(x)
        return self.out_head(self.final_norm(x))
