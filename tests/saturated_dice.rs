//! `DiceLoss` and `DiceFocalLoss` at saturated logits, each path (the fused CPU kernel and the
//! composed tch operations) held against the float64 truth: loss and input gradient, float32 and
//! float64, `Mean`, `Sum` and `Reduction::None` (the `(N, C')` values and the gradient of their
//! sum) on both paths, both activations, with and without the
//! background, with and without `squared_pred`, smooths `(1e-5, 1e-5)` and `(0.5, 1.0)`, and for
//! `DiceFocalLoss` gamma, alpha and the lambdas. Inputs: shapes `(2, 3, 5, 4)`, `(1, 4, 7)` and
//! `(2, 2, 67)` (two blocks of the kernel); class-index, one-hot and soft targets; logits that
//! are normal draws times 1e2, 1e4 and 1e30 (float32) or 1e300 (float64), logits whose every
//! position has its top class at least 30 above the others (gaps up to 1e30 / 1e300), and such
//! logits with `-inf` at some classes that are neither the top one nor the target (the kernel
//! leaves a non-finite logit to the composed path: asserted, as its runs elsewhere are).
//!
//! The truth is a closed form written here and evaluated in float64 on the inputs (float32 inputs
//! cast up), independent of both paths' code (the kernels' formulas and autograd): the softmax
//! from the top logit, `rest` the others' `exp(x_k - x_top)` summed, `log p = (x - x_top) -
//! log1p(rest)` and `1 - p_top = rest / (1 + rest)`; the sigmoid from `log sigmoid(x)` and `log
//! sigmoid(-x)`. Per `(n, c)` the Dice loss `1 - num / den` as `(den - num) / den`, `den - num`
//! summed from `p (1 - t) + t (1 - p)` (`(p (1 - t) - t (1 - p))^2` with `squared_pred`), and
//! its derivative `d dice / d p = (num (1 or 2 p) - 2 t den) / den^2` with the numerator as
//! `num (1 - 2 t) - 2 t (den - num)` (`2 (num (p - t) - t (den - num))`), no cancellation where
//! `p` rounds to `t`; taken through the softmax as `p_j sum_{k != j} p_k (g_j - g_k)` (no `1 -
//! p` formed by a subtraction) or through the sigmoid as `g p (1 - p)`. The focal part as in
//! `tests/saturated.rs`: the softmax's `-alpha_c t_c (1 - p_c)^gamma log p_c` (`alpha_c` is `1 -
//! alpha` for class 0, `alpha` for the others) with gradient `F_j (1 - p_j) - p_j sum_{k != j}
//! F_k`, the sigmoid's `alpha_t (1 - p_t)^gamma ce`, per `(n, c)` averaged over the positions;
//! each `(n, c)` is `lambda_dice dice + lambda_focal focal`, `Mean` their mean over `N x C'`.
//! Tolerances, relative to the largest magnitude of the truth, or of the dtype's smallest normal
//! number where the truth is all smaller (a subnormal result has no relative precision to hold):
//! 1e-10 (float64) and 1e-5 (float32).
//!
//! The composed path's Dice part once took its gradient through libtorch's `softmax` and
//! `sigmoid`, whose backward forms `1 - p` by a subtraction: at the top class of a saturated
//! position and at a saturated positive logit of the sigmoid that gradient was 0 or had no correct
//! digits (off by 100% in float32 and float64 where every position is saturated; 1853 `DiceLoss`
//! and 326 `DiceFocalLoss` runs off here). It now takes `p` and `1 - p` from log space and the
//! loss in the form whose gradient does not cancel (`DiceParts::dice`), and is held to the
//! tolerance like the kernels.
//!
//! The kernels' `squared_pred` Dice gradient, once `b 2 p - a t` (`2 num p / den^2 - 2 t /
//! den`), cancelled at `t = 1`, `p` near 1 of a class predicted almost perfectly (`num` near
//! `den`): on a saturated input whose largest gradient came from such a class (shape `(1, 4, 7)`,
//! normal draws x 1e2, one-hot targets, seed 1001) it was off by 80% (float32) and 4e-9
//! (float64). The kernels now write it as `a ((p - t) - p (den - num) / den)` and are held to
//! the tolerance like the rest.

mod common;

use common::dtype::{max_of, smallest_normal, tolerance};
use common::float64::{floats, log_add_exp, log_sigmoid, rel_error};
use common::paths::{run_path, Upstream};
use common::worst::Worst;
use common::SplitMix;
use focal::{Activation, DiceFocalLoss, DiceLoss, Loss, Reduction};
use tch::{Kind, Tensor};

/// The focal part's hyperparameters.
#[derive(Clone, Copy, Debug)]
struct Focal {
    gamma: f64,
    alpha: Option<f64>,
    lambda_dice: f64,
    lambda_focal: f64,
}

/// A Dice (`focal: None`) or Dice-Focal loss's hyperparameters.
#[derive(Clone, Copy, Debug)]
struct Settings {
    activation: Activation,
    include_background: bool,
    squared_pred: bool,
    smooth_nr: f64,
    smooth_dr: f64,
    focal: Option<Focal>,
}

impl Settings {
    fn loss(&self, reduction: Reduction) -> Box<dyn Loss> {
        match self.focal {
            None => Box::new(
                DiceLoss::new()
                    .with_activation(self.activation)
                    .with_include_background(self.include_background)
                    .with_squared_pred(self.squared_pred)
                    .with_smooth_nr(self.smooth_nr)
                    .with_smooth_dr(self.smooth_dr)
                    .with_reduction(reduction),
            ),
            Some(f) => Box::new(
                DiceFocalLoss::new()
                    .with_activation(self.activation)
                    .with_include_background(self.include_background)
                    .with_squared_pred(self.squared_pred)
                    .with_smooth_nr(self.smooth_nr)
                    .with_smooth_dr(self.smooth_dr)
                    .with_gamma(f.gamma)
                    .with_alpha(f.alpha)
                    .with_lambda_dice(f.lambda_dice)
                    .with_lambda_focal(f.lambda_focal)
                    .with_reduction(reduction),
            ),
        }
    }
}

/// Every combination of activation, background, `squared_pred` and smooths.
fn dice_settings() -> Vec<Settings> {
    let mut all = Vec::new();
    for activation in [Activation::Softmax, Activation::Sigmoid] {
        for include_background in [true, false] {
            for squared_pred in [false, true] {
                for (smooth_nr, smooth_dr) in [(1e-5, 1e-5), (0.5, 1.0)] {
                    all.push(Settings {
                        activation,
                        include_background,
                        squared_pred,
                        smooth_nr,
                        smooth_dr,
                        focal: None,
                    });
                }
            }
        }
    }
    all
}

/// The focal parts `DiceFocalLoss` cycles through (each Dice setting meets each over the inputs).
const FOCALS: [Focal; 6] = [
    Focal {
        gamma: 2.0,
        alpha: None,
        lambda_dice: 1.0,
        lambda_focal: 1.0,
    },
    Focal {
        gamma: 0.0,
        alpha: Some(0.25),
        lambda_dice: 1.0,
        lambda_focal: 1.0,
    },
    Focal {
        gamma: 0.5,
        alpha: Some(0.8),
        lambda_dice: 0.3,
        lambda_focal: 2.0,
    },
    Focal {
        gamma: 5.0,
        alpha: None,
        lambda_dice: 1.0,
        lambda_focal: 0.5,
    },
    Focal {
        gamma: 1.0,
        alpha: Some(0.25),
        lambda_dice: 0.0,
        lambda_focal: 1.0,
    },
    Focal {
        gamma: 2.0,
        alpha: Some(0.6),
        lambda_dice: 1.0,
        lambda_focal: 0.0,
    },
];

/// The activation of `(N, C, S)` logits (flattened, row-major): per element `(p, 1 - p, log p,
/// log(1 - p))`, `1 - p` never formed by a subtraction near 1.
fn activation(
    activation: Activation,
    x: &[f64],
    [n, c, s]: [usize; 3],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let len = x.len();
    let (mut p, mut q, mut log_p, mut log_q) = (
        vec![0.0; len],
        vec![0.0; len],
        vec![0.0; len],
        vec![0.0; len],
    );
    match activation {
        Activation::Sigmoid => {
            for (e, &v) in x.iter().enumerate() {
                log_p[e] = log_sigmoid(v);
                log_q[e] = log_sigmoid(-v);
                p[e] = log_p[e].exp();
                q[e] = log_q[e].exp();
            }
        }
        Activation::Softmax => {
            let at = |i: usize, k: usize, j: usize| (i * c + k) * s + j;
            for i in 0..n {
                for j in 0..s {
                    let top = (0..c).fold(0, |b, k| {
                        if x[at(i, k, j)] > x[at(i, b, j)] {
                            k
                        } else {
                            b
                        }
                    });
                    let m = x[at(i, top, j)];
                    let rest: f64 = (0..c)
                        .filter(|&k| k != top)
                        .map(|k| (x[at(i, k, j)] - m).exp())
                        .sum();
                    let lse = rest.ln_1p();
                    for k in 0..c {
                        let e = at(i, k, j);
                        log_p[e] = (x[e] - m) - lse;
                        p[e] = log_p[e].exp();
                        if k == top {
                            q[e] = rest / (1.0 + rest);
                            log_q[e] = rest.ln() - lse;
                        } else {
                            // p <= 1/2 here.
                            q[e] = -log_p[e].exp_m1();
                            log_q[e] = (-p[e]).ln_1p();
                        }
                    }
                }
            }
        }
    }
    (p, q, log_p, log_q)
}

/// The loss's `(N, C')` values (`lambda_dice` times the Dice loss plus `lambda_focal` times the
/// focal part's mean over the positions) and the gradient of their sum with respect to the logits,
/// for `(N, C, S)` logits `x` and dense targets `t` (flattened, row-major).
fn truth(st: &Settings, x: &[f64], t: &[f64], dims: [usize; 3]) -> (Vec<f64>, Vec<f64>) {
    let [n, c, s] = dims;
    let at = |i: usize, k: usize, j: usize| (i * c + k) * s + j;
    let skip = usize::from(!st.include_background);
    let kept = c - skip;
    let (lambda_dice, lambda_focal) = st
        .focal
        .map_or((1.0, 0.0), |f| (f.lambda_dice, f.lambda_focal));
    let (p, q, log_p, log_q) = activation(st.activation, x, dims);
    let mut values = vec![0.0; n * kept];
    // The Dice part's d / d p (0 for a dropped background).
    let mut g = vec![0.0; x.len()];
    for i in 0..n {
        for k in skip..c {
            let (mut tp, mut ps, mut ts, mut diff) = (0.0, 0.0, 0.0, 0.0);
            for j in 0..s {
                let e = at(i, k, j);
                let (pp, qq, tt) = (p[e], q[e], t[e]);
                tp += pp * tt;
                if st.squared_pred {
                    ps += pp * pp;
                    ts += tt * tt;
                    let d = (1.0 - tt) * pp - tt * qq;
                    diff += d * d;
                } else {
                    ps += pp;
                    ts += tt;
                    diff += (1.0 - tt) * pp + tt * qq;
                }
            }
            let num = 2.0 * tp + st.smooth_nr;
            let den = ps + ts + st.smooth_dr;
            // den - num, no subtraction of the sums.
            let short = diff + (st.smooth_dr - st.smooth_nr);
            values[i * kept + k - skip] = lambda_dice * short / den;
            for j in 0..s {
                let e = at(i, k, j);
                // d dice / d p = (num (1 or 2 p) - 2 t den) / den^2, with den = num + short:
                // num (1 - 2 t) - 2 t short, or 2 (num (p - t) - t short) with p - t = (1 - t) p -
                // t (1 - p) (for a hard target no cancellation where p rounds to t).
                let (tt, pp, qq) = (t[e], p[e], q[e]);
                let top = if st.squared_pred {
                    2.0 * (num * ((1.0 - tt) * pp - tt * qq) - tt * short)
                } else {
                    num * (1.0 - 2.0 * tt) - 2.0 * tt * short
                };
                g[e] = lambda_dice * top / (den * den);
            }
        }
    }
    let mut grad = vec![0.0; x.len()];
    // The Dice part through the activation.
    match st.activation {
        Activation::Sigmoid => {
            for e in 0..x.len() {
                grad[e] = g[e] * p[e] * q[e];
            }
        }
        Activation::Softmax => {
            for i in 0..n {
                for j in 0..s {
                    for k in 0..c {
                        let e = at(i, k, j);
                        let inner: f64 = (0..c)
                            .filter(|&o| o != k)
                            .map(|o| p[at(i, o, j)] * (g[e] - g[at(i, o, j)]))
                            .sum();
                        grad[e] = p[e] * inner;
                    }
                }
            }
        }
    }
    let Some(focal) = st.focal else {
        return (values, grad);
    };
    // The focal part, each element's term and gradient times lambda_focal / S.
    let scale = lambda_focal / s as f64;
    let gamma = focal.gamma;
    let modulator = |log_base: f64| {
        if gamma == 0.0 {
            1.0
        } else {
            (gamma * log_base).exp()
        }
    };
    match st.activation {
        Activation::Sigmoid => {
            for i in 0..n {
                for k in skip..c {
                    for j in 0..s {
                        let e = at(i, k, j);
                        let (tt, pp, qq) = (t[e], p[e], q[e]);
                        // Cross entropy: two non-negative terms (a hard target drops one).
                        let ce = -(if tt > 0.0 { tt * log_p[e] } else { 0.0 })
                            - (if tt < 1.0 { (1.0 - tt) * log_q[e] } else { 0.0 });
                        // log(1 - p_t), 1 - p_t = t q + (1 - t) p, and its derivative in x,
                        // (1 - 2t) p q / (1 - p_t).
                        let (log_omt, d_log_omt) = if tt == 1.0 {
                            (log_q[e], -pp)
                        } else if tt == 0.0 {
                            (log_p[e], qq)
                        } else {
                            let l = log_add_exp(tt.ln() + log_q[e], (1.0 - tt).ln() + log_p[e]);
                            (l, (1.0 - 2.0 * tt) * pp * (qq / l.exp()))
                        };
                        let alpha_t = focal.alpha.map_or(1.0, |a| a * tt + (1.0 - a) * (1.0 - tt));
                        let m = modulator(log_omt);
                        let d_ce = (1.0 - tt) * pp - tt * qq;
                        values[i * kept + k - skip] += scale * alpha_t * m * ce;
                        grad[e] += scale * alpha_t * m * (d_ce + gamma * ce * d_log_omt);
                    }
                }
            }
        }
        Activation::Softmax => {
            let mut f = vec![0.0; c];
            for i in 0..n {
                for j in 0..s {
                    let top = (0..c).fold(0, |b, k| {
                        if x[at(i, k, j)] > x[at(i, b, j)] {
                            k
                        } else {
                            b
                        }
                    });
                    for k in 0..c {
                        let e = at(i, k, j);
                        f[k] = 0.0;
                        if k < skip || t[e] == 0.0 {
                            continue;
                        }
                        let a = focal
                            .alpha
                            .map_or(1.0, |a| if k == 0 { 1.0 - a } else { a });
                        let m = modulator(log_q[e]);
                        values[i * kept + k - skip] += scale * -a * t[e] * m * log_p[e];
                        // log p p / (1 - p): at the top class -log1p(rest) / rest (-1 in the
                        // limit rest -> 0).
                        let ratio = if k == top {
                            let rest = (0..c)
                                .filter(|&o| o != top)
                                .map(|o| (x[at(i, o, j)] - x[e]).exp())
                                .sum::<f64>();
                            if rest > 0.0 {
                                -rest.ln_1p() / rest
                            } else {
                                -1.0
                            }
                        } else {
                            log_p[e] * p[e] / q[e]
                        };
                        f[k] = scale * -a * t[e] * m * (1.0 - gamma * ratio);
                    }
                    for k in 0..c {
                        let e = at(i, k, j);
                        let others: f64 = (0..c).filter(|&o| o != k).map(|o| f[o]).sum();
                        grad[e] += f[k] * q[e] - p[e] * others;
                    }
                }
            }
        }
    }
    (values, grad)
}

/// How the logits are drawn.
#[derive(Clone, Copy, Debug)]
enum Logits {
    /// Normal draws times the scale.
    Normal(f64),
    /// Per position a random top class, `10 z` (`z` normal), the others below it by gaps from
    /// 30 to 100 (half of them) or log-uniform from 30 to `1e30` (float32) or `1e300` (float64).
    Gapped,
    /// As `Gapped`, with `-inf` at about half the classes that are neither the top one nor the
    /// target.
    Masked,
}

/// The kinds of target.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    /// Class indices `(N, *)`, int64.
    Classes,
    /// One-hot floats of the input's shape and dtype.
    OneHot,
    /// Soft labels in `(0, 1)` of the input's shape and dtype.
    Soft,
}

/// One input: the tensors, their values (float64, `(N, C, S)` flattened) and whether the kernel
/// covers it (finite logits).
struct Input {
    label: String,
    x: Tensor,
    target: Tensor,
    xs: Vec<f64>,
    ts: Vec<f64>,
    dims: [usize; 3],
    covered: bool,
}

fn input(kind: Kind, shape: &[i64], logits: Logits, target: Target, seed: u64) -> Input {
    let (n, c) = (shape[0] as usize, shape[1] as usize);
    let s: usize = shape[2..].iter().product::<i64>() as usize;
    let at = |i: usize, k: usize, j: usize| (i * c + k) * s + j;
    let mut rng = SplitMix::new(seed);
    let ids: Vec<i64> = (0..n * s)
        .map(|_| (rng.next_u64() % c as u64) as i64)
        .collect();
    let largest = if kind == Kind::Double { 1e300 } else { 1e30 };
    let mut x = vec![0.0; n * c * s];
    match logits {
        Logits::Normal(scale) => {
            for v in &mut x {
                *v = rng.normal() * scale;
            }
        }
        Logits::Gapped | Logits::Masked => {
            for i in 0..n {
                for j in 0..s {
                    let top = (rng.next_u64() % c as u64) as usize;
                    let high = 10.0 * rng.normal();
                    for k in 0..c {
                        let (u, v) = (rng.uniform(), rng.uniform());
                        x[at(i, k, j)] = if k == top {
                            high
                        } else if matches!(logits, Logits::Masked)
                            && k as i64 != ids[i * s + j]
                            && u < 0.5
                        {
                            f64::NEG_INFINITY
                        } else if u < 0.5 {
                            high - (30.0 + 70.0 * v)
                        } else {
                            high - 30.0 * (largest / 30.0f64).powf(v)
                        };
                    }
                }
            }
        }
    }
    let x = Tensor::from_slice(&x).view(shape).to_kind(kind);
    let mut spatial = vec![shape[0]];
    spatial.extend_from_slice(&shape[2..]);
    let one_hot = || {
        let mut t = vec![0.0; n * c * s];
        for i in 0..n {
            for j in 0..s {
                t[at(i, ids[i * s + j] as usize, j)] = 1.0;
            }
        }
        t
    };
    let (target_tensor, ts) = match target {
        Target::Classes => (Tensor::from_slice(&ids).view(spatial.as_slice()), one_hot()),
        Target::OneHot => {
            let t = Tensor::from_slice(&one_hot()).view(shape).to_kind(kind);
            let ts = floats(&t);
            (t, ts)
        }
        Target::Soft => {
            let u: Vec<f64> = (0..n * c * s).map(|_| rng.uniform()).collect();
            let t = Tensor::from_slice(&u).view(shape).to_kind(kind);
            let ts = floats(&t);
            (t, ts)
        }
    };
    let xs = floats(&x);
    Input {
        label: format!("{kind:?} {shape:?} {logits:?} {target:?} seed {seed}"),
        covered: xs.iter().all(|v| v.is_finite()),
        x,
        target: target_tensor,
        xs,
        ts,
        dims: [n, c, s],
    }
}

/// Every input of `kind`.
fn inputs(kind: Kind) -> Vec<Input> {
    let shapes: [&[i64]; 3] = [&[2, 3, 5, 4], &[1, 4, 7], &[2, 2, 67]];
    let largest = if kind == Kind::Double { 1e300 } else { 1e30 };
    let modes = [
        Logits::Normal(1e2),
        Logits::Normal(1e4),
        Logits::Normal(largest),
        Logits::Gapped,
        Logits::Masked,
    ];
    let mut all = Vec::new();
    for (si, shape) in shapes.iter().enumerate() {
        for (mi, &logits) in modes.iter().enumerate() {
            for (ti, target) in [Target::Classes, Target::OneHot, Target::Soft]
                .into_iter()
                .enumerate()
            {
                // -inf logits need a target of 0 there: hard targets only.
                if matches!(logits, Logits::Masked) && target == Target::Soft {
                    continue;
                }
                let seed = 1000 * si as u64 + 10 * mi as u64 + ti as u64;
                all.push(input(kind, shape, logits, target, seed));
            }
        }
    }
    all
}

/// The loss (its elements, one for a reduced loss) and the gradient of their sum (as float64
/// vectors) of one path: with the kernels on (asserting that one ran where `covered`, and that
/// none ran elsewhere) or with the composed operations only.
fn path(
    loss: &dyn Loss,
    input: &Tensor,
    target: &Tensor,
    kernels: bool,
    covered: bool,
) -> (Vec<f64>, Vec<f64>) {
    let run = run_path(loss, input, target, kernels, Upstream::Ones);
    assert_eq!(
        run.kernel_runs,
        u64::from(kernels && covered),
        "kernels on: {kernels}, covered: {covered}"
    );
    (floats(&run.value), floats(&run.grad))
}

/// What a test saw: the worst errors on the fused path (the kernel ran) and the composed one
/// (the kernels off, or the kernel left the input to it), the failures and the runs.
#[derive(Default)]
struct Record {
    worst: [Worst; 2],
    failures: Vec<String>,
    runs: usize,
    fused_runs: usize,
}

impl Record {
    /// Checks one loss on one input, each reduction on each path.
    fn check(&mut self, st: &Settings, input: &Input) {
        let (values, grad) = truth(st, &input.xs, &input.ts, input.dims);
        assert!(
            values.iter().chain(&grad).all(|v| v.is_finite()),
            "{}: the truth is not finite ({st:?})",
            input.label
        );
        let kind = input.x.kind();
        let sum: f64 = values.iter().sum();
        assert!(
            sum < max_of(kind) / 16.0,
            "{}: a loss near overflow",
            input.label
        );
        let count = values.len() as f64;
        let (tol, floor) = (tolerance(kind), smallest_normal(kind));
        let slot = Worst::slot(kind);
        for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            let truth = match reduction {
                Reduction::Mean => (vec![sum / count], grad.iter().map(|g| g / count).collect()),
                Reduction::Sum => (vec![sum], grad.clone()),
                _ => (values.clone(), grad.clone()),
            };
            let covered = input.covered;
            let loss = st.loss(reduction);
            for kernels in [true, false] {
                let (value, g) = path(&*loss, &input.x, &input.target, kernels, covered);
                let fused_ran = kernels && covered;
                self.runs += 1;
                self.fused_runs += usize::from(fused_ran);
                // NaN anywhere on a path is an error.
                let ve = rel_error(&value, &truth.0, floor, true);
                let ge = rel_error(&g, &truth.1, floor, true);
                let name = if fused_ran { "fused" } else { "composed" };
                let label = format!("{name} {} {st:?} {reduction:?}", input.label);
                let w = &mut self.worst[usize::from(!fused_ran)];
                w.see(slot, ve, &label);
                w.see(slot + 1, ge, &label);
                if !(ve <= tol && ge <= tol) {
                    self.failures.push(format!(
                        "{label}: loss {:e} vs {:e} ({ve:.2e}), gradient {ge:.2e}",
                        value.first().copied().unwrap_or(f64::NAN),
                        truth.0.first().copied().unwrap_or(f64::NAN),
                    ));
                }
            }
        }
    }

    /// Prints the worst errors; fails with the first failures listed.
    fn report(&self, name: &str) {
        eprintln!(
            "{name}: {} runs, {} of them fused",
            self.runs, self.fused_runs
        );
        Worst::print(name, &self.worst);
        if !self.failures.is_empty() {
            panic!(
                "{name}: {} failures, first ones:\n{}",
                self.failures.len(),
                self.failures[..self.failures.len().min(12)].join("\n")
            );
        }
    }
}

fn check_dice(record: &mut Record) {
    for kind in [Kind::Float, Kind::Double] {
        for input in inputs(kind) {
            for st in dice_settings() {
                record.check(&st, &input);
            }
        }
    }
}

fn check_dice_focal(record: &mut Record) {
    for kind in [Kind::Float, Kind::Double] {
        for (ii, input) in inputs(kind).iter().enumerate() {
            for (si, st) in dice_settings().into_iter().enumerate() {
                let st = Settings {
                    focal: Some(FOCALS[(ii + si) % FOCALS.len()]),
                    ..st
                };
                record.check(&st, input);
            }
        }
    }
}

#[test]
fn dice_paths_match_the_float64_truth_at_saturated_logits() {
    let mut record = Record::default();
    check_dice(&mut record);
    record.report("DiceLoss");
}

#[test]
fn dice_focal_paths_match_the_float64_truth_at_saturated_logits() {
    let mut record = Record::default();
    check_dice_focal(&mut record);
    record.report("DiceFocalLoss");
}
