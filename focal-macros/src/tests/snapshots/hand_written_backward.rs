pub fn squared_error(input: &Tensor, target: &Tensor, scale: f64) -> Tensor {
    (input - target).square() * scale
}
/// The `squared_error` loss as a module: see [`squared_error`].
#[derive(
    ::core::fmt::Debug,
    ::core::clone::Clone,
    ::core::cmp::PartialEq,
    ::focal::__private::serde::Serialize,
    ::focal::__private::serde::Deserialize
)]
#[serde(crate = "::focal::__private::serde", try_from = "__FocalUncheckedSquaredError")]
pub struct SquaredError {
    /// Default: `1.0`.
    pub scale: f64,
    /// How the elementwise losses are reduced (default: `mean`): one of `none`, `mean`, `sum`.
    pub reduction: ::focal::Reduction,
}
/// The fields of a loss as read from configuration, before validation.
#[doc(hidden)]
#[allow(non_camel_case_types)]
#[derive(::focal::__private::serde::Deserialize)]
#[serde(
    crate = "::focal::__private::serde",
    default,
    deny_unknown_fields,
    rename = "__FocalUncheckedSquaredError"
)]
pub struct __FocalUncheckedSquaredError {
    scale: f64,
    #[serde(deserialize_with = "SquaredError::__focal_deserialize_reduction")]
    reduction: ::focal::Reduction,
}
impl ::core::default::Default for __FocalUncheckedSquaredError {
    fn default() -> Self {
        let defaults = <SquaredError as ::core::default::Default>::default();
        Self {
            scale: defaults.scale,
            reduction: defaults.reduction,
        }
    }
}
impl ::core::convert::TryFrom<__FocalUncheckedSquaredError> for SquaredError {
    type Error = ::focal::LossError;
    fn try_from(
        unchecked: __FocalUncheckedSquaredError,
    ) -> ::core::result::Result<Self, Self::Error> {
        let loss = Self {
            scale: unchecked.scale,
            reduction: unchecked.reduction,
        };
        loss.validate()?;
        ::core::result::Result::Ok(loss)
    }
}
impl ::core::default::Default for SquaredError {
    fn default() -> Self {
        Self {
            scale: {
                let __focal_default: f64 = 1.0;
                __focal_default
            },
            reduction: ::focal::Reduction::Mean,
        }
    }
}
impl SquaredError {
    /// The loss with its default hyperparameters.
    pub fn new() -> Self {
        <Self as ::core::default::Default>::default()
    }
}
impl SquaredError {
    /// The loss's name, as its error messages give it.
    pub const NAME: &'static str = ::core::stringify!(SquaredError);
    /// The names of the reductions this loss accepts.
    pub const REDUCTIONS: &'static [&'static str] = &["none", "mean", "sum"];
    /// The reduction named `name`, if this loss accepts it; the error lists the names it does.
    pub fn parse_reduction(
        name: &str,
    ) -> ::core::result::Result<::focal::Reduction, ::focal::ParseReductionError> {
        ::focal::Reduction::parse_among(name, Self::REDUCTIONS)
    }
    #[doc(hidden)]
    pub fn __focal_deserialize_reduction<
        'de,
        D: ::focal::__private::serde::Deserializer<'de>,
    >(deserializer: D) -> ::core::result::Result<::focal::Reduction, D::Error> {
        ::focal::deserialize_among(deserializer, Self::REDUCTIONS)
    }
    /// Sets [`scale`](Self::scale).
    #[must_use]
    pub fn with_scale(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }
    /// Sets [`reduction`](Self::reduction).
    #[must_use]
    pub fn with_reduction(mut self, reduction: ::focal::Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}
impl SquaredError {
    /// Checks the hyperparameters and the reduction, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::focal::__private::check_reduction(
            Self::NAME,
            self.reduction,
            Self::REDUCTIONS,
        )?;
        ::core::result::Result::Ok(())
    }
    /// Computes the loss, or says why it cannot; runs [`squared_error`] after the checks.
    pub fn f_forward(
        &self,
        input: &::focal::__private::tch::Tensor,
        target: &::focal::__private::tch::Tensor,
    ) -> ::core::result::Result<::focal::__private::tch::Tensor, ::focal::LossError> {
        self.validate()?;
        ::focal::checks::usable(Self::NAME, "input", input)?;
        ::focal::checks::usable(Self::NAME, "target", target)?;
        ::focal::checks::same_device(
            Self::NAME,
            &[("input", input), ("target", target)],
        )?;
        let __focal_grad_mode = ::focal::__private::is_grad_enabled();
        let __focal_composed = || -> ::focal::__private::CheckedResult {
            let __focal_output = ::focal::__private::catch_tch_panics(|| {
                    ::focal::__private::IntoLossOutput::into_loss_output(
                        squared_error(
                            input,
                            target,
                            ::core::clone::Clone::clone(&self.scale),
                        ),
                    )
                })
                .and_then(|__focal_output| __focal_output)
                .map_err(|__focal_err| __focal_err.in_loss(Self::NAME))?;
            __focal_output.reduce(Self::NAME, self.reduction)
        };
        if __focal_grad_mode
            && (::focal::__private::tch::Tensor::requires_grad(input)
                || ::focal::__private::tch::Tensor::requires_grad(target))
        {
            let __focal_value = ::focal::__private::tch::no_grad(|| __focal_composed())?;
            let __focal_hyper_0 = ::core::clone::Clone::clone(&self.scale);
            let __focal_reduction = self.reduction;
            return ::focal::__private::with_backward(
                Self::NAME,
                __focal_value,
                &[
                    ::core::option::Option::Some(input),
                    ::core::option::Option::Some(target),
                ],
                move |
                    __focal_upstream: &::focal::__private::tch::Tensor,
                    __focal_saved: &[::focal::__private::tch::Tensor]|
                {
                    squared_error_grad(
                        __focal_upstream,
                        &__focal_saved[0],
                        &__focal_saved[1],
                        ::core::clone::Clone::clone(&__focal_hyper_0),
                        __focal_reduction,
                    )
                },
            );
        }
        __focal_composed()
    }
    /// Computes the loss.
    ///
    /// # Panics
    /// With the error's message where [`f_forward`](Self::f_forward) fails.
    #[track_caller]
    pub fn forward(
        &self,
        input: &::focal::__private::tch::Tensor,
        target: &::focal::__private::tch::Tensor,
    ) -> ::focal::__private::tch::Tensor {
        match self.f_forward(input, target) {
            ::core::result::Result::Ok(loss) => loss,
            ::core::result::Result::Err(err) => ::core::panic!("{}", err),
        }
    }
    /// The loss's name, as its error messages give it.
    pub fn name(&self) -> &'static str {
        Self::NAME
    }
}
impl ::focal::DynLoss for SquaredError {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn reduction(&self) -> ::focal::Reduction {
        self.reduction
    }
    fn tensor_args(&self) -> &'static [::focal::TensorArg] {
        &[
            ::focal::TensorArg {
                name: "input",
                optional: false,
            },
            ::focal::TensorArg {
                name: "target",
                optional: false,
            },
        ]
    }
    fn f_forward_tensors(
        &self,
        __focal_tensors: &[::core::option::Option<&::focal::__private::tch::Tensor>],
    ) -> ::core::result::Result<::focal::__private::tch::Tensor, ::focal::LossError> {
        let [__focal_tensor0, __focal_tensor1] = ::focal::__private::check_arguments::<
            2usize,
        >(Self::NAME, ::focal::DynLoss::tensor_args(self), __focal_tensors)?;
        let ::core::option::Option::Some(__focal_tensor0) = __focal_tensor0 else {
            return ::core::result::Result::Err(
                ::focal::__private::missing_argument(Self::NAME),
            );
        };
        let ::core::option::Option::Some(__focal_tensor1) = __focal_tensor1 else {
            return ::core::result::Result::Err(
                ::focal::__private::missing_argument(Self::NAME),
            );
        };
        SquaredError::f_forward(self, __focal_tensor0, __focal_tensor1)
    }
    fn as_loss(&self) -> ::core::option::Option<&dyn ::focal::Loss> {
        ::core::option::Option::Some(self)
    }
}
impl ::focal::Loss for SquaredError {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn reduction(&self) -> ::focal::Reduction {
        self.reduction
    }
    fn f_forward(
        &self,
        input: &::focal::__private::tch::Tensor,
        target: &::focal::__private::tch::Tensor,
    ) -> ::core::result::Result<::focal::__private::tch::Tensor, ::focal::LossError> {
        SquaredError::f_forward(self, input, target)
    }
}
