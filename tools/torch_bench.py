"""PyTorch next to `pthrun bench`: the same checkpoint, device, dtype and thread count, measured
in the same run.

    python tools/torch_bench.py CKPT [--device cpu|cuda] [--dtype f32|bf16|f16] [--threads N]
        [--prompt-tokens 128] [--new-tokens 64] [--repeat 10] [--pthrun build/pthrun]

CKPT is a GPT-2 in the book's naming (`pthrun init`). Measured for PyTorch:
  forward  the book's GPTModel (tools/torch_gpt2.py) on prompt-tokens tokens, every position's
           logits: what `pthrun bench` calls forward;
  prefill and decode  Hugging Face transformers' GPT2LMHeadModel (eager attention, and SDPA)
           generating greedily with its KV cache, when transformers is importable (the
           checkpoint is converted with `pthrun convert --naming hf`); and the same under
           torch.compile when that works on this machine.
Every figure is the median of --repeat runs after a warm-up; ratios are pthrun / PyTorch
(time) so that below 1 means pthrun is faster. The forward comparison alternates the two sides
for --rounds rounds: on a shared machine the load changes from second to second, and each
round's ratio compares runs made under about the same load. Both sides get --threads threads:
PyTorch through torch.set_num_threads and OPENBLAS_NUM_THREADS (its matrix products may run in
OpenBLAS's own threads), pthrun through OMP_NUM_THREADS.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def median_time(fn, repeat, sync):
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_book_model(torch, args, dtype):
    sys.path.insert(0, HERE)
    from torch_gpt2 import GPTModel
    sd = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    vocab, emb_dim = sd["tok_emb.weight"].shape
    layers = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("trf_blocks."))
    cfg = {"vocab_size": vocab, "emb_dim": emb_dim, "heads": {768: 12, 1024: 16, 1280: 20, 1600: 25}[emb_dim],
           "context": sd["pos_emb.weight"].shape[0], "n_layers": layers,
           "qkv_bias": "trf_blocks.0.att.W_query.bias" in sd}
    model = GPTModel(cfg).eval()
    model.load_state_dict(sd)
    return model.to(args.device, dtype), vocab


def forward_rounds(torch, args, dtype, sync, env):
    """Medians of PyTorch's and pthrun's forward, and of their ratio, over alternating rounds."""
    model, vocab = load_book_model(torch, args, dtype)
    ids = torch.randint(0, vocab, (1, args.prompt_tokens), device=args.device)
    command = [args.pthrun, "bench", args.checkpoint, "--device", args.device, "--dtype", args.dtype,
               "--prompt-tokens", str(args.prompt_tokens), "--new-tokens", "2", "--repeat", str(args.repeat), "--json"]
    theirs, mine, ratios = [], [], []
    for _ in range(args.rounds):
        with torch.no_grad():
            theirs.append(median_time(lambda: model(ids), args.repeat, sync) * 1e3)
        mine.append(json.loads(subprocess.check_output(command, env=env))["forward_ms"])
        ratios.append(mine[-1] / theirs[-1])
    return statistics.median(theirs), statistics.median(mine), ratios


def hf_checkpoint(args, folder):
    """The checkpoint in Hugging Face's naming, written once into `folder`."""
    path = os.path.join(folder, "pytorch_model.bin")
    if not os.path.exists(path):
        subprocess.check_call([args.pthrun, "convert", args.checkpoint, "--naming", "hf", "-o", path],
                              stdout=subprocess.DEVNULL)
    return path


def hf_generate(torch, args, dtype, sync, attn, compile_model, hf_dir):
    import transformers
    sd = torch.load(hf_checkpoint(args, hf_dir), weights_only=True)
    vocab, emb_dim = sd["transformer.wte.weight"].shape
    layers = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("transformer.h."))
    config = transformers.GPT2Config(vocab_size=vocab, n_positions=sd["transformer.wpe.weight"].shape[0],
                                     n_embd=emb_dim, n_layer=layers,
                                     n_head={768: 12, 1024: 16, 1280: 20, 1600: 25}[emb_dim],
                                     activation_function="gelu_new", tie_word_embeddings=False,
                                     attn_implementation=attn)
    model = transformers.GPT2LMHeadModel(config).eval()
    model.load_state_dict(sd, strict=False)
    model = model.to(args.device, dtype)
    if compile_model:
        model.forward = torch.compile(model.forward)
    ids = torch.randint(0, vocab, (1, args.prompt_tokens), device=args.device)

    def run(n):
        model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True,
                       pad_token_id=0)

    with torch.no_grad():
        prefill = median_time(lambda: run(1), args.repeat, sync)
        total = median_time(lambda: run(args.new_tokens), args.repeat, sync)
    return prefill, (total - prefill) / (args.new_tokens - 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="alternations of PyTorch and pthrun for the forward")
    parser.add_argument("--pthrun", default=os.path.join(HERE, "..", "build", "pthrun"))
    args = parser.parse_args()

    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)  # read once, when torch loads OpenBLAS
    import torch
    torch.set_num_threads(args.threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    ours = json.loads(subprocess.check_output(
        [args.pthrun, "bench", args.checkpoint, "--device", args.device, "--dtype", args.dtype,
         "--prompt-tokens", str(args.prompt_tokens), "--new-tokens", str(args.new_tokens),
         "--repeat", str(args.repeat), "--json"], env=env))

    theirs, mine, ratios = forward_rounds(torch, args, dtype, sync, env)
    rows = [("forward", "book GPTModel", theirs, mine, "ms")]
    try:
        import transformers  # noqa: F401
        have_hf = True
    except ImportError:
        have_hf = False
        print("transformers is not importable: no prefill/decode comparison with its KV cache")
    if have_hf:
        with tempfile.TemporaryDirectory(prefix="torch-bench-hf-") as hf_dir:
            for attn, compiled in (("eager", False), ("sdpa", False), ("sdpa", True)):
                label = f"HF {attn}" + (" + torch.compile" if compiled else "")
                try:
                    prefill, decode = hf_generate(torch, args, dtype, sync, attn, compiled, hf_dir)
                except Exception as e:  # torch.compile needs a compiler toolchain it may not find
                    print(f"{label}: not measured ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
                    continue
                rows.append(("prefill", label, prefill * 1e3, ours["prefill_ms"], "ms"))
                rows.append(("decode", label, decode * 1e3, ours["decode_ms_per_token"], "ms/token"))

    print(f"{args.checkpoint} on {args.device}, {args.dtype}, {args.threads} threads, "
          f"prompt {args.prompt_tokens} tokens, {args.new_tokens} new; torch {torch.__version__}; "
          f"median of {args.repeat}\n")
    print(f"{'':9}{'PyTorch':32}{'PyTorch':>12}{'pthrun':>12}{'pthrun/PyTorch':>16}")
    for what, label, theirs, mine, unit in rows:
        print(f"{what:9}{label:32}{theirs:>9.3f} {unit:<2}{mine:>9.3f} {unit:<2}{mine / theirs:>13.2f}")
    print(f"\nforward: {args.rounds} alternating rounds; pthrun/PyTorch per round "
          f"{' '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})")


if __name__ == "__main__":
    main()
