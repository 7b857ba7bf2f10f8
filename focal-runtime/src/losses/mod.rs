//! The built-in losses, each declared with `#[loss]`.

mod focal;
mod focal_loss;

pub use focal::{focal, Focal};
pub use focal_loss::{focal_loss, FocalLoss};
