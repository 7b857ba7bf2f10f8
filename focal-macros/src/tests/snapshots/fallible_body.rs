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
#[serde(crate = "::focal::__private::serde", try_from = "__FocalUncheckedSafeLog")]
pub(crate) struct SafeLog {
    /// Default: `1e-6`.
    pub eps: f64,
    /// How the elementwise losses are reduced (default: `sum`): one of `none`, `mean`, `sum`.
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
    rename = "__FocalUncheckedSafeLog"
)]
pub(crate) struct __FocalUncheckedSafeLog {
    eps: f64,
    #[serde(deserialize_with = "SafeLog::__focal_deserialize_reduction")]
    reduction: ::focal::Reduction,
}
impl ::core::default::Default for __FocalUncheckedSafeLog {
    fn default() -> Self {
        let defaults = <SafeLog as ::core::default::Default>::default();
        Self {
            eps: defaults.eps,
            reduction: defaults.reduction,
        }
    }
}
impl ::core::convert::TryFrom<__FocalUncheckedSafeLog> for SafeLog {
    type Error = ::focal::LossError;
    fn try_from(
        unchecked: __FocalUncheckedSafeLog,
    ) -> ::core::result::Result<Self, Self::Error> {
        let loss = Self {
            eps: unchecked.eps,
            reduction: unchecked.reduction,
        };
        loss.validate()?;
        ::core::result::Result::Ok(loss)
    }
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
    /// The names of the reductions this loss accepts.
    pub const REDUCTIONS: &'static [&'static str] = &["none", "mean", "sum"];
    /// The reduction named `name`, if this loss accepts it; the error lists the names it does.
    pub(crate) fn parse_reduction(
        name: &str,
    ) -> ::core::result::Result<::focal::Reduction, ::focal::ParseReductionError> {
        ::focal::Reduction::parse_among(name, Self::REDUCTIONS)
    }
    #[doc(hidden)]
    pub(crate) fn __focal_deserialize_reduction<
        'de,
        D: ::focal::__private::serde::Deserializer<'de>,
    >(deserializer: D) -> ::core::result::Result<::focal::Reduction, D::Error> {
        ::focal::deserialize_among(deserializer, Self::REDUCTIONS)
    }
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
    /// Checks the hyperparameters and the reduction, as `f_forward` does before each call.
    pub(crate) fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::focal::__private::check_reduction(
            Self::NAME,
            self.reduction,
            Self::REDUCTIONS,
        )?;
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
        {
            let __focal_this = input;
            ::focal::checks::dtype(
                Self::NAME,
                "input",
                __focal_this,
                ::focal::checks::DTypes::FLOAT,
            )?;
        }
        {
            let __focal_this = target;
            ::focal::checks::dtype(
                Self::NAME,
                "target",
                __focal_this,
                ::focal::checks::DTypes::FLOAT,
            )?;
            if let ::core::option::Option::Some(__focal_other) = ::core::option::Option::Some(
                input,
            ) {
                ::focal::checks::same_shape(
                    Self::NAME,
                    "target",
                    __focal_this,
                    "input",
                    __focal_other,
                )?;
            }
        }
        let __focal_composed = || -> ::focal::__private::CheckedResult {
            let __focal_output = ::focal::__private::catch_tch_panics(|| {
                    ::focal::__private::IntoLossOutput::into_loss_output(
                        safe_log(input, target, ::core::clone::Clone::clone(&self.eps)),
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
    /// The loss's name, as its error messages give it.
    pub(crate) fn name(&self) -> &'static str {
        Self::NAME
    }
}
impl ::focal::DynLoss for SafeLog {
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
        SafeLog::f_forward(self, __focal_tensor0, __focal_tensor1)
    }
    fn as_loss(&self) -> ::core::option::Option<&dyn ::focal::Loss> {
        ::core::option::Option::Some(self)
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
