/// Binary focal loss on probabilities.
pub fn focal(
    input: &Tensor,
    target: &Tensor,
    gamma: f64,
    alpha: f64,
) -> Result<Tensor, LossError> {
    checks::binary_values(Focal::NAME, "target", target)?;
    let positive = target.f_eq(1)?;
    Ok(binary_focal_terms(input, &positive, gamma, alpha)?)
}
/// Binary focal loss on probabilities.
#[derive(
    ::core::fmt::Debug,
    ::core::clone::Clone,
    ::core::cmp::PartialEq,
    crate::__private::serde::Serialize,
    crate::__private::serde::Deserialize
)]
#[serde(crate = "crate::__private::serde", default, deny_unknown_fields)]
pub struct Focal {
    /// The focusing exponent: larger values down-weight well-classified elements more.
    ///
    /// Default: `2.0`.
    pub gamma: f64,
    /// The weight of positives; negatives get `1 - alpha`.
    ///
    /// Default: `0.25`.
    pub alpha: f64,
    /// How the elementwise losses are reduced (default: `mean`).
    pub reduction: crate::Reduction,
}
impl ::core::default::Default for Focal {
    fn default() -> Self {
        Self {
            gamma: {
                let __focal_default: f64 = 2.0;
                __focal_default
            },
            alpha: {
                let __focal_default: f64 = 0.25;
                __focal_default
            },
            reduction: crate::Reduction::Mean,
        }
    }
}
impl Focal {
    /// The loss with its default hyperparameters.
    pub fn new() -> Self {
        <Self as ::core::default::Default>::default()
    }
}
impl Focal {
    /// The loss's name, as its error messages give it.
    pub const NAME: &'static str = ::core::stringify!(Focal);
    /// Sets [`gamma`](Self::gamma).
    #[must_use]
    pub fn with_gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }
    /// Sets [`alpha`](Self::alpha).
    #[must_use]
    pub fn with_alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// Sets [`reduction`](Self::reduction).
    #[must_use]
    pub fn with_reduction(mut self, reduction: crate::Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}
impl Focal {
    /// Checks the hyperparameters, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), crate::LossError> {
        crate::__private::hyper_in_range(
            Self::NAME,
            "gamma",
            &self.gamma,
            &(0.0..),
            "0.0..",
        )?;
        crate::__private::hyper_in_range(
            Self::NAME,
            "alpha",
            &self.alpha,
            &(0.0..=1.0),
            "0.0..=1.0",
        )?;
        ::core::result::Result::Ok(())
    }
    /// Computes the loss, or says why it cannot; runs [`focal`] after the checks.
    pub fn f_forward(
        &self,
        input: &crate::__private::tch::Tensor,
        target: &crate::__private::tch::Tensor,
    ) -> ::core::result::Result<crate::__private::tch::Tensor, crate::LossError> {
        self.validate()?;
        crate::checks::usable(Self::NAME, "input", input)?;
        crate::checks::usable(Self::NAME, "target", target)?;
        crate::checks::same_device(Self::NAME, &[("input", input), ("target", target)])?;
        crate::checks::dtype(Self::NAME, "input", input, crate::checks::DTypes::FLOAT)?;
        crate::checks::dtype(
            Self::NAME,
            "target",
            target,
            crate::checks::DTypes::FLOAT
                .or(crate::checks::DTypes::INTEGER)
                .or(crate::checks::DTypes::BOOL),
        )?;
        crate::checks::same_shape(Self::NAME, "target", target, "input", input)?;
        let __focal_composed = || {
            let output = crate::__private::IntoLossOutput::into_loss_output(
                    focal(
                        input,
                        target,
                        ::core::clone::Clone::clone(&self.gamma),
                        ::core::clone::Clone::clone(&self.alpha),
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
        input: &crate::__private::tch::Tensor,
        target: &crate::__private::tch::Tensor,
    ) -> crate::__private::tch::Tensor {
        match self.f_forward(input, target) {
            ::core::result::Result::Ok(loss) => loss,
            ::core::result::Result::Err(err) => ::core::panic!("{}", err),
        }
    }
}
impl crate::Loss for Focal {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn reduction(&self) -> crate::Reduction {
        self.reduction
    }
    fn f_forward(
        &self,
        input: &crate::__private::tch::Tensor,
        target: &crate::__private::tch::Tensor,
    ) -> ::core::result::Result<crate::__private::tch::Tensor, crate::LossError> {
        Focal::f_forward(self, input, target)
    }
}
