"""Merges the two halves of `make bench` (benches/losses.rs and anchors.py, run in turns, one
round each, when the Rust side ran the Python side as its `--peer`) into one table of medians,
ratios and peak memory, checks the speed targets of issues 7 and 14 (each next to what the
arithmetic floor allows: `benches/compute_floor`'s loops, timed in the same rounds as the cases
named `floor ...`), and writes the whole as JSON and Markdown."""
import argparse
import datetime
import json
import os
import platform


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("focal")
    ap.add_argument("anchors")
    ap.add_argument("--json", required=True)
    ap.add_argument("--markdown", required=True)
    args = ap.parse_args()
    focal = json.load(open(args.focal))
    anchors = json.load(open(args.anchors))
    rows = focal["rows"] + anchors["rows"]
    get = {(r["shape"], r["side"], r["case"]): r for r in rows}

    def ms(shape, side, case):
        r = get.get((shape, side, case))
        return r["median_ms"] if r else None

    # Round by round: each round runs every case of the Rust side once, then (interleaved, with
    # the Rust side running the Python side as its peer) every case of the Python side once, so
    # round i of one case and round i of another ran a few seconds apart at most.
    paired_sides = bool(focal.get("interleaved") and anchors.get("interleaved"))

    def per_round(num, den, scale=1.0):
        """`num / den * scale` round by round, for two cases given as (shape, side, case); None
        where a case has no per-round times, or where the sides ran one after the other."""
        a, b = get.get(num), get.get(den)
        if not a or not b or "rounds_ms" not in a or "rounds_ms" not in b:
            return None
        if a["side"] != b["side"] and not paired_sides:
            return None
        n = min(len(a["rounds_ms"]), len(b["rounds_ms"]))
        return [x / y * scale for x, y in zip(a["rounds_ms"][:n], b["rounds_ms"][:n])] or None

    out = []
    device = focal.get("device", "cpu")
    machine = f"{cpu_name()}, {os.cpu_count()} cores, {focal['threads']} intra-op threads"
    if device != "cpu":
        try:
            import torch
            machine = f"{torch.cuda.get_device_name(torch.device(device))} ({device}), host {machine}"
        except Exception:
            machine = f"{device}, host {machine}"
    date = datetime.date.today().isoformat()
    turns = ("the cases of both sides taking turns, a round of each side's in turn"
             if focal.get("interleaved") and anchors.get("interleaved")
             else "the cases of each side taking turns, the sides run one after the other")
    out.append(f"Measured {date} on {machine}; torch {anchors.get('torch', '?')}, float32, "
               f"(float64 in the cases named '... f64'), forward + backward, median of {focal['reps']} runs ({turns}); "
               f"'x copy' and the targets use medians, and the copy measured by the Rust side; "
               f"glibc settings: {focal.get('malloc') or 'defaults'} (Rust), "
               f"{anchors.get('malloc') or 'defaults'} (Python).\n")
    shapes = []
    for r in rows:
        if r["shape"] not in shapes:
            shapes.append(r["shape"])
    for shape in shapes:
        copy = ms(shape, "focal", "copy")
        out.append(f"\n**{shape}**\n")
        out.append("| side | case | median ms | fastest ms | x copy | peak above inputs (x logits) |")
        out.append("|---|---|---:|---:|---:|---:|")
        for r in rows:
            if r["shape"] != shape:
                continue
            peak = r.get("peak_bytes")
            peak_text = (f"{peak / r['logits_bytes']:.2f}" if peak is not None
                         else "" if r["case"].startswith("floor ") else "?")
            ratio = f"{r['median_ms'] / copy:.1f}" if copy else "?"
            fastest = f"{r['min_ms']:.1f}" if r.get("min_ms") is not None else "?"
            out.append(f"| {r['side']} | {r['case']} | {r['median_ms']:.1f} | {fastest} | {ratio} | {peak_text} |")

    targets = []

    def target(name, value, goal, better, at_floor=None, rounds=None):
        """`at_floor`: the same figure for the arithmetic floor (the floor's time in place of
        ours), the best this CPU allows. `rounds`: the same figure round by round (its spread:
        where the goal lies inside it, another run may give the other verdict)."""
        if value is None:
            return
        # Judged on the figure as reported (3 decimals): a page of resident memory above the
        # gradient's 64 MiB is not a miss of "1x the logits".
        value = round(value, 3)
        met = value >= goal if better == "higher" else value <= goal
        row = {"target": name, "value": value, "goal": goal, "met": met,
               "better": better}
        if at_floor is not None:
            row["at_floor"] = round(at_floor, 3)
            row["floor_met"] = at_floor >= goal if better == "higher" else at_floor <= goal
        if rounds:
            row["rounds_min"], row["rounds_max"] = round(min(rounds), 3), round(max(rounds), 3)
        targets.append(row)

    # Each loss's floor (benches/compute_floor's loops, the cases `floor ...` of the same run):
    # FocalLoss the seed's per-class loss, DiceLoss the softmax Dice's two passes. DiceFocalLoss
    # has none (the Dice floor alone would flatter it).
    def floor_ms(loss, shape="seg128"):
        return ms(shape, "focal", f"floor {loss}")

    has_floor = any(r["case"].startswith("floor ") for r in focal["rows"])

    def floor_speedup(shape, loss, anchor):
        a, f = ms(shape, "pytorch", anchor), floor_ms(loss, shape)
        return a / f if a and f else None

    def speedup(shape, ours, anchor):
        a, o = ms(shape, "pytorch", anchor), ms(shape, "focal", ours)
        return a / o if a and o else None

    # The targets of the speed issue (float32, seg128 unless named, both cores): the softmax
    # losses at most 2x one copy of the logits (the faster side's copy), the sigmoid loss 3x, and
    # the speed-ups over the anchors that follow from those.
    copies = {side: ms("seg128", side, "copy") for side in ("focal", "pytorch")}
    copies = {side: c for side, c in copies.items() if c}
    copy_side = min(copies, key=copies.get) if copies else None
    copy = copies.get(copy_side)
    for loss, goal in [("FocalLoss", 2), ("SoftmaxFocalLoss", 2), ("SigmoidFocalLoss", 3)]:
        o = ms("seg128", "focal", loss)
        if o and copy:
            f = floor_ms(loss)
            target(f"{loss} time, seg128 (x one copy of the logits, the faster side's)", o / copy, goal, "lower",
                   f / copy if f else None,
                   per_round(("seg128", "focal", loss), ("seg128", copy_side, "copy")))

    def faster_than(name, shape, loss, anchor, goal):
        """The target that `loss` is `goal` times faster than `anchor` on `shape`: the medians'
        ratio, the floor's, and the ratio round by round."""
        target(name, speedup(shape, loss, anchor), goal, "higher",
               floor_speedup(shape, loss, anchor),
               per_round((shape, "pytorch", anchor), (shape, "focal", loss)))

    for loss in ["FocalLoss", "SoftmaxFocalLoss"]:
        faster_than(f"{loss} vs F.cross_entropy, seg128 (x faster)",
                    "seg128", loss, "cross_entropy", 2.5)
    faster_than("FocalLoss vs the seed's code, seg128 (x faster)",
                "seg128", "FocalLoss", "seed FocalLoss", 25)
    for anchor in ["kornia focal_loss", "MONAI FocalLoss(use_softmax)"]:
        faster_than(f"SoftmaxFocalLoss vs {anchor}, seg128 (x faster)",
                    "seg128", "SoftmaxFocalLoss", anchor, 8)
    # Issue 14: the Dice losses (softmax, class indices, defaults) at least 5x MONAI's.
    for loss in ["DiceLoss", "DiceFocalLoss"]:
        faster_than(f"{loss} vs MONAI {loss}(softmax), seg128 (x faster)",
                    "seg128", loss, f"MONAI {loss}(softmax)", 5)
    for shape in ["seg128", "det"]:
        faster_than(f"SigmoidFocalLoss vs torchvision, {shape} (x faster)",
                    shape, "SigmoidFocalLoss", "torchvision sigmoid_focal_loss", 10)
    for loss in ["FocalLoss", "SoftmaxFocalLoss", "SigmoidFocalLoss"]:
        r = get.get(("seg128", "focal", loss))
        if r and r.get("peak_bytes") is not None:
            target(f"{loss} peak memory above inputs, seg128 (x logits)",
                   r["peak_bytes"] / r["logits_bytes"], 1, "lower")
    # Float64 SIMD lanes (issue 14): float64 within 2x of the float32 time per byte of the logits.
    for loss in ["FocalLoss", "SoftmaxFocalLoss", "SigmoidFocalLoss"]:
        r32, r64 = get.get(("seg128", "focal", loss)), get.get(("seg128", "focal", f"{loss} f64"))
        if r32 and r64:
            per_byte = lambda r: r["median_ms"] / r["logits_bytes"]
            target(f"{loss} float64 / float32 time per byte, seg128", per_byte(r64) / per_byte(r32), 2,
                   "lower", rounds=per_round(("seg128", "focal", f"{loss} f64"), ("seg128", "focal", loss),
                                             r32["logits_bytes"] / r64["logits_bytes"]))
    checks = ms("seg128", "focal", "checks")
    for loss in ["FocalLoss", "SoftmaxFocalLoss"]:
        o = ms("seg128", "focal", loss)
        if checks and o:
            target(f"checks (device, dtype, target range) / {loss}, seg128", checks / o, 0.10, "lower",
                   rounds=per_round(("seg128", "focal", "checks"), ("seg128", "focal", loss)))
    saved = []
    for shape in shapes:
        for loss in ["FocalLoss", "SoftmaxFocalLoss", "SigmoidFocalLoss"]:
            node, before = ms(shape, "focal", loss), ms(shape, "focal", f"{loss} surrogate")
            if node and before:
                saved.append(f"| {shape} | {loss} | {before:.1f} | {node:.1f} | {before - node:.1f} | {before / node:.2f} |")
    if saved:
        out.append("\n**What the autograd node saves** (the fused kernel's gradient handed to autograd by "
                   "a libtorch node, against the dot-product surrogate that registered it before; same run)\n")
        out.append("| shape | loss | surrogate (before) ms | node ms | saved ms | x faster |")
        out.append("|---|---|---:|---:|---:|---:|")
        out.extend(saved)
    if device != "cpu":
        targets.clear()  # the speed targets are set for the CPU
    if targets:
        out.append("\n**Targets** (judged on the medians; 'per round': the lowest and highest of the "
                   "same figure taken round by round, each round one run of every case"
                   + (" of both sides in turn" if paired_sides else "") +
                   ": where the goal lies inside that range, another run may give the other verdict"
                   + ("; the last two columns: the same figure with the arithmetic "
                   "floor's time, `benches/compute_floor`'s loop on every core in the same rounds, in "
                   "place of ours: what a minimal loop of the loss's general arithmetic reaches here, "
                   "an estimate of the CPU's limit, not a bound: a kernel that knows more, such as "
                   "hard labels, can beat it" if has_floor else "") + ")\n")
        if has_floor:
            out.append("| target | measured | per round | goal | met | at the floor | floor meets it |")
            out.append("|---|---:|---:|---:|---|---:|---|")
        else:
            out.append("| target | measured | per round | goal | met |")
            out.append("|---|---:|---:|---:|---|")
    for t in targets:
        op = ">=" if t["better"] == "higher" else "<="
        spread = (f"{t['rounds_min']:.2f}-{t['rounds_max']:.2f}" if "rounds_min" in t else "")
        line = (f"| {t['target']} | {t['value']:.2f} | {spread} | {op} {t['goal']} | "
                f"{'yes' if t['met'] else 'no'} |")
        if has_floor:
            if "at_floor" in t:
                line += f" {t['at_floor']:.2f} | {'yes' if t['floor_met'] else 'no'} |"
            else:
                line += " | |"
        out.append(line)
    versus = []
    for shape in shapes:
        for loss in ["FocalLoss", "SoftmaxFocalLoss", "SigmoidFocalLoss", "DiceLoss"]:
            o, f = ms(shape, "focal", loss), floor_ms(loss, shape)
            if o and f:
                versus.append(f"| {shape} | {loss} | {o:.1f} | {f:.1f} | {o / f:.2f} |")
    if versus:
        isa = focal.get("floor_isa") or "AVX2"
        ours = focal.get("simd")
        out.append(f"\n**Ours against the arithmetic floor** (`benches/compute_floor`'s minimal {isa} "
                   f"loops, no checks or edge cases, {focal['threads']} threads, in the same rounds"
                   + (f"; our kernels at their level {ours}" if ours else "") + ")\n")
        out.append("| shape | loss | ours ms | floor ms | ours / floor |")
        out.append("|---|---|---:|---:|---:|")
        out.extend(versus)
    text = "\n".join(out) + "\n"
    with open(args.markdown, "w") as f:
        f.write(text)
    with open(args.json, "w") as f:
        json.dump({"date": date, "machine": machine, "focal": focal, "anchors": anchors,
                   "targets": targets}, f, indent=2)
    print(text)


if __name__ == "__main__":
    main()
