//! The fused `DiceLoss` and `DiceFocalLoss` kernels, in two passes over the blocks of an
//! `(N, C, S)` input on the kernels' pool.
//!
//! Pass 1 reads the logits and the targets and adds up, per `(n, c)`, `sum(p t)`, `sum(p)` (or
//! `sum(p^2)`), `sum(t)` (or `sum(t^2)`), `sum(p + t - 2 p t)` (or `sum((p - t)^2)`, from `1 - p`
//! without cancellation: the loss as `(den - num) / den`) and, for Dice-Focal, the sum of the
//! focal terms: each
//! thread its share of the blocks, in float32 lanes over at most [`FLUSH`] blocks and in float64
//! above, the threads' sums merged in a fixed order. From them, in float64: the loss and, per
//! `(n, c)`, the coefficients of the Dice gradient with respect to `p`,
//! `d dice / d p = -2 t / den + num / den^2 (1 or 2 p)` (scaled by `lambda_dice` and the
//! reduction's `1 / (N C')`). With `squared_pred` that is `2 / den (p num / den - t)`, which
//! cancels where `t = 1`, `p` is near 1 and `num / den` near 1 (a class predicted almost
//! perfectly). Where `t >= 1/2` the kernel writes it as `2 / den ((p - t) - p r)` instead, with
//! `r = (den - num) / den` the `(n, c)`'s loss from the sum of `(p - t)^2` (no cancellation) and
//! `p - t` as `(1 - t) - (1 - p)`, `1 - p` taken without a subtraction (the softmax's from the
//! other classes' exponentials at the top class, a subtraction at the others, where `p <= 1/2`;
//! the sigmoid's as `sigmoid(-x)`); where `t < 1/2` it keeps `p num / den - t` (no cancellation
//! at `t = 0`).
//!
//! Pass 2, only where the input needs a gradient, writes the gradient into a fresh buffer handed
//! to autograd. Under `Reduction::None` (one value per kept `(n, c)`, `(N, C')`) it runs in the
//! backward pass instead, with each `(n, c)`'s coefficients times that value's upstream gradient
//! (the gradient of `sum u_{n c} loss_{n c}`), through [`Fused::with_backward`]; the forward
//! pass keeps only the per-`(n, c)` coefficients. For the softmax Dice alone (and both passes
//! in the forward pass), pass 1 stores the probabilities in that buffer and pass 2 reads them
//! back (no second softmax); with the focal part, which needs `ln p` and `1 - p` to full
//! precision, with the sigmoid, and in the backward pass, pass 2 computes the activation again. It
//! writes: with the sigmoid, `g p (1 - p)` plus the sigmoid focal term's gradient
//! (that of `SigmoidFocalLoss`); with the softmax, the softmax backward of the Dice part,
//! `p_j (g_j - sum_k p_k g_k)`, plus the focal part's `F_j (1 - p_j) - p_j sum_{k != j} F_k`, where
//! `F_c = -alpha_c t_c (1 - p_c)^gamma (1 - gamma ln p_c p_c / (1 - p_c))` is the derivative of
//! `c`'s focal term with respect to `ln p_c` (as in the `SoftmaxFocalLoss` kernel); `1 - p_c` is
//! the sum of the other classes' exponentials (no cancellation near `p_c = 1`), and
//! `ln p_c = x_c - max - lse` with the log-sum-exp corrected for the rounding of its sum.
//!
//! Anything the kernel does not cover takes the composed path, which also reports what is
//! invalid: a non-finite logit, a class index outside `[0, C)`, a dense target outside `[0, 1]`
//! (or NaN), a Dice denominator that is 0 or not finite, a non-finite sum or gradient, empty
//! inputs, a custom reduction, dtypes other than float32 and float64, non-contiguous inputs,
//! tensors off the CPU, the softmax with one channel and `include_background = false` with one
//! channel.

use tch::{Device, Kind, Tensor};

use super::classes::{with_class_count, LogitRows, OutRows};
use super::driver::{
    class_ids, class_target_shape, eligible, on_parts, panicked, BlockRows, SharedOut,
};
use super::math::Real;
use super::simd::{self, Level, Vector, WithLevel};
use super::view::{self, Classes};
use super::{Blocks, Power, BLOCK};
use crate::{Activation, DiceFocalLoss, DiceLoss, Fused, LossError, Reduction};

/// Blocks whose sums a thread keeps in float32 lanes before it adds them to its float64 sums:
/// at most `8 * BLOCK / 8 = 64` additions per float32 lane (AVX2), so the rounding stays near
/// 1e-7 relative (64 additions in the worst case: 4e-6).
const FLUSH: usize = 8;

/// The per-`(n, c)` sums of pass 1: `sum(p t)`, `sum(p)` (`sum(p^2)`), `sum(t)` (`sum(t^2)`), the
/// sum of the focal terms, and `sum(p + t - 2 p t)` (`sum((p - t)^2)`), the denominator less the
/// numerator (without the smooths) from `1 - p` without cancellation: the Dice loss
/// `1 - num / den` as `(den - num) / den` keeps its digits where it is small.
const SUMS: usize = 5;

/// The `#[loss(fused = ...)]` hook of `DiceLoss`.
pub(crate) fn dice(
    loss: &DiceLoss,
    input: &Tensor,
    target: &Tensor,
    needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    let settings = Settings {
        activation: loss.activation,
        include_background: loss.include_background,
        squared_pred: loss.squared_pred,
        smooth_nr: loss.smooth_nr,
        smooth_dr: loss.smooth_dr,
        lambda_dice: 1.0,
        focal: None,
        reduction: loss.reduction,
    };
    run(&settings, input, target, needs_grad)
}

/// The `#[loss(fused = ...)]` hook of `DiceFocalLoss`.
pub(crate) fn dice_focal(
    loss: &DiceFocalLoss,
    input: &Tensor,
    target: &Tensor,
    needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    let settings = Settings {
        activation: loss.activation,
        include_background: loss.include_background,
        squared_pred: loss.squared_pred,
        smooth_nr: loss.smooth_nr,
        smooth_dr: loss.smooth_dr,
        lambda_dice: loss.lambda_dice,
        focal: Some(FocalSettings {
            gamma: loss.gamma,
            alpha: loss.alpha,
            lambda: loss.lambda_focal,
        }),
        reduction: loss.reduction,
    };
    run(&settings, input, target, needs_grad)
}

/// A Dice (or Dice-Focal) loss's hyperparameters.
#[derive(Clone, Copy)]
struct Settings {
    activation: Activation,
    include_background: bool,
    squared_pred: bool,
    smooth_nr: f64,
    smooth_dr: f64,
    lambda_dice: f64,
    /// The focal part of Dice-Focal.
    focal: Option<FocalSettings>,
    reduction: Reduction,
}

impl Settings {
    /// The loss's name.
    fn name(&self) -> &'static str {
        if self.focal.is_some() {
            "DiceFocalLoss"
        } else {
            "DiceLoss"
        }
    }
}

/// The focal part's hyperparameters.
#[derive(Clone, Copy)]
struct FocalSettings {
    gamma: f64,
    alpha: Option<f64>,
    lambda: f64,
}

/// The loss and its gradient from the kernel, or `None` where the kernel does not cover the
/// input (the composed path then runs).
fn run(
    settings: &Settings,
    input: &Tensor,
    target: &Tensor,
    needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    if matches!(settings.reduction, Reduction::Custom(_)) || !eligible(input, target) {
        return Ok(None);
    }
    match input.kind() {
        Kind::Float => typed::<f32>(settings, input, target, needs_grad),
        Kind::Double => typed::<f64>(settings, input, target, needs_grad),
        _ => Ok(None),
    }
}

/// The targets, borrowed.
enum Targets<'a, R> {
    /// Class indices, one per position.
    Classes(Classes<'a>),
    /// Dense targets of the input's shape.
    Dense(&'a [R]),
}

/// The target as the passes read it: dense targets (of the input's shape) in the input's dtype
/// and contiguous, class indices as they are; `None` where the kernel does not cover it.
fn kernel_target<R: Real>(shape: &[i64], target: &Tensor) -> Result<Option<Tensor>, LossError> {
    if target.size() == shape {
        view::dense_targets::<R>(target)
    } else if target.is_floating_point() || !class_target_shape(shape, &target.size()) {
        Ok(None)
    } else {
        Ok(Some(target.shallow_clone()))
    }
}

/// A call's input and target as the passes read them.
struct Inputs<'a, R> {
    shape: Vec<i64>,
    samples: usize,
    classes: usize,
    spatial: usize,
    x: &'a [R],
    targets: Targets<'a, R>,
    blocks: Blocks,
}

impl<'a, R: Real> Inputs<'a, R> {
    /// `None` where the kernel does not cover them; `target` as [`kernel_target`] gives it.
    fn of(settings: &Settings, input: &'a Tensor, target: &'a Tensor) -> Option<Self> {
        let shape = input.size();
        let (samples, classes) = (*shape.first()? as usize, *shape.get(1)? as usize);
        let softmax = settings.activation == Activation::Softmax;
        if classes < 2 && (softmax || !settings.include_background) {
            return None;
        }
        let x = view::floats::<R>(input)?;
        let spatial = x.len().checked_div(samples * classes)?;
        let targets = if target.size() == shape {
            match view::floats::<R>(target) {
                Some(t) if t.len() == x.len() => Targets::Dense(t),
                _ => return None,
            }
        } else {
            match view::classes(target) {
                Some(c) if c.len() == samples * spatial => Targets::Classes(c),
                _ => return None,
            }
        };
        let blocks = Blocks::of(&shape, x.len(), samples * spatial)?;
        Some(Inputs {
            shape,
            samples,
            classes,
            spatial,
            x,
            targets,
            blocks,
        })
    }

    /// The passes' shared view.
    fn task<'t>(&'t self, kernel: &'t DiceKernel<R>) -> Task<'t, R> {
        Task {
            kernel,
            blocks: self.blocks,
            x: self.x,
            targets: &self.targets,
        }
    }
}

fn typed<R: Real>(
    settings: &Settings,
    input: &Tensor,
    target: &Tensor,
    needs_grad: bool,
) -> Result<Option<Fused>, LossError> {
    let Some(target) = kernel_target::<R>(&input.size(), target)? else {
        return Ok(None);
    };
    let Some(inputs) = Inputs::<R>::of(settings, input, &target) else {
        return Ok(None);
    };
    // Unreduced, the gradient waits for the upstream gradient (one value per `(n, c)`): the
    // backward pass runs pass 2 (see `unreduced_grad`).
    let unreduced = settings.reduction == Reduction::None;
    let kernel = DiceKernel::<R>::new(settings, inputs.classes, !unreduced);
    let task = inputs.task(&kernel);

    // The gradient buffer (with the softmax Dice alone, pass 1 stores the probabilities in it,
    // which pass 2 reads instead of computing the softmax again).
    let mut buffer = if needs_grad && !unreduced {
        Some(view::FreshFloats::<R>::new(&inputs.shape)?)
    } else {
        None
    };
    let reduced = {
        let Some(out) = SharedOut::of(buffer.as_mut(), inputs.blocks) else {
            return Ok(None);
        };
        let store = out.as_ref().filter(|_| kernel.stores_probabilities());
        let Some(reduced) = sums_pass(settings, &inputs, &task, store)? else {
            return Ok(None);
        };
        if let Some(out) = out.as_ref() {
            let coefs = kernel.coefficients(settings, &reduced, inputs.spatial, None);
            if !grad_pass(&inputs, &task, &coefs, out)? {
                // A non-finite gradient: the composed path decides what it is.
                return Ok(None);
            }
        }
        reduced
    };
    super::count_run();
    if unreduced {
        let kept = inputs.classes - kernel.skip;
        let value = Tensor::f_from_slice(&reduced.values)?
            .f_view([inputs.samples as i64, kept as i64])?
            .f_to_kind(R::KIND)?;
        if !needs_grad {
            return Ok(Some(Fused::new(value, None)));
        }
        let settings = *settings;
        // The target saved by the node too: an in-place change to it before the backward pass
        // is autograd's error, as on the composed path.
        return Ok(Some(Fused::with_backward(
            value,
            &[&target],
            move |upstream, saved| match saved {
                [input, target] => {
                    unreduced_grad::<R>(&settings, &reduced, input, target, upstream)
                }
                _ => Err(LossError::from(tch::TchError::Torch(
                    "the input and the target were not saved".into(),
                ))),
            },
        )));
    }
    let value = view::reduced::<R>(reduced.total, reduced.scale)?;
    Ok(Some(Fused::new(
        value,
        buffer.map(view::FreshFloats::into_tensor),
    )))
}

/// Pass 1: the per-`(n, c)` sums, merged in the parts' order, and the loss from them (`None`
/// where the kernel does not cover the input: an invalid target or logit, a zero denominator).
fn sums_pass<R: Real>(
    settings: &Settings,
    inputs: &Inputs<'_, R>,
    task: &Task<'_, R>,
    store: Option<&SharedOut<'_, R>>,
) -> Result<Option<Reduced>, LossError> {
    let parts = on_parts(&inputs.blocks, 0, |first, end| SumsPart {
        task,
        out: store,
        first,
        end,
    })
    .ok_or_else(panicked)?;
    let mut sums = vec![0.0f64; inputs.samples * inputs.classes * SUMS];
    for part in &parts {
        if !part.ok {
            return Ok(None);
        }
        for (s, p) in sums.iter_mut().zip(&part.sums) {
            *s += p;
        }
    }
    Ok(Reduced::of(
        settings,
        &sums,
        inputs.samples,
        inputs.classes,
        inputs.spatial,
    ))
}

/// Pass 2: the gradient into `out`; whether every element of it is finite.
fn grad_pass<R: Real>(
    inputs: &Inputs<'_, R>,
    task: &Task<'_, R>,
    coefs: &Coefficients<R>,
    out: &SharedOut<'_, R>,
) -> Result<bool, LossError> {
    let parts = on_parts(&inputs.blocks, 0, |first, end| GradPart {
        task,
        coefs,
        out,
        first,
        end,
    })
    .ok_or_else(panicked)?;
    Ok(parts.iter().all(|&finite| finite))
}

/// The backward pass of `Reduction::None`: the input's gradient for the upstream gradient of the
/// `(N, C')` losses, from pass 2 with each `(n, c)`'s coefficients times its upstream gradient
/// (`sum_{n, c} u_{n c} loss_{n c}` is a weighted sum of the losses, whose gradient is pass 2's
/// with weights). The probabilities are computed again (nothing was stored). Unlike the forward
/// pass it cannot hand a non-finite gradient to the composed path: it returns it.
fn unreduced_grad<R: Real>(
    settings: &Settings,
    reduced: &Reduced,
    input: &Tensor,
    target: &Tensor,
    upstream: &Tensor,
) -> Result<Tensor, LossError> {
    let Some(inputs) = Inputs::<R>::of(settings, input, target) else {
        return Err(LossError::from(tch::TchError::Torch(
            "the saved input no longer has the layout of the forward pass".into(),
        )));
    };
    let kernel = DiceKernel::<R>::new(settings, inputs.classes, false);
    let kept = inputs.classes - kernel.skip;
    let upstream = upstream
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Double)?
        .f_contiguous()?
        .f_view([-1])?;
    let upstream = Vec::<f64>::try_from(&upstream)?;
    if upstream.len() != inputs.samples * kept {
        return Err(LossError::ShapeMismatch {
            loss: settings.name(),
            arg: "upstream gradient",
            expected: format!("should have {} x {kept} values", inputs.samples),
            found: vec![upstream.len() as i64],
        });
    }
    // Per `(n, c)`: the upstream gradient of its loss, 0 for a dropped background.
    let weights: Vec<f64> = (0..inputs.samples * inputs.classes)
        .map(|nc| {
            let (n, c) = (nc / inputs.classes, nc % inputs.classes);
            c.checked_sub(kernel.skip)
                .and_then(|k| upstream.get(n * kept + k))
                .copied()
                .unwrap_or(0.0)
        })
        .collect();
    let coefs = kernel.coefficients(settings, reduced, inputs.spatial, Some(&weights));
    let task = inputs.task(&kernel);
    let mut buffer = view::FreshFloats::<R>::new(&inputs.shape)?;
    {
        let Some(Some(out)) = SharedOut::of(Some(&mut buffer), inputs.blocks) else {
            return Err(LossError::from(tch::TchError::Torch(
                "the gradient buffer has another layout than the input".into(),
            )));
        };
        grad_pass(&inputs, &task, &coefs, &out)?;
    }
    Ok(buffer.into_tensor())
}

/// The loss from the pass-1 sums, in float64.
struct Reduced {
    /// The sum of the kept `(n, c)` losses.
    total: f64,
    /// The reduction's scale (`1 / (N C')` for `Mean`).
    scale: f64,
    /// Per `(n, c)`: `2 / den` and `num / den^2`, 0 for a dropped background.
    a: Vec<f64>,
    b: Vec<f64>,
    /// Per `(n, c)`: the Dice loss `(den - num) / den` (`1 - num / den` without cancellation), 0
    /// for a dropped background.
    r: Vec<f64>,
    /// Per kept `(n, c)`, in order: its loss (the value of `Reduction::None`).
    values: Vec<f64>,
}

impl Reduced {
    /// `None` where a kept denominator is 0 or a sum is not finite (the composed path then
    /// gives its NaN or infinity).
    fn of(
        settings: &Settings,
        sums: &[f64],
        samples: usize,
        classes: usize,
        spatial: usize,
    ) -> Option<Self> {
        let skip = usize::from(!settings.include_background);
        let kept = samples * (classes - skip);
        let scale = view::reduction_scale(settings.reduction, kept as f64);
        let lambda_focal = settings.focal.map_or(0.0, |f| f.lambda);
        let mut total = 0.0;
        let mut values = Vec::with_capacity(kept);
        let (mut a, mut b, mut r) = (
            Vec::with_capacity(sums.len()),
            Vec::with_capacity(sums.len()),
            Vec::with_capacity(sums.len()),
        );
        for (i, s) in sums.chunks_exact(SUMS).enumerate() {
            let &[tp, p, t, focal, difference] = s else {
                return None;
            };
            if i % classes < skip {
                a.push(0.0);
                b.push(0.0);
                r.push(0.0);
                continue;
            }
            let numerator = 2.0 * tp + settings.smooth_nr;
            let denominator = p + t + settings.smooth_dr;
            let finite = denominator > 0.0
                && denominator.is_finite()
                && numerator.is_finite()
                && difference.is_finite()
                && focal.is_finite();
            if !finite {
                return None;
            }
            let dice = (difference + (settings.smooth_dr - settings.smooth_nr)) / denominator;
            let value = settings.lambda_dice * dice + lambda_focal * (focal / spatial as f64);
            total += value;
            values.push(value);
            a.push(2.0 / denominator);
            b.push(numerator / (denominator * denominator));
            r.push(dice);
        }
        Some(Reduced {
            total,
            scale,
            a,
            b,
            r,
            values,
        })
    }
}

/// The kernel's settings in its dtype.
struct DiceKernel<R> {
    classes: usize,
    /// The first kept channel (1 without the background).
    skip: usize,
    softmax: bool,
    squared: bool,
    focal: Option<FocalKernel<R>>,
    /// Whether pass 1 may store the probabilities for pass 2 (not where pass 2 runs in the
    /// backward pass).
    store: bool,
}

/// The focal part's settings in the kernel's dtype.
struct FocalKernel<R> {
    power: Power,
    gamma: R,
    /// Softmax: each class's alpha (`1 - alpha` for class 0, `alpha` for the others, 1 without
    /// alpha), 0 for a dropped background.
    alpha: Vec<R>,
    /// Sigmoid: the weights of `t` and of `1 - t` (`alpha`, `1 - alpha`; 1 and 1 without alpha).
    alpha_pair: (R, R),
}

/// Pass 2's per-call coefficients.
struct Coefficients<R> {
    /// Per `(n, c)`: the coefficient of `-t` in `d loss / d p`.
    a: Vec<R>,
    /// Per `(n, c)`: the coefficient of 1 (of `p` with `squared_pred`) in `d loss / d p`.
    b: Vec<R>,
    /// Per `(n, c)`: the Dice loss `r = (den - num) / den`; with `squared_pred` `d loss / d p`
    /// is `a ((p - t) - p r)` where `t >= 1/2` (`b p - a t` without its cancellation there).
    r: Vec<R>,
    /// Per `(n, c)`: the focal gradient's scale, `lambda_focal / S` times the reduction's scale
    /// (times the class's alpha with the softmax), 0 for a dropped background.
    focal: Vec<R>,
}

impl<R: Real> DiceKernel<R> {
    fn new(settings: &Settings, classes: usize, store: bool) -> Self {
        let skip = usize::from(!settings.include_background);
        DiceKernel {
            classes,
            skip,
            softmax: settings.activation == Activation::Softmax,
            squared: settings.squared_pred,
            focal: settings.focal.map(|f| FocalKernel {
                power: Power::of(f.gamma),
                gamma: R::of(f.gamma),
                alpha: (0..classes)
                    .map(|c| match (c < skip, f.alpha) {
                        (true, _) => R::ZERO,
                        (false, None) => R::ONE,
                        (false, Some(a)) => R::of(if c == 0 { 1.0 - a } else { a }),
                    })
                    .collect(),
                alpha_pair: match f.alpha {
                    Some(a) => (R::of(a), R::of(1.0 - a)),
                    None => (R::ONE, R::ONE),
                },
            }),
            store,
        }
    }

    /// Whether pass 1 stores the probabilities for pass 2 (the softmax Dice without the focal
    /// part, whose gradient needs nothing else, both passes in the forward pass).
    fn stores_probabilities(&self) -> bool {
        self.store && self.softmax && self.focal.is_none()
    }

    /// Pass 2's coefficients; `weights` (per `(n, c)`) scale each `(n, c)`'s part of the loss
    /// (the upstream gradient of `Reduction::None`'s values), 1 without.
    fn coefficients(
        &self,
        settings: &Settings,
        reduced: &Reduced,
        spatial: usize,
        weights: Option<&[f64]>,
    ) -> Coefficients<R> {
        let dice = reduced.scale * settings.lambda_dice;
        let squared = if self.squared { 2.0 } else { 1.0 };
        let focal = settings
            .focal
            .map_or(0.0, |f| reduced.scale * f.lambda / spatial as f64);
        let weight = |nc: usize| weights.map_or(1.0, |w| w.get(nc).copied().unwrap_or(0.0));
        Coefficients {
            a: (reduced.a.iter().enumerate())
                .map(|(nc, &a)| R::of(weight(nc) * dice * a))
                .collect(),
            b: (reduced.b.iter().enumerate())
                .map(|(nc, &b)| R::of(weight(nc) * dice * squared * b))
                .collect(),
            r: reduced.r.iter().map(|&r| R::of(r)).collect(),
            focal: (0..reduced.a.len())
                .map(|nc| {
                    let c = nc % self.classes;
                    let alpha = match (&self.focal, self.softmax) {
                        (Some(f), true) => f.alpha.get(c).map_or(0.0, |a| a.to_f64()),
                        _ => f64::from(u8::from(c >= self.skip)),
                    };
                    R::of(weight(nc) * focal * alpha)
                })
                .collect(),
        }
    }
}

impl<R: Real> Coefficients<R> {
    /// Block `b`'s coefficients of class `k`: of `-t`, of 1 (`p`) and the loss `r`.
    #[inline(always)]
    fn dice<L: Level>(&self, level: L, b: &Block<'_, R>, k: usize) -> DiceCoefs<R::V<L>> {
        let at = b.n * b.classes + k;
        (
            splat(level, self.a.get(at).copied().unwrap_or(R::ZERO)),
            splat(level, self.b.get(at).copied().unwrap_or(R::ZERO)),
            splat(level, self.r.get(at).copied().unwrap_or(R::ZERO)),
        )
    }

    /// Block `b`'s focal gradient scale of class `k`, in every lane.
    #[inline(always)]
    fn focal<L: Level>(&self, level: L, b: &Block<'_, R>, k: usize) -> R::V<L> {
        let at = b.n * b.classes + k;
        splat(level, self.focal.get(at).copied().unwrap_or(R::ZERO))
    }
}

/// A class's Dice coefficients in lanes: of `-t`, of 1 (`p` with `squared_pred`), and the loss
/// `r = (den - num) / den`.
type DiceCoefs<V> = (V, V, V);

/// `v` in every lane.
#[inline(always)]
fn splat<R: Real, L: Level>(level: L, v: R) -> R::V<L> {
    <R::V<L>>::splat(level, v)
}

/// `s[i..i + LANES]` (0 past the end).
#[inline(always)]
fn load<R: Real, L: Level>(level: L, s: &[R], i: usize) -> R::V<L> {
    <R::V<L>>::load(level, s, i)
}

/// The targets of class `k` at positions `i..` and the Dice part's `d loss / d p` there, from
/// the coefficients `(a, b, r)` of `-t`, of 1 and the loss, `p` and `q = 1 - p` (taken without
/// a subtraction where `p` may be near 1).
///
/// Without `squared_pred`, `b - a t`. With it, `b p - a t = a (p num / den - t)` cancels where
/// `t = 1` and `p` and `num / den` are near 1: where `t >= 1/2` it is `a (((1 - t) - q) - p r)`
/// instead, with `r = (den - num) / den` from pass 1 (`(1 - t) - q = p - t`, exact for `t = 1`;
/// the two terms have one sign for `t = 1`). Where `t < 1/2` it stays `b p - a t` (no
/// cancellation for `t = 0`; `p (1 - r)` would lose `num / den` where it is small, `r` rounded
/// to the dtype near 1).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dice_grad<R: Real, L: Level>(
    level: L,
    kernel: &DiceKernel<R>,
    b: &Block<'_, R>,
    (a, bb, r): DiceCoefs<R::V<L>>,
    k: usize,
    i: usize,
    p: R::V<L>,
    q: R::V<L>,
) -> (R::V<L>, R::V<L>) {
    let t = b.target(level, k, i);
    if kernel.squared {
        let high = a * (((splat(level, R::ONE) - t) - q) - p * r);
        let low = bb * p - a * t;
        (
            t,
            <R::V<L>>::select(t.ge(splat(level, R::of(0.5))), high, low),
        )
    } else {
        (t, bb - a * t)
    }
}

/// One call's work, shared by the threads of both passes.
struct Task<'t, R> {
    kernel: &'t DiceKernel<R>,
    blocks: Blocks,
    x: &'t [R],
    targets: &'t Targets<'t, R>,
}

/// One block: positions `s0..s0 + len` of sample `n`.
struct Block<'b, R> {
    n: usize,
    s0: usize,
    len: usize,
    classes: usize,
    spatial: usize,
    x: &'b [R],
    /// Dense targets (the whole tensor), or `None` for class targets (in `ids`).
    dense: Option<&'b [R]>,
    /// The class of each position (`BLOCK` entries, `-1` past `len`).
    ids: &'b [i32; BLOCK],
}

impl<'b, R: Real> Block<'b, R> {
    /// The block's positions of channel `k` in a `(N, C, S)` tensor's elements.
    #[inline(always)]
    fn row_of(&self, all: &'b [R], k: usize) -> &'b [R] {
        let start = (self.n * self.classes + k) * self.spatial + self.s0;
        all.get(start..start + self.len).unwrap_or(&[])
    }

    /// Channel `k`'s logits.
    #[inline(always)]
    fn x(&self, k: usize) -> &'b [R] {
        self.row_of(self.x, k)
    }

    /// Every channel's logits, taken once, for a kernel compiled for `C` channels.
    #[inline(always)]
    fn rows<const C: usize>(&self) -> [&'b [R]; C] {
        std::array::from_fn(|k| self.x(k))
    }

    /// Channel `k`'s targets at positions `i..i + LANES` (0 past the block).
    #[inline(always)]
    fn target<L: Level>(&self, level: L, k: usize, i: usize) -> R::V<L> {
        match self.dense {
            Some(t) => <R::V<L>>::load(level, self.row_of(t, k), i),
            None => <R::V<L>>::select(
                <R::V<L>>::class_is(level, self.ids, i, k as i32),
                <R::V<L>>::splat(level, R::ONE),
                <R::V<L>>::splat(level, R::ZERO),
            ),
        }
    }
}

impl<R: Real> LogitRows<R> for Block<'_, R> {
    #[inline(always)]
    fn logits(&self, k: usize) -> &[R] {
        self.x(k)
    }
}

/// Reads block `item`'s class ids into `ids` (for class targets) and gives the block; `bad`
/// where a class index is out of range.
#[inline(always)]
fn block_of<'b, R: Real>(
    task: &'b Task<'b, R>,
    item: usize,
    ids: &'b mut [i32; BLOCK],
    bad: &mut bool,
) -> Block<'b, R> {
    let (n, s0, len) = task.blocks.get(item);
    let (c, s) = (task.blocks.classes, task.blocks.spatial);
    let dense = match task.targets {
        Targets::Classes(classes) => {
            let at = n * s + s0;
            *bad |= match classes {
                Classes::I64(y) => class_ids(y, at, len, c, None, ids),
                Classes::I32(y) => class_ids(y, at, len, c, None, ids),
                Classes::U8(y) => class_ids(y, at, len, c, None, ids),
            };
            None
        }
        Targets::Dense(t) => Some(*t),
    };
    Block {
        n,
        s0,
        len,
        classes: c,
        spatial: s,
        x: task.x,
        dense,
        ids,
    }
}

/// `BLOCK` values of channel `k` in a `(C, BLOCK)` scratch buffer.
#[inline(always)]
fn lane_row<R>(v: &[R], k: usize) -> &[R] {
    v.get(k * BLOCK..(k + 1) * BLOCK).unwrap_or(&[])
}

/// As [`lane_row`], writable.
#[inline(always)]
fn lane_row_mut<R>(v: &mut [R], k: usize) -> &mut [R] {
    v.get_mut(k * BLOCK..(k + 1) * BLOCK).unwrap_or(&mut [])
}

/// The softmax of a block's positions, kept between the per-class loops.
struct Softmax<R> {
    /// `e_k = exp(x_k - max)`, `(C, BLOCK)`.
    e: Vec<R>,
    /// The largest logit.
    max: [R; BLOCK],
    /// `sum_k e_k`.
    sum: [R; BLOCK],
    /// `1 / sum`.
    inv: [R; BLOCK],
    /// The focal part's: the log-sum-exp of `x - max`, corrected for the rounding of `sum`.
    lse: [R; BLOCK],
    /// The sum of the `e_k` of every class but the (first) top one.
    rest: [R; BLOCK],
    /// The (first) top class, as a number.
    top: [R; BLOCK],
}

impl<R: Real> Softmax<R> {
    fn new(classes: usize) -> Self {
        Softmax {
            e: vec![R::ZERO; classes * BLOCK],
            max: [R::ZERO; BLOCK],
            sum: [R::ZERO; BLOCK],
            inv: [R::ZERO; BLOCK],
            lse: [R::ZERO; BLOCK],
            rest: [R::ZERO; BLOCK],
            top: [R::ZERO; BLOCK],
        }
    }

    /// The softmax of a block's `len` positions over `c` classes (both constants where the
    /// caller has them), the logits' rows from `rows`, and its top class (with `focal`, also the
    /// log-sum-exp); the sum of `x * 0` over its logits (NaN where one is not finite).
    #[inline(always)]
    fn compute<L: Level, X: LogitRows<R>>(
        &mut self,
        level: L,
        (c, len): (usize, usize),
        rows: &X,
        focal: bool,
    ) -> R::V<L> {
        let lanes = <R::V<L> as Vector<R, L>>::LANES;
        let (zero, one) = (splat(level, R::ZERO), splat(level, R::ONE));
        let mut check = zero;
        let mut i = 0;
        while i < len {
            let mut m = <R::V<L>>::load(level, rows.logits(0), i);
            for k in 1..c {
                m = m.max(<R::V<L>>::load(level, rows.logits(k), i));
            }
            let (mut sum, mut rest, mut top) = (zero, zero, zero);
            let mut seen = zero.lt(zero);
            for k in 0..c {
                let x = <R::V<L>>::load(level, rows.logits(k), i);
                check = check + x * zero;
                // At most 0 (a lane with a non-finite logit falls back to the composed path).
                let v = (x - m).exp_nonpositive();
                v.store(lane_row_mut(&mut self.e, k), i);
                sum = sum + v;
                let first = x.eq(m) & !seen;
                seen = seen | first;
                rest = rest + <R::V<L>>::select(first, zero, v);
                top = <R::V<L>>::select(first, splat(level, R::of(k as f64)), top);
            }
            let inv = one / sum;
            m.store(&mut self.max, i);
            sum.store(&mut self.sum, i);
            inv.store(&mut self.inv, i);
            rest.store(&mut self.rest, i);
            top.store(&mut self.top, i);
            if focal {
                // ln(sum) corrected for the rounding of sum = 1 + rest: ln(1 + rest) keeps its
                // digits where rest is below the rounding of 1.
                let lse = sum.ln_normal() - ((sum - one) - rest) * inv;
                lse.store(&mut self.lse, i);
            }
            i += lanes;
        }
        check
    }

    /// For class `k` at positions `i..` (`e` its exponentials): whether it is the top class, and
    /// the other classes' sum of exponentials (`1 - p_k` times the sum, without cancellation:
    /// the top class's is summed, the others' is at least half the sum).
    #[inline(always)]
    fn others<L: Level>(
        &self,
        level: L,
        k: usize,
        i: usize,
        e: R::V<L>,
    ) -> (MaskOf<R, L>, R::V<L>) {
        let is_top = load(level, &self.top, i).eq(<R::V<L>>::splat(level, R::of(k as f64)));
        (
            is_top,
            <R::V<L>>::select(
                is_top,
                load(level, &self.rest, i),
                load(level, &self.sum, i) - e,
            ),
        )
    }

    /// For a class at positions `i..` (`x` its logits), from its share of the others
    /// `q = 1 - p` and their sum: `ln p` and `(1 - p)^gamma`.
    #[inline(always)]
    fn focal_terms<L: Level>(
        &self,
        level: L,
        x: &[R],
        power: Power,
        i: usize,
        q: R::V<L>,
        others: R::V<L>,
    ) -> FocalTerms<R::V<L>> {
        let lse = load(level, &self.lse, i);
        let log_p = (load(level, x, i) - load(level, &self.max, i)) - lse;
        let log_q = match power {
            Power::Other(_) => others.ln() - lse,
            _ => <R::V<L>>::splat(level, R::ZERO),
        };
        FocalTerms {
            log_p,
            modulator: power.lanes_log::<R, L>(level, log_q, q),
        }
    }
}

/// A lane mask of `R`'s vectors at level `L`.
type MaskOf<R, L> = <<R as Real>::V<L> as Vector<R, L>>::Mask;

/// What the softmax focal term of a class needs at some positions.
struct FocalTerms<V> {
    /// `ln p`.
    log_p: V,
    /// `(1 - p)^gamma`.
    modulator: V,
}

/// The sigmoid of some logits and what the sigmoid focal term needs.
struct SigmoidTerms<V> {
    p: V,
    q: V,
    /// `e^-|x|`.
    u: V,
    /// `1 + u`.
    w: V,
    /// `1 / w`.
    inv: V,
}

#[inline(always)]
fn sigmoid_terms<R: Real, L: Level>(level: L, x: R::V<L>) -> SigmoidTerms<R::V<L>> {
    let (zero, one) = (
        <R::V<L>>::splat(level, R::ZERO),
        <R::V<L>>::splat(level, R::ONE),
    );
    let neg = x.lt(zero);
    let u = <R::V<L>>::select(neg, x, -x).exp_nonpositive();
    let w = one + u;
    let inv = one / w;
    SigmoidTerms {
        p: <R::V<L>>::select(neg, u * inv, inv),
        q: <R::V<L>>::select(neg, inv, u * inv),
        u,
        w,
        inv,
    }
}

/// The sigmoid focal term `alpha_t (1 - p_t)^gamma ce` of logits `x` against targets `t` and,
/// with `grad`, its derivative with respect to `x` (as the `SigmoidFocalLoss` kernel).
#[inline(always)]
fn sigmoid_focal<R: Real, L: Level>(
    level: L,
    f: &FocalKernel<R>,
    x: R::V<L>,
    t: R::V<L>,
    s: &SigmoidTerms<R::V<L>>,
    grad: bool,
) -> (R::V<L>, R::V<L>) {
    let (zero, one, half) = (
        splat(level, R::ZERO),
        splat(level, R::ONE),
        splat(level, R::of(0.5)),
    );
    let (p, q) = (s.p, s.q);
    // ln(1 + u) from w = 1 + u and 1 / w, as `math::ln_1p_from`.
    // w in [1, 2] (or NaN).
    let ln_1p = s.w.ln_normal() - ((s.w - one) - s.u) * s.inv;
    let ce = x.max(zero) - x * t + ln_1p;
    let one_minus_t = one - t;
    let omt = t * q + one_minus_t * p;
    let alpha_t = splat(level, f.alpha_pair.0) * t + splat(level, f.alpha_pair.1) * one_minus_t;
    let (modulator, _) = f.power.lanes::<R, L>(level, omt);
    let loss = alpha_t * modulator * ce;
    if !grad {
        return (loss, zero);
    }
    let hard_ratio = <R::V<L>>::select(t.gt(half), p, q);
    let hard = t.eq(zero) | t.eq(one);
    let ratio = <R::V<L>>::select(
        hard,
        hard_ratio,
        <R::V<L>>::select(omt.gt(zero), p * q / omt, hard_ratio),
    );
    let d_modulator = splat(level, f.gamma) * modulator * (one - t - t) * ratio;
    let p_minus_t = one_minus_t * p - t * q;
    (loss, alpha_t * (p_minus_t * modulator + ce * d_modulator))
}

/// What a thread's share of pass 1 adds up to.
struct PartSums {
    /// Per `(n, c)`, the [`SUMS`] sums.
    sums: Vec<f64>,
    /// Whether every logit was finite and every target valid.
    ok: bool,
}

/// Pass 1 over blocks `first..end` (storing the probabilities into `out` where given).
struct SumsPart<'p, 't, 'o, R> {
    task: &'p Task<'t, R>,
    out: Option<&'p SharedOut<'o, R>>,
    first: usize,
    end: usize,
}

/// A thread's pass-1 sums: float32 (`R`) lanes per class and sum over up to [`FLUSH`] blocks of
/// one sample, then float64 per `(n, c)`.
struct Accumulator<R> {
    /// `(C, SUMS, MAX_LANES)` lanes.
    lanes: Vec<R>,
    /// The sample the lanes belong to.
    sample: usize,
    /// Blocks in the lanes.
    blocks: usize,
    sums: Vec<f64>,
}

impl<R: Real> Accumulator<R> {
    const WIDTH: usize = simd::MAX_LANES;

    /// Adds a block's per-class sums (`SUMS` vectors) for class `k`.
    #[inline(always)]
    fn add<L: Level>(&mut self, level: L, k: usize, values: [R::V<L>; SUMS]) {
        for (j, v) in values.into_iter().enumerate() {
            let at = (k * SUMS + j) * Self::WIDTH;
            if let Some(lanes) = self.lanes.get_mut(at..at + Self::WIDTH) {
                (<R::V<L>>::load(level, lanes, 0) + v).store(lanes, 0);
            }
        }
    }

    /// Moves the lanes into the float64 sums of their sample.
    #[inline(always)]
    fn flush<L: Level>(&mut self, level: L, classes: usize) {
        if self.blocks == 0 {
            return;
        }
        for (j, lanes) in self.lanes.chunks_exact_mut(Self::WIDTH).enumerate() {
            let total = <R::V<L>>::load(level, lanes, 0).lane_sum();
            if let Some(s) = self.sums.get_mut(self.sample * classes * SUMS + j) {
                *s += total;
            }
            lanes.fill(R::ZERO);
        }
        self.blocks = 0;
    }
}

impl<R: Real> WithLevel for SumsPart<'_, '_, '_, R> {
    type Output = PartSums;

    #[inline(always)]
    fn run<L: Level>(self, level: L) -> PartSums {
        let task = self.task;
        let kernel = task.kernel;
        let (samples, c) = (task.blocks.samples, task.blocks.classes);
        let lanes = <R::V<L> as Vector<R, L>>::LANES;
        let zero = splat(level, R::ZERO);
        let mut acc = Accumulator {
            lanes: vec![R::ZERO; c * SUMS * Accumulator::<R>::WIDTH],
            sample: 0,
            blocks: 0,
            sums: vec![0.0; samples * c * SUMS],
        };
        let mut softmax = Softmax::<R>::new(if kernel.softmax { c } else { 0 });
        let mut bad = false;
        let mut check = zero;
        for item in self.first..self.end {
            let mut ids = [-1i32; BLOCK];
            let b = block_of(task, item, &mut ids, &mut bad);
            if b.n != acc.sample || acc.blocks == FLUSH {
                acc.flush(level, c);
                acc.sample = b.n;
            }
            if let Some(t) = b.dense {
                // Dense targets must be in [0, 1] (NaN is not).
                for k in 0..c {
                    let row = b.row_of(t, k);
                    let mut i = 0;
                    while i < b.len {
                        let v = <R::V<L>>::load(level, row, i);
                        let ok = v.ge(zero) & v.le(splat(level, R::ONE));
                        check = check + <R::V<L>>::select(ok, zero, splat(level, R::INFINITY));
                        i += lanes;
                    }
                }
            }
            // SAFETY: the parts are disjoint ranges of blocks, each part runs once (the pool
            // hands every part index out once), and this part claims each of its blocks once,
            // the rows living only for this iteration: no two live `BlockRows` share a block.
            let rows = self.out.and_then(|o| unsafe { o.block(item) });
            check = check + sums_block(level, kernel, &b, &mut softmax, rows, &mut acc);
            acc.blocks += 1;
        }
        acc.flush(level, c);
        let check = check.lane_sum();
        PartSums {
            sums: acc.sums,
            ok: !bad && check == 0.0,
        }
    }
}

/// Pass 1 of one block: its softmax (where the kernel has it), the probabilities into `rows`
/// (where given) and its per-class sums into `acc`; the sum of `x * 0` over its logits. The
/// softmax over a whole block of a class count the kernels are compiled for runs over constants
/// (the rows taken once, loops of constant counts).
#[inline(always)]
fn sums_block<R: Real, L: Level>(
    level: L,
    kernel: &DiceKernel<R>,
    b: &Block<'_, R>,
    sm: &mut Softmax<R>,
    mut rows: Option<BlockRows<'_, R>>,
    acc: &mut Accumulator<R>,
) -> R::V<L> {
    let shape = (b.classes, b.len);
    if !kernel.softmax {
        // The sigmoid's classes are independent: nothing gains from a constant count.
        return sums_block_over::<R, L, _, _, false>(level, kernel, b, shape, b, sm, rows, acc);
    }
    let full = b.len == BLOCK && rows.as_ref().is_none_or(|r| r.len() == BLOCK);
    with_class_count!(L::VECTOR && R::FIXED_CLASSES && full, b.classes, |C| {
        let out = rows.as_mut().map(|r| r.all::<C>());
        if !matches!(out, Some(None)) {
            let (x, out, shape) = (b.rows::<C>(), out.flatten(), (C, BLOCK));
            return sums_block_over::<R, L, _, _, true>(level, kernel, b, shape, &x, sm, out, acc);
        }
    });
    sums_block_over::<R, L, _, _, true>(level, kernel, b, shape, b, sm, rows, acc)
}

/// [`sums_block`] over `c` classes and `len` positions, the logits' rows from `x`, with the
/// softmax (`SOFTMAX`, the kernel's activation) or the sigmoid.
#[allow(clippy::too_many_arguments)]
// Inlined into the caller's instruction-set level in an optimized build; its own frame in an
// unoptimized one (seven class counts' copies of it in one frame overflow a thread's stack).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn sums_block_over<R: Real, L: Level, X: LogitRows<R>, O: OutRows<R>, const SOFTMAX: bool>(
    level: L,
    kernel: &DiceKernel<R>,
    b: &Block<'_, R>,
    (c, len): (usize, usize),
    x: &X,
    softmax: &mut Softmax<R>,
    mut rows: Option<O>,
    acc: &mut Accumulator<R>,
) -> R::V<L> {
    let lanes = <R::V<L> as Vector<R, L>>::LANES;
    let zero = splat(level, R::ZERO);
    let mut check = zero;
    if SOFTMAX {
        check = check + softmax.compute(level, (c, len), x, kernel.focal.is_some());
    }
    for k in 0..c {
        let mut row = rows.as_mut().map(|r| r.out(k));
        let focal = kernel.focal.as_ref().filter(|_| k >= kernel.skip);
        let mut s = [zero; SUMS];
        let mut i = 0;
        while i < len {
            // Past the block (its last vector only) the values need a mask (no closure for it:
            // one would be compiled without the level's target features).
            let past = len - i < lanes;
            let t = b.target(level, k, i);
            let (p, q, f) = if SOFTMAX {
                let e = <R::V<L>>::load(level, lane_row(&softmax.e, k), i);
                let inv = <R::V<L>>::load(level, &softmax.inv, i);
                let p = e * inv;
                if let Some(row) = row.as_mut() {
                    p.store(row, i);
                }
                let (_, others) = softmax.others(level, k, i, e);
                let q = others * inv;
                let f = match focal {
                    Some(fk) => {
                        let ft = softmax.focal_terms(level, b.x(k), fk.power, i, q, others);
                        let a = splat(level, fk.alpha.get(k).copied().unwrap_or(R::ZERO));
                        // t ln p with 0 ln 0 = 0.
                        let f = -(a * t) * ft.modulator * ft.log_p;
                        <R::V<L>>::select(t.gt(zero), f, zero)
                    }
                    None => zero,
                };
                (p, q, f)
            } else {
                let x = <R::V<L>>::load(level, x.logits(k), i);
                check = check + x * zero;
                let st = sigmoid_terms::<R, L>(level, x);
                let f = match focal {
                    Some(fk) => {
                        let (f, _) = sigmoid_focal(level, fk, x, t, &st, false);
                        if past {
                            <R::V<L>>::select(<R::V<L>>::first(level, len - i), f, zero)
                        } else {
                            f
                        }
                    }
                    None => zero,
                };
                (st.p, st.q, f)
            };
            // Past the block t is 0: p alone needs the mask.
            let p = if past {
                <R::V<L>>::select(<R::V<L>>::first(level, len - i), p, zero)
            } else {
                p
            };
            let one_minus_t = splat(level, R::ONE) - t;
            s[0] = s[0] + p * t;
            s[1] = s[1] + if kernel.squared { p * p } else { p };
            s[2] = s[2] + if kernel.squared { t * t } else { t };
            s[3] = s[3] + f;
            s[4] = s[4]
                + if kernel.squared {
                    // p - t as (1 - t) p - t (1 - p): exact for hard targets.
                    let d = one_minus_t * p - t * q;
                    d * d
                } else {
                    one_minus_t * p + t * q
                };
            i += lanes;
        }
        acc.add(level, k, s);
    }
    check
}

/// Pass 2 over blocks `first..end`: the gradient into `out`.
struct GradPart<'p, 't, 'o, R> {
    task: &'p Task<'t, R>,
    coefs: &'p Coefficients<R>,
    out: &'p SharedOut<'o, R>,
    first: usize,
    end: usize,
}

impl<R: Real> WithLevel for GradPart<'_, '_, '_, R> {
    /// Whether every gradient element is finite.
    type Output = bool;

    #[inline(always)]
    fn run<L: Level>(self, level: L) -> bool {
        let task = self.task;
        let kernel = task.kernel;
        let c = task.blocks.classes;
        let zero = splat(level, R::ZERO);
        let mut softmax = Softmax::<R>::new(if kernel.softmax { c } else { 0 });
        // The softmax focal part's F per class, and per position sum_k p_k g_k and sum_k F_k.
        let mut f_rows = vec![R::ZERO; if kernel.softmax { c * BLOCK } else { 0 }];
        let mut lanes = ClassLanes::new(c, zero);
        let mut check = zero;
        let mut bad = false;
        for item in self.first..self.end {
            let mut ids = [-1i32; BLOCK];
            let b = block_of(task, item, &mut ids, &mut bad);
            // SAFETY: the parts are disjoint ranges of blocks, each part runs once (the pool
            // hands every part index out once), and this part claims each of its blocks once,
            // the rows living only for this iteration: no two live `BlockRows` share a block.
            let Some(mut rows) = (unsafe { self.out.block(item) }) else {
                continue;
            };
            check = check
                + if kernel.stores_probabilities() {
                    stored_softmax_grad(level, kernel, self.coefs, &b, &mut rows, &mut lanes)
                } else if kernel.softmax {
                    softmax_grad(
                        level,
                        kernel,
                        self.coefs,
                        &b,
                        &mut softmax,
                        &mut f_rows,
                        &mut rows,
                    )
                } else {
                    sigmoid_grad(level, kernel, self.coefs, &b, &mut rows)
                };
        }
        !bad && check.lane_sum() == 0.0
    }
}

/// The softmax gradient of one block into `rows`; the sum of `g * 0` over it (NaN where an
/// element is not finite).
///
/// `dx_j = p_j (g_j - sum_k p_k g_k) + F_j (1 - p_j) - p_j sum_{k != j} F_k`, with the first
/// bracket of the top class as `g_j (1 - p_j) - sum_{k != j} p_k g_k` (it cancels where `p_j`
/// is near 1; the other classes' `p_j` are at most 1/2).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn softmax_grad<R: Real, L: Level>(
    level: L,
    kernel: &DiceKernel<R>,
    coefs: &Coefficients<R>,
    b: &Block<'_, R>,
    softmax: &mut Softmax<R>,
    f_rows: &mut [R],
    rows: &mut BlockRows<'_, R>,
) -> R::V<L> {
    // Not compiled for the class count: that took the release build of this crate 14 s longer
    // for 6% fewer instructions in `DiceFocalLoss` (its softmax alone: 0.4%).
    let (c, len) = (b.classes, b.len);
    let lanes = <R::V<L> as Vector<R, L>>::LANES;
    let (zero, one) = (splat(level, R::ZERO), splat(level, R::ONE));
    let focal = kernel.focal.as_ref();
    let _ = softmax.compute(level, (c, len), b, focal.is_some());
    // Per position: sum_k p_k g_k, the same without the top class, and sum_k F_k.
    let mut pg_sum = [R::ZERO; BLOCK];
    let mut pg_rest = [R::ZERO; BLOCK];
    let mut f_sum = [R::ZERO; BLOCK];
    // `d loss / d p_k` at positions `i..`: the Dice part's.
    for k in 0..c {
        let ab = coefs.dice(level, b, k);
        let phi = coefs.focal(level, b, k);
        let row = rows.out(k);
        let mut i = 0;
        while i < len {
            let e = load(level, lane_row(&softmax.e, k), i);
            let inv = load(level, &softmax.inv, i);
            let p = e * inv;
            let (is_top, others) = softmax.others(level, k, i, e);
            let q = others * inv;
            let (t, g) = dice_grad(level, kernel, b, ab, k, i, p, q);
            let pg = p * g;
            (load(level, &pg_sum, i) + pg).store(&mut pg_sum, i);
            (load(level, &pg_rest, i) + <R::V<L>>::select(is_top, zero, pg)).store(&mut pg_rest, i);
            match focal {
                Some(fk) if k >= kernel.skip => {
                    let ft = softmax.focal_terms(level, b.x(k), fk.power, i, q, others);
                    let inv_o = one / others;
                    // ln p p / (1 - p): -1 in the limit p -> 1 (where the others' sum is 0 or
                    // its inverse overflows, ln p is 0 to rounding).
                    let ratio = <R::V<L>>::select(
                        others.gt(zero) & inv_o.lt(splat(level, R::INFINITY)),
                        ft.log_p * (e * inv_o),
                        -one,
                    );
                    let f = -(phi * t) * ft.modulator * (one - splat(level, fk.gamma) * ratio);
                    let f = <R::V<L>>::select(t.gt(zero), f, zero);
                    (load(level, &f_sum, i) + f).store(&mut f_sum, i);
                    f.store(lane_row_mut(f_rows, k), i);
                    (f * q).store(row, i);
                }
                Some(_) => {
                    zero.store(lane_row_mut(f_rows, k), i);
                    zero.store(row, i);
                }
                None => {}
            }
            i += lanes;
        }
    }
    let mut check = zero;
    for k in 0..c {
        let ab = coefs.dice(level, b, k);
        let row = rows.out(k);
        let mut i = 0;
        while i < len {
            let e = load(level, lane_row(&softmax.e, k), i);
            let inv = load(level, &softmax.inv, i);
            let p = e * inv;
            let (is_top, others) = softmax.others(level, k, i, e);
            let q = others * inv;
            let (_, g) = dice_grad(level, kernel, b, ab, k, i, p, q);
            let inner = <R::V<L>>::select(
                is_top,
                g * q - load(level, &pg_rest, i),
                g - load(level, &pg_sum, i),
            );
            let mut dx = p * inner;
            if focal.is_some() {
                // F_j (1 - p_j), stored, less p_j times the other classes' F.
                let f = load(level, lane_row(f_rows, k), i);
                dx = dx + load(level, row, i) - p * (load(level, &f_sum, i) - f);
            }
            check = check + dx * zero;
            dx.store(row, i);
            i += lanes;
        }
    }
    check
}

/// The softmax Dice gradient of one block into `rows`, which hold the probabilities (stored by
/// pass 1); the sum of `g * 0` over it. As [`softmax_grad`] without the focal part: `dx_j = p_j
/// (g_j - sum_k p_k g_k)`, the top class's bracket `g_j (1 - p_j) - sum_{k != j} p_k g_k` with
/// `1 - p_j` the sum of the others' probabilities. `scratch` holds, per class, its coefficients
/// (filled here, once per block) and its `p` and `g` at the current positions (each `g` computed
/// once).
#[inline(always)]
fn stored_softmax_grad<R: Real, L: Level>(
    level: L,
    kernel: &DiceKernel<R>,
    coefs: &Coefficients<R>,
    b: &Block<'_, R>,
    rows: &mut BlockRows<'_, R>,
    scratch: &mut ClassLanes<R::V<L>>,
) -> R::V<L> {
    let zero = splat(level, R::ZERO);
    // A constant class count: the per-class lanes in arrays, the rows taken once.
    let full = b.len == BLOCK && rows.len() == BLOCK;
    with_class_count!(L::VECTOR && R::FIXED_CLASSES && full, b.classes, |C| {
        if let Some(mut out) = rows.all::<C>() {
            // A loop, not `std::array::from_fn`: that one was not inlined, so its closure's
            // intrinsics ran out of line, without the level's target features (6% of a
            // `DiceLoss` call's samples in a profile).
            let mut ab: [DiceCoefs<R::V<L>>; C] = [(zero, zero, zero); C];
            for (k, ab) in ab.iter_mut().enumerate() {
                *ab = coefs.dice(level, b, k);
            }
            let (p, g) = (&mut [zero; C], &mut [zero; C]);
            return stored_softmax_grad_over(level, kernel, b, BLOCK, &ab, p, g, &mut out);
        }
    });
    scratch.fill(b.classes, |k| coefs.dice(level, b, k));
    let ClassLanes { coefs: ab, p, g } = scratch;
    stored_softmax_grad_over(level, kernel, b, b.len, ab, p, g, rows)
}

/// [`stored_softmax_grad`] over `len` positions, with each class's coefficients in `ab` and its
/// `p` and `g` in `ps` and `gs` (arrays of a constant length where the caller has one), the output
/// rows in `rows`.
#[allow(clippy::too_many_arguments)]
// Inlined into the caller's instruction-set level in an optimized build; its own frame in an
// unoptimized one (seven class counts' copies of it in one frame overflow a thread's stack).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn stored_softmax_grad_over<R: Real, L: Level, O: OutRows<R>>(
    level: L,
    kernel: &DiceKernel<R>,
    b: &Block<'_, R>,
    len: usize,
    ab: &[DiceCoefs<R::V<L>>],
    ps: &mut [R::V<L>],
    gs: &mut [R::V<L>],
    rows: &mut O,
) -> R::V<L> {
    let lanes = <R::V<L> as Vector<R, L>>::LANES;
    let (zero, one) = (splat(level, R::ZERO), splat(level, R::ONE));
    let mut check = zero;
    let mut i = 0;
    while i < len {
        // The probabilities, the (first) top class and the others' probabilities there.
        let mut top_p = zero;
        for (k, p) in ps.iter_mut().enumerate() {
            *p = load(level, rows.out(k), i);
            top_p = if k == 0 { *p } else { top_p.max(*p) };
        }
        let (mut rest, mut top) = (zero, zero);
        let mut seen = zero.lt(zero);
        for (k, &p) in ps.iter().enumerate() {
            let first = p.eq(top_p) & !seen;
            seen = seen | first;
            rest = rest + <R::V<L>>::select(first, zero, p);
            top = <R::V<L>>::select(first, splat(level, R::of(k as f64)), top);
        }
        // `1 - p` without cancellation: the others' share at the top class, a subtraction at
        // the others (whose `p` is at most 1/2); sum_k p_k g_k and the same without the top.
        let (mut pg_sum, mut pg_rest) = (zero, zero);
        for (k, ((&p, g), &coefs)) in ps.iter().zip(gs.iter_mut()).zip(ab.iter()).enumerate() {
            let is_top = top.eq(splat(level, R::of(k as f64)));
            let q = <R::V<L>>::select(is_top, rest, one - p);
            *g = dice_grad(level, kernel, b, coefs, k, i, p, q).1;
            let pg = p * *g;
            pg_sum = pg_sum + pg;
            pg_rest = pg_rest + <R::V<L>>::select(is_top, zero, pg);
        }
        for (k, (&p, &g)) in ps.iter().zip(gs.iter()).enumerate() {
            let is_top = top.eq(splat(level, R::of(k as f64)));
            let dx = p * <R::V<L>>::select(is_top, g * rest - pg_rest, g - pg_sum);
            check = check + dx * zero;
            dx.store(rows.out(k), i);
        }
        i += lanes;
    }
    check
}

/// Per-class lanes a block's gradient keeps: the Dice coefficients, and `p` and `g` at the
/// current positions. Allocated once per part, refilled per block.
struct ClassLanes<V> {
    coefs: Vec<DiceCoefs<V>>,
    p: Vec<V>,
    g: Vec<V>,
}

impl<V: Copy> ClassLanes<V> {
    fn new(classes: usize, zero: V) -> Self {
        ClassLanes {
            coefs: Vec::with_capacity(classes),
            p: vec![zero; classes],
            g: vec![zero; classes],
        }
    }

    /// The coefficients of each class, from `coefs`.
    #[inline(always)]
    fn fill(&mut self, classes: usize, coefs: impl Fn(usize) -> DiceCoefs<V>) {
        self.coefs.clear();
        // A loop, not `extend` over a `map`: `coefs` inlined here, with the caller's target
        // features (as `stored_softmax_grad`'s array).
        for k in 0..classes {
            self.coefs.push(coefs(k));
        }
    }
}

/// The sigmoid gradient of one block into `rows`; the sum of `g * 0` over it.
#[inline(always)]
fn sigmoid_grad<R: Real, L: Level>(
    level: L,
    kernel: &DiceKernel<R>,
    coefs: &Coefficients<R>,
    b: &Block<'_, R>,
    rows: &mut BlockRows<'_, R>,
) -> R::V<L> {
    let lanes = <R::V<L> as Vector<R, L>>::LANES;
    let zero = splat(level, R::ZERO);
    let mut check = zero;
    for k in 0..b.classes {
        let ab = coefs.dice(level, b, k);
        let phi = coefs.focal(level, b, k);
        let focal = kernel.focal.as_ref().filter(|_| k >= kernel.skip);
        let row = rows.row(k);
        let mut i = 0;
        while i < b.len {
            let x = <R::V<L>>::load(level, b.x(k), i);
            let st = sigmoid_terms::<R, L>(level, x);
            let (t, g) = dice_grad(level, kernel, b, ab, k, i, st.p, st.q);
            let mut dx = g * (st.p * st.q);
            if let Some(fk) = focal {
                let (_, d) = sigmoid_focal(level, fk, x, t, &st, true);
                dx = dx + phi * d;
            }
            check = check + dx * zero;
            dx.store(row, i);
            i += lanes;
        }
    }
    check
}
