use tch::Tensor;

use crate::LossError;

/// Checks that every tensor is on the device of the first one.
///
/// ```
/// use tch::{Device, Kind, Tensor};
/// let a = Tensor::zeros([2], (Kind::Float, Device::Cpu));
/// let b = Tensor::zeros([2], (Kind::Float, Device::Cpu));
/// focal_runtime::checks::same_device("MyLoss", &[("input", &a), ("target", &b)]).unwrap();
/// ```
pub fn same_device(
    loss: &'static str,
    tensors: &[(&'static str, &Tensor)],
) -> Result<(), LossError> {
    // Every loss passes here: the place that keeps libtorch_cuda linked into the binary.
    crate::autograd::keep_libtorch_cuda();
    let Some(((reference, first), rest)) = tensors.split_first() else {
        return Ok(());
    };
    let expected = first.device();
    for (arg, t) in rest {
        let found = t.device();
        if found != expected {
            return Err(LossError::DeviceMismatch {
                loss,
                arg,
                found,
                reference,
                expected,
            });
        }
    }
    Ok(())
}

/// Checks that `tensor` is one a loss can compute with: defined (not `Tensor::new()`, the
/// `.grad()` of a tensor without one), dense (not sparse, MKL-DNN, quantized or nested), and on
/// the CPU or a GPU (not the meta device). Every `#[loss]` runs it on each tensor argument first,
/// so that such a tensor is a typed error rather than a panic inside tch.
///
/// ```
/// use focal_runtime::{checks, LossError};
/// use tch::Tensor;
/// checks::usable("MyLoss", "input", &Tensor::from_slice(&[1.0f32])).unwrap();
/// let err = checks::usable("MyLoss", "target", &Tensor::new()).unwrap_err();
/// assert!(matches!(err, LossError::UnsupportedTensor { .. }));
/// assert_eq!(
///     err.to_string(),
///     "MyLoss: target should be a defined, dense tensor on the CPU or a GPU but is an undefined \
///      tensor (Tensor::new(), or the .grad() of a tensor that has none)"
/// );
/// ```
pub fn usable(loss: &'static str, arg: &'static str, tensor: &Tensor) -> Result<(), LossError> {
    let found = match crate::autograd::tensor_class(tensor) {
        0 => return Ok(()),
        1 => "an undefined tensor (Tensor::new(), or the .grad() of a tensor that has none)",
        2 => "a sparse tensor (call .to_dense() first)",
        3 => "an MKL-DNN tensor (call .to_dense() first)",
        4 => "a quantized tensor (call .dequantize() first)",
        5 => "a tensor on the meta device (it holds no values)",
        6 => "a nested tensor",
        7 => "on a device other than the CPU, CUDA, MPS or Vulkan",
        _ => "a tensor libtorch could not classify",
    };
    Err(LossError::UnsupportedTensor { loss, arg, found })
}
