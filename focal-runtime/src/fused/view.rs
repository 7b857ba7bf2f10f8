//! Borrowing a tensor's memory as a slice, for the kernels: only contiguous CPU tensors of the
//! expected dtype, and only for as long as the tensor is borrowed.

use tch::{Device, Kind, Tensor};

use super::math::Real;
use crate::{LossError, Reduction};

/// Whether `t` is a contiguous CPU tensor of dtype `R::KIND`, whose memory is a `[R]`.
fn viewable<R: Real>(t: &Tensor) -> bool {
    t.device() == Device::Cpu && t.kind() == R::KIND && t.is_contiguous()
}

/// The elements of a contiguous CPU tensor of dtype `R::KIND`, or `None` for any other tensor.
pub(crate) fn floats<R: Real>(t: &Tensor) -> Option<&[R]> {
    if !viewable::<R>(t) {
        return None;
    }
    let len = t.numel();
    if len == 0 {
        return Some(&[]);
    }
    // SAFETY: a contiguous CPU tensor of dtype R holds `numel` elements of R from its data
    // pointer; the slice borrows `t`, which keeps the storage alive.
    Some(unsafe { std::slice::from_raw_parts(t.data_ptr() as *const R, len) })
}

/// Dense targets as the kernels read them: `target` itself where it has dtype `R` and is
/// contiguous, else a contiguous copy in `R` (`None` for a complex target, which the composed
/// path refuses).
pub(crate) fn dense_targets<R: Real>(target: &Tensor) -> Result<Option<Tensor>, LossError> {
    if target.kind() == R::KIND && target.is_contiguous() {
        Ok(Some(target.shallow_clone()))
    } else if matches!(target.kind(), Kind::ComplexFloat | Kind::ComplexDouble) {
        Ok(None)
    } else {
        Ok(Some(target.f_to_kind(R::KIND)?.f_contiguous()?))
    }
}

/// A fresh contiguous CPU tensor of dtype `R::KIND` that nothing else refers to: the kernels'
/// output buffer. Made only by [`FreshFloats::new`], it is lent to libtorch as `&Tensor` (to
/// write into, without keeping a handle), and to the kernels as a mutable slice while it is
/// borrowed mutably, and given up with [`FreshFloats::into_tensor`]. Owning the only handle is what
/// makes the slice the memory's only accessor.
pub(crate) struct FreshFloats<R> {
    tensor: Tensor,
    _elements: std::marker::PhantomData<R>,
}

impl<R: Real> FreshFloats<R> {
    /// An uninitialised buffer of `shape` (the kernel writes every element): a recycled one where
    /// it is large ([`super::buffers`]), from libtorch's CPU allocator functions like any tensor
    /// (`THP_MEM_ALLOC_ENABLE=1` has them back large buffers with transparent huge pages). The
    /// kernels do not ask for huge pages themselves: where a call's buffer landed on fresh memory,
    /// the huge pages' first touch took 95-280 ms a call at `2 x 4 x 128^3` on the development VM,
    /// against 46-70 ms with ordinary pages.
    pub(crate) fn new(shape: &[i64]) -> Result<Self, LossError> {
        Ok(FreshFloats {
            tensor: super::buffers::empty::<R>(shape)?,
            _elements: std::marker::PhantomData,
        })
    }

    /// The tensor, for libtorch to write into (callers keep no handle to it).
    pub(crate) fn tensor(&self) -> &Tensor {
        &self.tensor
    }

    /// Its elements, writable for as long as the buffer is borrowed (`None` if libtorch changed
    /// its dtype or layout).
    pub(crate) fn as_mut_slice(&mut self) -> Option<&mut [R]> {
        if !viewable::<R>(&self.tensor) {
            return None;
        }
        let len = self.tensor.numel();
        if len == 0 {
            return Some(&mut []);
        }
        // SAFETY: as in `floats`; this value holds the tensor's only handle (made here, lent
        // only as `&Tensor` to calls that keep none), and the exclusive borrow of `self` makes
        // the slice the memory's only accessor while it lives.
        Some(unsafe { std::slice::from_raw_parts_mut(self.tensor.data_ptr() as *mut R, len) })
    }

    /// The tensor, given up (for autograd, as the gradient).
    pub(crate) fn into_tensor(self) -> Tensor {
        self.tensor
    }
}

/// Class-index targets borrowed as one of the integer types a kernel reads directly.
pub(crate) enum Classes<'a> {
    I64(&'a [i64]),
    I32(&'a [i32]),
    U8(&'a [u8]),
}

impl Classes<'_> {
    /// How many targets.
    pub(crate) fn len(&self) -> usize {
        match self {
            Classes::I64(y) => y.len(),
            Classes::I32(y) => y.len(),
            Classes::U8(y) => y.len(),
        }
    }
}

/// Integer targets of a contiguous CPU tensor, or `None` for other dtypes and layouts.
pub(crate) fn classes(t: &Tensor) -> Option<Classes<'_>> {
    if t.device() != Device::Cpu || !t.is_contiguous() {
        return None;
    }
    let len = t.numel();
    let ptr = t.data_ptr();
    if len == 0 {
        return None;
    }
    // SAFETY: as in `floats`, for the tensor's own dtype.
    unsafe {
        match t.kind() {
            Kind::Int64 => Some(Classes::I64(std::slice::from_raw_parts(
                ptr as *const i64,
                len,
            ))),
            Kind::Int => Some(Classes::I32(std::slice::from_raw_parts(
                ptr as *const i32,
                len,
            ))),
            Kind::Uint8 => Some(Classes::U8(std::slice::from_raw_parts(
                ptr as *const u8,
                len,
            ))),
            _ => None,
        }
    }
}

/// An integer type class indices are stored in.
pub(crate) trait ClassIndex: Copy + Send + Sync {
    fn index(self) -> i64;
}
impl ClassIndex for i64 {
    #[inline(always)]
    fn index(self) -> i64 {
        self
    }
}
impl ClassIndex for i32 {
    #[inline(always)]
    fn index(self) -> i64 {
        self as i64
    }
}
impl ClassIndex for u8 {
    #[inline(always)]
    fn index(self) -> i64 {
        self as i64
    }
}

/// The scale of the gradient and of the sum for a reduction: `1 / divisor` for `Mean`, 1 for `Sum`.
pub(crate) fn reduction_scale(reduction: Reduction, divisor: f64) -> f64 {
    match reduction {
        Reduction::Mean => 1.0 / divisor,
        _ => 1.0,
    }
}

/// The reduced loss, `total * scale`, as a scalar tensor of dtype `R`; `total` is the sum of the
/// elementwise losses, accumulated in float64. Where that sum is beyond `R`'s range (float32), the
/// composed path, which sums in `R`, gives an infinite sum and an infinite mean: so does this.
pub(crate) fn reduced<R: Real>(total: f64, scale: f64) -> Result<Tensor, LossError> {
    let sum = R::of(total).to_f64();
    let value = if sum.is_infinite() && total.is_finite() {
        sum
    } else {
        total * scale
    };
    scalar::<R>(value)
}

/// A scalar tensor of dtype `R`, rounded to `R` here first: libtorch refuses a float64 beyond
/// float32's range (and tch 0.24 panics on that refusal).
fn scalar<R: Real>(value: f64) -> Result<Tensor, LossError> {
    Ok(Tensor::f_scalar_tensor(
        R::of(value).to_f64(),
        (R::KIND, Device::Cpu),
    )?)
}
