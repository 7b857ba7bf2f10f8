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
