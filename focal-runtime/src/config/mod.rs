//! Building losses from configuration (JSON, TOML, YAML: any serde format): the built-ins as one
//! enum ([`LossConfig`]), and any loss by name, built-in or the user's ([`AnyLoss`], through the
//! registry that `#[loss(register)]` adds to).

mod builtin;
mod fields;
mod registry;

pub use builtin::LossConfig;
pub use registry::{registered_names, AnyLoss, Registration};
