//! Every loss of `torch.nn.functional`, declared with `#[loss]` with PyTorch's argument list
//! (call-time tensors first, `Option<&Tensor>` for the optional ones, then the hyperparameters
//! with PyTorch's defaults), computed from the loss's formula with tch tensor operations, and
//! returning the *unreduced* losses, which the macro reduces. `kl_div` (with its own `batchmean`)
//! and `ctc` (whose `mean` divides by the target lengths) take the reduction and apply it.
//!
//! Every operation is an `f_` method, so libtorch's errors come back as `LossError` through `?`.

use std::f64::consts::PI;

use focal::{loss, LossError, LossOutput, Reduction};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Matches `torch.nn.functional.l1_loss`.
///
/// `|input - target|`.
#[loss]
pub fn l1(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, broadcastable_to = input)] target: &Tensor,
) -> Result<Tensor, LossError> {
    Ok(input.f_sub(target)?.f_abs()?)
}

/// Matches `torch.nn.functional.mse_loss`.
///
/// `(input - target)^2`.
#[loss]
pub fn mse(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, broadcastable_to = input)] target: &Tensor,
) -> Result<Tensor, LossError> {
    Ok(input.f_sub(target)?.f_square()?)
}

/// Matches `torch.nn.functional.huber_loss`.
///
/// `0.5 z^2` where `z = |input - target| < delta`, else
/// `delta (z - 0.5 delta)`.
#[loss]
pub fn huber(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, broadcastable_to = input)] target: &Tensor,
    /// Where the loss turns from quadratic to linear (PyTorch requires it positive).
    #[hyper(default = 1.0, check = 0.0<..)]
    delta: f64,
) -> Result<Tensor, LossError> {
    let z = input.f_sub(target)?.f_abs()?;
    let quadratic = z.f_mul(&z)?.f_mul_scalar(0.5)?;
    let linear = z.f_sub_scalar(0.5 * delta)?.f_mul_scalar(delta)?;
    Ok(quadratic.f_where_self(&z.f_lt(delta)?, &linear)?)
}

/// Matches `torch.nn.functional.smooth_l1_loss`.
///
/// `0.5 z^2 / beta` where `z = |input - target| < beta`, else
/// `z - 0.5 beta`; `beta = 0` is `l1_loss` (as in PyTorch, which never divides by it).
#[loss]
pub fn smooth_l1(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, broadcastable_to = input)] target: &Tensor,
    /// Where the loss turns from quadratic to linear; 0 is the L1 loss.
    #[hyper(default = 1.0, check = 0.0..)]
    beta: f64,
) -> Result<Tensor, LossError> {
    let z = input.f_sub(target)?.f_abs()?;
    if beta == 0.0 {
        return Ok(z);
    }
    let quadratic = z.f_mul(&z)?.f_mul_scalar(0.5)?.f_div_scalar(beta)?;
    let linear = z.f_sub_scalar(0.5 * beta)?;
    Ok(quadratic.f_where_self(&z.f_lt(beta)?, &linear)?)
}

/// Matches `torch.nn.functional.binary_cross_entropy`.
///
/// `-w (y log x + (1 - y) log(1 - x))`, each log clamped at
/// -100 (so `x = 0` or `1` gives a finite loss).
#[loss]
pub fn binary_cross_entropy(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    // PyTorch's default: None; broadcast to the input's shape.
    #[tensor(float, broadcastable_to = input)] weight: Option<&Tensor>,
) -> Result<Tensor, LossError> {
    let log_x = input.f_log()?.f_clamp_min(-100.0)?;
    let log_1mx = input.f_neg()?.f_log1p()?.f_clamp_min(-100.0)?;
    // PyTorch's order: (y - 1) log(1 - x) - y log x.
    let loss = target
        .f_sub_scalar(1.0)?
        .f_mul(&log_1mx)?
        .f_sub(&target.f_mul(&log_x)?)?;
    Ok(match weight {
        Some(w) => loss.f_mul(w)?,
        None => loss,
    })
}

/// Matches `torch.nn.functional.binary_cross_entropy_with_logits`.
///
/// `w ((1 - y) x - (1 + (pos_weight - 1) y) log sigmoid(x))`.
#[loss]
pub fn binary_cross_entropy_with_logits(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    // PyTorch's default: None; broadcast to the input's shape.
    #[tensor(float, broadcastable_to = input)] weight: Option<&Tensor>,
    // PyTorch's default: None; weighs the positive term, broadcast along the class (last) dim.
    #[tensor(float, broadcastable_to = input)] pos_weight: Option<&Tensor>,
) -> Result<Tensor, LossError> {
    let log_sigmoid = input.f_log_sigmoid()?;
    let negative = target.f_rsub_scalar(1.0)?.f_mul(input)?;
    let loss = match pos_weight {
        Some(pw) => {
            let log_weight = pw.f_sub_scalar(1.0)?.f_mul(target)?.f_add_scalar(1.0)?;
            negative.f_sub(&log_weight.f_mul(&log_sigmoid)?)?
        }
        None => negative.f_sub(&log_sigmoid)?,
    };
    Ok(match weight {
        Some(w) => loss.f_mul(w)?,
        None => loss,
    })
}

/// The class dimension of PyTorch's classification losses: 0 for an unbatched `(C,)` input, else 1.
fn class_dim(input: &Tensor) -> i64 {
    if input.dim() == 1 {
        0
    } else {
        1
    }
}

/// `weight` (C,) viewed to broadcast along `input`'s class dimension.
fn class_weight(input: &Tensor, weight: &Tensor) -> Result<Tensor, LossError> {
    let mut shape = vec![1i64; input.dim()];
    shape[class_dim(input) as usize] = weight.numel() as i64;
    Ok(weight.f_view(shape.as_slice())?)
}

/// `nll_loss`'s pieces for class-index targets: `(-w[y] input[y], w[y], ignored)`, with `w[y]` and
/// the loss zero where `target == ignore_index`.
fn pick_classes(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
) -> Result<(Tensor, Tensor, Tensor), LossError> {
    let dim = class_dim(input);
    let ignored = target.f_eq(ignore_index)?;
    // Ignored entries index class 0, then weigh 0: gather needs a valid index.
    let safe = target.f_masked_fill(&ignored, 0)?;
    let picked = input
        .f_gather(dim, &safe.f_unsqueeze(dim)?, false)?
        .f_squeeze_dim(dim)?;
    let w = match weight {
        Some(w) => w.f_take(&safe)?,
        None => picked.f_ones_like()?,
    }
    .f_masked_fill(&ignored, 0.0)?;
    let loss = picked.f_neg()?.f_mul(&w)?;
    Ok((loss, w, ignored))
}

/// Matches `torch.nn.functional.cross_entropy`.
///
/// Class indices (an integer `target`) or class probabilities (a
/// float `target` of the input's shape), on `(N, C, d1, ...)` or unbatched `(C,)` logits.
///
/// Indices: `-w[y] log_softmax(x)[y]`, zero (and not counted) where `y == ignore_index`; with
/// label smoothing `(1 - ls)` of that plus `ls / C` times `-sum_c w[c] log_softmax(x)[c]`, and
/// `mean` divides both by `sum w[y]` over the counted entries. Probabilities:
/// `-sum_c w[c] p'[c] log_softmax(x)[c]` with `p' = (1 - ls) p + ls / C`, and `mean` is the plain
/// mean over samples (the weights are not a normaliser there).
#[loss]
pub fn cross_entropy(
    #[tensor(float, min_rank = 1)] input: &Tensor,
    #[tensor(float, integer)] target: &Tensor,
    // PyTorch's default: None; a (C,) rescaling of each class.
    #[tensor(float, rank = 1)] weight: Option<&Tensor>,
    /// A class index whose entries count for nothing (class-index targets only).
    #[hyper(default = -100)]
    ignore_index: i64,
    /// How much of each target is spread evenly over the classes.
    #[hyper(default = 0.0, check = 0.0..=1.0)]
    label_smoothing: f64,
) -> Result<LossOutput, LossError> {
    let dim = class_dim(input);
    let classes = input.size()[dim as usize] as f64;
    let log_p = input.f_log_softmax(dim, None)?;
    let weighted = |t: Tensor| -> Result<Tensor, LossError> {
        Ok(match weight {
            Some(w) => t.f_mul(&class_weight(input, w)?)?,
            None => t,
        })
    };
    if target.is_floating_point() {
        let target = if label_smoothing > 0.0 {
            target
                .f_mul_scalar(1.0 - label_smoothing)?
                .f_add_scalar(label_smoothing / classes)?
        } else {
            target.shallow_clone()
        };
        let loss = weighted(log_p.f_mul(&target)?)?
            .f_sum_dim_intlist(dim, false, None)?
            .f_neg()?;
        return Ok(LossOutput::new(loss));
    }
    let (nll, w, ignored) = pick_classes(&log_p, target, weight, ignore_index)?;
    if label_smoothing <= 0.0 {
        return Ok(LossOutput::weighted(nll, w));
    }
    let smooth = weighted(log_p)?
        .f_sum_dim_intlist(dim, false, None)?
        .f_neg()?
        .f_masked_fill(&ignored, 0.0)?;
    let loss = nll
        .f_mul_scalar(1.0 - label_smoothing)?
        .f_add(&smooth.f_mul_scalar(label_smoothing / classes)?)?;
    Ok(LossOutput::weighted(loss, w))
}

/// Matches `torch.nn.functional.nll_loss`.
///
/// `-w[y] input[y]`, zero (and not counted by `mean`) where
/// `y == ignore_index`; `mean` divides by `sum w[y]`.
#[loss]
pub fn nll(
    #[tensor(float, min_rank = 1)] input: &Tensor,
    #[tensor(integer)] target: &Tensor,
    // PyTorch's default: None; a (C,) rescaling of each class.
    #[tensor(float, rank = 1)] weight: Option<&Tensor>,
    /// A class index whose entries count for nothing.
    #[hyper(default = -100)]
    ignore_index: i64,
) -> Result<LossOutput, LossError> {
    let (loss, w, _) = pick_classes(input, target, weight, ignore_index)?;
    Ok(LossOutput::weighted(loss, w))
}

/// Matches `torch.nn.functional.kl_div`.
///
/// `y (log y - input)` (as `xlogy(y, y) - y input`), or
/// `exp(y) (y - input)` with `log_target`. It reduces itself: `mean` over every element, and
/// `batchmean`, the sum over the batch size `input.size(0)`.
#[loss(extra_reductions = ["batchmean"])]
pub fn kl_div(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    /// Whether the target is given as log-probabilities.
    #[hyper(default = false)]
    log_target: bool,
    // PyTorch's default: mean (with a warning that it will become batchmean)
    reduction: Reduction,
) -> Result<Tensor, LossError> {
    let loss = if log_target {
        target.f_exp()?.f_mul(&target.f_sub(input)?)?
    } else {
        target.f_xlogy(target)?.f_sub(&target.f_mul(input)?)?
    };
    if reduction == Reduction::Custom("batchmean") {
        let sum = loss.f_sum(None)?;
        return Ok(if input.dim() == 0 {
            sum
        } else {
            sum.f_div_scalar(input.size()[0])?
        });
    }
    reduction.apply(Self::NAME, &loss)
}

/// Matches `torch.nn.functional.poisson_nll_loss`.
///
/// `exp(input) - y input` (`log_input`) or
/// `input - y log(input + eps)`; `full` adds Stirling's `y log y - y + 0.5 log(2 pi y)` where
/// `y > 1` only.
#[loss]
pub fn poisson_nll(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    /// Whether the input is the log of the rate.
    #[hyper(default = true)]
    log_input: bool,
    /// Whether to add Stirling's approximation of `log(target!)`.
    #[hyper(default = false)]
    full: bool,
    /// Added to the rate before its log (without `log_input`).
    #[hyper(default = 1e-8, check = 0.0..)]
    eps: f64,
) -> Result<Tensor, LossError> {
    let loss = if log_input {
        input.f_exp()?.f_sub(&target.f_mul(input)?)?
    } else {
        input.f_sub(&target.f_mul(&input.f_add_scalar(eps)?.f_log()?)?)?
    };
    if !full {
        return Ok(loss);
    }
    let stirling = target
        .f_mul(&target.f_log()?)?
        .f_sub(target)?
        .f_add(&target.f_mul_scalar(2.0 * PI)?.f_log()?.f_mul_scalar(0.5)?)?
        .f_masked_fill(&target.f_le(1.0)?, 0.0)?;
    Ok(loss.f_add(&stirling)?)
}

/// Matches `torch.nn.functional.gaussian_nll_loss`.
///
/// `0.5 (log v + (input - target)^2 / v)` (plus
/// `0.5 log(2 pi)` with `full`), where `v` is `var` clamped at `eps` with the gradient passing the
/// clamp untouched (PyTorch clamps under `no_grad`). `var` has the input's shape, or one
/// dimension of size 1, or lacks the input's last dimension.
#[loss]
pub fn gaussian_nll(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, same_shape_as = input)] target: &Tensor,
    #[tensor(float)] var: &Tensor,
    /// Whether to add the constant `0.5 log(2 pi)`.
    #[hyper(default = false)]
    full: bool,
    /// The smallest variance used.
    #[hyper(default = 1e-6, check = 0.0<..)]
    eps: f64,
) -> Result<Tensor, LossError> {
    let (input_shape, var_shape) = (input.size(), var.size());
    let var = if var_shape == input_shape {
        var.shallow_clone()
    } else if !input_shape.is_empty() && var_shape[..] == input_shape[..input_shape.len() - 1] {
        var.f_unsqueeze(-1)?
    } else if var_shape.len() == input_shape.len()
        && input_shape
            .iter()
            .zip(&var_shape)
            .filter(|(i, v)| i != v)
            .map(|(_, v)| v)
            .sum::<i64>()
            == 1
    {
        var.shallow_clone()
    } else {
        return Err(LossError::ShapeMismatch {
            loss: Self::NAME,
            arg: "var",
            expected: format!(
                "should have the input's shape {input_shape:?}, one dimension of size 1, or the input's shape without its last dimension"
            ),
            found: var_shape,
        });
    };
    if var.f_lt(0.0)?.f_any()?.f_int64_value(&[])? != 0 {
        return Err(LossError::TargetOutOfRange {
            loss: Self::NAME,
            arg: "var",
            expected: "non-negative variances".into(),
            found: "a negative entry".into(),
        });
    }
    // The clamped value, with the gradient of `var` itself: var - var.detach() is exactly 0.
    let var = var
        .f_clamp_min(eps)?
        .f_detach()?
        .f_add(&var.f_sub(&var.f_detach()?)?)?;
    let loss = var
        .f_log()?
        .f_add(&input.f_sub(target)?.f_square()?.f_div(&var)?)?
        .f_mul_scalar(0.5)?;
    Ok(if full {
        loss.f_add_scalar(0.5 * (2.0 * PI).ln())?
    } else {
        loss
    })
}

/// Matches `torch.nn.functional.hinge_embedding_loss`.
///
/// `max(0, margin - x)` where `y != 1`, plus `x` where
/// `y != -1` (for `y` in {1, -1}, one of the two).
#[loss]
pub fn hinge_embedding(
    #[tensor(float)] input: &Tensor,
    #[tensor(same_shape_as = input)] target: &Tensor,
    /// The margin negatives are pushed below.
    #[hyper(default = 1.0)]
    margin: f64,
) -> Result<Tensor, LossError> {
    let margin_part = input
        .f_rsub_scalar(margin)?
        .f_clamp_min(0.0)?
        .f_where_scalarother(&target.f_ne(1.0)?, 0.0)?;
    let self_part = input.f_where_scalarother(&target.f_ne(-1.0)?, 0.0)?;
    Ok(margin_part.f_add(&self_part)?)
}

/// Matches `torch.nn.functional.soft_margin_loss`.
///
/// `log(1 + exp(-y x))`.
#[loss]
pub fn soft_margin(
    #[tensor(float)] input: &Tensor,
    #[tensor(same_shape_as = input)] target: &Tensor,
) -> Result<Tensor, LossError> {
    Ok(input.f_neg()?.f_mul(target)?.f_exp()?.f_log1p()?)
}

/// Matches `torch.nn.functional.multilabel_soft_margin_loss`.
///
/// Per sample, the mean over classes of
/// `-w (y log sigmoid(x) + (1 - y) log sigmoid(-x))`.
#[loss]
pub fn multilabel_soft_margin(
    #[tensor(float, min_rank = 1, max_rank = 2)] input: &Tensor,
    #[tensor(same_shape_as = input)] target: &Tensor,
    // PyTorch's default: None; a (C,) rescaling of each class.
    #[tensor(float, rank = 1)] weight: Option<&Tensor>,
) -> Result<Tensor, LossError> {
    let positive = target.f_mul(&input.f_log_sigmoid()?)?;
    let negative = target
        .f_rsub_scalar(1.0)?
        .f_mul(&input.f_neg()?.f_log_sigmoid()?)?;
    let mut loss = positive.f_add(&negative)?.f_neg()?;
    if let Some(w) = weight {
        loss = loss.f_mul(w)?;
    }
    let class_dim = input.dim() as i64 - 1;
    let classes = input.size()[class_dim as usize];
    Ok(loss
        .f_sum_dim_intlist(class_dim, false, None)?
        .f_div_scalar(classes)?)
}

/// Matches `torch.nn.functional.multilabel_margin_loss`.
///
/// Per sample, the sum over the target classes `j` (the
/// target's indices before its first -1) and the other classes `i` of
/// `max(0, 1 - (x[j] - x[i]))`, over `C`.
#[loss]
pub fn multilabel_margin(
    #[tensor(float, min_rank = 1, max_rank = 2)] input: &Tensor,
    #[tensor(integer, same_shape_as = input)] target: &Tensor,
) -> Result<Tensor, LossError> {
    let unbatched = input.dim() <= 1;
    let (x, y) = if unbatched {
        (input.f_unsqueeze(0)?, target.f_unsqueeze(0)?)
    } else {
        (input.shallow_clone(), target.shallow_clone())
    };
    let classes = x.size()[1];
    // Slots before the first -1 hold the targets.
    let valid = y.f_eq(-1)?.f_cumsum(1, Kind::Int64)?.f_eq(0)?;
    let safe = y.f_masked_fill(&valid.f_logical_not()?, 0)?;
    // is_target[n, i]: whether class i is one of sample n's targets.
    let one_hot = safe
        .f_unsqueeze(2)?
        .f_eq_tensor(&Tensor::f_arange(classes, (Kind::Int64, input.device()))?)?;
    let is_target = one_hot
        .f_logical_and(&valid.f_unsqueeze(2)?)?
        .f_any_dim(1, false)?;
    let x_target = x.f_gather(1, &safe, false)?;
    // hinge[n, j, i] = 1 - x[n, y_j] + x[n, i]
    let hinge = x_target
        .f_unsqueeze(2)?
        .f_rsub_scalar(1.0)?
        .f_add(&x.f_unsqueeze(1)?)?
        .f_clamp_min(0.0)?;
    let counted = valid
        .f_unsqueeze(2)?
        .f_logical_and(&is_target.f_logical_not()?.f_unsqueeze(1)?)?;
    let loss = hinge
        .f_where_scalarother(&counted, 0.0)?
        .f_sum_dim_intlist([1i64, 2].as_slice(), false, None)?
        .f_div_scalar(classes)?;
    Ok(if unbatched {
        loss.f_squeeze_dim(0)?
    } else {
        loss
    })
}

/// Matches `torch.nn.functional.multi_margin_loss`.
///
/// Per sample, the sum over classes `i != y` of
/// `w[y] max(0, margin - x[y] + x[i])^p`, over `C`; `p` is 1 or 2.
#[loss]
pub fn multi_margin(
    #[tensor(float, min_rank = 1, max_rank = 2)] input: &Tensor,
    #[tensor(integer)] target: &Tensor,
    // PyTorch's default: None; a (C,) rescaling by the target class.
    #[tensor(float, rank = 1)] weight: Option<&Tensor>,
    /// The hinge's power, 1 or 2.
    #[hyper(default = 1, check = 1..=2)]
    p: i64,
    /// The margin the target class should lead by.
    #[hyper(default = 1.0)]
    margin: f64,
) -> Result<Tensor, LossError> {
    let unbatched = input.dim() <= 1;
    let (x, y) = if unbatched {
        (
            input.f_unsqueeze(0)?,
            target.f_reshape([1i64, 1].as_slice())?,
        )
    } else {
        (input.shallow_clone(), target.f_unsqueeze(1)?)
    };
    let classes = x.size()[1];
    let x_target = x.f_gather(1, &y, false)?;
    let hinge = x.f_sub(&x_target)?.f_add_scalar(margin)?.f_clamp_min(0.0)?;
    let hinge = if p == 2 { hinge.f_square()? } else { hinge };
    let is_target = y.f_eq_tensor(&Tensor::f_arange(classes, (Kind::Int64, input.device()))?)?;
    let mut hinge = hinge.f_masked_fill(&is_target, 0.0)?;
    if let Some(w) = weight {
        hinge = hinge.f_mul(&w.f_take(&y)?)?;
    }
    let loss = hinge
        .f_sum_dim_intlist(1, false, None)?
        .f_div_scalar(classes)?;
    Ok(if unbatched {
        loss.f_squeeze_dim(0)?
    } else {
        loss
    })
}

/// Matches `torch.nn.functional.cosine_embedding_loss`.
///
/// With `cos = <a, b> / sqrt((|a|^2 + 1e-12)(|b|^2 + 1e-12))`,
/// `1 - cos` where `y == 1` and `max(0, cos - margin)` where `y == -1`.
#[loss]
pub fn cosine_embedding(
    #[tensor(float, min_rank = 1, max_rank = 2)] input1: &Tensor,
    #[tensor(float, same_shape_as = input1)] input2: &Tensor,
    #[tensor(per_sample)] target: &Tensor,
    /// The cosine below which dissimilar pairs cost nothing.
    #[hyper(default = 0.0, check = -1.0..=1.0)]
    margin: f64,
) -> Result<Tensor, LossError> {
    const EPSILON: f64 = 1e-12;
    let dim = target.dim() as i64;
    let dot = input1.f_mul(input2)?.f_sum_dim_intlist(dim, false, None)?;
    let square1 = input1
        .f_mul(input1)?
        .f_sum_dim_intlist(dim, false, None)?
        .f_add_scalar(EPSILON)?;
    let square2 = input2
        .f_mul(input2)?
        .f_sum_dim_intlist(dim, false, None)?
        .f_add_scalar(EPSILON)?;
    let cos = dot.f_div(&square1.f_mul(&square2)?.f_sqrt()?)?;
    let positive = cos
        .f_rsub_scalar(1.0)?
        .f_where_scalarother(&target.f_eq(1.0)?, 0.0)?;
    let negative = cos
        .f_sub_scalar(margin)?
        .f_clamp_min(0.0)?
        .f_where_scalarother(&target.f_eq(-1.0)?, 0.0)?;
    Ok(positive.f_add(&negative)?)
}

/// Matches `torch.nn.functional.margin_ranking_loss`.
///
/// `max(0, -y (x1 - x2) + margin)`.
#[loss]
pub fn margin_ranking(
    #[tensor(float)] input1: &Tensor,
    #[tensor(float, same_shape_as = input1)] input2: &Tensor,
    #[tensor(same_shape_as = input1)] target: &Tensor,
    /// The lead the higher-ranked input should have.
    #[hyper(default = 0.0)]
    margin: f64,
) -> Result<Tensor, LossError> {
    Ok(target
        .f_neg()?
        .f_mul(&input1.f_sub(input2)?)?
        .f_add_scalar(margin)?
        .f_clamp_min(0.0)?)
}

/// Matches `torch.nn.functional.pairwise_distance`.
///
/// The `p`-norm of `x1 - x2 + eps` over the last dimension.
fn pairwise_distance(x1: &Tensor, x2: &Tensor, p: f64, eps: f64) -> Result<Tensor, LossError> {
    Ok(x1
        .f_sub(x2)?
        .f_add_scalar(eps)?
        .f_norm_scalaropt_dim(p, [-1i64].as_slice(), false)?)
}

/// The triplet hinge `max(0, margin + d(a, p) - d(a, n))`, with `d(a, n)` replaced by
/// `min(d(a, n), d(p, n))` under `swap`.
fn triplet_hinge(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    margin: f64,
    swap: bool,
    distance: impl Fn(&Tensor, &Tensor) -> Result<Tensor, LossError>,
) -> Result<Tensor, LossError> {
    let d_pos = distance(anchor, positive)?;
    let mut d_neg = distance(anchor, negative)?;
    if swap {
        d_neg = d_neg.f_minimum(&distance(positive, negative)?)?;
    }
    Ok(d_pos
        .f_add_scalar(margin)?
        .f_sub(&d_neg)?
        .f_clamp_min(0.0)?)
}

/// Matches `torch.nn.functional.triplet_margin_loss`.
///
/// `max(0, margin + d(a, p) - d(a, n))` with `d` the
/// `pairwise_distance` of norm `p`.
#[loss]
pub fn triplet_margin(
    #[tensor(float, min_rank = 1, max_rank = 2)] anchor: &Tensor,
    #[tensor(float, same_shape_as = anchor)] positive: &Tensor,
    #[tensor(float, same_shape_as = anchor)] negative: &Tensor,
    /// The distance the negative should be farther than the positive.
    #[hyper(default = 1.0, check = 0.0<..)]
    margin: f64,
    /// The norm's order.
    #[hyper(default = 2.0, check = 0.0<..)]
    p: f64,
    /// Added to the differences before the norm.
    #[hyper(default = 1e-6, check = 0.0..)]
    eps: f64,
    /// Whether the positive-negative distance replaces the anchor's where smaller.
    #[hyper(default = false)]
    swap: bool,
) -> Result<Tensor, LossError> {
    triplet_hinge(anchor, positive, negative, margin, swap, |x1, x2| {
        pairwise_distance(x1, x2, p, eps)
    })
}

/// The distances `triplet_margin_with_distance_loss` can use: the two PyTorch ships, in place of
/// its `distance_function` callable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distance {
    /// `pairwise_distance(x1, x2, p, eps)`, PyTorch's default (`p = 2`, `eps = 1e-6`).
    Pairwise {
        /// The norm's order.
        p: f64,
        /// Added to the difference before the norm.
        eps: f64,
    },
    /// `1 - cosine_similarity(x1, x2)` over the last dimension (PyTorch's `dim = 1` for `(N, D)`
    /// inputs), norms clamped at 1e-8 as `cosine_similarity` does.
    Cosine,
}

impl Default for Distance {
    fn default() -> Self {
        Distance::Pairwise { p: 2.0, eps: 1e-6 }
    }
}

impl Distance {
    /// The distance between `x1` and `x2` along their last dimension.
    pub fn between(&self, x1: &Tensor, x2: &Tensor) -> Result<Tensor, LossError> {
        match *self {
            Distance::Pairwise { p, eps } => pairwise_distance(x1, x2, p, eps),
            Distance::Cosine => Ok(cosine_similarity(x1, x2, -1, 1e-8)?.f_rsub_scalar(1.0)?),
        }
    }
}

/// Matches `torch.nn.functional.cosine_similarity`.
///
/// `sum((x1 / max(|x1|, eps)) (x2 / max(|x2|, eps)))` over `dim`,
/// the clamps without gradient (PyTorch clamps the norms under `no_grad`).
fn cosine_similarity(x1: &Tensor, x2: &Tensor, dim: i64, eps: f64) -> Result<Tensor, LossError> {
    let unit = |x: &Tensor| -> Result<Tensor, LossError> {
        let norm = x.f_norm_scalaropt_dim(2.0, [dim].as_slice(), true)?;
        let clamped = norm
            .f_clamp_min(eps)?
            .f_detach()?
            .f_add(&norm.f_sub(&norm.f_detach()?)?)?;
        Ok(x.f_div(&clamped)?)
    };
    Ok(unit(x1)?
        .f_mul(&unit(x2)?)?
        .f_sum_dim_intlist(dim, false, None)?)
}

/// Matches `torch.nn.functional.triplet_margin_with_distance_loss`.
///
/// `max(0, margin + d(a, p) - d(a, n))` for a
/// `distance` of [`Distance`].
#[loss(register)]
pub fn triplet_margin_with_distance(
    #[tensor(float, min_rank = 1)] anchor: &Tensor,
    #[tensor(float, same_shape_as = anchor)] positive: &Tensor,
    #[tensor(float, same_shape_as = anchor)] negative: &Tensor,
    /// The distance between two embeddings (PyTorch's `distance_function`; its default is the
    /// pairwise distance with `p = 2`, `eps = 1e-6`).
    distance: Distance,
    /// The distance the negative should be farther than the positive.
    #[hyper(default = 1.0, check = 0.0<..)]
    margin: f64,
    /// Whether the positive-negative distance replaces the anchor's where smaller.
    #[hyper(default = false)]
    swap: bool,
) -> Result<Tensor, LossError> {
    triplet_hinge(anchor, positive, negative, margin, swap, |x1, x2| {
        distance.between(x1, x2)
    })
}

/// Matches `torch.nn.functional.ctc_loss`.
///
/// Libtorch's CTC forward (`reduction = none`), then its own reduction:
/// `mean` is the batch mean of each loss over its target length (at least 1).
#[loss]
pub fn ctc(
    #[tensor(float, min_rank = 2, max_rank = 3)] log_probs: &Tensor,
    #[tensor(integer, min_rank = 1, max_rank = 2)] targets: &Tensor,
    #[tensor(integer, max_rank = 1)] input_lengths: &Tensor,
    #[tensor(integer, max_rank = 1)] target_lengths: &Tensor,
    /// The blank label's index.
    #[hyper(default = 0, check = 0..)]
    blank: i64,
    /// Whether infinite losses (inputs too short to align) and their gradients become 0.
    #[hyper(default = false)]
    zero_infinity: bool,
    // PyTorch's default: mean
    reduction: Reduction,
) -> Result<Tensor, LossError> {
    let loss = Tensor::f_ctc_loss_tensor(
        log_probs,
        targets,
        input_lengths,
        target_lengths,
        blank,
        tch::Reduction::None,
        zero_infinity,
    )?;
    if reduction != Reduction::Mean {
        return reduction.apply(Self::NAME, &loss);
    }
    let lengths = target_lengths
        .f_to_device(loss.device())?
        .f_to_kind(loss.kind())?
        .f_clamp_min(1.0)?;
    Ok(loss.f_div(&lengths)?.f_mean(None)?)
}
