//! Input checks that run before a loss body, each failing with a [`LossError`](crate::LossError)
//! rather than a libtorch exception. The `#[loss]` macro calls them; hand-written losses may too.

mod device;
mod dtype;
mod hyper;
mod shape;
mod values;

pub use device::{same_device, usable};
pub use dtype::{dtype, DTypes};
pub use hyper::{hyper_check, hyper_in_range, InRange};
pub use shape::{broadcastable_to, per_sample, rank, same_shape, shape_of};
pub use values::{binary_values, class_indices, values_in_unit_interval};
