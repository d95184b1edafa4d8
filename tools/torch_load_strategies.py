"""The five PyTorch loading strategies of the study, side by side with pthrun.

    python tools/torch_load_strategies.py CKPT [--device cpu|cuda] [--pthrun build/pthrun] [--heads N]

CKPT is a GPT-2 in the book's naming (what `pthrun init` writes). Each strategy runs in a
fresh Python process after the file has been read once (page cache warm) and reports its wall
time, peak device memory (torch.cuda.max_memory_allocated), peak host RSS (the kernel's
high-water mark) and peak anonymous RSS (sampled every millisecond). Then `pthrun load-bench`
runs on the same file and device, and the ratios pthrun / PyTorch are printed.

Strategy 4 (torch.load(mmap=True) + load_state_dict(assign=True)) needs torch >= 2.1; with an
older torch the script says so instead. Strategy 5 uses the checkpoint as one file per tensor,
made once with `pthrun convert --per-tensor` (not timed).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

STRATEGIES = [
    ("naive", "model on the device, torch.load onto the device, load_state_dict"),
    ("sequential", "state dict in host RAM, copied tensor by tensor"),
    ("meta", "meta model, to_empty, torch.load straight onto the device"),
    ("mmap", "meta model, torch.load(mmap=True), load_state_dict(assign=True), .to(device)"),
    ("per_tensor", "one file per tensor, loaded one at a time into the model"),
]


def gib(n):
    return n / 2**30


class AnonSampler:
    """Peak anonymous RSS, sampled every millisecond: the kernel keeps no peak for it."""

    def __init__(self):
        self.peak = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def sample(self):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)

    def run(self):
        while not self.stop:
            self.sample()
            time.sleep(0.001)

    def finish(self):
        self.stop = True
        self.thread.join()
        self.sample()
        return self.peak


def on_meta(torch):
    """A context in which new tensors go to the meta device: torch.device("meta") since torch
    2.0; before, a TorchFunctionMode doing what that context does, on the factory functions."""
    if hasattr(torch.device, "__enter__"):
        return torch.device("meta")
    from torch.overrides import TorchFunctionMode

    factories = {torch.empty, torch.ones, torch.zeros, torch.full, torch.rand, torch.randn, torch.arange,
                 torch.tensor}

    class MetaDevice(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func in factories and kwargs.get("device") is None:
                kwargs["device"] = "meta"
            return func(*args, **kwargs)

    return MetaDevice()


def child(args):
    """One strategy in this process; prints its measurement as JSON."""
    import torch
    sys.path.insert(0, HERE)
    from torch_gpt2 import GPTModel

    cfg = json.loads(args.config)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if args.strategy == "mmap" and tuple(int(x) for x in torch.__version__.split(".")[:2]) < (2, 1):
        print(json.dumps({"strategy": "mmap", "skipped": f"needs torch >= 2.1, this is {torch.__version__}"}))
        return
    sampler = AnonSampler()
    start = time.perf_counter()
    with torch.no_grad():
        if args.strategy == "naive":
            model = GPTModel(cfg).to(device)
            state_dict = torch.load(args.checkpoint, map_location=device, weights_only=True)
            model.load_state_dict(state_dict)
            del state_dict
        elif args.strategy == "sequential":
            state_dict = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
            model = GPTModel(cfg).to(device)
            for name, tensor in list(model.state_dict().items()):
                tensor.copy_(state_dict.pop(name))
        elif args.strategy == "meta":
            with on_meta(torch):
                model = GPTModel(cfg)
            model.to_empty(device=device)
            state_dict = torch.load(args.checkpoint, map_location=device, weights_only=True)
            model.load_state_dict(state_dict)
            del state_dict
        elif args.strategy == "mmap":
            with on_meta(torch):
                model = GPTModel(cfg)
            model.load_state_dict(torch.load(args.checkpoint, mmap=True, weights_only=True), assign=True)
            model.to(device)
        elif args.strategy == "per_tensor":
            with on_meta(torch):
                model = GPTModel(cfg)
            model.to_empty(device=device)
            for name, tensor in model.state_dict().items():
                tensor.copy_(torch.load(os.path.join(args.per_tensor_dir, name + ".pth"),
                                        map_location=device, weights_only=True))
        if cuda:
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "strategy": args.strategy,
        "seconds": seconds,
        "device_peak": torch.cuda.max_memory_allocated() if cuda else None,
        "host_peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "host_peak_anon": sampler.finish(),
        "torch": torch.__version__,
    }))


def warm(path):
    paths = [os.path.join(path, f) for f in os.listdir(path)] if os.path.isdir(path) else [path]
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def config_of(pthrun, checkpoint, heads):
    """The GPTModel config, from pthrun inspect's view of the state dict's shapes."""
    info = json.loads(subprocess.check_output([pthrun, "inspect", checkpoint, "--json"]))
    shapes = {t["name"]: t["shape"] for t in info["tensors"]}
    vocab, emb_dim = shapes["tok_emb.weight"]
    presets = {768: 12, 1024: 16, 1280: 20, 1600: 25}
    layers = 1 + max(int(n.split(".")[1]) for n in shapes if n.startswith("trf_blocks."))
    return {"vocab_size": vocab, "emb_dim": emb_dim, "heads": heads or presets[emb_dim],
            "context": shapes["pos_emb.weight"][0], "n_layers": layers,
            "qkv_bias": "trf_blocks.0.att.W_query.bias" in shapes}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--pthrun", default=os.path.join(HERE, "..", "build", "pthrun"))
    parser.add_argument("--heads", type=int)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strategy", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--per-tensor-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.strategy:
        child(args)
        return

    checkpoint = os.path.abspath(args.checkpoint)
    config = json.dumps(config_of(args.pthrun, checkpoint, args.heads))
    folder = tempfile.mkdtemp(prefix="torch-load-strategies-")
    shutil.rmtree(folder)
    subprocess.check_call([args.pthrun, "convert", checkpoint, "--per-tensor", "-o", folder], stdout=subprocess.DEVNULL)
    results = []
    try:
        for key, _ in STRATEGIES:
            warm(checkpoint)
            if key == "per_tensor":
                warm(folder)
            out = subprocess.check_output([sys.executable, __file__, checkpoint, "--device", args.device,
                                           "--strategy", key, "--config", config, "--per-tensor-dir", folder])
            results.append(json.loads(out))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ours = json.loads(subprocess.check_output(
        [args.pthrun, "load-bench", checkpoint, "--device", args.device, "--json"]
        + (["--heads", str(args.heads)] if args.heads else []), stderr=subprocess.DEVNULL))
    pthrun = next(r for r in ours["results"] if r["strategy"] == "pthrun")

    if args.json:
        print(json.dumps({"checkpoint": checkpoint, "device": args.device, "torch": results, "pthrun": ours}))
        return
    size = os.path.getsize(checkpoint)
    print(f"{checkpoint} ({gib(size):.2f} GiB) onto {args.device}; torch {results[0].get('torch', '?')}; "
          "each run in a fresh process from the page cache\n")
    print(f"{'':12}{'device peak':>14}{'host RSS':>12}{'host anon':>12}{'time s':>9}"
          f"   pthrun/torch: {'time':>6}{'RSS':>7}{'anon':>7}")
    for (key, _), r in zip(STRATEGIES, results):
        if "skipped" in r:
            print(f"{key:12}  skipped: {r['skipped']}")
            continue
        dev = f"{gib(r['device_peak']):.2f} GiB" if r["device_peak"] is not None else "-"
        print(f"{key:12}{dev:>14}{gib(r['host_peak_rss']):>8.2f} GiB{gib(r['host_peak_anon']):>8.2f} GiB"
              f"{r['seconds']:>9.2f}   {'':14}{pthrun['seconds'] / r['seconds']:>6.2f}"
              f"{pthrun['host_peak_rss'] / r['host_peak_rss']:>7.2f}{pthrun['host_peak_anon'] / r['host_peak_anon']:>7.2f}")
    dev = f"{gib(pthrun['device_peak_allocated']):.2f} GiB"
    print(f"{'pthrun':12}{dev:>14}{gib(pthrun['host_peak_rss']):>8.2f} GiB{gib(pthrun['host_peak_anon']):>8.2f} GiB"
          f"{pthrun['seconds']:>9.2f}")
    print("\npthrun's device peak is its allocator's peak allocated bytes; on the CPU PyTorch reports none.")


if __name__ == "__main__":
    main()
