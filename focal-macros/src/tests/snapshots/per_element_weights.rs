/// Squared error that ignores one target value.
pub fn masked_mse(
    input: &Tensor,
    target: &Tensor,
    ignore: f64,
    class_weights: Option<Vec<f64>>,
) -> LossOutput {
    let _ = class_weights;
    let keep = target.ne(ignore).to_kind(input.kind());
    LossOutput::weighted((input - target).square() * &keep, keep)
}
/// Squared error that ignores one target value.
#[derive(
    ::core::fmt::Debug,
    ::core::clone::Clone,
    ::core::cmp::PartialEq,
    ::focal::__private::serde::Serialize,
    ::focal::__private::serde::Deserialize
)]
#[serde(crate = "::focal::__private::serde", default, deny_unknown_fields)]
pub struct MaskedMse {
    /// The target value to ignore.
    ///
    /// Default: `- 1.0`.
    pub ignore: f64,
    /// Extra weight per class.
    ///
    /// Default: the type's `Default`.
    pub class_weights: Option<Vec<f64>>,
    /// How the elementwise losses are reduced (default: `mean`).
    pub reduction: ::focal::Reduction,
}
impl ::core::default::Default for MaskedMse {
    fn default() -> Self {
        Self {
            ignore: {
                let __focal_default: f64 = -1.0;
                __focal_default
            },
            class_weights: <Option<
                Vec<f64>,
            > as ::focal::__private::HyperDefault>::hyper_default(),
            reduction: ::focal::Reduction::Mean,
        }
    }
}
impl MaskedMse {
    /// The loss with its default hyperparameters.
    pub fn new() -> Self {
        <Self as ::core::default::Default>::default()
    }
}
impl MaskedMse {
    /// The loss's name, as its error messages give it.
    pub const NAME: &'static str = ::core::stringify!(MaskedMse);
    /// Sets [`ignore`](Self::ignore).
    #[must_use]
    pub fn with_ignore(mut self, ignore: f64) -> Self {
        self.ignore = ignore;
        self
    }
    /// Sets [`class_weights`](Self::class_weights).
    #[must_use]
    pub fn with_class_weights(mut self, class_weights: Option<Vec<f64>>) -> Self {
        self.class_weights = class_weights;
        self
    }
    /// Sets [`reduction`](Self::reduction).
    #[must_use]
    pub fn with_reduction(mut self, reduction: ::focal::Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}
impl MaskedMse {
    /// Checks the hyperparameters, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::core::result::Result::Ok(())
    }
    /// Computes the loss, or says why it cannot; runs [`masked_mse`] after the checks.
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
        ::focal::checks::dtype(
            Self::NAME,
            "input",
            input,
            ::focal::checks::DTypes::FLOAT,
        )?;
        ::focal::checks::dtype(
            Self::NAME,
            "target",
            target,
            ::focal::checks::DTypes::FLOAT,
        )?;
        ::focal::checks::same_shape(Self::NAME, "target", target, "input", input)?;
        let __focal_composed = || {
            let output = ::focal::__private::IntoLossOutput::into_loss_output(
                    masked_mse(
                        input,
                        target,
                        ::core::clone::Clone::clone(&self.ignore),
                        ::core::clone::Clone::clone(&self.class_weights),
                    ),
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
impl ::focal::Loss for MaskedMse {
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
        MaskedMse::f_forward(self, input, target)
    }
}
