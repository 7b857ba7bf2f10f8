/// Squared error.
pub fn mse(input: &Tensor, target: &Tensor) -> Tensor {
    (input - target).square()
}
/// Squared error.
#[derive(
    ::core::fmt::Debug,
    ::core::clone::Clone,
    ::core::cmp::PartialEq,
    ::focal::__private::serde::Serialize,
    ::focal::__private::serde::Deserialize
)]
#[serde(crate = "::focal::__private::serde", default, deny_unknown_fields)]
pub struct Mse {
    /// How the elementwise losses are reduced (default: `mean`).
    pub reduction: ::focal::Reduction,
}
impl ::core::default::Default for Mse {
    fn default() -> Self {
        Self {
            reduction: ::focal::Reduction::Mean,
        }
    }
}
impl Mse {
    /// The loss with its default hyperparameters.
    pub fn new() -> Self {
        <Self as ::core::default::Default>::default()
    }
}
impl Mse {
    /// The loss's name, as its error messages give it.
    pub const NAME: &'static str = ::core::stringify!(Mse);
    /// Sets [`reduction`](Self::reduction).
    #[must_use]
    pub fn with_reduction(mut self, reduction: ::focal::Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}
impl Mse {
    /// Checks the hyperparameters, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::core::result::Result::Ok(())
    }
    /// Computes the loss, or says why it cannot; runs [`mse`] after the checks.
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
        let __focal_composed = || {
            let output = ::focal::__private::IntoLossOutput::into_loss_output(
                    mse(input, target),
                )
                .map_err(|err| err.in_loss(Self::NAME))?;
            output.reduce(Self::NAME, self.reduction)
        };
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
impl ::focal::Loss for Mse {
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
        Mse::f_forward(self, input, target)
    }
}
