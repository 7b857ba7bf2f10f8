//! Custom autograd functions: a forward and a hand-written backward, recorded as one node of
//! libtorch's autograd graph (`torch::autograd::Function`, through focal's C++ shim).

use std::ffi::{c_char, c_void, CStr};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, PoisonError};

use tch::{TchError, Tensor};

use super::ffi::{self, RawTensor};

/// What a [`Function`]'s `forward` or `backward` may fail with: any error (`TchError`,
/// [`LossError`](crate::LossError), a `String`...), reported to the caller as a `TchError`.
pub type FunctionError = Box<dyn std::error::Error + Send + Sync>;

/// A differentiable operation with a hand-written backward, as PyTorch's
/// `torch.autograd.Function`: [`apply`] runs `forward` once, and when an input needs a gradient,
/// records one node in the autograd graph whose backward pass calls `backward`.
///
/// `backward` may run on another thread than `forward` (autograd's device threads on CUDA), and
/// the function is dropped with the graph, wherever that happens: hence `Send + 'static`. Keep
/// tensors that `backward` needs through [`ForwardContext::save_for_backward`] rather than in
/// `self`: saved tensors are freed with the graph's buffers and checked for in-place changes, and
/// saving an output in `self` would keep the graph alive forever (a reference cycle).
///
/// A straight-through estimator: rounds in the forward pass, passes the gradient unchanged.
///
/// ```
/// use focal_runtime::autograd::{apply, BackwardContext, ForwardContext, Function, FunctionError};
/// use tch::Tensor;
///
/// struct StraightThroughRound;
///
/// impl Function for StraightThroughRound {
///     fn forward(&mut self, _: &mut ForwardContext<'_>, inputs: &[Tensor]) -> Result<Vec<Tensor>, FunctionError> {
///         Ok(vec![inputs[0].f_round()?])
///     }
///     fn backward(&mut self, _: &mut BackwardContext<'_>, grads: &[Tensor]) -> Result<Vec<Option<Tensor>>, FunctionError> {
///         Ok(vec![Some(grads[0].shallow_clone())])
///     }
/// }
///
/// let x = Tensor::from_slice(&[0.2f64, 1.7]).set_requires_grad(true);
/// let y = apply(StraightThroughRound, &[&x]).unwrap().remove(0);
/// assert_eq!(Vec::<f64>::try_from(&y).unwrap(), [0.0, 2.0]);
/// (y * 3.0).sum(tch::Kind::Double).backward();
/// assert_eq!(Vec::<f64>::try_from(x.grad()).unwrap(), [3.0, 3.0]);
/// ```
pub trait Function: Send + 'static {
    /// Whether `backward` is itself differentiable (it computes with tch operations that
    /// autograd records), so that a backward pass with `create_graph` can be differentiated
    /// again. When `false` (the default), `backward` runs without recording and its gradients
    /// carry an error node instead: differentiating them again fails with a message naming the
    /// function, as PyTorch's `once_differentiable` does.
    const DIFFERENTIABLE_BACKWARD: bool = false;

    /// The function's name in error messages (the type's name by default).
    fn name(&self) -> String {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base).to_owned()
    }

    /// Computes the outputs (at least one) from the inputs. Runs with grad mode off, on the
    /// caller's thread.
    fn forward(
        &mut self,
        ctx: &mut ForwardContext<'_>,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, FunctionError>;

    /// The gradients of the inputs (one entry per input, `None` for no gradient) from the
    /// gradients of the outputs (one per output; zeros for an output that received none).
    fn backward(
        &mut self,
        ctx: &mut BackwardContext<'_>,
        grad_outputs: &[Tensor],
    ) -> Result<Vec<Option<Tensor>>, FunctionError>;
}

/// What `forward` can tell the backward pass. Lives only during `forward`: it is made by the
/// shim's callback and lent to `forward` as `&mut`, so it cannot outlive the call, and it is not
/// `Send`, so it stays on the thread the shim called it on.
pub struct ForwardContext<'a> {
    /// The shim's `ForwardCtx` for the forward call in progress.
    raw: *mut c_void,
    needs_grad: &'a [u8],
    /// Set where the shim could not record a saved or non-differentiable tensor (out of
    /// memory): the forward call then fails.
    failed: bool,
    _thread: PhantomData<*mut ()>,
}

impl ForwardContext<'_> {
    /// Saves tensors (inputs, outputs or intermediates) for `backward`, which receives them, in
    /// the order saved, from [`BackwardContext::saved_tensors`].
    pub fn save_for_backward(&mut self, tensors: &[&Tensor]) {
        for t in tensors {
            // SAFETY: `raw` is the shim's `ForwardCtx`, live while this context is (see the
            // type); `t` is live for the call, and the shim copies the `at::Tensor` (a new
            // reference) rather than keeping the pointer.
            self.failed |= unsafe { ffi::focal_forward_save(self.raw, t.as_ptr()) } != 0;
        }
    }

    /// Marks an output (the tensor returned from `forward`) as not differentiable: it never
    /// requires grad, and its gradient in `backward` is always zeros.
    pub fn mark_non_differentiable(&mut self, output: &Tensor) {
        // SAFETY: as in `save_for_backward`: a live context, a live tensor, copied by the shim.
        self.failed |=
            unsafe { ffi::focal_forward_mark_non_differentiable(self.raw, output.as_ptr()) } != 0;
    }

    /// Whether input `index` requires a gradient (and grad mode was on at the call): where it
    /// does not, `forward` can skip work only the gradient needs.
    pub fn needs_input_grad(&self, index: usize) -> bool {
        self.needs_grad.get(index).is_some_and(|&b| b != 0)
    }
}

/// What `backward` can read. Lives only during `backward`: made by the shim's callback and lent
/// to `backward` as `&mut`, so it cannot outlive the call, and not `Send`, so it stays on the
/// thread autograd runs the node on.
pub struct BackwardContext<'a> {
    /// libtorch's `AutogradContext` of the node being run.
    raw: *mut c_void,
    saved: &'a [Tensor],
    _thread: PhantomData<*mut ()>,
}

impl BackwardContext<'_> {
    /// The tensors saved by [`ForwardContext::save_for_backward`], in order.
    pub fn saved_tensors(&self) -> &[Tensor] {
        self.saved
    }

    /// Whether this backward pass needs input `index`'s gradient (it may not, when
    /// `Tensor::run_backward` asks only for some inputs); a `None` there saves the work.
    pub fn needs_input_grad(&self, index: usize) -> bool {
        // SAFETY: `raw` is the node's `AutogradContext`, live while this context is (see the
        // type); the shim only reads it and catches every exception (an index out of range
        // answers -1).
        unsafe { ffi::focal_backward_needs_input_grad(self.raw, index) == 1 }
    }

    /// Whether this backward pass keeps the graph (`retain_graph`), so that this node may run
    /// again: a gradient buffer the function owns can be handed over (moved) only when not.
    pub fn keep_graph(&self) -> bool {
        // SAFETY: no pointer crosses: the shim reads the current thread's graph task, catching
        // every exception.
        unsafe { ffi::focal_backward_keep_graph() != 0 }
    }
}

/// The Rust state of one node: the function, and how many inputs it has.
struct Node<F> {
    function: Mutex<F>,
    inputs: usize,
}

/// Runs `function` on `inputs` and returns its outputs; where an input requires grad (and grad
/// mode is on), the outputs carry one autograd node whose backward pass calls
/// `function.backward`. Where none does, no node is recorded and the function is dropped before
/// this returns.
///
/// Errors (and panics) of `forward` are returned here; those of `backward` come back from the
/// backward call (`Tensor::f_backward`, `Tensor::f_run_backward`) as `TchError::Torch` with the
/// message `"<name> backward: <error>"`. Nothing unwinds through libtorch.
pub fn apply<F: Function>(function: F, inputs: &[&Tensor]) -> Result<Vec<Tensor>, TchError> {
    let name = function.name();
    if let Some(i) = inputs.iter().position(|t| !t.defined()) {
        return Err(TchError::Torch(format!(
            "{name}: input {i} is an undefined tensor"
        )));
    }
    let state = Box::into_raw(Box::new(Node {
        function: Mutex::new(function),
        inputs: inputs.len(),
    }));
    let raw_inputs: Vec<*const RawTensor> = inputs.iter().map(|t| t.as_ptr()).collect();
    let mut outputs = Outputs::default();
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: the shim takes ownership of `state` (freed exactly once through `drop_node::<F>`,
    // when the node or, without a node, the call ends), reads the `inputs.len()` tensors, which
    // `inputs` keeps alive for the call, copies `name`, and pushes owned output pointers into
    // `outputs` through `push_output` before returning; nothing keeps `outputs` or `error`'s
    // address after the call.
    let status = unsafe {
        ffi::focal_function_apply(
            state.cast(),
            forward_node::<F>,
            backward_node::<F>,
            drop_node::<F>,
            i32::from(F::DIFFERENTIABLE_BACKWARD),
            name.as_ptr().cast(),
            name.len(),
            raw_inputs.as_ptr(),
            raw_inputs.len(),
            push_output,
            (&mut outputs as *mut Outputs).cast(),
            &mut error,
        )
    };
    if status == 0 {
        if outputs.failed {
            return Err(TchError::Torch(format!(
                "{name}: out of memory receiving its outputs"
            )));
        }
        return Ok(outputs.tensors);
    }
    if error.is_null() {
        // `strdup` itself failed.
        return Err(TchError::Torch(format!("{name}: out of memory")));
    }
    // SAFETY: on failure the shim set `error` to a NUL-terminated string allocated with
    // `strdup`, which this reads once and then frees with the shim's `free`.
    let message = unsafe {
        let m = CStr::from_ptr(error).to_string_lossy().into_owned();
        ffi::focal_free_string(error);
        m
    };
    Err(TchError::Torch(message))
}

/// Where the shim hands `apply` its outputs.
#[derive(Default)]
struct Outputs {
    tensors: Vec<Tensor>,
    /// An output could not be stored (out of memory).
    failed: bool,
}

unsafe extern "C" fn push_output(sink: *mut c_void, tensor: *mut RawTensor) {
    // SAFETY: `sink` is the `Outputs` of the `apply` call in progress (nothing else refers to it
    // during the call); `tensor` is a fresh `new at::Tensor` that the shim hands over, so the
    // `Tensor` made here is its only owner.
    let (sink, tensor) = unsafe { (&mut *sink.cast::<Outputs>(), Tensor::from_ptr(tensor)) };
    // `try_reserve` and then `push`: nothing here can panic, so nothing unwinds into C++.
    if sink.tensors.try_reserve(1).is_ok() {
        sink.tensors.push(tensor);
    } else {
        sink.failed = true;
    }
}

/// The text of an error, without libtorch's C++ frames.
pub(crate) fn message(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    match text.find("\nException raised from") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
    format!("panicked: {text}")
}

/// Runs a callback body, turning its error or panic into an error message for the shim.
///
/// # Safety
/// `error` is the `std::string*` the shim passed to the running callback.
unsafe fn guarded(error: *mut c_void, body: impl FnOnce() -> Result<(), FunctionError>) -> i32 {
    // The error's text is made inside `catch_unwind` too: a `Display` may panic.
    let text = match catch_unwind(AssertUnwindSafe(|| body().map_err(|e| message(&e)))) {
        Ok(Ok(())) => return 0,
        Ok(Err(text)) => text,
        Err(payload) => panic_message(payload.as_ref()),
    };
    // SAFETY: `error` is live for the callback (the caller's contract).
    unsafe { ffi::set_error(error, &text) };
    1
}

/// `n` elements at `p` (C++'s `vector::data()`, which may be null when empty).
///
/// # Safety
/// Where `n > 0`, `p` points to `n` live elements for the returned lifetime.
unsafe fn raw_slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if n == 0 {
        &[]
    } else {
        // SAFETY: by the caller's contract.
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

unsafe extern "C" fn forward_node<F: Function>(
    state: *mut c_void,
    ctx: *mut c_void,
    inputs: *const *const RawTensor,
    needs_grad: *const u8,
    n_inputs: usize,
    outputs: *mut c_void,
    error: *mut c_void,
) -> i32 {
    let body = || {
        // SAFETY: the shim passes the `Node<F>` that `apply` boxed (alive until `drop_node`,
        // which cannot run during this call: the node's context holds it), `n_inputs` tensors
        // and as many flags, all live for this call; the function is reached only through the
        // node's `Mutex`, so the shared `&Node` is all this needs.
        let (node, inputs, needs_grad) = unsafe {
            (
                &*state.cast::<Node<F>>(),
                raw_slice(inputs, n_inputs)
                    .iter()
                    .map(|&t| ffi::borrowed(t))
                    .collect::<Vec<_>>(),
                raw_slice(needs_grad, n_inputs),
            )
        };
        let mut ctx = ForwardContext {
            raw: ctx,
            needs_grad,
            failed: false,
            _thread: PhantomData,
        };
        let mut function = node.function.lock().unwrap_or_else(PoisonError::into_inner);
        let outs = function.forward(&mut ctx, &inputs)?;
        if ctx.failed {
            return Err(OUT_OF_MEMORY.into());
        }
        if outs.is_empty() {
            return Err("forward returned no outputs".into());
        }
        if let Some(i) = outs.iter().position(|t| !t.defined()) {
            return Err(format!("forward returned an undefined tensor as output {i}").into());
        }
        for out in outs {
            // SAFETY: `outputs` is the shim's output list for this call.
            if !unsafe { ffi::push_owned(outputs, Some(out)) } {
                return Err(OUT_OF_MEMORY.into());
            }
        }
        Ok(())
    };
    // SAFETY: `error` is the shim's `std::string*` for this call.
    unsafe { guarded(error, body) }
}

const OUT_OF_MEMORY: &str = "out of memory handing tensors to libtorch";

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn backward_node<F: Function>(
    state: *mut c_void,
    ctx: *mut c_void,
    grad_outputs: *const *const RawTensor,
    n_outputs: usize,
    saved: *const *const RawTensor,
    n_saved: usize,
    grads: *mut c_void,
    error: *mut c_void,
) -> i32 {
    let body = || {
        // SAFETY: as in `forward_node`: the node's `Node<F>`, alive while the node is (which is
        // being run), and tensors live for the duration of the call. This may be another thread
        // than `forward`'s: `F: Send`, and the function is reached through the `Mutex`.
        let (node, grad_outputs, saved) = unsafe {
            let list = |p: *const *const RawTensor, n: usize| -> Vec<Tensor> {
                raw_slice(p, n).iter().map(|&t| ffi::borrowed(t)).collect()
            };
            (
                &*state.cast::<Node<F>>(),
                list(grad_outputs, n_outputs),
                list(saved, n_saved),
            )
        };
        let mut ctx = BackwardContext {
            raw: ctx,
            saved: &saved,
            _thread: PhantomData,
        };
        let mut function = node.function.lock().unwrap_or_else(PoisonError::into_inner);
        let out = function.backward(&mut ctx, &grad_outputs)?;
        if out.len() != node.inputs {
            return Err(format!(
                "backward returned {} gradients for {} inputs (one entry per input, None for none)",
                out.len(),
                node.inputs
            )
            .into());
        }
        for g in out {
            // SAFETY: `grads` is the shim's gradient list for this call.
            if !unsafe { ffi::push_owned(grads, g.filter(Tensor::defined)) } {
                return Err(OUT_OF_MEMORY.into());
            }
        }
        Ok(())
    };
    // SAFETY: `error` is the shim's `std::string*` for this call.
    unsafe { guarded(error, body) }
}

unsafe extern "C" fn drop_node<F: Function>(state: *mut c_void) {
    // A panic in the function's `Drop` is reported by the panic hook and goes no further.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the shim calls this exactly once, from the node's destructor (or at the end of
        // `apply` where no node was recorded), with the pointer `apply` made by `Box::into_raw`;
        // no callback can run after it. The thread may be any: `F: Send`.
        drop(unsafe { Box::from_raw(state.cast::<Node<F>>()) });
    }));
}

/// Whether autograd records operations on this thread: `false` inside `tch::no_grad`. Asks
/// libtorch directly (tch has no getter).
///
/// ```
/// assert!(focal_runtime::autograd::is_grad_enabled());
/// assert!(!tch::no_grad(focal_runtime::autograd::is_grad_enabled));
/// ```
pub fn is_grad_enabled() -> bool {
    // SAFETY: no pointer crosses; the shim reads libtorch's thread-local grad mode.
    unsafe { ffi::focal_grad_mode_enabled() != 0 }
}
