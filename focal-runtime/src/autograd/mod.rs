//! Autograd beyond what tch offers: custom functions with a hand-written backward
//! ([`Function`], [`apply`]), recorded as real libtorch autograd nodes through focal's C++ shim,
//! and a direct query of grad mode ([`is_grad_enabled`]).
//!
//! `#[loss(backward = f)]` and `#[loss(fused = k)]` are built on the same nodes; see
//! `docs/autograd.md` for how it all fits together.

mod ffi;
mod function;
pub(crate) mod node;
pub(crate) mod state;

pub use function::{
    apply, is_grad_enabled, BackwardContext, ForwardContext, Function, FunctionError,
};

/// Keeps `libtorch_cuda` linked into every binary that uses focal: a reference to the shim
/// function that references it (see `csrc/autograd_function.cpp`). Costs nothing at run time.
#[inline]
pub(crate) fn keep_libtorch_cuda() {
    std::hint::black_box(ffi::focal_grad_mode_enabled as unsafe extern "C" fn() -> i32);
}

/// libtorch's classification of a tensor for `checks::usable` (see `focal_tensor_class`).
pub(crate) fn tensor_class(tensor: &tch::Tensor) -> i32 {
    // SAFETY: `tensor` is a live tensor; the shim only reads it and catches every exception.
    unsafe { ffi::focal_tensor_class(tensor.as_ptr()) }
}
