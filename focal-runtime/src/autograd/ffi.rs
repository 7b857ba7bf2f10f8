//! The C++ shim's functions (`csrc/autograd_function.cpp`). Tensors are tch's raw tensor
//! pointers (`at::Tensor*`).

use std::ffi::{c_char, c_void};

use tch::Tensor;

/// A raw `at::Tensor*`, as tch holds it.
pub(crate) type RawTensor = torch_sys::C_tensor;

/// Rust's forward: `(state, forward_ctx, inputs, needs_grad, n_inputs, outputs, error) -> status`.
pub(crate) type ForwardFn = unsafe extern "C" fn(
    *mut c_void,
    *mut c_void,
    *const *const RawTensor,
    *const u8,
    usize,
    *mut c_void,
    *mut c_void,
) -> i32;

/// Rust's backward: `(state, backward_ctx, grad_outputs, n, saved, n_saved, grads, error) -> status`.
pub(crate) type BackwardFn = unsafe extern "C" fn(
    *mut c_void,
    *mut c_void,
    *const *const RawTensor,
    usize,
    *const *const RawTensor,
    usize,
    *mut c_void,
    *mut c_void,
) -> i32;

/// Drops the Rust state of a node.
pub(crate) type DropFn = unsafe extern "C" fn(*mut c_void);

extern "C" {
    pub(crate) fn focal_list_push(list: *mut c_void, tensor: *mut RawTensor) -> i32;
    pub(crate) fn focal_set_error(error: *mut c_void, message: *const c_char, len: usize);
    pub(crate) fn focal_forward_save(forward_ctx: *mut c_void, tensor: *const RawTensor) -> i32;
    pub(crate) fn focal_forward_mark_non_differentiable(
        forward_ctx: *mut c_void,
        tensor: *const RawTensor,
    ) -> i32;
    pub(crate) fn focal_backward_needs_input_grad(backward_ctx: *mut c_void, index: usize) -> i32;
    pub(crate) fn focal_backward_keep_graph() -> i32;
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn focal_function_apply(
        state: *mut c_void,
        forward: ForwardFn,
        backward: BackwardFn,
        drop: DropFn,
        differentiable_backward: i32,
        name: *const c_char,
        name_len: usize,
        inputs: *const *const RawTensor,
        n_inputs: usize,
        push_output: unsafe extern "C" fn(*mut c_void, *mut RawTensor),
        sink: *mut c_void,
        error_out: *mut *mut c_char,
    ) -> i32;
    pub(crate) fn focal_free_string(s: *mut c_char);
    pub(crate) fn focal_grad_mode_enabled() -> i32;
    pub(crate) fn focal_tensor_class(tensor: *const RawTensor) -> i32;
}

/// Hands `tensor` to a C++ list: the list takes its `at::Tensor` and frees the pointer. `false`
/// where the list could not grow (the tensor is freed all the same).
///
/// # Safety
/// `list` is a `variable_list*` that the shim passed to the running callback.
pub(crate) unsafe fn push_owned(list: *mut c_void, tensor: Option<Tensor>) -> bool {
    let raw = match tensor {
        // tch frees its pointer on drop; C++ deletes it instead, so Rust must not.
        Some(t) => std::mem::ManuallyDrop::new(t).as_mut_ptr(),
        None => std::ptr::null_mut(),
    };
    // SAFETY: `list` is live for the callback (the caller's contract); `raw` is null or a pointer
    // allocated by tch's C++ side with `new at::Tensor` that no Rust value owns any more (the
    // `ManuallyDrop` above gave it up), so the shim's `delete` is its only free.
    unsafe { focal_list_push(list, raw) == 0 }
}

/// A tensor sharing the `at::Tensor` behind a borrowed raw pointer (a new reference to the same
/// storage, no copy).
///
/// # Safety
/// `raw` points to a live `at::Tensor` for the duration of the call.
pub(crate) unsafe fn borrowed(raw: *const RawTensor) -> Tensor {
    // SAFETY: `raw` is live (the caller's contract). `from_ptr` would own it, so the handle is
    // wrapped in `ManuallyDrop` and never dropped: the C++ side keeps the only ownership, and
    // `shallow_clone` makes a new `at::Tensor` (a new reference to the same TensorImpl) that the
    // returned `Tensor` owns and frees.
    let view = std::mem::ManuallyDrop::new(unsafe { Tensor::from_ptr(raw as *mut RawTensor) });
    view.shallow_clone()
}

/// Writes `message` as a callback's error.
///
/// # Safety
/// `error` is the `std::string*` that the shim passed to the running callback.
pub(crate) unsafe fn set_error(error: *mut c_void, message: &str) {
    // SAFETY: `error` is live for the callback (the caller's contract); `message` is read for
    // `len` bytes during the call and copied; the shim catches every C++ exception there.
    unsafe { focal_set_error(error, message.as_ptr().cast(), message.len()) }
}
