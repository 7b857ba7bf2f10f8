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
#[serde(crate = "::focal::__private::serde", default, deny_unknown_fields)]
pub struct SquaredError {
    /// Default: `1.0`.
    pub scale: f64,
    /// How the elementwise losses are reduced (default: `mean`).
    pub reduction: ::focal::Reduction,
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
    /// Checks the hyperparameters, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
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
        let __focal_composed = || {
            let output = ::focal::__private::IntoLossOutput::into_loss_output(
                    squared_error(
                        input,
                        target,
                        ::core::clone::Clone::clone(&self.scale),
                    ),
                )
                .map_err(|err| err.in_loss(Self::NAME))?;
            output.reduce(Self::NAME, self.reduction)
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
                &[input, target],
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
