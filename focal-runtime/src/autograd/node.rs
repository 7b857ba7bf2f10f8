//! The autograd nodes `#[loss]` records: a fused kernel's gradient buffer handed to autograd,
//! and a hand-written backward (`#[loss(backward = f)]`) run in the backward pass.

use tch::{Device, Tensor};

use super::function::{apply, BackwardContext, ForwardContext, Function, FunctionError};
use crate::LossError;

/// What a fused forward+backward kernel returns: the loss (reduced, or one value per element or
/// position for `Reduction::None`) and, when asked for, its gradient with respect to the input.
///
/// ```
/// use focal_runtime::{Fused, Upstream};
/// use tch::Tensor;
/// let fused = Fused::new(Tensor::from(1.5f64), Some(Tensor::from_slice(&[2.0f64, 4.0])))
///     .with_grad_scale(0.5);
/// assert_eq!(fused.grad_scale, 0.5);
/// assert_eq!(fused.upstream, Upstream::Broadcast);
/// ```
pub struct Fused {
    /// The loss: reduced, or unreduced (see [`Fused::upstream`]).
    pub value: Tensor,
    /// The input's gradient divided by `grad_scale`, present when the kernel was asked for it:
    /// `d value / d input` for a reduced value; for an unreduced one, the derivative of each
    /// value with respect to the input elements it depends on (the elementwise derivative for
    /// [`Upstream::Broadcast`], each position's derivative along dim 1 for
    /// [`Upstream::PerPosition`]), which the backward pass multiplies by the upstream gradient.
    pub grad: Option<Tensor>,
    /// The factor `grad` still needs (1 unless the kernel wrote the gradient before it knew its
    /// normaliser, as a weighted mean's): applied to the scalar in the backward pass, not to
    /// every element.
    pub grad_scale: f64,
    /// How the upstream gradient (the gradient of `value`) meets `grad`.
    pub upstream: Upstream,
    /// A gradient computed in the backward pass instead ([`Fused::with_backward`]).
    deferred: Option<Deferred>,
}

/// What [`Fused::with_backward`] keeps: the tensors to save besides the input, and the backward
/// function (the input's gradient from the upstream gradient and the saved tensors, the input
/// first).
struct Deferred {
    saved: Vec<Tensor>,
    backward: Box<InputGradient>,
}

/// The backward function of [`Fused::with_backward`].
type InputGradient = dyn FnMut(&Tensor, &[Tensor]) -> Result<Tensor, LossError> + Send + 'static;

impl std::fmt::Debug for Fused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fused")
            .field("value", &self.value)
            .field("grad", &self.grad)
            .field("grad_scale", &self.grad_scale)
            .field("upstream", &self.upstream)
            .field("deferred", &self.deferred.is_some())
            .finish()
    }
}

/// How a fused kernel's gradient buffer meets the upstream gradient in the backward pass.
///
/// ```
/// use focal_runtime::{Fused, Upstream};
/// use tch::Tensor;
/// // Per-position losses of (N, C) = (1, 2) logits: one value, its gradient along the classes.
/// let fused = Fused::new(Tensor::from_slice(&[0.3f64]), Some(Tensor::from_slice(&[-0.4f64, 0.4]).view([1, 2])))
///     .with_upstream(Upstream::PerPosition);
/// assert_eq!(fused.upstream, Upstream::PerPosition);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Upstream {
    /// `grad * upstream` as the two broadcast: a scalar (a reduced value) or a value of the
    /// input's shape (elementwise losses). A scalar upstream gradient on the CPU is read and
    /// scales the buffer (not at all at 1), so `loss.backward()` hands the buffer over as it is.
    #[default]
    Broadcast,
    /// The value holds one loss per position of `(N, C, *)` logits, shaped `(N, *)`: the upstream
    /// gradient is broadcast along the class dim 1.
    PerPosition,
}

impl Fused {
    /// A value and its gradient (`None` where none was asked for), meeting the upstream gradient
    /// as [`Upstream::Broadcast`].
    pub fn new(value: Tensor, grad: Option<Tensor>) -> Self {
        Fused {
            value,
            grad,
            grad_scale: 1.0,
            upstream: Upstream::Broadcast,
            deferred: None,
        }
    }

    /// A value whose gradient is computed in the backward pass, where the upstream gradient is
    /// known: `backward(upstream, saved)` returns the input's gradient (of the input's shape),
    /// `saved` holding the input and then `also_saved` (a target the backward pass reads). For a
    /// kernel whose unreduced values mix the input in a way a buffer times the upstream gradient
    /// cannot express (the Dice losses' per-`(n, c)` values under the softmax). The node saves
    /// them all (an in-place change to one before the backward pass is an error, as for any
    /// saved tensor); `backward` runs once per backward pass, never when none runs, and an error
    /// it returns fails that backward pass.
    ///
    /// ```
    /// use focal_runtime::Fused;
    /// use tch::Tensor;
    /// // sum(w x^2) per row of a (2, 3) input: 2 w x scaled by each row's upstream gradient.
    /// let w = Tensor::from_slice(&[1.0f64, 2.0, 3.0]);
    /// let fused = Fused::with_backward(Tensor::from_slice(&[5.0f64, 25.0]), &[&w], |upstream, saved| {
    ///     Ok(&saved[0] * &saved[1] * 2.0 * upstream.unsqueeze(1))
    /// });
    /// assert!(fused.grad.is_none());
    /// ```
    pub fn with_backward<B>(value: Tensor, also_saved: &[&Tensor], backward: B) -> Self
    where
        B: FnMut(&Tensor, &[Tensor]) -> Result<Tensor, LossError> + Send + 'static,
    {
        Fused {
            deferred: Some(Deferred {
                saved: also_saved.iter().map(|t| t.shallow_clone()).collect(),
                backward: Box::new(backward),
            }),
            ..Fused::new(value, None)
        }
    }

    /// The same, with `grad` to be multiplied by `scale`.
    #[must_use]
    pub fn with_grad_scale(mut self, scale: f64) -> Self {
        self.grad_scale = scale;
        self
    }

    /// The same, meeting the upstream gradient as `upstream` says.
    #[must_use]
    pub fn with_upstream(mut self, upstream: Upstream) -> Self {
        self.upstream = upstream;
        self
    }
}

/// The node of a fused kernel: the kernel's value as output, its gradient buffer (times the
/// upstream gradient and `scale`) as the input's gradient.
struct KernelGradient {
    loss: &'static str,
    value: Option<Tensor>,
    grad: Option<Tensor>,
    scale: f64,
    upstream: Upstream,
}

impl Function for KernelGradient {
    fn name(&self) -> String {
        self.loss.to_owned()
    }

    fn forward(
        &mut self,
        _: &mut ForwardContext<'_>,
        _: &[Tensor],
    ) -> Result<Vec<Tensor>, FunctionError> {
        Ok(vec![self
            .value
            .take()
            .ok_or("the value was already taken")?])
    }

    fn backward(
        &mut self,
        ctx: &mut BackwardContext<'_>,
        grad_outputs: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, FunctionError> {
        if !ctx.needs_input_grad(0) {
            return Ok(vec![None]);
        }
        let upstream = grad_outputs.first().ok_or("no upstream gradient")?;
        // A scalar upstream gradient on the CPU is read: at 1 (a plain `loss.backward()`) the
        // buffer is the gradient as it is. So is one value broadcast to every element (strides
        // 0: `loss.sum().backward()` on unreduced losses).
        let factor = if upstream.device() == Device::Cpu
            && upstream.numel() > 0
            && (upstream.numel() == 1 || upstream.stride().iter().all(|&s| s == 0))
        {
            let origin = vec![0i64; upstream.dim()];
            Some(upstream.f_double_value(&origin)? * self.scale)
        } else {
            None
        };
        // Per-position losses: the upstream gradient broadcast along the class dim.
        let upstream = &if self.upstream == Upstream::PerPosition && factor.is_none() {
            upstream.f_unsqueeze(1)?
        } else {
            upstream.shallow_clone()
        };
        if ctx.keep_graph() {
            // The node may run again: the buffer stays, the gradient is a product (or, at 1, the
            // buffer itself, which autograd copies as it is still referenced here).
            let grad = self.grad.as_ref().ok_or(RETAIN)?;
            return Ok(vec![Some(match factor {
                Some(1.0) => grad.shallow_clone(),
                Some(f) => grad.f_mul_scalar(f)?,
                None => grad.f_mul(upstream)?.f_mul_scalar(self.scale)?,
            })]);
        }
        // The last use: the buffer is handed over (autograd makes it `x.grad` without a copy),
        // scaled in place where needed.
        let mut grad = self.grad.take().ok_or(RETAIN)?;
        match factor {
            Some(1.0) => {}
            Some(f) => {
                let _ = grad.f_mul_scalar_(f)?;
            }
            None => {
                let _ = grad.f_mul_(upstream)?;
                if self.scale != 1.0 {
                    let _ = grad.f_mul_scalar_(self.scale)?;
                }
            }
        }
        Ok(vec![Some(grad)])
    }
}

thread_local! {
    static LAST_KERNEL_GRADIENT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// While `capture_kernel` runs: where the kernel's result goes instead of a node.
    static CAPTURED: std::cell::RefCell<Option<Option<Fused>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with fused kernels returning their value without a node, and returns what the last
/// kernel computed (value and gradient), for the benchmark's comparison with other ways of
/// registering the gradient.
pub(crate) fn capture_kernel<T>(f: impl FnOnce() -> T) -> (T, Option<Fused>) {
    /// Ends the capture also if `f` panics, so that later calls record nodes again.
    struct EndCapture;
    impl Drop for EndCapture {
        fn drop(&mut self) {
            CAPTURED.with(|c| c.borrow_mut().take());
        }
    }
    CAPTURED.with(|c| *c.borrow_mut() = Some(None));
    let end = EndCapture;
    let out = f();
    let fused = CAPTURED.with(|c| c.borrow_mut().take()).flatten();
    drop(end);
    (out, fused)
}

/// The data pointer of the last gradient buffer handed to a node on this thread.
pub(crate) fn last_kernel_gradient() -> usize {
    LAST_KERNEL_GRADIENT.with(std::cell::Cell::get)
}

const RETAIN: &str = "the gradient was handed to an earlier backward pass; \
                      pass retain_graph = true to run backward twice";

/// `Ok` where a kernel's gradient `grad` has the shape of `input`.
fn input_shaped(loss: &'static str, grad: &Tensor, input: &Tensor) -> Result<(), LossError> {
    if grad.size() == input.size() {
        return Ok(());
    }
    Err(LossError::ShapeMismatch {
        loss,
        arg: "gradient",
        expected: format!("should have the input's shape, {:?}", input.size()),
        found: grad.size(),
    })
}

/// The loss value computed by a fused kernel, as a tensor whose autograd node hands the
/// kernel's gradient to `input` (where `needs_grad`; otherwise the value as it is).
pub(crate) fn kernel_output(
    loss: &'static str,
    fused: Fused,
    input: &Tensor,
    needs_grad: bool,
) -> Result<Option<Tensor>, LossError> {
    if CAPTURED.with(|c| c.borrow().is_some()) {
        let value = fused.value.shallow_clone();
        CAPTURED.with(|c| *c.borrow_mut() = Some(Some(fused)));
        return Ok(Some(value));
    }
    if let (true, Some(deferred)) = (needs_grad, fused.deferred) {
        // A hand-written backward whose first tensor, the input, alone gets a gradient.
        let Deferred {
            saved,
            backward: mut input_grad,
        } = deferred;
        let count = saved.len() + 1;
        let backward = move |upstream: &Tensor, saved: &[Tensor]| {
            let input = saved.first().ok_or_else(|| {
                LossError::from(tch::TchError::Torch("the input was not saved".into()))
            })?;
            let grad = input_grad(upstream, saved)?;
            input_shaped(loss, &grad, input)?;
            let mut grads = vec![Some(grad)];
            grads.resize_with(count, || None);
            Ok(grads)
        };
        let tensors: Vec<&Tensor> = std::iter::once(input).chain(&saved).collect();
        return hand_written_output(loss, fused.value, &tensors, backward).map(Some);
    }
    match (needs_grad, fused.grad) {
        (false, _) => Ok(Some(fused.value)),
        (true, None) => Ok(None),
        (true, Some(grad)) => {
            input_shaped(loss, &grad, input)?;
            if fused.upstream == Upstream::PerPosition {
                let positions: Vec<i64> = input
                    .size()
                    .iter()
                    .enumerate()
                    .filter_map(|(d, &n)| (d != 1).then_some(n))
                    .collect();
                if input.dim() < 2 || fused.value.size() != positions {
                    return Err(LossError::ShapeMismatch {
                        loss,
                        arg: "per-position loss",
                        expected: format!(
                            "should be the input's shape {:?} without dim 1",
                            input.size()
                        ),
                        found: fused.value.size(),
                    });
                }
            }
            LAST_KERNEL_GRADIENT.with(|p| p.set(grad.data_ptr() as usize));
            let node = KernelGradient {
                loss,
                value: Some(fused.value),
                grad: Some(grad),
                scale: fused.grad_scale,
                upstream: fused.upstream,
            };
            Ok(apply(node, &[input])
                .map_err(|e| LossError::from(e).in_loss(loss))?
                .into_iter()
                .next())
        }
    }
}

/// What a `#[loss(backward = ...)]` function may return: the input's gradient alone (`Tensor`),
/// one entry per differentiable tensor (`Vec<Option<Tensor>>`: the call-time tensors in order,
/// then the `#[param]`s and `#[buffer]`s), or a `Result` of either.
pub trait IntoGradients {
    /// The gradients, `count` entries, or the function's error.
    fn into_gradients(self, count: usize) -> Result<Vec<Option<Tensor>>, LossError>;
}

impl IntoGradients for Tensor {
    fn into_gradients(self, count: usize) -> Result<Vec<Option<Tensor>>, LossError> {
        let mut grads = vec![Some(self)];
        grads.resize_with(count.max(1), || None);
        Ok(grads)
    }
}

impl IntoGradients for Vec<Option<Tensor>> {
    fn into_gradients(self, count: usize) -> Result<Vec<Option<Tensor>>, LossError> {
        if self.len() != count {
            return Err(LossError::from(tch::TchError::Torch(format!(
                "the backward function returned {} gradients for {count} differentiable tensors \
                 (the call-time tensors in order, then the loss's own tensors)",
                self.len()
            ))));
        }
        Ok(self)
    }
}

impl<T: IntoGradients> IntoGradients for Result<T, LossError> {
    fn into_gradients(self, count: usize) -> Result<Vec<Option<Tensor>>, LossError> {
        self.and_then(|g| g.into_gradients(count))
    }
}

/// The node of a hand-written backward: the composed value as output; the tensors saved; the
/// backward function called in the backward pass with the upstream gradient and the saved
/// tensors.
struct HandWritten<B> {
    loss: &'static str,
    value: Option<Tensor>,
    backward: B,
}

impl<B> Function for HandWritten<B>
where
    B: FnMut(&Tensor, &[Tensor]) -> Result<Vec<Option<Tensor>>, LossError> + Send + 'static,
{
    fn name(&self) -> String {
        self.loss.to_owned()
    }

    fn forward(
        &mut self,
        ctx: &mut ForwardContext<'_>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, FunctionError> {
        let refs: Vec<&Tensor> = inputs.iter().collect();
        ctx.save_for_backward(&refs);
        Ok(vec![self
            .value
            .take()
            .ok_or("the value was already taken")?])
    }

    fn backward(
        &mut self,
        ctx: &mut BackwardContext<'_>,
        grad_outputs: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, FunctionError> {
        let mut grads = (self.backward)(&grad_outputs[0], ctx.saved_tensors())?;
        for (i, g) in grads.iter_mut().enumerate() {
            if !ctx.needs_input_grad(i) {
                *g = None;
            }
        }
        Ok(grads)
    }
}

/// The loss `value` (computed without autograd) as a tensor whose backward pass calls
/// `backward(upstream, tensors)` for the gradients of `tensors`.
pub(crate) fn hand_written_output<B>(
    loss: &'static str,
    value: Tensor,
    tensors: &[&Tensor],
    backward: B,
) -> Result<Tensor, LossError>
where
    B: FnMut(&Tensor, &[Tensor]) -> Result<Vec<Option<Tensor>>, LossError> + Send + 'static,
{
    let node = HandWritten {
        loss,
        value: Some(value),
        backward,
    };
    let mut outputs = apply(node, tensors).map_err(|e| LossError::from(e).in_loss(loss))?;
    Ok(outputs.remove(0))
}
