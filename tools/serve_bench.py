#!/usr/bin/env python3
"""Throughput and time to first token of `pthrun serve` under concurrent clients.

    python3 tools/serve_bench.py                      # gpt2-small (random weights), CPU
    python3 tools/serve_bench.py --model m.pth --device cuda --concurrency 1,4,16,64
    python3 tools/serve_bench.py --concurrency 1 --slots 16 --warm-up-sampled  # beside idle slots
    python3 tools/serve_bench.py --concurrency 16 --logprobs 5                 # scoring every token

For each concurrency C, C client threads send streaming completions back to back (each a prompt
of --prompt-tokens token ids and --new-tokens new tokens, greedy, no early stop possible on the
model's side but <|endoftext|>), --waves requests per thread. Printed per C: generated tokens/s
over the level's wall time, the median and p99 time from sending a request to its first streamed
text, and the ratio of throughput to C = 1's. Servers run on loopback with --port 0; each level
gets a fresh server with --slots S (default: S = max(C)); `--slots-per-level` uses S = C instead.

The levels run --rounds times, each round every level in turn, so that each ratio pairs levels
measured minutes apart at most: this machine's memory bandwidth, which concurrency 1 depends on
most, moves by a third from one minute to the next. Printed: tokens/s, the median of the rounds;
the ratio, the median of each round's own ratio (and their range); TTFT over every round's
requests. A benchmark, not a test: run it on a quiet machine and read the medians.
"""
import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import serve_harness  # noqa: E402


GREEDY = {"temperature": 0}
SAMPLED_WARM_UP = {"temperature": 1.0, "top_p": 0.9, "seed": 1}


def one_request(port, prompt, new_tokens, sampling):
    """(seconds to the first text, generated tokens)."""
    body = json.dumps({"prompt": prompt, "max_tokens": new_tokens, "stream": True,
                       "stream_options": {"include_usage": True}, **sampling})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200, r.read()
    first, tokens = None, 0
    for data in serve_harness.sse_data(r):
        if data == b"[DONE]":
            continue
        payload = json.loads(data)
        if payload.get("usage"):
            tokens = payload["usage"]["completion_tokens"]
        elif payload["choices"] and payload["choices"][0]["text"] and first is None:
            first = time.perf_counter() - start
    conn.close()
    return first if first is not None else time.perf_counter() - start, tokens


def run_level(port, concurrency, waves, prompt_tokens, new_tokens, vocab, seed, sampling=GREEDY):
    rng = random.Random(seed)
    prompts = [[rng.randrange(vocab - 1) for _ in range(prompt_tokens)] for _ in range(concurrency * waves)]
    results, lock = [], threading.Lock()

    def client(k):
        for w in range(waves):
            got = one_request(port, prompts[k * waves + w], new_tokens, sampling)
            with lock:
                results.append(got)

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    tokens = sum(r[1] for r in results)
    return {"tokens_per_s": tokens / wall, "ttfts": [r[0] for r in results], "requests": len(results)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pthrun", default=serve_harness.PTHRUN)
    parser.add_argument("--model", help="checkpoint (default: gpt2-small with random weights, made once)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="f32")
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--slots", type=int, help="server slots (default: the largest concurrency)")
    parser.add_argument("--slots-per-level", action="store_true", help="each level's server has C slots")
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--waves", type=int, default=2, help="requests each client sends, one after another")
    parser.add_argument("--rounds", type=int, default=3, help="times every level runs, in turn")
    parser.add_argument("--warm-up-sampled", action="store_true",
                        help="warm up with one sampled request (temperature 1, top-p 0.9) in every slot at once: the "
                        "measured requests then run beside slots that sampled requests left idle")
    parser.add_argument("--logprobs", type=int, help="every measured request asks for this many log-probabilities")
    args = parser.parse_args()
    serve_harness.PTHRUN = args.pthrun

    model = args.model or serve_harness.bench_model()
    measured = GREEDY if args.logprobs is None else {**GREEDY, "logprobs": args.logprobs}
    levels = [int(c) for c in args.concurrency.split(",")]
    context = args.prompt_tokens + args.new_tokens
    print(f"model {os.path.basename(model)}, device {args.device} ({args.dtype}), prompts of {args.prompt_tokens} tokens, "
          f"{args.new_tokens} new tokens, {args.waves} requests per client, {args.rounds} rounds")
    slots = {c: c if args.slots_per_level else (args.slots or max(levels)) for c in levels}
    runs = {c: [] for c in levels}
    for round_ in range(args.rounds):
        for c in levels:
            with serve_harness.Server(model, "--slots", str(slots[c]), "--ctx", str(context),
                                      "--max-queue", str(max(4 * c, slots[c])), "--device", args.device,
                                      "--dtype", args.dtype) as server:
                vocab = server.json("GET", "/v1/models")[1]["data"][0]["meta"]["vocab_size"]
                if args.warm_up_sampled:
                    run_level(server.port, slots[c], 1, args.prompt_tokens, 4, vocab, 0, SAMPLED_WARM_UP)
                else:
                    run_level(server.port, 1, 1, args.prompt_tokens, 4, vocab, 0)
                runs[c].append(run_level(server.port, c, args.waves, args.prompt_tokens, args.new_tokens, vocab, c,
                                         measured))
        print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr, flush=True)

    print("| concurrency | slots | requests | generated tokens/s | x vs C=1 (range) | TTFT median s | TTFT p99 s |")
    print("|---|---|---|---|---|---|---|")
    for c in levels:
        ratios = [r["tokens_per_s"] / b["tokens_per_s"] for r, b in zip(runs[c], runs[levels[0]])]
        ttfts = sorted(t for r in runs[c] for t in r["ttfts"])
        p99 = ttfts[min(len(ttfts) - 1, int(round(0.99 * (len(ttfts) - 1))))]
        print(f"| {c} | {slots[c]} | {sum(r['requests'] for r in runs[c])} | "
              f"{statistics.median(r['tokens_per_s'] for r in runs[c]):.1f} | "
              f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
              f"{statistics.median(ttfts):.3f} | {p99:.3f} |", flush=True)


if __name__ == "__main__":
    main()
