#!/usr/bin/env python3
"""How fast the last request of a burst runs once the others have left `pthrun serve`.

    python3 tools/serve_drain_bench.py                 # gpt2-small (random weights), CPU
    python3 tools/serve_drain_bench.py --pthrun OTHER  # another build, to compare

Each round sends --slots streaming requests 20 ms apart to a fresh server with that many slots:
all but the last ask for --short-tokens new tokens, the last for --long-tokens (greedy, 32-token
prompts). The last one is admitted after several short ones have finished, into a slot above
others that are still busy; once every short one is done it runs alone. Printed: the time per
token of its tokens streamed after the last short request's last one, each round and the median.
A server that kept computing the rows of the idle slots below it would show a many-row step's
time here; one that moves it down, a one-row step's. A benchmark, not a test.
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


def stream(port, body, arrivals):
    """Appends the arrival time of each streamed chunk to `arrivals`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/completions", body=json.dumps({**body, "stream": True}),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200, r.read()
    for data in serve_harness.sse_data(r):
        if data != b"[DONE]":
            arrivals.append(time.perf_counter())
    conn.close()


def one_round(port, slots, short_tokens, long_tokens, rng):
    arrivals = [[] for _ in range(slots)]
    threads = []
    for k in range(slots):
        body = {"prompt": [rng.randrange(50000) for _ in range(32)], "temperature": 0,
                "max_tokens": long_tokens if k == slots - 1 else short_tokens}
        threads.append(threading.Thread(target=stream, args=(port, body, arrivals[k])))
        threads[-1].start()
        time.sleep(0.02)
    for t in threads:
        t.join()
    last_short = max(a[-1] for a in arrivals[:-1])
    alone = [t for t in arrivals[-1] if t > last_short]
    if len(alone) < 2:
        raise SystemExit("the long request did not outlive the short ones: raise --long-tokens")
    return 1e3 * (alone[-1] - alone[0]) / (len(alone) - 1), len(alone)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pthrun", default=serve_harness.PTHRUN)
    parser.add_argument("--model", help="checkpoint (default: gpt2-small with random weights, made once)")
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--short-tokens", type=int, default=8)
    parser.add_argument("--long-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    serve_harness.PTHRUN = args.pthrun
    model = args.model or serve_harness.bench_model()
    rng = random.Random(2)
    with serve_harness.Server(model, "--slots", str(args.slots), "--max-queue", str(args.slots)) as server:
        results = [one_round(server.port, args.slots, args.short_tokens, args.long_tokens, rng)
                   for _ in range(args.rounds)]
    print(f"model {os.path.basename(model)}, {args.slots} slots, {args.slots - 1} requests of {args.short_tokens} "
          f"tokens and one of {args.long_tokens}")
    print("| round | tokens alone | ms a token alone |")
    print("|---|---|---|")
    for k, (ms, tokens) in enumerate(results):
        print(f"| {k + 1} | {tokens} | {ms:.1f} |")
    print(f"| median | | {statistics.median(ms for ms, _ in results):.1f} |")


if __name__ == "__main__":
    main()
