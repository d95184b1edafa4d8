#!/usr/bin/env python3
"""PyTorch's time for the forward pass `pthrun kernel-bench` times as "prefill", and the ratio.

    /usr/bin/python3 tools/kernel_bench_torch.py --pthrun build/pthrun --threads 2 --tokens 128

Builds the same GPT-2 (random weights of the chosen size: pre-LayerNorm blocks, causal
attention, tanh GELU, tied output head; all T rows of logits) in PyTorch on the CPU, and times
its forward pass and `pthrun kernel-bench --device cpu --chain`'s "prefill" in alternating
rounds (each the median of --repeats runs), then prints both medians and the ratio. Both get
--threads threads: PyTorch through torch.set_num_threads and OPENBLAS_NUM_THREADS (its matrix
products run in OpenBLAS's own threads, which set_num_threads does not limit), pthrun through
OMP_NUM_THREADS. Otherwise PyTorch runs with its defaults, as a user would run it.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import time

SIZES = {"gpt2": (768, 12, 12), "gpt2-medium": (1024, 24, 16), "gpt2-large": (1280, 36, 20), "gpt2-xl": (1600, 48, 25)}
VOCAB, CONTEXT = 50257, 1024


def build_model(torch, C, L, NH):
    """The GPT-2 that kernel-bench times, in PyTorch: torch is imported late (see main)."""

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = torch.nn.LayerNorm(C), torch.nn.LayerNorm(C)
            self.qkv, self.proj = torch.nn.Linear(C, 3 * C), torch.nn.Linear(C, C)
            self.fc, self.fc2 = torch.nn.Linear(C, 4 * C), torch.nn.Linear(4 * C, C)

        def forward(self, x, mask):
            B, T, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, NH, C // NH).transpose(1, 2) for t in (q, k, v))
            att = (q @ k.transpose(-2, -1)) / math.sqrt(C // NH)
            att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(dim=-1)
            x = x + self.proj((att @ v).transpose(1, 2).reshape(B, T, C))
            return x + self.fc2(torch.nn.functional.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class GPT(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = torch.nn.Embedding(VOCAB, C), torch.nn.Embedding(CONTEXT, C)
            self.blocks = torch.nn.ModuleList(Block() for _ in range(L))
            self.ln_f = torch.nn.LayerNorm(C)
            self.register_buffer("mask", torch.triu(torch.ones(CONTEXT, CONTEXT, dtype=torch.bool), 1))

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.blocks:
                x = block(x, self.mask)
            return self.ln_f(x) @ self.wte.weight.t()

    return GPT().eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pthrun", default="build/pthrun", help="the pthrun binary (default build/pthrun)")
    parser.add_argument("--size", default="gpt2", choices=SIZES)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=5, help="alternations of PyTorch and pthrun (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed forward passes per round and side (default 3)")
    args = parser.parse_args()

    # OpenBLAS reads its thread count once, when torch loads it.
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = build_model(torch, *SIZES[args.size])
    idx = torch.tensor([[t * 7919 % VOCAB for t in range(args.tokens)]])
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    command = [args.pthrun, "kernel-bench", "--device", "cpu", "--size", args.size, "--tokens", str(args.tokens),
               "--repeats", str(args.repeats), "--chain", "--json"]

    # On a shared machine the load changes from second to second: rounds alternate the two,
    # and each round's ratio compares runs made under about the same load.
    torch_ms, pthrun_ms, ratios = [], [], []
    with torch.no_grad():
        model(idx)
        for _ in range(args.rounds):
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                model(idx)
                times.append((time.perf_counter() - start) * 1e3)
            torch_ms.append(statistics.median(times))
            report = json.loads(subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout)
            pthrun_ms.append(next(row["median_ms"] for row in report["rows"] if row["kernel"] == "prefill"))
            ratios.append(torch_ms[-1] / pthrun_ms[-1])

    print(f"{args.size}, {args.tokens}-token f32 forward on the CPU, {args.threads} thread(s), "
          f"{args.rounds} alternating rounds of {args.repeats} runs")
    print(f"{'':24} {'median ms':>10} {'tokens/s':>10}   per round (ms)")
    for name, ms in ((f"PyTorch {torch.__version__}", torch_ms), ("pthrun", pthrun_ms)):
        median = statistics.median(ms)
        rounds = " ".join(f"{m:.0f}" for m in ms)
        print(f"{name:24} {median:10.1f} {args.tokens / median * 1e3:10.1f}   {rounds}")
    print(f"pthrun is {statistics.median(ratios):.2f}x PyTorch's speed (median of the rounds' ratios; "
          f"range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
