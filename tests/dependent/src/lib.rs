//! A user's crate: depends on focal (and tch), has no build script and no link flags of its
//! own. Its test checks that `libtorch_cuda` is linked, so that `Device::Cuda` works.

use focal::FocalLoss;
use tch::{Kind, Tensor};

/// The seed's focal loss of `logits` against `target`, on their device.
pub fn focal_loss(logits: &Tensor, target: &Tensor) -> f64 {
    FocalLoss::default()
        .forward(logits, target)
        .to_kind(Kind::Double)
        .double_value(&[])
}
