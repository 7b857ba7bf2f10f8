//! The built-in losses, each declared with `#[loss]`.

mod common;
mod dice;
mod dice_focal;
mod focal;
mod focal_loss;
mod sigmoid_focal;
mod softmax_focal;

pub use dice::{dice_loss, Activation, DiceLoss};
pub use dice_focal::{dice_focal_loss, DiceFocalLoss};
pub(crate) use focal::P_T_MIN;
pub use focal::{focal, Focal};
pub use focal_loss::{focal_loss, FocalLoss};
pub use sigmoid_focal::{sigmoid_focal_loss, SigmoidFocalLoss};
pub use softmax_focal::{softmax_focal_loss, SoftmaxFocalLoss};
