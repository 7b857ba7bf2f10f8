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
#[serde(crate = "crate::__private::serde", try_from = "__FocalUncheckedFocal")]
pub struct Focal {
    /// The focusing exponent: larger values down-weight well-classified elements more.
    ///
    /// Default: `2.0`.
    pub gamma: f64,
    /// The weight of positives; negatives get `1 - alpha`.
    ///
    /// Default: `0.25`.
    pub alpha: f64,
    /// How the elementwise losses are reduced (default: `mean`): one of `none`, `mean`, `sum`.
    pub reduction: crate::Reduction,
}
/// The fields of a loss as read from configuration, before validation.
#[doc(hidden)]
#[allow(non_camel_case_types)]
#[derive(crate::__private::serde::Deserialize)]
#[serde(
    crate = "crate::__private::serde",
    default,
    deny_unknown_fields,
    rename = "__FocalUncheckedFocal"
)]
pub struct __FocalUncheckedFocal {
    gamma: f64,
    alpha: f64,
    #[serde(deserialize_with = "Focal::__focal_deserialize_reduction")]
    reduction: crate::Reduction,
}
impl ::core::default::Default for __FocalUncheckedFocal {
    fn default() -> Self {
        let defaults = <Focal as ::core::default::Default>::default();
        Self {
            gamma: defaults.gamma,
            alpha: defaults.alpha,
            reduction: defaults.reduction,
        }
    }
}
impl ::core::convert::TryFrom<__FocalUncheckedFocal> for Focal {
    type Error = crate::LossError;
    fn try_from(
        unchecked: __FocalUncheckedFocal,
    ) -> ::core::result::Result<Self, Self::Error> {
        let loss = Self {
            gamma: unchecked.gamma,
            alpha: unchecked.alpha,
            reduction: unchecked.reduction,
        };
        loss.validate()?;
        ::core::result::Result::Ok(loss)
    }
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
    /// The names of the reductions this loss accepts.
    pub const REDUCTIONS: &'static [&'static str] = &["none", "mean", "sum"];
    /// The reduction named `name`, if this loss accepts it; the error lists the names it does.
    pub fn parse_reduction(
        name: &str,
    ) -> ::core::result::Result<crate::Reduction, crate::ParseReductionError> {
        crate::Reduction::parse_among(name, Self::REDUCTIONS)
    }
    #[doc(hidden)]
    pub fn __focal_deserialize_reduction<
        'de,
        D: crate::__private::serde::Deserializer<'de>,
    >(deserializer: D) -> ::core::result::Result<crate::Reduction, D::Error> {
        crate::deserialize_among(deserializer, Self::REDUCTIONS)
    }
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
    /// Checks the hyperparameters and the reduction, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), crate::LossError> {
        crate::__private::check_reduction(Self::NAME, self.reduction, Self::REDUCTIONS)?;
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
        {
            let __focal_this = input;
            crate::checks::dtype(
                Self::NAME,
                "input",
                __focal_this,
                crate::checks::DTypes::FLOAT,
            )?;
        }
        {
            let __focal_this = target;
            crate::checks::dtype(
                Self::NAME,
                "target",
                __focal_this,
                crate::checks::DTypes::FLOAT
                    .or(crate::checks::DTypes::INTEGER)
                    .or(crate::checks::DTypes::BOOL),
            )?;
            if let ::core::option::Option::Some(__focal_other) = ::core::option::Option::Some(
                input,
            ) {
                crate::checks::same_shape(
                    Self::NAME,
                    "target",
                    __focal_this,
                    "input",
                    __focal_other,
                )?;
            }
        }
        let __focal_composed = || -> crate::__private::CheckedResult {
            let __focal_output = crate::__private::catch_tch_panics(|| {
                    crate::__private::IntoLossOutput::into_loss_output(
                        focal(
                            input,
                            target,
                            ::core::clone::Clone::clone(&self.gamma),
                            ::core::clone::Clone::clone(&self.alpha),
                        ),
                    )
                })
                .and_then(|__focal_output| __focal_output)
                .map_err(|__focal_err| __focal_err.in_loss(Self::NAME))?;
            __focal_output.reduce(Self::NAME, self.reduction)
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
    /// The loss's name, as its error messages give it.
    pub fn name(&self) -> &'static str {
        Self::NAME
    }
}
impl crate::DynLoss for Focal {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn reduction(&self) -> crate::Reduction {
        self.reduction
    }
    fn tensor_args(&self) -> &'static [crate::TensorArg] {
        &[
            crate::TensorArg {
                name: "input",
                optional: false,
            },
            crate::TensorArg {
                name: "target",
                optional: false,
            },
        ]
    }
    fn f_forward_tensors(
        &self,
        __focal_tensors: &[::core::option::Option<&crate::__private::tch::Tensor>],
    ) -> ::core::result::Result<crate::__private::tch::Tensor, crate::LossError> {
        let [__focal_tensor0, __focal_tensor1] = crate::__private::check_arguments::<
            2usize,
        >(Self::NAME, crate::DynLoss::tensor_args(self), __focal_tensors)?;
        let ::core::option::Option::Some(__focal_tensor0) = __focal_tensor0 else {
            return ::core::result::Result::Err(
                crate::__private::missing_argument(Self::NAME),
            );
        };
        let ::core::option::Option::Some(__focal_tensor1) = __focal_tensor1 else {
            return ::core::result::Result::Err(
                crate::__private::missing_argument(Self::NAME),
            );
        };
        Focal::f_forward(self, __focal_tensor0, __focal_tensor1)
    }
    fn as_loss(&self) -> ::core::option::Option<&dyn crate::Loss> {
        ::core::option::Option::Some(self)
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
