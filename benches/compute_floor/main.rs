//! The compute floors of the project's losses on this CPU: what the targets tied to a
//! copy of the logits ("within 2x / 3x a copy") meet before any checks, edge cases or accuracy
//! corrections.
//!
//! Minimal hand-written AVX2 loops (`std::arch` intrinsics, run only where AVX2 and FMA are
//! detected), each computing a loss summed in float64 and a gradient written to a buffer, over
//! deterministic inputs ([`inputs`]): the segmentation shape `2 x 4 x 128^3` float32 logits with
//! int64 class targets, and for the sigmoid focal loss also the detection shape `8 x 20000 x 80`
//! with ~1% binary positives. The exponentials and logarithms are the fused kernels' Cephes
//! polynomials ([`loops::simd`]). The loops are one module (`loops.rs`), which `benches/losses.rs`
//! also includes to time them in the same rounds as the losses.
//!
//! - [`softmax_focal`] (`SoftmaxFocalLoss`, `gamma = 2`, no alpha): per position the largest
//!   logit, one `exp` per class, one `ln`, the loss `-(1 - p_y)^2 ln p_y` and the gradient
//!   `(1 - p_y)^2 (onehot - p)` per class (not the exact derivative: the same memory traffic and
//!   about the same arithmetic). Timed with the polynomials as FMA (as the kernels, whose one-lane
//!   path takes `mul_add` for the same bits) and as multiply-then-add (what a CPU without FMA
//!   would pay); the other loops use FMA only.
//! - [`sigmoid_focal`] (`SigmoidFocalLoss`, torchvision's `sigmoid_focal_loss`, `alpha = 0.25`,
//!   `gamma = 2`), per element: one `exp`, one `ln`, one division, float32 targets of the
//!   logits' shape read, the exact gradient written; two vectors per step (one vector per step
//!   left the core waiting on the `exp` -> `ln` -> division chain: ~1.35x slower). Seg: the
//!   one-hot of the class targets; det: its own copy (the same element count) as the unit.
//! - [`seed_focal`] (the seed's `FocalLoss`, `alpha = 0.25`, `gamma = 2`): per position the
//!   softmax (one `exp` per class, one division, one `ln`), per class the binary focal term with
//!   `1 - p` as the other classes' share, one `ln` of it and one division `p / (1 - p)`, the exact
//!   gradient written per class. Left out besides the list below: the `log1p` forms the kernel
//!   uses where `p` is small (`ln(1 - p)`) or near 1 (`ln p`), so such entries lose digits
//!   (within 1e-5 of the largest gradient entry, not of their own size).
//! - [`dice`] (MONAI's `DiceLoss(softmax=True)`): two passes, the softmax with the per-(sample,
//!   class) sums and the probabilities stored, then the gradient in place from them (the
//!   logits read once, the targets twice, a logits-sized buffer written twice and read once).
//!   MONAI's defaults only: background included, no `batch`, `squared_pred` or `jaccard`.
//!
//! Left out of every floor: input checks, `ignore_index`, class weights, the seed's clamp of
//! `p_t` at 1e-4, the exact log-space corrections at saturated logits, non-finite inputs, tails
//! (every size is a multiple of 8), the focal losses' `mean` (one multiply: they are summed), the
//! autograd node, half precision, and any thread pool (scoped threads are spawned per call, which
//! the timings include). Each figure is the median of `--reps` runs (7), the loops and copies
//! taking turns in one process, on 1 thread and on every core, over disjoint ranges of positions
//! (elements for the sigmoid loss). `x copy` divides by the copy of the same logits on the same
//! threads (the destination paged in).
//!
//! `cargo bench --bench compute_floor [-- --reps N] [--json PATH]` (`--json`: the medians as JSON);
//! under `cargo test`, one small run of every loop. Every run checks each loop's loss against a
//! float64 evaluation (1e-5 relative) and, for the sigmoid, seed and Dice loops, a few gradient
//! entries against float64 closed forms ([`reference`]).

#[cfg(target_arch = "x86_64")]
mod loops;
#[cfg(target_arch = "x86_64")]
mod reference;

#[cfg(target_arch = "x86_64")]
use loops::{dice, inputs, seed_focal, sigmoid_focal, softmax_focal, threads};

#[cfg(target_arch = "x86_64")]
use std::time::Instant;

/// A timed loop: output buffer and thread count in, its loss out.
#[cfg(target_arch = "x86_64")]
type Loop<'a> = Box<dyn Fn(&mut [f32], usize) -> f64 + Sync + 'a>;

/// One timed loop (or copy): its names, its output length and the loss it must return.
#[cfg(target_arch = "x86_64")]
struct Case<'a> {
    /// The name in the printed lines.
    label: &'static str,
    /// The loss's name in the JSON (`copy` for the copies).
    key: &'static str,
    /// The shape's name in the JSON.
    shape: &'static str,
    /// The copy this loop is measured against (its index in the list), `None` for a copy.
    copy: Option<usize>,
    /// The elements it writes (a prefix of the shared output buffer).
    len: usize,
    /// The float64 loss every run is checked against, `None` for a copy.
    truth: Option<f64>,
    /// The loop: output buffer and thread count in, its loss out.
    run: Loop<'a>,
}

/// The median (the upper one for an even count) of `t`, which is not empty.
#[cfg(target_arch = "x86_64")]
fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// The value after `flag` in `args`, if any.
#[cfg(target_arch = "x86_64")]
fn arg<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        println!("compute floor: this CPU lacks AVX2 + FMA, nothing to measure");
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let (side, det_shape) = if bench {
        (128, (8, 20_000, 80))
    } else {
        (16, (2, 500, 80))
    };
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let seg = inputs::seg(side);
    let one_hot = inputs::one_hot(&seg);
    let det = inputs::det(det_shape.0, det_shape.1, det_shape.2);
    let (seg_len, det_len) = (seg.x.len(), det.x.len());
    let mut out = vec![0.0f32; seg_len.max(det_len)];

    // The float64 truths, and one checked run of every loop on every core (the split included).
    let softmax_truth = reference::softmax_focal(&seg);
    let sigmoid_seg_truth = reference::sigmoid_focal(&seg.x, &one_hot);
    let sigmoid_det_truth = reference::sigmoid_focal(&det.x, &det.t);
    let seed_truth = reference::seed_focal(&seg);
    let dice_truth = reference::dice(&seg);
    for threads in [1, all] {
        let got = softmax_focal::run::<false>(&seg, &mut out[..seg_len], threads);
        reference::check_loss("softmax focal (mul + add)", got, softmax_truth);
        let got = softmax_focal::run::<true>(&seg, &mut out[..seg_len], threads);
        reference::check_loss("softmax focal (FMA)", got, softmax_truth);
        let grad = &mut out[..seg_len];
        let got = sigmoid_focal::run(&seg.x, &one_hot, grad, threads);
        reference::check_loss("sigmoid focal, seg", got, sigmoid_seg_truth);
        reference::check_sigmoid_grad("sigmoid focal, seg", &seg.x, &one_hot, grad);
        let grad = &mut out[..det_len];
        let got = sigmoid_focal::run(&det.x, &det.t, grad, threads);
        reference::check_loss("sigmoid focal, det", got, sigmoid_det_truth);
        reference::check_sigmoid_grad("sigmoid focal, det", &det.x, &det.t, grad);
        let grad = &mut out[..seg_len];
        let got = seed_focal::run(&seg, grad, threads);
        reference::check_loss("seed focal", got, seed_truth);
        reference::check_seed_grad("seed focal", &seg, grad);
        let got = dice::run(&seg, grad, threads);
        reference::check_loss("Dice", got, dice_truth.loss);
        reference::check_dice_grad("Dice", &seg, &dice_truth, grad);
    }
    if !bench {
        println!("compute floor smoke run: ok");
        return;
    }

    let reps: usize = arg(&args, "--reps")
        .and_then(|r| r.parse().ok())
        .unwrap_or(7)
        .max(1);
    let (seg_x, det_x) = (&seg.x, &det.x);
    let copy_run = |src: &'static str| -> Loop<'_> {
        let x = if src == "seg" { seg_x } else { det_x };
        Box::new(move |o: &mut [f32], t| {
            threads::copy(x, o, t);
            0.0
        })
    };
    let cases = [
        Case {
            label: "copy",
            key: "copy",
            shape: "seg",
            copy: None,
            len: seg_len,
            truth: None,
            run: copy_run("seg"),
        },
        Case {
            label: "softmax focal (mul + add)",
            key: "softmax_focal_mul_add",
            shape: "seg",
            copy: Some(0),
            len: seg_len,
            truth: Some(softmax_truth),
            run: Box::new(|o, t| softmax_focal::run::<false>(&seg, o, t)),
        },
        Case {
            label: "softmax focal (FMA)",
            key: "softmax_focal_fma",
            shape: "seg",
            copy: Some(0),
            len: seg_len,
            truth: Some(softmax_truth),
            run: Box::new(|o, t| softmax_focal::run::<true>(&seg, o, t)),
        },
        Case {
            label: "sigmoid focal, seg",
            key: "sigmoid_focal",
            shape: "seg",
            copy: Some(0),
            len: seg_len,
            truth: Some(sigmoid_seg_truth),
            run: Box::new(|o, t| sigmoid_focal::run(&seg.x, &one_hot, o, t)),
        },
        Case {
            label: "seed FocalLoss",
            key: "seed_focal",
            shape: "seg",
            copy: Some(0),
            len: seg_len,
            truth: Some(seed_truth),
            run: Box::new(|o, t| seed_focal::run(&seg, o, t)),
        },
        Case {
            label: "Dice (softmax)",
            key: "dice",
            shape: "seg",
            copy: Some(0),
            len: seg_len,
            truth: Some(dice_truth.loss),
            run: Box::new(|o, t| dice::run(&seg, o, t)),
        },
        Case {
            label: "copy, det",
            key: "copy",
            shape: "det",
            copy: None,
            len: det_len,
            truth: None,
            run: copy_run("det"),
        },
        Case {
            label: "sigmoid focal, det",
            key: "sigmoid_focal",
            shape: "det",
            copy: Some(6),
            len: det_len,
            truth: Some(sigmoid_det_truth),
            run: Box::new(|o, t| sigmoid_focal::run(&det.x, &det.t, o, t)),
        },
    ];

    println!(
        "compute floor, 2 x 4 x 128^3 float32, forward + gradient, medians of {reps} (ms, x copy on the same threads):"
    );
    let mut rows = vec![];
    for threads in [1, all] {
        let mut times = vec![vec![]; cases.len()];
        for _ in 0..reps {
            for (case, times) in cases.iter().zip(times.iter_mut()) {
                let start = Instant::now();
                let loss = std::hint::black_box((case.run)(&mut out[..case.len], threads));
                times.push(start.elapsed().as_secs_f64() * 1e3);
                if let Some(truth) = case.truth {
                    reference::check_loss(case.label, loss, truth);
                }
            }
        }
        let ms: Vec<f64> = times.into_iter().map(median).collect();
        let ratio = |i: usize| cases[i].copy.map_or(1.0, |c| ms[i] / ms[c]);
        println!(
            "{threads} thread(s): copy {:6.1}   floor (mul + add) {:6.1} = {:4.1}x copy   floor (FMA) {:6.1} = {:4.1}x copy",
            ms[0],
            ms[1],
            ratio(1),
            ms[2],
            ratio(2)
        );
        for (i, case) in cases.iter().enumerate().skip(3) {
            match case.copy {
                None => println!("  {:<26} {:6.1} ms", case.label, ms[i]),
                Some(_) => println!(
                    "  {:<26} floor {:6.1} ms = {:4.1}x copy",
                    case.label,
                    ms[i],
                    ratio(i)
                ),
            }
        }
        for (i, case) in cases.iter().enumerate() {
            rows.push(serde_json::json!({
                "loss": case.key,
                "shape": case.shape,
                "threads": threads,
                "ms": ms[i],
                "copy_ms": case.copy.map_or(ms[i], |c| ms[c]),
                "x_copy": ratio(i),
            }));
        }
    }
    println!(
        "(seg: 2 x 4 x {side}^3 with class / one-hot targets; det: {} x {} x {} with ~1% positives, against its own copy)",
        det_shape.0, det_shape.1, det_shape.2
    );
    if let Some(path) = arg(&args, "--json") {
        let doc = serde_json::json!({
            "reps": reps,
            "seg": [2, 4, side, side, side],
            "det": [det_shape.0, det_shape.1, det_shape.2],
            "rows": rows,
        });
        let text = serde_json::to_string_pretty(&doc).expect("plain numbers and strings");
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("compute floor: cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("compute floor: x86_64 only, nothing to measure");
}
