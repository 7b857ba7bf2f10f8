//! The one error type of every loss.

use tch::{Device, Kind, TchError};

/// Why a loss refused its input or its configuration.
///
/// Every message names the loss, the argument, what was expected and what was found:
///
/// ```
/// use focal_runtime::LossError;
/// let e = LossError::DeviceMismatch {
///     loss: "FocalLoss",
///     arg: "target",
///     found: tch::Device::Cuda(0),
///     reference: "input",
///     expected: tch::Device::Cpu,
/// };
/// assert_eq!(e.to_string(), "FocalLoss: target is on cuda:0 but input is on cpu");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LossError {
    /// A tensor argument is on another device than the first tensor argument.
    #[error("{loss}: {arg} is on {} but {reference} is on {}", device_name(*.found), device_name(*.expected))]
    DeviceMismatch {
        /// The loss's name.
        loss: &'static str,
        /// The argument on the wrong device.
        arg: &'static str,
        /// Its device.
        found: Device,
        /// The argument whose device is the reference.
        reference: &'static str,
        /// The reference device.
        expected: Device,
    },
    /// A tensor argument has a shape the loss cannot use.
    #[error("{loss}: {arg} has shape {found:?} but {expected}")]
    ShapeMismatch {
        /// The loss's name.
        loss: &'static str,
        /// The argument with the wrong shape.
        arg: &'static str,
        /// What the shape should have been, as a phrase ("should have the shape of input [2, 3]").
        expected: String,
        /// Its shape.
        found: Vec<i64>,
    },
    /// A tensor argument has a dtype the loss cannot use.
    #[error("{loss}: {arg} should have {expected} dtype but has {found:?}")]
    DTypeMismatch {
        /// The loss's name.
        loss: &'static str,
        /// The argument with the wrong dtype.
        arg: &'static str,
        /// The dtypes allowed, as a phrase ("a floating-point").
        expected: String,
        /// Its dtype.
        found: Kind,
    },
    /// A hyperparameter is outside its valid range.
    #[error("{loss}: hyperparameter {name} should be {expected} but is {found}")]
    InvalidHyperparameter {
        /// The loss's name.
        loss: &'static str,
        /// The hyperparameter's name.
        name: &'static str,
        /// What it should be ("in 0.0..=1.0").
        expected: String,
        /// Its value.
        found: String,
    },
    /// A target holds values the loss cannot use (a class index outside `[0, C)`, say).
    #[error("{loss}: {arg} should hold {expected} but holds {found}")]
    TargetOutOfRange {
        /// The loss's name.
        loss: &'static str,
        /// The argument holding the values.
        arg: &'static str,
        /// The values allowed ("class indices in [0, 3)").
        expected: String,
        /// The offending value(s) ("5").
        found: String,
    },
    /// A tensor argument is of a kind no loss computes with: undefined, sparse, MKL-DNN,
    /// quantized, nested, or on the meta device.
    #[error("{loss}: {arg} should be a defined, dense tensor on the CPU or a GPU but is {found}")]
    UnsupportedTensor {
        /// The loss's name.
        loss: &'static str,
        /// The argument.
        arg: &'static str,
        /// What it is ("a sparse tensor (call .to_dense() first)").
        found: &'static str,
    },
    /// A loss was called with tensors that do not match its arguments (through
    /// [`DynLoss`](crate::DynLoss), whose calls are checked at run time): too many, too few, or
    /// a required one missing.
    #[error("{loss}: takes {expected} but was given {found}")]
    WrongArguments {
        /// The loss's name.
        loss: &'static str,
        /// Its tensor arguments ("input, target, weight (optional)").
        expected: String,
        /// What it was given ("2 tensors", "no input").
        found: String,
    },
    /// libtorch refused an operation. The message is libtorch's first line; the whole text, C++
    /// frames included, stays in `source`.
    #[error("{loss}: libtorch error: {}", first_line(source))]
    Tch {
        /// The loss's name (empty until the loss's `f_forward` fills it in).
        loss: &'static str,
        /// libtorch's error.
        #[source]
        source: TchError,
    },
}

impl From<TchError> for LossError {
    fn from(source: TchError) -> Self {
        LossError::Tch { loss: "", source }
    }
}

/// `$body` with `$field` bound to the `loss` field of whichever variant `$value` is: the one list
/// of the variants, for [`LossError::loss`] and [`LossError::in_loss`].
macro_rules! each_loss_field {
    ($value:expr, $field:ident => $body:expr) => {
        match $value {
            LossError::DeviceMismatch { loss: $field, .. }
            | LossError::ShapeMismatch { loss: $field, .. }
            | LossError::DTypeMismatch { loss: $field, .. }
            | LossError::InvalidHyperparameter { loss: $field, .. }
            | LossError::TargetOutOfRange { loss: $field, .. }
            | LossError::UnsupportedTensor { loss: $field, .. }
            | LossError::WrongArguments { loss: $field, .. }
            | LossError::Tch { loss: $field, .. } => $body,
        }
    };
}

impl LossError {
    /// The name of the loss that raised the error.
    pub fn loss(&self) -> &'static str {
        each_loss_field!(self, loss => loss)
    }

    /// Fills in the loss's name where the error was made without one (converted from a
    /// `TchError` with `?`, or built by a helper that does not know the loss): the one way every
    /// variant gets its name afterwards. A name already there is kept.
    ///
    /// ```
    /// use focal_runtime::LossError;
    /// let e = LossError::from(tch::TchError::Torch("bad".into())).in_loss("MyLoss");
    /// assert_eq!(e.loss(), "MyLoss");
    /// let kept = LossError::UnsupportedTensor { loss: "Inner", arg: "x", found: "sparse" }.in_loss("Outer");
    /// assert_eq!(kept.loss(), "Inner");
    /// ```
    pub fn in_loss(mut self, name: &'static str) -> Self {
        let loss = each_loss_field!(&mut self, loss => loss);
        if loss.is_empty() {
            *loss = name;
        }
        self
    }
}

/// The longest value an error message quotes in full.
const LONGEST_VALUE: usize = 80;

/// `text`, cut to its first characters where it is long (a million-entry list, say), so that an
/// error message stays readable.
///
/// ```
/// let long = format!("{:?}", vec![0.5f64; 100_000]);
/// let short = focal_runtime::shorten(&long);
/// assert!(short.len() < 200 && short.ends_with("more characters)"), "{short}");
/// ```
pub fn shorten(text: &str) -> String {
    let count = text.chars().count();
    if count <= 2 * LONGEST_VALUE {
        return text.to_owned();
    }
    let head: String = text.chars().take(LONGEST_VALUE).collect();
    format!("{head}... ({} more characters)", count - LONGEST_VALUE)
}

/// The first line of a libtorch error, without the C++ frames that follow it.
fn first_line(error: &TchError) -> String {
    let text = error.to_string();
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

/// A device as PyTorch prints it: `cpu`, `cuda:0`, `mps`, `vulkan`.
///
/// ```
/// assert_eq!(focal_runtime::device_name(tch::Device::Cuda(1)), "cuda:1");
/// ```
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".to_owned(),
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".to_owned(),
        Device::Vulkan => "vulkan".to_owned(),
    }
}
