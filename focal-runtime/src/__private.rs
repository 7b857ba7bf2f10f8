//! What the code `#[loss]` generates refers to. Not public API: may change in any release.

pub use crate::output::IntoLossOutput;
pub use serde;
pub use tch;
