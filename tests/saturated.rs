//! `SigmoidFocalLoss`, `SoftmaxFocalLoss` and `FocalLoss` (the seed's) at saturated logits (scales 10 to 100 and values
//! near the dtype's largest), each path (the fused kernel and the composed tch operations) held
//! against the float64 truth: loss and input gradient, float32 and float64, `Mean` and `Sum`,
//! `gamma` in {0, 0.5, 1, 2, 5}; `SoftmaxFocalLoss` also with label smoothing, `Reduction::None`
//! included (the unreduced losses and the gradient of their sum).
//!
//! The truth is a stable closed form written here and evaluated in float64 on the inputs (float32
//! inputs cast up): log-probabilities from `log1p`, `1 - p` never formed by a subtraction near 1,
//! and the gradient from its closed form (`F (onehot - p)` for the softmax), independent of both
//! paths' code (the kernels' formulas and autograd). Tolerances, relative to the largest magnitude
//! of the truth, or of the dtype's smallest normal number where the truth is all smaller (a subnormal
//! result has no relative precision to hold): 1e-10 (float64) and 1e-5 (float32).

mod common;

use common::dtype::{max_of, smallest_normal, tolerance};
use common::float64::{floats, log_add_exp, log_sigmoid, rel_error};
use common::manual_seed_logits;
use common::paths::{run_path, Upstream};
use common::worst::Worst;
use focal::{FocalLoss, Loss, Reduction, SigmoidFocalLoss, SoftmaxFocalLoss};
use tch::{Device, Kind, Tensor};

const GAMMAS: [f64; 5] = [0.0, 0.5, 1.0, 2.0, 5.0];

/// The sigmoid focal loss summed (times `scale`) and its gradient (times `scale`), elementwise
/// `alpha_t (1 - p_t)^gamma ce`.
fn sigmoid_truth(
    x: &[f64],
    t: &[f64],
    gamma: f64,
    alpha: Option<f64>,
    scale: f64,
) -> (f64, Vec<f64>) {
    let mut total = 0.0;
    let mut grad = Vec::with_capacity(x.len());
    for (&x, &t) in x.iter().zip(t) {
        let (log_p, log_q) = (log_sigmoid(x), log_sigmoid(-x));
        let (p, q) = (log_p.exp(), log_q.exp());
        // Cross entropy: two non-negative terms (a hard target drops one).
        let ce = -(if t > 0.0 { t * log_p } else { 0.0 })
            - (if t < 1.0 { (1.0 - t) * log_q } else { 0.0 });
        // log(1 - p_t), 1 - p_t = t q + (1 - t) p, and its derivative in x:
        // (1 - 2t) p q / (1 - p_t).
        let (log_omt, d_log_omt) = if t == 1.0 {
            (log_q, -p)
        } else if t == 0.0 {
            (log_p, q)
        } else {
            let l = log_add_exp(t.ln() + log_q, (1.0 - t).ln() + log_p);
            (l, (1.0 - 2.0 * t) * p * (q / l.exp()))
        };
        let modulator = if gamma == 0.0 {
            1.0
        } else {
            (gamma * log_omt).exp()
        };
        let alpha_t = alpha.map_or(1.0, |a| a * t + (1.0 - a) * (1.0 - t));
        // d ce / dx = p - t = (1 - t) p - t q.
        let d_ce = (1.0 - t) * p - t * q;
        total += alpha_t * modulator * ce;
        grad.push(alpha_t * modulator * (d_ce + gamma * ce * d_log_omt) * scale);
    }
    (total * scale, grad)
}

/// The softmax focal loss of `(N, C, S)` logits (flattened, row-major) against class indices
/// `(N, S)`, per position `-alpha_y (1 - p_y)^gamma log p_y`, summed, and its gradient
/// `F (onehot - p)`, `F = -alpha_y (1 - p_y)^gamma (1 - gamma log p_y p_y / (1 - p_y))`; `Mean`
/// divides both by the sum of `alpha_y`. Returns (loss, gradient).
fn softmax_truth(
    x: &[f64],
    shape: [usize; 3],
    y: &[i64],
    gamma: f64,
    alpha: &[f64],
    mean: bool,
) -> (f64, Vec<f64>) {
    let [n, c, s] = shape;
    let at = |i: usize, k: usize, j: usize| (i * c + k) * s + j;
    let (mut total, mut weight) = (0.0, 0.0);
    let mut grad = vec![0.0; x.len()];
    for i in 0..n {
        for j in 0..s {
            let yy = y[i * s + j] as usize;
            let a = alpha[yy];
            let z: Vec<f64> = (0..c).map(|k| x[at(i, k, j)]).collect();
            let top = (0..c).fold(0, |b, k| if z[k] > z[b] { k } else { b });
            let m = z[top];
            // The others' share relative to the top one, and the log-sum-exp minus m.
            let rest: f64 = (0..c).filter(|&k| k != top).map(|k| (z[k] - m).exp()).sum();
            let lse = rest.ln_1p();
            let log_p: Vec<f64> = (0..c).map(|k| (z[k] - m) - lse).collect();
            let p: Vec<f64> = log_p.iter().map(|l| l.exp()).collect();
            // log(1 - p_y), 1 - p_y, and log p_y * p_y / (1 - p_y).
            let (log_q, q, ratio) = if yy == top {
                let q = rest / (1.0 + rest);
                // log p_y / q = -log1p(rest) (1 + rest) / rest, -1 at rest = 0.
                let r = if rest > 0.0 {
                    -lse * (1.0 + rest) / rest
                } else {
                    -1.0
                };
                (rest.ln() - lse, q, r * p[yy])
            } else {
                let q = 1.0 - p[yy];
                ((-p[yy]).ln_1p(), q, log_p[yy] * p[yy] / q)
            };
            let modulator = if gamma == 0.0 {
                1.0
            } else {
                (gamma * log_q).exp()
            };
            total += -a * modulator * log_p[yy];
            weight += a;
            let f = -a * modulator * (1.0 - gamma * ratio);
            for k in 0..c {
                let onehot_minus_p = if k == yy { q } else { -p[k] };
                grad[at(i, k, j)] = f * onehot_minus_p;
            }
        }
    }
    let scale = if mean { 1.0 / weight } else { 1.0 };
    for g in &mut grad {
        *g *= scale;
    }
    (total * scale, grad)
}

/// The seed's multi-class focal loss of `(N, C, S)` logits against class indices `(N, S)`: per
/// position the mean over classes of `-alpha_t (1 - p_t)^gamma ln(clamp(p_t, 1e-4, 1))` (`p_t =
/// p_c` for the target class, `1 - p_c` for the others), summed over positions (`Mean` divides by
/// their count), and its gradient. Each class's term depends on `ln p_c` and `ln(1 - p_c)`; with
/// `a_c`, `b_c` its derivatives in them, class `c` adds `(a_c - b_c p_c / (1 - p_c)) (onehot_cj -
/// p_j)` to `d / dx_j`, where `onehot_cj - p_j` is `1 - p_j` (formed without a subtraction for the
/// top class) for `j = c`. A clamped class (`p_t < 1e-4`) is constant.
fn seed_focal_truth(
    x: &[f64],
    shape: [usize; 3],
    y: &[i64],
    gamma: f64,
    alpha: f64,
    mean: bool,
) -> (f64, Vec<f64>) {
    const P_T_MIN: f64 = 1e-4;
    let [n, c, s] = shape;
    let at = |i: usize, k: usize, j: usize| (i * c + k) * s + j;
    let mut total = 0.0;
    let mut grad = vec![0.0; x.len()];
    let factor = |log_base: f64| {
        if gamma == 0.0 {
            1.0
        } else {
            (gamma * log_base).exp()
        }
    };
    for i in 0..n {
        for j in 0..s {
            let yy = y[i * s + j] as usize;
            let z: Vec<f64> = (0..c).map(|k| x[at(i, k, j)]).collect();
            let top = (0..c).fold(0, |b, k| if z[k] > z[b] { k } else { b });
            let rest: f64 = (0..c)
                .filter(|&k| k != top)
                .map(|k| (z[k] - z[top]).exp())
                .sum();
            let lse = rest.ln_1p();
            let log_p: Vec<f64> = (0..c).map(|k| (z[k] - z[top]) - lse).collect();
            let p: Vec<f64> = log_p.iter().map(|l| l.exp()).collect();
            // 1 - p_k and ln(1 - p_k): the others' share for the top class.
            let q: Vec<f64> = (0..c)
                .map(|k| {
                    if k == top {
                        rest / (1.0 + rest)
                    } else {
                        1.0 - p[k]
                    }
                })
                .collect();
            let log_q: Vec<f64> = (0..c)
                .map(|k| {
                    if k == top {
                        rest.ln() - lse
                    } else {
                        (-p[k]).ln_1p()
                    }
                })
                .collect();
            let mut w = vec![0.0; c];
            for k in 0..c {
                let positive = k == yy;
                let (p_t, log_p_t, log_base) = if positive {
                    (p[k], log_p[k], log_q[k])
                } else {
                    (q[k], log_q[k], log_p[k])
                };
                let a = if positive { alpha } else { 1.0 - alpha };
                if p_t < P_T_MIN {
                    total += -a * (1.0 - P_T_MIN).powf(gamma) * P_T_MIN.ln() / c as f64;
                    continue;
                }
                let f = factor(log_base);
                total += -a * f * log_p_t / c as f64;
                // d term / d ln p and d term / d ln(1 - p).
                let (d_log_p, d_log_q) = if positive {
                    (-a * f, -a * gamma * f * log_p_t)
                } else {
                    (-a * gamma * f * log_p_t, -a * f)
                };
                // d_log_q * p / (1 - p): for the target class at the top its limit where 1 - p
                // underflows (ln p / (1 - p) -> -1).
                let through_q = if positive && q[k] == 0.0 {
                    -a * gamma * f * -p[k]
                } else {
                    d_log_q * (p[k] / q[k])
                };
                w[k] = (d_log_p - through_q) / c as f64;
            }
            for k in 0..c {
                // The others' sum on its own (the whole sum minus w_k would cancel).
                let others: f64 = (0..c).filter(|&o| o != k).map(|o| w[o]).sum();
                grad[at(i, k, j)] = w[k] * q[k] - p[k] * others;
            }
        }
    }
    let scale = if mean { 1.0 / (n * s) as f64 } else { 1.0 };
    for g in &mut grad {
        *g *= scale;
    }
    (total * scale, grad)
}

/// The loss (its elements, one for a reduced loss) and the gradient of their sum (as float64
/// vectors) of one path: the kernel (asserting that it ran) or the composed operations.
fn path(
    loss: &dyn Loss,
    input: &Tensor,
    target: &Tensor,
    fused_path: bool,
) -> (Vec<f64>, Vec<f64>) {
    let run = run_path(loss, input, target, fused_path, Upstream::Ones);
    assert_eq!(
        run.kernel_runs,
        u64::from(fused_path),
        "fused path: {fused_path}"
    );
    (floats(&run.value), floats(&run.grad))
}

/// Checks one case on both paths, recording the errors; returns the failures' descriptions.
#[allow(clippy::too_many_arguments)]
fn check(
    loss: &dyn Loss,
    x: &Tensor,
    t: &Tensor,
    truth: (Vec<f64>, Vec<f64>),
    label: &str,
    worst: &mut [Worst; 2],
    failures: &mut Vec<String>,
) {
    let (tol, floor) = (tolerance(x.kind()), smallest_normal(x.kind()));
    for (i, fused_path) in [true, false].into_iter().enumerate() {
        let (value, grad) = path(loss, x, t, fused_path);
        // A NaN on a path drops out of the error's maximum, as it always has here.
        let ve = rel_error(&value, &truth.0, floor, false);
        let ge = rel_error(&grad, &truth.1, floor, false);
        let slot = Worst::slot(x.kind());
        for (k, e) in [(slot, ve), (slot + 1, ge)] {
            worst[i].see(k, e, label);
        }
        if !(ve <= tol && ge <= tol) {
            let name = if fused_path { "fused" } else { "composed" };
            failures.push(format!(
                "{name} {label}: loss {:e} vs {:e} ({ve:.2e}), gradient {ge:.2e}",
                value.first().copied().unwrap_or(f64::NAN),
                truth.0.first().copied().unwrap_or(f64::NAN),
            ));
        }
    }
}

fn report(name: &str, worst: &[Worst; 2], failures: &[String]) {
    Worst::print(name, worst);
    assert!(
        failures.is_empty(),
        "{} failures, first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(12)].join("\n")
    );
}

fn new_worst() -> [Worst; 2] {
    [Worst::default(), Worst::default()]
}

#[test]
fn sigmoid_focal_paths_match_the_float64_truth_at_saturated_logits() {
    let mut worst = new_worst();
    let mut failures = Vec::new();
    let shapes: [&[i64]; 3] = [&[1], &[7], &[3, 5, 4]];
    for kind in [Kind::Float, Kind::Double] {
        for (si, shape) in shapes.iter().enumerate() {
            for scale in [10.0, 30.0, 60.0, 100.0, max_of(kind) / 4.0] {
                for seed in 0..3 {
                    let x = manual_seed_logits(shape, 17 * seed + si as i64, scale, kind);
                    tch::manual_seed(1000 + seed);
                    let u = Tensor::rand(*shape, (Kind::Double, Device::Cpu));
                    for soft in [false, true] {
                        let t = if soft { u.shallow_clone() } else { u.gt(0.5) }.to_kind(kind);
                        let (xs, ts) = (floats(&x), floats(&t));
                        for gamma in GAMMAS {
                            for alpha in [None, Some(0.25), Some(0.0), Some(1.0)] {
                                for reduction in [Reduction::Mean, Reduction::Sum] {
                                    let s = if reduction == Reduction::Mean {
                                        1.0 / xs.len() as f64
                                    } else {
                                        1.0
                                    };
                                    let truth = sigmoid_truth(&xs, &ts, gamma, alpha, s);
                                    // A sum beyond the dtype's range is infinite on both paths.
                                    if truth.0.is_nan() || truth.0 / s > max_of(kind) {
                                        continue;
                                    }
                                    let loss = SigmoidFocalLoss::new()
                                        .with_gamma(gamma)
                                        .with_alpha(alpha)
                                        .with_reduction(reduction);
                                    let label = format!(
                                        "{kind:?} {shape:?} scale {scale:e} seed {seed} soft {soft} gamma {gamma} alpha {alpha:?} {reduction:?}"
                                    );
                                    let truth = (vec![truth.0], truth.1);
                                    check(&loss, &x, &t, truth, &label, &mut worst, &mut failures);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    report("SigmoidFocalLoss", &worst, &failures);
}

#[test]
fn softmax_focal_paths_match_the_float64_truth_at_saturated_logits() {
    let mut worst = new_worst();
    let mut failures = Vec::new();
    let shapes: [[i64; 3]; 4] = [[1, 2, 1], [1, 3, 1], [2, 5, 7], [3, 4, 9]];
    for kind in [Kind::Float, Kind::Double] {
        for (si, shape) in shapes.iter().enumerate() {
            // The largest values only where a gap of twice them stays finite.
            for scale in [10.0, 30.0, 60.0, 100.0, max_of(kind) / 16.0] {
                for seed in 0..3 {
                    let x = manual_seed_logits(shape, 31 * seed + si as i64, scale, kind);
                    tch::manual_seed(2000 + seed);
                    let y =
                        Tensor::randint(shape[1], [shape[0], shape[2]], (Kind::Int64, Device::Cpu));
                    let (xs, ys) = (floats(&x), Vec::<i64>::try_from(y.reshape([-1])).unwrap());
                    let dims = shape.map(|d| d as usize);
                    for gamma in GAMMAS {
                        for weighted in [false, true] {
                            let alpha: Vec<f64> = (0..shape[1])
                                .map(|k| if weighted { 0.2 + 0.15 * k as f64 } else { 1.0 })
                                .collect();
                            for reduction in [Reduction::Mean, Reduction::Sum] {
                                let truth = softmax_truth(&xs, dims, &ys, gamma, &alpha, false);
                                // A sum beyond the dtype's range is infinite on both paths.
                                if truth.0.is_nan() || truth.0 > max_of(kind) {
                                    continue;
                                }
                                let truth = softmax_truth(
                                    &xs,
                                    dims,
                                    &ys,
                                    gamma,
                                    &alpha,
                                    reduction == Reduction::Mean,
                                );
                                let loss = SoftmaxFocalLoss::new()
                                    .with_gamma(gamma)
                                    .with_alpha(weighted.then(|| alpha.clone()))
                                    .with_reduction(reduction);
                                let label = format!(
                                    "{kind:?} {shape:?} scale {scale:e} seed {seed} gamma {gamma} weighted {weighted} {reduction:?}"
                                );
                                let truth = (vec![truth.0], truth.1);
                                check(&loss, &x, &y, truth, &label, &mut worst, &mut failures);
                            }
                        }
                    }
                }
            }
        }
    }
    report("SoftmaxFocalLoss", &worst, &failures);
}

/// The label-smoothed softmax focal loss of `(N, C, S)` logits against class indices `(N, S)`:
/// per position `sum_c v_c f_c`, `f_c = -alpha_c (1 - p_c)^gamma log p_c`, `v_c = eps / C + (1 -
/// eps) [c = y]`, and the gradient of the losses' sum, `sum_c v_c F_c (onehot_c - p)` with `F_c =
/// -alpha_c (1 - p_c)^gamma (1 - gamma log p_c p_c / (1 - p_c))`, taken class by class as
/// `G_j (1 - p_j) - p_j sum_{c != j} G_c` (`G_c = v_c F_c`). Returns the per-position losses, the
/// gradient and the sum of `alpha_y` (what `Mean` divides by).
fn softmax_smoothed_truth(
    x: &[f64],
    shape: [usize; 3],
    y: &[i64],
    gamma: f64,
    alpha: &[f64],
    eps: f64,
) -> (Vec<f64>, Vec<f64>, f64) {
    let [n, c, s] = shape;
    let at = |i: usize, k: usize, j: usize| (i * c + k) * s + j;
    let mut losses = Vec::with_capacity(n * s);
    let mut weight = 0.0;
    let mut grad = vec![0.0; x.len()];
    for i in 0..n {
        for j in 0..s {
            let yy = y[i * s + j] as usize;
            weight += alpha[yy];
            let z: Vec<f64> = (0..c).map(|k| x[at(i, k, j)]).collect();
            let top = (0..c).fold(0, |b, k| if z[k] > z[b] { k } else { b });
            let m = z[top];
            let rest: f64 = (0..c).filter(|&k| k != top).map(|k| (z[k] - m).exp()).sum();
            let lse = rest.ln_1p();
            let mut loss = 0.0;
            let mut g = vec![0.0; c];
            let mut q = vec![0.0; c];
            let mut p = vec![0.0; c];
            for k in 0..c {
                let log_p = (z[k] - m) - lse;
                p[k] = log_p.exp();
                // log(1 - p_k), 1 - p_k and log p_k p_k / (1 - p_k).
                let (log_q, ratio) = if k == top {
                    q[k] = rest / (1.0 + rest);
                    let r = if rest > 0.0 { -lse / rest } else { -1.0 };
                    (rest.ln() - lse, r)
                } else {
                    q[k] = -log_p.exp_m1();
                    ((-p[k]).ln_1p(), log_p * p[k] / q[k])
                };
                let modulator = if gamma == 0.0 {
                    1.0
                } else {
                    (gamma * log_q).exp()
                };
                let v = eps / c as f64 + if k == yy { 1.0 - eps } else { 0.0 };
                loss += v * -alpha[k] * modulator * log_p;
                g[k] = v * -alpha[k] * modulator * (1.0 - gamma * ratio);
            }
            losses.push(loss);
            let total: f64 = g.iter().sum();
            for k in 0..c {
                grad[at(i, k, j)] = g[k] * q[k] - p[k] * (total - g[k]);
            }
        }
    }
    (losses, grad, weight)
}

#[test]
fn softmax_focal_label_smoothing_paths_match_the_float64_truth_at_saturated_logits() {
    let mut worst = new_worst();
    let mut failures = Vec::new();
    let shapes: [[i64; 3]; 4] = [[1, 2, 1], [1, 3, 1], [2, 5, 7], [3, 4, 9]];
    for kind in [Kind::Float, Kind::Double] {
        for (si, shape) in shapes.iter().enumerate() {
            // The largest values only where a gap of twice them, and each position's sum of
            // such gaps, stay finite.
            for scale in [10.0, 30.0, 60.0, 100.0, max_of(kind) / 64.0] {
                for seed in 0..3 {
                    let x = manual_seed_logits(shape, 37 * seed + si as i64, scale, kind);
                    tch::manual_seed(3000 + seed);
                    let y =
                        Tensor::randint(shape[1], [shape[0], shape[2]], (Kind::Int64, Device::Cpu));
                    let (xs, ys) = (floats(&x), Vec::<i64>::try_from(y.reshape([-1])).unwrap());
                    let dims = shape.map(|d| d as usize);
                    for gamma in GAMMAS {
                        for weighted in [false, true] {
                            let alpha: Vec<f64> = (0..shape[1])
                                .map(|k| if weighted { 0.2 + 0.15 * k as f64 } else { 1.0 })
                                .collect();
                            for eps in [0.1, 1.0] {
                                let (losses, grad, weight) =
                                    softmax_smoothed_truth(&xs, dims, &ys, gamma, &alpha, eps);
                                let sum: f64 = losses.iter().sum();
                                // A sum beyond the dtype's range is infinite on both paths.
                                if sum.is_nan() || sum > max_of(kind) {
                                    continue;
                                }
                                for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None]
                                {
                                    let truth = match reduction {
                                        Reduction::Mean => (
                                            vec![sum / weight],
                                            grad.iter().map(|g| g / weight).collect(),
                                        ),
                                        Reduction::Sum => (vec![sum], grad.clone()),
                                        _ => (losses.clone(), grad.clone()),
                                    };
                                    let loss = SoftmaxFocalLoss::new()
                                        .with_gamma(gamma)
                                        .with_alpha(weighted.then(|| alpha.clone()))
                                        .with_label_smoothing(eps)
                                        .with_reduction(reduction);
                                    let label = format!(
                                        "{kind:?} {shape:?} scale {scale:e} seed {seed} gamma {gamma} weighted {weighted} smoothing {eps} {reduction:?}"
                                    );
                                    check(&loss, &x, &y, truth, &label, &mut worst, &mut failures);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    report("SoftmaxFocalLoss smoothed", &worst, &failures);
}

#[test]
fn seed_focal_paths_match_the_float64_truth_at_saturated_logits() {
    let mut worst = new_worst();
    let mut failures = Vec::new();
    let shapes: [[i64; 3]; 4] = [[1, 2, 1], [1, 3, 1], [2, 5, 7], [3, 4, 9]];
    for kind in [Kind::Float, Kind::Double] {
        for (si, shape) in shapes.iter().enumerate() {
            for scale in [1.0, 3.0, 10.0, 30.0, 60.0, 100.0, max_of(kind) / 16.0] {
                for seed in 0..3 {
                    let x = manual_seed_logits(shape, 43 * seed + si as i64, scale, kind);
                    tch::manual_seed(3000 + seed);
                    let y =
                        Tensor::randint(shape[1], [shape[0], shape[2]], (Kind::Int64, Device::Cpu));
                    let (xs, ys) = (floats(&x), Vec::<i64>::try_from(y.reshape([-1])).unwrap());
                    let dims = shape.map(|d| d as usize);
                    for gamma in GAMMAS {
                        for alpha in [0.25, 0.0, 1.0] {
                            for reduction in [Reduction::Mean, Reduction::Sum] {
                                let mean = reduction == Reduction::Mean;
                                let (value, grad) =
                                    seed_focal_truth(&xs, dims, &ys, gamma, alpha, mean);
                                let truth = (vec![value], grad);
                                let loss = FocalLoss::new()
                                    .with_gamma(gamma)
                                    .with_alpha(alpha)
                                    .with_reduction(reduction);
                                let label = format!(
                                    "{kind:?} {shape:?} scale {scale:e} seed {seed} gamma {gamma} alpha {alpha} {reduction:?}"
                                );
                                check(&loss, &x, &y, truth, &label, &mut worst, &mut failures);
                            }
                        }
                    }
                }
            }
        }
    }
    report("FocalLoss", &worst, &failures);
}
