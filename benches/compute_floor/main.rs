//! The compute floors of the project's losses on this CPU: what the targets tied to a
//! copy of the logits ("within 2x / 3x a copy") meet before any checks, edge cases or accuracy
//! corrections.
//!
//! Minimal hand-written SIMD loops (`std::arch` intrinsics), each computing a loss summed in
//! float64 and a gradient written to a buffer, over deterministic inputs ([`inputs`]): the
//! segmentation shape `2 x 4 x 128^3` float32 logits with int64 class targets, and for the
//! sigmoid focal loss also the detection shape `8 x 20000 x 80` with ~1% binary positives. Each
//! loop is written once over [`loops::simd::Lanes`] and compiled for two instruction sets
//! ([`loops::simd::Isa`]): AVX2 + FMA (8 float32 lanes) and AVX-512F (16 lanes, plain unaligned
//! loads and stores), with the same arithmetic lane for lane; every run checks and times each
//! instruction set the CPU has (the printed rows and the JSON's `isa` name it). The exponentials
//! and logarithms are the fused kernels' Cephes polynomials ([`loops::simd`]). The loops are one
//! module (`loops.rs`), which `benches/losses.rs` also includes to time them (in the widest
//! instruction set) in the same rounds as the losses.
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
//! (every size is a multiple of the lane count, 16), the focal losses' `mean` (one multiply: they
//! are summed), the autograd node and half precision. The loops run on the threads the fused
//! kernels run on (libtorch's intra-op threads, through `focal::__private`), each taking ranges
//! of positions (elements for the sigmoid loss) one at a time, 16 per thread. Each figure is the
//! median of `--reps` runs (7), the loops and copies taking turns in one process, on 1 thread
//! and on every core. `x copy` divides by the copy of the same logits on the same threads (the
//! destination paged in).
//!
//! `cargo bench --bench compute_floor [-- --reps N] [--json PATH]` (`--json`: the medians as JSON);
//! under `cargo test`, one small run of every loop in every instruction set. Every run checks
//! each loop's loss against a float64 evaluation (1e-5 relative), for the sigmoid, seed and Dice
//! loops a few gradient entries against float64 closed forms ([`reference`]), and that the
//! softmax, sigmoid and seed loops write the same gradient bits in every instruction set and on
//! any thread count (their arithmetic is per position; Dice's gradient depends on float32 sums,
//! whose order changes with the lanes and the threads).

#[cfg(target_arch = "x86_64")]
mod loops;
#[cfg(target_arch = "x86_64")]
mod reference;

#[cfg(target_arch = "x86_64")]
use loops::simd::Isa;
#[cfg(target_arch = "x86_64")]
use loops::{dice, inputs, seed_focal, sigmoid_focal, softmax_focal, threads};

#[cfg(target_arch = "x86_64")]
use std::collections::HashMap;
#[cfg(target_arch = "x86_64")]
use std::time::Instant;

/// A floor loop: instruction set, output buffer and thread count in, its loss out.
#[cfg(target_arch = "x86_64")]
type Loop<'a> = Box<dyn Fn(Isa, &mut [f32], usize) -> f64 + 'a>;

/// A check of a loop's gradient: the name in its message and the gradient in.
#[cfg(target_arch = "x86_64")]
type GradCheck<'a> = Box<dyn Fn(&str, &[f32]) + 'a>;

/// One floor loop: its names, its input shape, its output length, the loss it must return and
/// its checks.
#[cfg(target_arch = "x86_64")]
struct Floor<'a> {
    /// The name in the printed lines.
    label: &'static str,
    /// The loss's name in the JSON.
    key: &'static str,
    /// The shape's name (`seg` or `det`: it is measured against the copy of that shape).
    shape: &'static str,
    /// The elements it writes (a prefix of the shared output buffer).
    len: usize,
    /// The float64 loss every run is checked against.
    truth: f64,
    /// The loop.
    run: Loop<'a>,
    /// The check of a few gradient entries against float64 closed forms, if the loop has one.
    check_grad: Option<GradCheck<'a>>,
    /// Whether the gradient is the same bits in every instruction set and on any thread count
    /// (arithmetic per position only).
    same_bits: bool,
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

/// A hash of the floats' bits (FNV-1a over each float's bit pattern): equal bits, equal hashes.
#[cfg(target_arch = "x86_64")]
fn bits_hash(v: &[f32]) -> u64 {
    v.iter().fold(0xcbf2_9ce4_8422_2325, |h, x| {
        (h ^ u64::from(x.to_bits())).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Milliseconds that `f` takes, and its result.
#[cfg(target_arch = "x86_64")]
fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = std::hint::black_box(f());
    (start.elapsed().as_secs_f64() * 1e3, out)
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let isas = Isa::available();
    if isas.is_empty() {
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
    let dice_truth = reference::dice(&seg);
    let floors = [
        Floor {
            label: "softmax focal (mul + add)",
            key: "softmax_focal_mul_add",
            shape: "seg",
            len: seg_len,
            truth: reference::softmax_focal(&seg),
            run: Box::new(|isa, o, t| softmax_focal::run::<false>(isa, &seg, o, t)),
            check_grad: None,
            same_bits: true,
        },
        Floor {
            label: "softmax focal (FMA)",
            key: "softmax_focal_fma",
            shape: "seg",
            len: seg_len,
            truth: reference::softmax_focal(&seg),
            run: Box::new(|isa, o, t| softmax_focal::run::<true>(isa, &seg, o, t)),
            check_grad: None,
            same_bits: true,
        },
        Floor {
            label: "sigmoid focal, seg",
            key: "sigmoid_focal",
            shape: "seg",
            len: seg_len,
            truth: reference::sigmoid_focal(&seg.x, &one_hot),
            run: Box::new(|isa, o, t| sigmoid_focal::run(isa, &seg.x, &one_hot, o, t)),
            check_grad: Some(Box::new(|name, g| {
                reference::check_sigmoid_grad(name, &seg.x, &one_hot, g)
            })),
            same_bits: true,
        },
        Floor {
            label: "seed FocalLoss",
            key: "seed_focal",
            shape: "seg",
            len: seg_len,
            truth: reference::seed_focal(&seg),
            run: Box::new(|isa, o, t| seed_focal::run(isa, &seg, o, t)),
            check_grad: Some(Box::new(|name, g| {
                reference::check_seed_grad(name, &seg, g)
            })),
            same_bits: true,
        },
        Floor {
            label: "Dice (softmax)",
            key: "dice",
            shape: "seg",
            len: seg_len,
            truth: dice_truth.loss,
            run: Box::new(|isa, o, t| dice::run(isa, &seg, o, t)),
            check_grad: Some(Box::new(|name, g| {
                reference::check_dice_grad(name, &seg, &dice_truth, g)
            })),
            same_bits: false,
        },
        Floor {
            label: "sigmoid focal, det",
            key: "sigmoid_focal",
            shape: "det",
            len: det_len,
            truth: reference::sigmoid_focal(&det.x, &det.t),
            run: Box::new(|isa, o, t| sigmoid_focal::run(isa, &det.x, &det.t, o, t)),
            check_grad: Some(Box::new(|name, g| {
                reference::check_sigmoid_grad(name, &det.x, &det.t, g)
            })),
            same_bits: true,
        },
    ];

    // One checked run of every loop in every instruction set, on one thread and on every core
    // (the split included).
    let mut first_bits = HashMap::new();
    for &isa in &isas {
        for threads in [1, all] {
            for floor in &floors {
                let name = format!("{} ({})", floor.label, isa.name());
                let grad = &mut out[..floor.len];
                let loss = (floor.run)(isa, grad, threads);
                reference::check_loss(&name, loss, floor.truth);
                if let Some(check) = &floor.check_grad {
                    check(&name, grad);
                }
                if floor.same_bits {
                    let bits = bits_hash(grad);
                    let first = *first_bits.entry(floor.label).or_insert(bits);
                    assert_eq!(
                        bits, first,
                        "{name}: the gradient on {threads} thread(s) differs from the first run's"
                    );
                }
            }
        }
    }
    if !bench {
        println!(
            "compute floor smoke run: ok ({})",
            isas.iter()
                .map(|isa| isa.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return;
    }

    let reps: usize = arg(&args, "--reps")
        .and_then(|r| r.parse().ok())
        .unwrap_or(7)
        .max(1);
    // The copies the loops are measured against: (shape, label, source).
    let copies = [("seg", "copy", &seg.x), ("det", "copy, det", &det.x)];
    println!(
        "compute floor, 2 x 4 x 128^3 float32, forward + gradient, medians of {reps} (ms, x copy on the same threads):"
    );
    let mut rows = vec![];
    for threads in [1, all] {
        let mut copy_times = vec![vec![]; copies.len()];
        let mut floor_times = vec![vec![vec![]; isas.len()]; floors.len()];
        for _ in 0..reps {
            for ((_, _, src), times) in copies.iter().zip(copy_times.iter_mut()) {
                let len = src.len();
                times.push(timed(|| threads::copy(src, &mut out[..len], threads)).0);
            }
            for (floor, times) in floors.iter().zip(floor_times.iter_mut()) {
                for (&isa, times) in isas.iter().zip(times.iter_mut()) {
                    let (ms, loss) = timed(|| (floor.run)(isa, &mut out[..floor.len], threads));
                    times.push(ms);
                    let name = format!("{} ({})", floor.label, isa.name());
                    reference::check_loss(&name, loss, floor.truth);
                }
            }
        }
        let copy_ms: Vec<f64> = copy_times.into_iter().map(median).collect();
        let copy_of = |shape: &str| {
            copies
                .iter()
                .zip(&copy_ms)
                .find(|((s, _, _), _)| *s == shape)
                .map(|(_, &ms)| ms)
                .expect("every shape has its copy")
        };
        println!("{threads} thread(s):");
        for ((shape, label, _), &ms) in copies.iter().zip(&copy_ms) {
            println!("  {label:<26} {:<8} {ms:6.1} ms", "");
            rows.push(serde_json::json!({
                "loss": "copy",
                "shape": shape,
                "isa": null,
                "threads": threads,
                "ms": ms,
                "copy_ms": ms,
                "x_copy": 1.0,
            }));
        }
        for (floor, times) in floors.iter().zip(floor_times) {
            let copy = copy_of(floor.shape);
            for (&isa, times) in isas.iter().zip(times) {
                let ms = median(times);
                println!(
                    "  {:<26} {:<8} {ms:6.1} ms = {:4.2}x copy",
                    floor.label,
                    isa.name(),
                    ms / copy
                );
                rows.push(serde_json::json!({
                    "loss": floor.key,
                    "shape": floor.shape,
                    "isa": isa.name(),
                    "threads": threads,
                    "ms": ms,
                    "copy_ms": copy,
                    "x_copy": ms / copy,
                }));
            }
        }
    }
    println!(
        "(seg: 2 x 4 x {side}^3 with class / one-hot targets; det: {} x {} x {} with ~1% positives, against its own copy)",
        det_shape.0, det_shape.1, det_shape.2
    );
    println!(
        "(the loss benchmark's `floor ...` cases run the {} loops)",
        Isa::best().name()
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
