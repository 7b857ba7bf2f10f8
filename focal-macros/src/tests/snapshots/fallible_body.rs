pub(crate) fn safe_log(
    input: &Tensor,
    target: &Tensor,
    eps: f64,
) -> Result<Tensor, LossError> {
    let log = input.f_clamp_min(eps)?.f_log()?;
    Ok(log.f_mul(target)?.f_neg()?)
}
/// The `safe_log` loss as a module: see [`safe_log`].
#[derive(
    ::core::fmt::Debug,
    ::core::clone::Clone,
    ::core::cmp::PartialEq,
    ::focal::__private::serde::Serialize,
    ::focal::__private::serde::Deserialize
)]
#[serde(crate = "::focal::__private::serde", default, deny_unknown_fields)]
pub(crate) struct SafeLog {
    /// Default: `1e-6`.
    pub eps: f64,
    /// How the elementwise losses are reduced (default: `sum`).
    pub reduction: ::focal::Reduction,
}
impl ::core::default::Default for SafeLog {
    fn default() -> Self {
        Self {
            eps: {
                let __focal_default: f64 = 1e-6;
                __focal_default
            },
            reduction: ::focal::Reduction::Sum,
        }
    }
}
impl SafeLog {
    /// The loss with its default hyperparameters.
    pub(crate) fn new() -> Self {
        <Self as ::core::default::Default>::default()
    }
}
impl SafeLog {
    /// The loss's name, as its error messages give it.
    pub const NAME: &'static str = ::core::stringify!(SafeLog);
    /// Sets [`eps`](Self::eps).
    #[must_use]
    pub(crate) fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets [`reduction`](Self::reduction).
    #[must_use]
    pub(crate) fn with_reduction(mut self, reduction: ::focal::Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}
impl SafeLog {
    /// Checks the hyperparameters, as `f_forward` does before each call.
    pub(crate) fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::focal::checks::hyper_check(Self::NAME, "eps", &self.eps, positive)?;
        ::core::result::Result::Ok(())
    }
    /// Computes the loss, or says why it cannot; runs [`safe_log`] after the checks.
    pub(crate) fn f_forward(
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
                    safe_log(input, target, ::core::clone::Clone::clone(&self.eps)),
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
    pub(crate) fn forward(
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
impl ::focal::Loss for SafeLog {
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
        SafeLog::f_forward(self, input, target)
    }
}
