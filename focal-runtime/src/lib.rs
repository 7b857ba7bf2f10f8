//! Runtime of [focal](https://docs.rs/focal): the [`Loss`] trait, [`Reduction`], [`LossError`],
//! the input [`checks`], and the built-in losses, each declared with the `#[loss]` macro.
//!
//! Depend on the `focal` crate, which re-exports all of this together with the macro.
//!
//! ```
//! use focal_runtime::{FocalLoss, Loss};
//! use tch::{Device, Kind, Tensor};
//! let logits = Tensor::randn([4, 3], (Kind::Float, Device::Cpu));
//! let target = Tensor::from_slice(&[0i64, 2, 1, 1]);
//! let loss = FocalLoss::default().forward(&logits, &target);
//! assert!(loss.double_value(&[]) > 0.0);
//! ```

pub mod autograd;
mod body_panics;
pub mod checks;
mod config;
mod error;
pub mod fused;
mod gradcheck;
mod loss;
mod losses;
mod output;
mod reduction;

#[doc(hidden)]
pub mod __private;

pub use autograd::node::{Fused, IntoGradients, Upstream};
pub use autograd::state::StateInit;
pub use config::{registered_names, AnyLoss, LossConfig, Registration};
pub use error::{device_name, shorten, LossError};
pub use gradcheck::{gradcheck, gradcheck_function, GradcheckOptions, GradcheckReport};
pub use loss::{DynLoss, Loss, TensorArg};
pub use losses::*;
pub use output::{IntoLossOutput, LossOutput};
pub use reduction::{deserialize_among, ParseReductionError, Reduction};
