//! The seed's multi-class focal loss: softmax, then the binary focal loss of each class.

use focal_macros::loss;
use tch::{Kind, Tensor};

use super::focal::binary_focal_terms;
use crate::{checks, LossError};

/// Multi-class focal loss, exactly as the seed's `FocalLoss`: `p = softmax(input, dim 1)`, then for
/// each class `c` the binary [`Focal`](crate::Focal) loss of `p[:, c]` against `target == c`,
/// averaged over the `C` classes.
///
/// `input` holds logits `(N, C, *)` with any number of trailing dims (none, 2-D images, 3-D
/// volumes); `target` holds class indices in `[0, C)`, shaped `(N, 1, *)` as in the seed or
/// `(N, *)`. With `Reduction::None` the result has the target's `(N, *)` shape and holds, per
/// element, the sum over classes of the binary focal terms divided by `C`; `Mean` and `Sum`
/// reduce it, matching the seed's `size_average=True` and `False`.
///
/// ```
/// use focal_runtime::FocalLoss;
/// use tch::{Device, Kind, Tensor};
/// let logits = Tensor::randn([2, 3, 4, 4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
/// let target = Tensor::randint(3, [2, 4, 4], (Kind::Int64, Device::Cpu));
/// let loss = FocalLoss::default().forward(&logits, &target);
/// loss.backward();
/// assert_eq!(logits.grad().size(), [2, 3, 4, 4]);
/// ```
#[loss(crate = crate, register = "focal_loss", fused = crate::fused::seed_focal::seed_focal)]
pub fn focal_loss(
    #[tensor(float)] input: &Tensor,
    #[tensor(integer)] target: &Tensor,
    /// The focusing exponent of each class's binary focal loss.
    #[hyper(default = 2.0, check = 0.0..)]
    gamma: f64,
    /// The weight of positives in each class's binary focal loss; negatives get `1 - alpha`.
    #[hyper(default = 0.25, check = 0.0..=1.0)]
    alpha: f64,
) -> Result<Tensor, LossError> {
    let target = class_index_target(FocalLoss::NAME, input, target)?;
    let classes = input.size()[1];
    checks::class_indices(FocalLoss::NAME, "target", &target, classes, None)?;
    let positive = one_hot_mask(&target, classes, input.dim())?;
    let p = input.f_softmax(1, input.kind())?;
    let terms = binary_focal_terms(&p, &positive, gamma, alpha)?;
    Ok(terms
        .f_sum_dim_intlist(1, false, input.kind())?
        .f_div_scalar(classes as f64)?)
}

/// The target as `(N, *)` int64: accepts `(N, *)` and `(N, 1, *)` for input `(N, C, *)`.
pub(crate) fn class_index_target(
    loss: &'static str,
    input: &Tensor,
    target: &Tensor,
) -> Result<Tensor, LossError> {
    let shape = input.size();
    if shape.len() < 2 {
        return Err(checks::shape_of(
            loss,
            "input",
            input,
            "should be (N, C, *) logits with at least 2 dims",
        ));
    }
    let expected: Vec<i64> = [shape[0]]
        .into_iter()
        .chain(shape[2..].iter().copied())
        .collect();
    // Class indices are compared in i64 whatever the target's integer type: a scalar compared
    // with a `u8` tensor wraps to `u8` (`-100` would become 156, and a target of 156 "ignored").
    let as_i64 = |t: Tensor| -> Result<Tensor, LossError> {
        Ok(if t.kind() == Kind::Int64 {
            t
        } else {
            t.f_to_kind(Kind::Int64)?
        })
    };
    let found = target.size();
    if found == expected {
        return as_i64(target.shallow_clone());
    }
    let mut with_channel = expected.clone();
    with_channel.insert(1, 1);
    if found == with_channel {
        return as_i64(target.f_squeeze_dim(1)?);
    }
    Err(checks::shape_of(
        loss,
        "target",
        target,
        format!("should be (N, *) = {expected:?} or (N, 1, *) = {with_channel:?} for input of shape {shape:?}"),
    ))
}

/// `target[n, *] == c` as a boolean `(N, C, *)` mask, built without a loop over classes.
pub(crate) fn one_hot_mask(
    target: &Tensor,
    classes: i64,
    input_dims: usize,
) -> Result<Tensor, LossError> {
    let mut view = vec![1i64; input_dims];
    view[1] = classes;
    let class_ids =
        Tensor::f_arange(classes, (Kind::Int64, target.device()))?.f_view(view.as_slice())?;
    Ok(target.f_unsqueeze(1)?.f_eq_tensor(&class_ids)?)
}
