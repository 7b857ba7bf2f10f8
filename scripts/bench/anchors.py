"""The PyTorch side of `make bench`: the anchors the focal losses are compared with, forward +
backward in float32 on the same shapes as `benches/losses.rs`, medians (and fastest) of --reps
runs after one warm-up, the cases taking turns, and the peak memory of one run above the inputs (measured in a fresh process per case,
from VmHWM after resetting it). Writes JSON rows like the Rust side's.

Anchors: the seed note's reference FocalLoss, torchvision.ops.sigmoid_focal_loss, kornia's
focal_loss, MONAI's FocalLoss(use_softmax=True), MONAI's DiceLoss and DiceFocalLoss (softmax=True,
to_onehot_y=True: the settings of focal's defaults on class indices), F.cross_entropy /
binary_cross_entropy_with_logits, and a copy of the logits (the memory-traffic floor).
`--cases A,B` runs only the named cases.

`--serve` runs them in turns with the Rust side (`benches/losses.rs --peer`, what `make bench`
does): commands on stdin, one per line, each answered on stdout: `shape NAME` (make the inputs and
warm every case up; answers `ready`), `round` (one timed run of each case; `ok`), `end` (the
shape's medians and peak memory; `ok`), `quit` (write the JSON, exit). So a slow spell of the
machine falls on both sides' runs of a round alike.

`--device cuda` (or `cuda:N`) runs them on a GPU: each timed run ends with a device synchronize,
and the peak memory is CUDA's (`torch.cuda.max_memory_allocated` above the inputs). Anchors whose
package is missing are skipped (the GPU machine may lack kornia or MONAI).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))


DEVICE = torch.device("cpu")


def inputs(shape):
    """The inputs of a shape, made on the CPU from seed 0 (the Rust side's numbers), on DEVICE."""
    torch.manual_seed(0)
    if shape == "det":
        x = torch.randn(8, 20000, 80) * 2.0 - 2.0
        dense = (torch.rand(8, 20000, 80) < 0.01).float()
        return x.to(DEVICE), None, dense.to(DEVICE)
    side = 64 if shape == "seg64" else 128
    x = torch.randn(2, 4, side, side, side) * 2.0
    t = torch.randint(0, 4, (2, side, side, side))
    dense = F.one_hot(t, 4).permute(0, 4, 1, 2, 3).float().contiguous()
    return x.to(DEVICE), t.to(DEVICE), dense.to(DEVICE)


def synchronize():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def available(case):
    """Whether the case's package can be imported here."""
    module = {"kornia focal_loss": "kornia", "MONAI FocalLoss(use_softmax)": "monai",
              "MONAI DiceLoss(softmax)": "monai", "MONAI DiceFocalLoss(softmax)": "monai",
              "torchvision sigmoid_focal_loss": "torchvision"}.get(case)
    if module is None:
        return True
    try:
        __import__(module)
        return True
    except Exception as e:  # a missing package, or one that fails to import
        print(f"skipping {case}: {module} does not import ({e})", file=sys.stderr)
        return False


def cases(shape):
    if shape == "det":
        return ["copy", "bce_with_logits", "torchvision sigmoid_focal_loss"]
    return [
        "copy",
        "cross_entropy",
        "seed FocalLoss",
        "kornia focal_loss",
        "MONAI FocalLoss(use_softmax)",
        "MONAI DiceLoss(softmax)",
        "MONAI DiceFocalLoss(softmax)",
        "torchvision sigmoid_focal_loss",
    ]


def runner(case, x0, t, dense):
    """A function doing one forward (+ backward) of `case`."""
    if case == "copy":
        return lambda: x0.clone()
    if case == "cross_entropy":
        loss = lambda x: F.cross_entropy(x, t)
    elif case == "bce_with_logits":
        loss = lambda x: F.binary_cross_entropy_with_logits(x, dense)
    elif case == "seed FocalLoss":
        from seed import FocalLoss

        seed = FocalLoss()
        t1 = t.unsqueeze(1)
        loss = lambda x: seed(x, t1)
    elif case == "kornia focal_loss":
        from kornia.losses import focal_loss

        loss = lambda x: focal_loss(x, t, alpha=None, gamma=2.0, reduction="mean")
    elif case == "MONAI FocalLoss(use_softmax)":
        from monai.losses import FocalLoss

        monai = FocalLoss(to_onehot_y=True, use_softmax=True, gamma=2.0)
        t1 = t.unsqueeze(1)
        loss = lambda x: monai(x, t1)
    elif case == "MONAI DiceLoss(softmax)":
        # focal's DiceLoss::default() on class indices: softmax, background included, smooths 1e-5.
        from monai.losses import DiceLoss

        monai = DiceLoss(to_onehot_y=True, softmax=True)
        t1 = t.unsqueeze(1)
        loss = lambda x: monai(x, t1)
    elif case == "MONAI DiceFocalLoss(softmax)":
        # focal's DiceFocalLoss::default() (the segmentation demo's loss): softmax Dice, gamma 2,
        # lambdas 1; MONAI's focal part is a sigmoid focal loss even with softmax=True.
        from monai.losses import DiceFocalLoss

        monai = DiceFocalLoss(to_onehot_y=True, softmax=True, gamma=2.0)
        t1 = t.unsqueeze(1)
        loss = lambda x: monai(x, t1)
    elif case == "torchvision sigmoid_focal_loss":
        from torchvision.ops import sigmoid_focal_loss

        loss = lambda x: sigmoid_focal_loss(x, dense, alpha=0.25, gamma=2.0, reduction="mean")
    else:
        raise ValueError(case)

    def run():
        x = x0.detach().requires_grad_(True)
        loss(x).backward()

    return run


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def cuda_peak_above_inputs(run):
    run()
    synchronize()
    torch.cuda.reset_peak_memory_stats(DEVICE)
    before = torch.cuda.memory_allocated(DEVICE)
    run()
    synchronize()
    return torch.cuda.max_memory_allocated(DEVICE) - before


def peak_above_inputs(shape, case):
    x, t, dense = inputs(shape)
    run = runner(case, x, t, dense)
    run()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_kib("VmRSS:")
    run()
    return (status_kib("VmHWM:") - before) * 1024


def measure(shape, case, x, t, dense, rounds):
    """The row of a measured case: its median and fastest time, each round's time (in the
    rounds' order) and its peak memory above the inputs (CPU: in a fresh process)."""
    ms, fastest = sorted(rounds)[len(rounds) // 2], min(rounds)
    if DEVICE.type == "cuda":
        peak = cuda_peak_above_inputs(runner(case, x, t, dense))
    else:
        # As on the Rust side: glibc maps and returns every allocation above 64 KiB, so that
        # resident memory follows allocation.
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        out = subprocess.run(
            [sys.executable, __file__, "--memory-of", f"{shape}:{case}"],
            capture_output=True, text=True, env=env,
        )
        try:
            peak = int(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            peak = None
    print(f"{shape:7} {case:32} {ms:9.1f} ms (fastest {fastest:7.1f})  "
          f"peak {(peak or 0) / 2**20:8.1f} MiB above inputs", file=sys.stderr)
    return {"side": "pytorch", "shape": shape, "case": case, "median_ms": ms,
            "min_ms": fastest, "rounds_ms": list(rounds), "peak_bytes": peak,
            "logits_bytes": x.numel() * 4}


def serve(only):
    """The `--serve` loop (see the module's documentation); the rows measured and the most rounds
    of a shape."""
    rows, rounds = [], 0
    shape, x, t, dense, names, runs, times = None, None, None, None, [], [], []

    def answer(text):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "shape":
            shape = arg
            x, t, dense = inputs(shape)
            names = [c for c in cases(shape) if (only is None or c in only) and available(c)]
            runs = [runner(case, x, t, dense) for case in names]
            for run in runs:
                run()
            synchronize()
            times = [[] for _ in runs]
            answer("ready")
        elif command == "round":
            # The Rust side's idle intra-op threads spin for a while after its last parallel
            # region (libgomp's wait policy) and would take a core from our first run.
            time.sleep(0.05)
            for run, ts in zip(runs, times):
                start = time.perf_counter()
                run()
                synchronize()
                ts.append((time.perf_counter() - start) * 1e3)
            rounds = max(rounds, len(times[0]) if times else 0)
            answer("ok")
        elif command == "end":
            runs = []
            for case, ts in zip(names, times):
                if ts:
                    rows.append(measure(shape, case, x, t, dense, ts))
            answer("ok")
        elif command == "quit":
            break
        else:
            answer(f"unknown command {command!r}")
    return rows, rounds


def timings(runs, reps):
    """`reps` timed runs of each function, in ms and in the rounds' order, after one warm-up
    each; the cases take turns, as on the Rust side."""
    for run in runs:
        run()
    synchronize()
    times = [[] for _ in runs]
    for _ in range(reps):
        for run, t in zip(runs, times):
            start = time.perf_counter()
            run()
            synchronize()
            t.append((time.perf_counter() - start) * 1e3)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--shapes", default="seg64,seg128,det")
    ap.add_argument("--json")
    ap.add_argument("--memory-of")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cases", help="comma-separated case names (all by default)")
    ap.add_argument("--serve", action="store_true",
                    help="take turns with benches/losses.rs --peer (commands on stdin)")
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.memory_of:
        shape, case = args.memory_of.split(":", 1)
        print(peak_above_inputs(shape, case))
        return
    only = args.cases.split(",") if args.cases else None
    rows, reps = [], args.reps
    if args.serve:
        rows, reps = serve(only)
    for shape in [] if args.serve else args.shapes.split(","):
        x, t, dense = inputs(shape)
        names = [c for c in cases(shape) if (only is None or c in only) and available(c)]
        measured = timings([runner(case, x, t, dense) for case in names], args.reps)
        for case, rounds in zip(names, measured):
            rows.append(measure(shape, case, x, t, dense, rounds))
    malloc = " ".join(f"{k}={os.environ[k]}" for k in ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
                      if k in os.environ)
    doc = {"device": args.device, "malloc": malloc, "threads": torch.get_num_threads(), "reps": reps, "torch": torch.__version__,
           "interleaved": args.serve, "rows": rows}
    text = json.dumps(doc, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
