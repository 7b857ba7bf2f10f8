//! The losses in float64, one position (or element) at a time, and the checks of the loops'
//! results against them: the loss within 1e-5 relative, and gradient entries (a few positions
//! of every sample and class, for the sigmoid, seed and Dice loops) within 1e-5 of the size of
//! the terms they are computed from or of the largest checked entry.

use crate::loops::inputs::Classes;
use crate::loops::{dice, seed_focal, sigmoid_focal};

/// The relative tolerance of every check.
const TOLERANCE: f64 = 1e-5;

/// Asserts that the loop's loss `got` is within [`TOLERANCE`] of `truth`, relative.
pub fn check_loss(name: &str, got: f64, truth: f64) {
    let rel = (got - truth).abs() / truth.abs();
    assert!(
        rel < TOLERANCE,
        "{name}: loss {got} against the float64 {truth} (relative {rel:.1e})"
    );
}

/// One checked gradient entry: its index, the loop's value, the float64 value, and the size of
/// the terms the float64 value is computed from.
type Entry = (usize, f32, f64, f64);

/// Asserts that every entry's loop value is within [`TOLERANCE`] of the float64 one, relative
/// to the larger of the entry's terms (their cancellation is not float32's fault) and the largest
/// checked magnitude (the fused kernels' float32 criterion: the loops leave out the log-space
/// corrections, so an entry far smaller than the others may lose digits, as `ln(1 - p)` at a
/// small `p` in the seed's loop does).
fn check_entries(name: &str, entries: &[Entry]) {
    let largest = entries.iter().map(|e| e.2.abs()).fold(0.0, f64::max);
    for &(at, got, truth, terms) in entries {
        let err = (f64::from(got) - truth).abs();
        let scale = terms.max(largest);
        assert!(
            err <= TOLERANCE * scale,
            "{name}: gradient entry {at} is {got}, the float64 {truth} (error {err:.1e}, scale \
             {scale:.1e})"
        );
    }
}

/// A few positions of `0..spatial` (about 9, the first and the last included).
fn some_positions(spatial: usize) -> impl Iterator<Item = usize> {
    (0..spatial)
        .step_by((spatial / 8).max(1))
        .chain([spatial - 1])
}

/// The softmax of position `i` of `sample` in float64: `(x_c - max, exp(x_c - max), sum)`.
fn softmax(inp: &Classes, sample: usize, i: usize) -> (Vec<f64>, Vec<f64>, f64) {
    let (c, s) = (inp.classes, inp.spatial);
    let at = |k: usize| f64::from(inp.x[(sample * c + k) * s + i]);
    let m = (0..c).map(at).fold(f64::NEG_INFINITY, f64::max);
    let z: Vec<f64> = (0..c).map(|k| at(k) - m).collect();
    let e: Vec<f64> = z.iter().map(|v| v.exp()).collect();
    let sum = e.iter().sum();
    (z, e, sum)
}

/// The softmax focal loss (`gamma = 2`, no alpha), summed.
pub fn softmax_focal(inp: &Classes) -> f64 {
    let mut total = 0.0;
    for sample in 0..inp.n {
        for i in 0..inp.spatial {
            let (z, _, sum) = softmax(inp, sample, i);
            let y = inp.y[sample * inp.spatial + i] as usize;
            let log_p = z[y] - sum.ln();
            let q = 1.0 - log_p.exp();
            total -= q * q * log_p;
        }
    }
    total
}

/// The sigmoid focal loss of one element: `(loss, gradient, the gradient's scale)`.
fn sigmoid_element(x: f32, t: f32) -> (f64, f64, f64) {
    let (x, t) = (f64::from(x), f64::from(t));
    let alpha = f64::from(sigmoid_focal::ALPHA);
    let p = 1.0 / (1.0 + (-x).exp());
    let ce = x.max(0.0) - x * t + (-x.abs()).exp().ln_1p();
    let q = 1.0 - (p * t + (1.0 - p) * (1.0 - t));
    let w = (alpha * t + (1.0 - alpha) * (1.0 - t)) * q;
    let (a, b) = (q * (p - t), 2.0 * (2.0 * t - 1.0) * p * (1.0 - p) * ce);
    (w * q * ce, w * (a - b), w.abs() * (a.abs() + b.abs()))
}

/// The sigmoid focal loss of logits `x` and targets `t`, summed.
pub fn sigmoid_focal(x: &[f32], t: &[f32]) -> f64 {
    x.iter()
        .zip(t)
        .map(|(&x, &t)| sigmoid_element(x, t).0)
        .sum()
}

/// Checks a few entries of the sigmoid focal loop's gradient `grad` on logits `x`, targets `t`.
pub fn check_sigmoid_grad(name: &str, x: &[f32], t: &[f32], grad: &[f32]) {
    let entries: Vec<Entry> = some_positions(x.len())
        .map(|at| {
            let (_, g, terms) = sigmoid_element(x[at], t[at]);
            (at, grad[at], g, terms)
        })
        .collect();
    check_entries(name, &entries);
}

/// The seed's focal terms of one position: `(loss, p, h)` with `h_c = p_c d term_c / d p_c`.
fn seed_position(inp: &Classes, sample: usize, i: usize) -> (f64, Vec<f64>, Vec<f64>) {
    let alpha = f64::from(seed_focal::ALPHA);
    let (z, e, sum) = softmax(inp, sample, i);
    let y = inp.y[sample * inp.spatial + i] as usize;
    let (mut loss, mut ps, mut hs) = (0.0, vec![], vec![]);
    for k in 0..inp.classes {
        let p = e[k] / sum;
        let rest: f64 = (0..inp.classes).filter(|&j| j != k).map(|j| e[j]).sum();
        let q = rest / sum;
        let (ln_p, ln_q) = (z[k] - sum.ln(), q.ln());
        if k == y {
            loss -= alpha * q * q * ln_p;
            hs.push(alpha * q * (2.0 * p * ln_p - q));
        } else {
            loss -= (1.0 - alpha) * p * p * ln_q;
            hs.push((1.0 - alpha) * p * p * (p / q - 2.0 * ln_q));
        }
        ps.push(p);
    }
    (loss, ps, hs)
}

/// The seed's focal loss, summed.
pub fn seed_focal(inp: &Classes) -> f64 {
    let mut total = 0.0;
    for sample in 0..inp.n {
        for i in 0..inp.spatial {
            total += seed_position(inp, sample, i).0;
        }
    }
    total
}

/// Checks a few positions of the seed focal loop's gradient `grad` (every sample and class).
pub fn check_seed_grad(name: &str, inp: &Classes, grad: &[f32]) {
    let mut entries = vec![];
    for sample in 0..inp.n {
        for i in some_positions(inp.spatial) {
            let (_, ps, hs) = seed_position(inp, sample, i);
            let h_sum: f64 = hs.iter().sum();
            let h_abs: f64 = hs.iter().map(|h| h.abs()).sum();
            for k in 0..inp.classes {
                let at = (sample * inp.classes + k) * inp.spatial + i;
                let g = hs[k] - ps[k] * h_sum;
                entries.push((at, grad[at], g, hs[k].abs() + ps[k] * h_abs));
            }
        }
    }
    check_entries(name, &entries);
}

/// The Dice loss in float64 and the float64 coefficients `(a, b)` of its gradient per (sample,
/// class): `d loss / d p = a t + b`.
pub struct Dice {
    /// The loss, averaged over samples and classes.
    pub loss: f64,
    /// `(a, b)` per (sample, class).
    coef: Vec<(f64, f64)>,
}

/// The Dice loss and its gradient's coefficients: the sums, the loss and the coefficients in
/// float64 from float64 probabilities.
pub fn dice(inp: &Classes) -> Dice {
    let (c, s) = (inp.classes, inp.spatial);
    let groups = inp.n * c;
    let mut sums = vec![0.0; 3 * groups];
    for sample in 0..inp.n {
        for i in 0..s {
            let (_, e, sum) = softmax(inp, sample, i);
            let y = inp.y[sample * s + i] as usize;
            for (k, e) in e.iter().enumerate() {
                let g = &mut sums[(sample * c + k) * 3..][..3];
                let p = e / sum;
                if k == y {
                    g[0] += p;
                    g[2] += 1.0;
                }
                g[1] += p;
            }
        }
    }
    let mut loss = 0.0;
    let mut coef = vec![];
    for g in sums.chunks_exact(3) {
        let num = 2.0 * g[0] + dice::SMOOTH;
        let den = g[1] + g[2] + dice::SMOOTH;
        loss += 1.0 - num / den;
        coef.push((
            -2.0 / den / groups as f64,
            num / (den * den) / groups as f64,
        ));
    }
    Dice {
        loss: loss / groups as f64,
        coef,
    }
}

/// Checks a few positions of the Dice loop's gradient `grad` (every sample and class) against
/// the closed form `p_j (g_j - sum_c p_c g_c)` in float64.
pub fn check_dice_grad(name: &str, inp: &Classes, truth: &Dice, grad: &[f32]) {
    let (c, s) = (inp.classes, inp.spatial);
    let mut entries = vec![];
    for sample in 0..inp.n {
        for i in some_positions(s) {
            let (_, e, sum) = softmax(inp, sample, i);
            let y = inp.y[sample * s + i] as usize;
            let ps: Vec<f64> = e.iter().map(|e| e / sum).collect();
            let gs: Vec<f64> = (0..c)
                .map(|k| {
                    let (a, b) = truth.coef[sample * c + k];
                    if k == y {
                        a + b
                    } else {
                        b
                    }
                })
                .collect();
            let dot: f64 = ps.iter().zip(&gs).map(|(p, g)| p * g).sum();
            let dot_abs: f64 = ps.iter().zip(&gs).map(|(p, g)| (p * g).abs()).sum();
            for k in 0..c {
                let at = (sample * c + k) * s + i;
                let g = ps[k] * (gs[k] - dot);
                entries.push((at, grad[at], g, ps[k] * (gs[k].abs() + dot_abs)));
            }
        }
    }
    check_entries(name, &entries);
}
