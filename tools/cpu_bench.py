"""CPU inference per weight dtype and thread count, against the memory's floor and, when given,
llama.cpp on the same weights, measured in the same run.

    python3 tools/cpu_bench.py [--pthrun build/pthrun] [--threads 1,2] [--dtypes f32,bf16,f16,int8]
        [--rounds 5] [--repeats 3] [--layout in_out] [--decode-at 16,256,1000]
        [--checkpoint CKPT] [--llama-bench PATH --gguf f32=F.gguf --gguf bf16=... --gguf f16=...
         --gguf int8=Q8_0.gguf]

pthrun side: `pthrun kernel-bench --device cpu --chain --weights DTYPE` (gpt2-small shapes, the
kernels a decode step calls, with the matrices stored in DTYPE and f32 activations): prefill of
--prompt tokens (the last row's logits) in tokens/s, and decode ms/token at each position of
--decode-at; and its read-bandwidth probe with the same threads, which gives the floor of a
decode step (bytes of weights per token / bandwidth). With --checkpoint (a gpt2-small
checkpoint), `pthrun bench CKPT --dtype DTYPE` on it too: the whole model's prefill and decode
with its matrices stored in each dtype, and for f32 once more with --no-mmap (the weights
copied onto huge pages instead of used in place from the mapped file).

llama.cpp side, with --llama-bench and --gguf DTYPE=FILE (GGUF files converted from the same
weights; int8 is compared with q8_0): `llama-bench -p PROMPT -n GEN -t THREADS` prefill tokens/s
and decode ms/token.

Every configuration runs once per round, rounds interleave all configurations (the machine is
shared: each round compares runs made under about the same load), and the table shows the
median over rounds. Ratios are pthrun / llama.cpp in time: below 1, pthrun is faster.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA_TYPES = {"f32": "f32", "bf16": "bf16", "f16": "f16", "int8": "q8_0"}


def run_json(command, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def pthrun_kernels(args, dtype, threads):
    """prefill tokens/s, decode ms per position, floor ms, bandwidth GB/s."""
    # As the model stores them: f32 in the checkpoint's layout (used in place); bf16, f16 and
    # int8, converted at load time, [out, in] whatever the file's layout.
    layout = args.layout if dtype == "f32" else "out_in"
    j = run_json([args.pthrun, "kernel-bench", "--device", "cpu", "--chain", "--weights", dtype, "--layout",
                  layout, "--tokens", str(args.prompt), "--decode-at", args.decode_at, "--repeats",
                  str(args.repeats), "--json"], threads)
    rows = {r["kernel"] + " " + r["shape"]: r["median_ms"] for r in j["rows"]}
    prefill_ms = next(ms for k, ms in rows.items() if k.startswith("prefill"))
    decode = {int(k.rsplit(" ", 1)[1]): ms for k, ms in rows.items() if k.startswith("decode")}
    return {"prefill": args.prompt / prefill_ms * 1e3, "decode": decode, "floor": j["decode_floor_ms"],
            "bandwidth": j["read_bandwidth_bytes_per_second"] * 1e-9, "weights": j["decode_weight_bytes"],
            "blas": j["blas_kernels"]}


# The whole-model row of f32 weights copied out of the file (--no-mmap) rather than used in
# place: the copy lies on huge pages, the mapped file on the page cache's 4 KiB pages.
NO_MMAP = "f32 --no-mmap"


def pthrun_model(args, dtype, threads, extra=()):
    j = run_json([args.pthrun, "bench", args.checkpoint, "--device", "cpu", "--dtype", dtype, "--prompt-tokens",
                  str(args.prompt), "--new-tokens", str(args.gen), "--repeat", str(args.repeats), "--json", *extra],
                 threads)
    return {"prefill": j["prefill_tokens_per_second"], "decode": j["decode_ms_per_token"]}


def llama(args, gguf, threads):
    out = subprocess.run([args.llama_bench, "-m", gguf, "-p", str(args.prompt), "-n", str(args.gen), "-t",
                          str(threads), "-r", str(args.repeats), "-o", "json"], check=True, capture_output=True,
                         text=True).stdout
    rows = json.loads(out)
    prefill = next(r["avg_ts"] for r in rows if r["n_prompt"] > 0)
    decode = next(1e3 / r["avg_ts"] for r in rows if r["n_gen"] > 0)
    return {"prefill": prefill, "decode": decode}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pthrun", default=os.path.join(HERE, "..", "build", "pthrun"))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--dtypes", default="f32,bf16,f16,int8")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration and round (their median)")
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--gen", type=int, default=64)
    parser.add_argument("--layout", default="in_out", help="in_out: Hugging Face's Conv1D, as GGUFs come from")
    parser.add_argument("--decode-at", default="16,256,1000")
    parser.add_argument("--checkpoint")
    parser.add_argument("--llama-bench")
    parser.add_argument("--gguf", action="append", default=[], help="DTYPE=FILE")
    args = parser.parse_args()
    if args.rounds < 5:
        sys.exit("cpu_bench: --rounds must be at least 5 (the table shows medians)")
    threads = [int(t) for t in args.threads.split(",")]
    dtypes = args.dtypes.split(",")
    ggufs = dict(g.split("=", 1) for g in args.gguf)
    positions = [int(p) for p in args.decode_at.split(",")]

    # results[(side, dtype, threads)] = list of one dict per round
    results = {}
    for round_ in range(args.rounds):
        for t in threads:
            for d in dtypes:
                results.setdefault(("pthrun", d, t), []).append(pthrun_kernels(args, d, t))
                if args.llama_bench and d in ggufs:
                    results.setdefault(("llama", d, t), []).append(llama(args, ggufs[d], t))
                if args.checkpoint:
                    results.setdefault(("model", d, t), []).append(pthrun_model(args, d, t))
                    if d == "f32":  # the weights used in place, and copied (onto huge pages)
                        results.setdefault(("model", NO_MMAP, t), []).append(pthrun_model(args, d, t, ["--no-mmap"]))
        print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr, flush=True)

    def med(side, d, t, key, position=None):
        rounds = results.get((side, d, t))
        if not rounds:
            return None
        return statistics.median(r[key][position] if position is not None else r[key] for r in rounds)

    first = positions[0]
    print(f"gpt2-small on the CPU, prompt {args.prompt}, decode ms/token at position {first} unless said; "
          f"medians of {args.rounds} rounds x {args.repeats} runs; f32 weights {args.layout}, others out_in; "
          f"pthrun's prefill on OpenBLAS's kernels for {results[('pthrun', dtypes[0], threads[0])][0]['blas']}; "
          f"ratios pthrun/llama.cpp in time (below 1: pthrun faster)")
    print("| weights | threads | read GB/s | MB/token | floor ms | pthrun prefill tok/s | pthrun decode ms | "
          "of floor | llama.cpp type | llama.cpp prefill tok/s | llama.cpp decode ms | llama.cpp of floor | "
          "prefill ratio | decode ratio |")
    print("|" + "---|" * 14)
    for t in threads:
        for d in dtypes:
            floor = med("pthrun", d, t, "floor")
            prefill, decode = med("pthrun", d, t, "prefill"), med("pthrun", d, t, "decode", first)
            cells = [d, t, f"{med('pthrun', d, t, 'bandwidth'):.1f}",
                     f"{results[('pthrun', d, t)][0]['weights'] / 2**20:.0f}", f"{floor:.2f}", f"{prefill:.0f}",
                     f"{decode:.2f}", f"{floor / decode:.2f}"]
            lp, ld = med("llama", d, t, "prefill"), med("llama", d, t, "decode")
            if lp is not None:
                cells += [LLAMA_TYPES[d], f"{lp:.0f}", f"{ld:.2f}", f"{floor / ld:.2f}", f"{lp / prefill:.2f}",
                          f"{decode / ld:.2f}"]
            else:
                cells += [""] * 6
            print("| " + " | ".join(str(c) for c in cells) + " |")
    print()
    print("| weights | threads | " + " | ".join(f"decode ms at {p}" for p in positions) + f" | at {positions[-1]} / at "
          f"{positions[0]} |")
    print("|" + "---|" * (3 + len(positions)))
    for t in threads:
        for d in dtypes:
            ms = [med("pthrun", d, t, "decode", p) for p in positions]
            print(f"| {d} | {t} | " + " | ".join(f"{m:.2f}" for m in ms) + f" | {ms[-1] / ms[0]:.2f} |")
    if args.checkpoint:
        print()
        print(f"| whole model (pthrun bench {os.path.basename(args.checkpoint)} --dtype) | threads | prefill tok/s | "
              f"decode ms/token ({args.gen} tokens after the prompt) | llama.cpp decode ms | ratio |")
        print("|---|---|---|---|---|---|")
        for t in threads:
            for d in dtypes:
                for row in [d, NO_MMAP] if d == "f32" else [d]:
                    ld = med("llama", d, t, "decode")
                    md = med("model", row, t, "decode")
                    ratio = f"{md / ld:.2f}" if ld else ""
                    print(f"| {row} | {t} | {med('model', row, t, 'prefill'):.0f} | {md:.2f} | "
                          f"{f'{ld:.2f}' if ld else ''} | {ratio} |")


if __name__ == "__main__":
    main()
