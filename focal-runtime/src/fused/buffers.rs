//! The kernels' output buffers (the gradient, and the per-position losses of `Reduction::None`):
//! large ones are recycled. Once libtorch frees such a tensor (a training step drops the previous
//! step's gradient), its memory is kept, and the next buffer of the same size reuses it, already
//! mapped, instead of a fresh allocation (the C++ shim's `csrc/recycled_buffers.cpp`).
//!
//! A buffer of tens of megabytes is above glibc's `mmap` threshold, so a fresh one is a new mapping
//! whose every page faults when the kernel first writes it: at `2 x 4 x 128^3` float32 (64 MiB),
//! 16,384 faults, which took longer than the kernel's pass itself on the development machine.
//! At most [`DEFAULT_MAX_BUFFERS`] buffers and [`DEFAULT_MAX_BYTES`] are kept (the oldest go
//! first); [`set_kept_buffer_limits`] changes that (0 keeps none) and [`release_kept_buffers`]
//! frees them now.
//!
//! ```
//! use focal_runtime::{fused, Loss, SoftmaxFocalLoss};
//! use tch::{Device, Kind, Tensor};
//! let logits = Tensor::randn([2, 4, 64, 64, 16], (Kind::Float, Device::Cpu)).set_requires_grad(true);
//! let target = Tensor::randint(4, [2, 64, 64, 16], (Kind::Int64, Device::Cpu));
//! SoftmaxFocalLoss::default().forward(&logits, &target).backward();
//! drop(logits); // the gradient (2 MiB) is freed, and its memory kept for the next call
//! assert!(fused::kept_buffers().bytes >= 2 << 20);
//! fused::release_kept_buffers();
//! assert_eq!(fused::kept_buffers().bytes, 0);
//! ```

use std::ffi::c_char;

use tch::{Device, Kind, Tensor};

use super::math::Real;
use crate::LossError;

/// Buffers of at least this many bytes are recycled; smaller ones come from libtorch's allocator
/// as any tensor (glibc serves them from its heap, whose pages stay mapped after a free).
const RECYCLED_FROM_BYTES: usize = 1 << 20;

/// How many freed buffers are kept at most, unless [`set_kept_buffer_limits`] says otherwise.
pub const DEFAULT_MAX_BUFFERS: usize = 4;

/// How many bytes the kept buffers hold at most, unless [`set_kept_buffer_limits`] says
/// otherwise (1 GiB).
pub const DEFAULT_MAX_BYTES: usize = 1 << 30;

extern "C" {
    fn focal_recycled_empty(
        sizes: *const i64,
        ndim: usize,
        dtype: i32,
        out: *mut *mut torch_sys::C_tensor,
        error_out: *mut *mut c_char,
    ) -> i32;
    fn focal_recycled_release() -> usize;
    fn focal_recycled_set_limits(max_buffers: usize, max_bytes: usize) -> i32;
    fn focal_recycled_kept(bytes: *mut usize, count: *mut usize) -> i32;
    fn focal_free_string(s: *mut c_char);
}

/// An uninitialised contiguous CPU tensor of `shape` and dtype `R::KIND`, for a kernel to write
/// every element of: a recycled buffer where it is large, else `Tensor::empty`.
pub(crate) fn empty<R: Real>(shape: &[i64]) -> Result<Tensor, LossError> {
    let dtype = match R::KIND {
        Kind::Float => 0,
        Kind::Double => 1,
        _ => return Ok(Tensor::f_empty(shape, (R::KIND, Device::Cpu))?),
    };
    let elements = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?));
    let large = elements
        .and_then(|n| n.checked_mul(std::mem::size_of::<R>()))
        .is_some_and(|bytes| bytes >= RECYCLED_FROM_BYTES);
    if !large {
        return Ok(Tensor::f_empty(shape, (R::KIND, Device::Cpu))?);
    }
    let mut out: *mut torch_sys::C_tensor = std::ptr::null_mut();
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: `shape` is read for `len` sizes during the call; `out` and `error` are valid
    // places for the shim to write one pointer each; the shim catches every C++ exception.
    let status =
        unsafe { focal_recycled_empty(shape.as_ptr(), shape.len(), dtype, &mut out, &mut error) };
    if status != 0 || out.is_null() {
        let message = if error.is_null() {
            "the shim could not make a buffer".to_owned()
        } else {
            // SAFETY: on failure the shim wrote a `strdup`ed, NUL-terminated message, freed
            // here once (by `focal_free_string`, the shim's `free`) after it is copied.
            unsafe {
                let m = std::ffi::CStr::from_ptr(error)
                    .to_string_lossy()
                    .into_owned();
                focal_free_string(error);
                m
            }
        };
        return Err(LossError::from(tch::TchError::Torch(message)));
    }
    // SAFETY: on success `out` is a fresh `new at::Tensor` that nothing else owns; tch's
    // `Tensor` takes it and frees it (`at_free`: `delete`) on drop.
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// The freed buffers kept for reuse now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeptBuffers {
    /// How many.
    pub count: usize,
    /// Their bytes in all.
    pub bytes: usize,
}

/// The freed output buffers kept for the next calls: a kernel's gradient (or `Reduction::None`
/// losses) of at least 1 MiB, once libtorch frees it, is kept for the next buffer of the same
/// size, whose pages are then already mapped (a fresh one above glibc's `mmap` threshold faults
/// on every page as the kernel first writes it).
///
/// ```
/// let kept = focal_runtime::fused::kept_buffers();
/// assert!(kept.count <= focal_runtime::fused::DEFAULT_MAX_BUFFERS);
/// ```
pub fn kept_buffers() -> KeptBuffers {
    let (mut bytes, mut count) = (0usize, 0usize);
    // SAFETY: the shim writes one `size_t` through each pointer, catching every exception.
    if unsafe { focal_recycled_kept(&mut bytes, &mut count) } != 0 {
        return KeptBuffers::default();
    }
    KeptBuffers { count, bytes }
}

/// Frees every kept buffer now (their memory goes back to the C allocator); returns the bytes
/// freed. Buffers still in use by tensors are not affected.
///
/// ```
/// focal_runtime::fused::release_kept_buffers();
/// assert_eq!(focal_runtime::fused::kept_buffers().count, 0);
/// ```
pub fn release_kept_buffers() -> usize {
    // SAFETY: no arguments; the shim catches every exception.
    unsafe { focal_recycled_release() }
}

/// Keeps at most `max_buffers` freed buffers and `max_bytes` in all from now on (0 keeps none),
/// freeing the oldest kept ones beyond that now. The defaults are [`DEFAULT_MAX_BUFFERS`] and
/// [`DEFAULT_MAX_BYTES`].
///
/// ```
/// use focal_runtime::fused;
/// fused::set_kept_buffer_limits(0, 0).unwrap(); // every buffer is freed as before
/// assert_eq!(fused::kept_buffers().count, 0);
/// fused::set_kept_buffer_limits(fused::DEFAULT_MAX_BUFFERS, fused::DEFAULT_MAX_BYTES).unwrap();
/// ```
pub fn set_kept_buffer_limits(max_buffers: usize, max_bytes: usize) -> Result<(), LossError> {
    // SAFETY: plain values; the shim catches every exception.
    match unsafe { focal_recycled_set_limits(max_buffers, max_bytes) } {
        0 => Ok(()),
        _ => Err(LossError::from(tch::TchError::Torch(
            "could not set the kept buffers' limits".to_owned(),
        ))),
    }
}
