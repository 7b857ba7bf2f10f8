//! The fused `SigmoidFocalLoss` kernel's shortcut for hard labels: a whole block of 64 elements
//! whose targets are all 0 or 1 runs without the handling of soft targets and infinite logits
//! (at `gamma = 2`), and runs again in general where that did not hold. Held here, on inputs
//! that put such elements inside whole blocks: infinite and NaN logits, a soft target among hard
//! ones (and hard blocks after soft ones), targets outside `[0, 1]` (the composed path's error),
//! `-0.0` targets; against the composed path (1e-10 in float64, 1e-5 in float32); the shortcut
//! against the general elements (the same losses bit for bit, the gradient to rounding) and the
//! float32 gradient against the float64 truth; every SIMD level against the one-lane path (which
//! takes the shortcut too) bit for bit; and the loss alone, without a gradient.

mod common;

use focal::fused::{self, SimdLevel};
use focal::{Reduction, SigmoidFocalLoss};
use tch::{Kind, Tensor};

/// 9 whole blocks of 64 elements and a shorter last one.
const LEN: i64 = 9 * 64 + 13;

/// Logits (normal, times 3) and hard targets (about 30% ones) of `LEN` elements.
fn inputs(kind: Kind, seed: u64) -> (Tensor, Tensor) {
    let x = (common::seeded_randn(&[LEN], seed) * 3.0).to_kind(kind);
    let t = common::seeded_rand(&[LEN], seed + 1).lt(0.3).to_kind(kind);
    (x, t)
}

/// `t` with `values` written at `at`.
fn with(t: &Tensor, at: &[i64], values: &[f64]) -> Tensor {
    let t = t.copy();
    for (&i, &v) in at.iter().zip(values) {
        let _ = t.get(i).fill_(v);
    }
    t
}

/// Logits and targets of seed `seed` three ways: hard labels, with an infinite logit of each sign
/// in two whole blocks, and with one soft target in a whole block.
fn hard_infinite_soft(kind: Kind, seed: u64) -> [(&'static str, Tensor, Tensor); 3] {
    let (x, t) = inputs(kind, seed);
    let x_inf = with(&x, &[10, 400], &[f64::INFINITY, f64::NEG_INFINITY]);
    let t_soft = with(&t, &[150], &[0.7]);
    [
        ("hard", x.shallow_clone(), t.shallow_clone()),
        ("infinite", x_inf, t.shallow_clone()),
        ("soft", x, t_soft),
    ]
}

/// The integer kind of a float kind's width, to compare values bit for bit.
fn bits(kind: Kind) -> Kind {
    if kind == Kind::Double {
        Kind::Int64
    } else {
        Kind::Int
    }
}

/// The loss value and the input gradient (`Reduction::None`: the losses' sum differentiated),
/// with the kernel (asserting that it ran) or composed.
fn run(loss: &SigmoidFocalLoss, x: &Tensor, t: &Tensor, kernel: bool) -> (Tensor, Tensor) {
    let out = common::paths::run_path(loss, x, t, kernel, common::paths::Upstream::Ones);
    assert_eq!(
        out.kernel_runs,
        u64::from(kernel),
        "the kernel ran {} times",
        out.kernel_runs
    );
    (out.value, out.grad)
}

fn losses() -> Vec<(String, SigmoidFocalLoss)> {
    let mut all = Vec::new();
    for gamma in [2.0, 3.0] {
        for alpha in [Some(0.25), None] {
            for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                all.push((
                    format!("gamma {gamma} alpha {alpha:?} {reduction}"),
                    SigmoidFocalLoss::new()
                        .with_gamma(gamma)
                        .with_alpha(alpha)
                        .with_reduction(reduction),
                ));
            }
        }
    }
    all
}

/// Fused against composed, NaN where the composed path gives NaN.
fn assert_agree(loss: &SigmoidFocalLoss, x: &Tensor, t: &Tensor, case: &str) {
    let (fv, fg) = run(loss, x, t, true);
    let (cv, cg) = run(loss, x, t, false);
    let tol = common::dtype::tolerance(x.kind());
    for (what, f, c) in [("loss", &fv, &cv), ("gradient", &fg, &cg)] {
        let (f_nan, c_nan) = (f.isnan(), c.isnan());
        assert!(
            f_nan.equal(&c_nan),
            "{case}: {what}: NaN at other elements (fused {}, composed {})",
            f_nan.sum(Kind::Int64).int64_value(&[]),
            c_nan.sum(Kind::Int64).int64_value(&[])
        );
        let (f, c) = (f.nan_to_num(0.0, None, None), c.nan_to_num(0.0, None, None));
        let e = common::rel_error(&f, &c);
        assert!(e <= tol, "{case}: {what} differs by {e:e}");
    }
}

#[test]
fn infinite_and_nan_logits_inside_whole_blocks() {
    for kind in [Kind::Double, Kind::Float] {
        let (x, t) = inputs(kind, 1);
        let max = common::dtype::max_of(kind);
        // +inf and -inf on targets 1 and 0 in blocks 0 and 1, both in block 3 with the largest
        // finite logits, NaN in block 5, large finite logits in block 7.
        let t = with(
            &t,
            &[5, 70, 200, 201, 202, 203],
            &[1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
        );
        let cases: [(&str, &[i64], Vec<f64>); 3] = [
            (
                "infinite",
                &[5, 70, 200, 201, 202, 203],
                vec![
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::INFINITY,
                    f64::INFINITY,
                    -max,
                    max,
                ],
            ),
            ("NaN", &[330], vec![f64::NAN]),
            ("huge", &[460, 461], vec![1e30, -1e30]),
        ];
        for (name, at, values) in cases {
            let x = with(&x, at, &values);
            for (label, loss) in losses() {
                assert_agree(&loss, &x, &t, &format!("{kind:?} {name} logits, {label}"));
            }
        }
    }
}

#[test]
fn soft_targets_among_hard_ones() {
    for kind in [Kind::Double, Kind::Float] {
        let (x, t) = inputs(kind, 2);
        // One soft target in blocks 2 and 3 (the blocks after a soft one start in general),
        // then hard blocks again; a soft target in the last, shorter block; -0.0 as a hard 0.
        let t = with(
            &t,
            &[130, 200, 300, 301, 9 * 64 + 3],
            &[0.3, 0.999, -0.0, -0.0, 0.5],
        );
        for (label, loss) in losses() {
            assert_agree(&loss, &x, &t, &format!("{kind:?} soft among hard, {label}"));
        }
        // Every target soft but one block's.
        let soft = common::seeded_rand(&[LEN], 9).to_kind(kind);
        soft.narrow(0, 256, 64).copy_(&t.narrow(0, 256, 64));
        for (label, loss) in losses() {
            assert_agree(
                &loss,
                &x,
                &soft,
                &format!("{kind:?} one hard block, {label}"),
            );
        }
    }
}

#[test]
fn targets_outside_the_range_inside_whole_blocks_get_the_composed_error() {
    for kind in [Kind::Double, Kind::Float] {
        let (x, t) = inputs(kind, 3);
        for (at, value) in [
            (100, 1.5),
            (100, -0.25),
            (260, f64::NAN),
            (300, f64::INFINITY),
            (63, 2.0),
            (9 * 64 + 12, -1.0),
        ] {
            let bad = with(&t, &[at], &[value]);
            for (label, loss) in losses() {
                let fused_error = loss.f_forward(&x, &bad).unwrap_err().to_string();
                let composed = fused::composed_only(|| loss.f_forward(&x, &bad))
                    .unwrap_err()
                    .to_string();
                assert_eq!(fused_error, composed, "{kind:?} {value} at {at}, {label}");
                assert!(
                    fused_error.starts_with("SigmoidFocalLoss: target"),
                    "{fused_error}"
                );
            }
        }
    }
}

/// The shortcut gives what the general elements give: a soft target at one element of a block
/// sends the block to the general elements; the block's other elements then have the same
/// losses bit for bit and their gradient within rounding (1e-6 in float32, 1e-14 in float64,
/// relative to the largest entry). And the float32 gradient is within 1e-6 of the float64 truth
/// on the same inputs (the composed path in float64).
#[test]
fn the_shortcut_matches_the_general_elements_and_the_truth() {
    let loss = SigmoidFocalLoss::default().with_reduction(Reduction::None);
    for kind in [Kind::Double, Kind::Float] {
        let (x, t) = inputs(kind, 5);
        let (hard_losses, hard_grad) = run(&loss, &x, &t, true);
        for block in [0i64, 4, 8] {
            let at = block * 64 + 17;
            let (losses, grad) = run(&loss, &x, &with(&t, &[at], &[0.5]), true);
            let others = Tensor::from_slice(
                &(block * 64..block * 64 + 64)
                    .filter(|&i| i != at)
                    .collect::<Vec<i64>>(),
            );
            let pick = |v: &Tensor| v.index_select(0, &others);
            assert!(
                pick(&losses)
                    .view_dtype(bits(kind))
                    .equal(&pick(&hard_losses).view_dtype(bits(kind))),
                "{kind:?} block {block}: the losses differ from the general elements'"
            );
            let e = common::rel_error(&pick(&grad), &pick(&hard_grad));
            let tol = if kind == Kind::Double { 1e-14 } else { 1e-6 };
            assert!(
                e <= tol,
                "{kind:?} block {block}: gradient differs by {e:e}"
            );
        }
        if kind == Kind::Float {
            let (_, truth) = run(
                &loss,
                &x.to_kind(Kind::Double),
                &t.to_kind(Kind::Double),
                false,
            );
            let e = common::rel_error(&hard_grad.to_kind(Kind::Double), &truth);
            assert!(e <= 1e-6, "float32 gradient {e:e} off the float64 truth");
        }
    }
}

/// Every vector level this CPU has gives the one-lane path's gradient bit for bit (every level
/// takes the shortcut for whole blocks, and the mean's scale is known before the pass), on hard
/// labels with and without infinite logits and soft targets.
#[test]
fn every_level_gives_the_one_lane_gradient_bit_for_bit() {
    for kind in [Kind::Double, Kind::Float] {
        for (name, x, t) in &hard_infinite_soft(kind, 4) {
            let loss = SigmoidFocalLoss::default();
            let (_, one) = fused::with_simd_level(SimdLevel::Scalar, || run(&loss, x, t, true));
            for level in [SimdLevel::Avx2, SimdLevel::Avx512] {
                if level > fused::detected_simd_level() {
                    continue;
                }
                let (_, g) = fused::with_simd_level(level, || run(&loss, x, t, true));
                let same = g.view_dtype(bits(kind)).equal(&one.view_dtype(bits(kind)));
                assert!(
                    same,
                    "{kind:?} {name} at {level:?}: not the one-lane gradient"
                );
            }
        }
    }
}

/// Without a gradient (`no_grad`) the kernel computes the loss alone, through the same shortcut
/// and fallbacks: the composed path's value, on hard labels, a soft target among them and
/// infinite logits.
#[test]
fn forward_without_grad_matches_composed() {
    for kind in [Kind::Double, Kind::Float] {
        for (name, x, t) in &hard_infinite_soft(kind, 6) {
            for (label, loss) in losses() {
                let before = focal::__private::fused_kernel_runs();
                let fused_value = tch::no_grad(|| loss.forward(x, t));
                assert_eq!(focal::__private::fused_kernel_runs(), before + 1);
                let composed = fused::composed_only(|| tch::no_grad(|| loss.forward(x, t)));
                let e = common::rel_error(&fused_value, &composed);
                assert!(
                    e <= common::dtype::tolerance(kind),
                    "{kind:?} {name}, {label}: {e:e}"
                );
            }
        }
    }
}
