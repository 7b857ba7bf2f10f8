/// Weighted squared error.
pub fn weighted_squared(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    scale: f64,
) -> Tensor {
    let squared = (input - target).square() * scale;
    match weight {
        Some(w) => squared * w,
        None => squared,
    }
}
/// Weighted squared error.
#[derive(
    ::core::fmt::Debug,
    ::core::clone::Clone,
    ::core::cmp::PartialEq,
    ::focal::__private::serde::Serialize,
    ::focal::__private::serde::Deserialize
)]
#[serde(
    crate = "::focal::__private::serde",
    try_from = "__FocalUncheckedWeightedSquared"
)]
pub struct WeightedSquared {
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
    rename = "__FocalUncheckedWeightedSquared"
)]
pub struct __FocalUncheckedWeightedSquared {
    scale: f64,
    #[serde(deserialize_with = "WeightedSquared::__focal_deserialize_reduction")]
    reduction: ::focal::Reduction,
}
impl ::core::default::Default for __FocalUncheckedWeightedSquared {
    fn default() -> Self {
        let defaults = <WeightedSquared as ::core::default::Default>::default();
        Self {
            scale: defaults.scale,
            reduction: defaults.reduction,
        }
    }
}
impl ::core::convert::TryFrom<__FocalUncheckedWeightedSquared> for WeightedSquared {
    type Error = ::focal::LossError;
    fn try_from(
        unchecked: __FocalUncheckedWeightedSquared,
    ) -> ::core::result::Result<Self, Self::Error> {
        let loss = Self {
            scale: unchecked.scale,
            reduction: unchecked.reduction,
        };
        loss.validate()?;
        ::core::result::Result::Ok(loss)
    }
}
impl ::core::default::Default for WeightedSquared {
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
impl WeightedSquared {
    /// The loss with its default hyperparameters.
    pub fn new() -> Self {
        <Self as ::core::default::Default>::default()
    }
}
impl WeightedSquared {
    /// The loss's name, as its error messages give it.
    pub const NAME: &'static str = ::core::stringify!(WeightedSquared);
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
impl WeightedSquared {
    /// Checks the hyperparameters and the reduction, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::focal::__private::check_reduction(
            Self::NAME,
            self.reduction,
            Self::REDUCTIONS,
        )?;
        ::core::result::Result::Ok(())
    }
    /// Computes the loss, or says why it cannot; runs [`weighted_squared`] after the checks.
    pub fn f_forward(
        &self,
        input: &::focal::__private::tch::Tensor,
        target: &::focal::__private::tch::Tensor,
        weight: ::core::option::Option<&::focal::__private::tch::Tensor>,
    ) -> ::core::result::Result<::focal::__private::tch::Tensor, ::focal::LossError> {
        self.validate()?;
        ::focal::checks::usable(Self::NAME, "input", input)?;
        ::focal::checks::usable(Self::NAME, "target", target)?;
        if let ::core::option::Option::Some(__focal_present) = weight {
            ::focal::checks::usable(Self::NAME, "weight", __focal_present)?;
        }
        let __focal_devices: ::std::vec::Vec<
            (&'static str, &::focal::__private::tch::Tensor),
        > = [
            ("input", ::core::option::Option::Some(input)),
            ("target", ::core::option::Option::Some(target)),
            ("weight", weight),
        ]
            .into_iter()
            .filter_map(|(name, tensor)| ::core::option::Option::map(
                tensor,
                |t| (name, t),
            ))
            .collect();
        ::focal::checks::same_device(Self::NAME, &__focal_devices)?;
        let __focal_grad_mode = ::focal::__private::is_grad_enabled();
        let __focal_composed = || -> ::focal::__private::CheckedResult {
            let __focal_output = ::focal::__private::catch_tch_panics(|| {
                    ::focal::__private::IntoLossOutput::into_loss_output(
                        weighted_squared(
                            input,
                            target,
                            weight,
                            ::core::clone::Clone::clone(&self.scale),
                        ),
                    )
                })
                .and_then(|__focal_output| __focal_output)
                .map_err(|__focal_err| __focal_err.in_loss(Self::NAME))?;
            __focal_output.reduce(Self::NAME, self.reduction)
        };
        if !(__focal_grad_mode
            && (::focal::__private::tch::Tensor::requires_grad(target)
                || ::core::option::Option::is_some_and(
                    weight,
                    ::focal::__private::tch::Tensor::requires_grad,
                )))
        {
            let __focal_needs_grad = __focal_grad_mode
                && ::focal::__private::tch::Tensor::requires_grad(input);
            #[allow(clippy::type_complexity)]
            let __focal_kernel: fn(
                &Self,
                &::focal::__private::tch::Tensor,
                &::focal::__private::tch::Tensor,
                ::core::option::Option<&::focal::__private::tch::Tensor>,
                bool,
            ) -> ::core::result::Result<
                ::core::option::Option<::focal::Fused>,
                ::focal::LossError,
            > = squared_kernel;
            let __focal_fused = __focal_kernel(
                self,
                input,
                target,
                weight,
                __focal_needs_grad,
            );
            if let ::core::option::Option::Some(__focal_loss) = ::focal::__private::fused_result(
                Self::NAME,
                __focal_fused,
                input,
                __focal_needs_grad,
            )? {
                return ::core::result::Result::Ok(__focal_loss);
            }
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
        weight: ::core::option::Option<&::focal::__private::tch::Tensor>,
    ) -> ::focal::__private::tch::Tensor {
        match self.f_forward(input, target, weight) {
            ::core::result::Result::Ok(loss) => loss,
            ::core::result::Result::Err(err) => ::core::panic!("{}", err),
        }
    }
    /// The loss's name, as its error messages give it.
    pub fn name(&self) -> &'static str {
        Self::NAME
    }
}
impl ::focal::DynLoss for WeightedSquared {
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
            ::focal::TensorArg {
                name: "weight",
                optional: true,
            },
        ]
    }
    fn f_forward_tensors(
        &self,
        __focal_tensors: &[::core::option::Option<&::focal::__private::tch::Tensor>],
    ) -> ::core::result::Result<::focal::__private::tch::Tensor, ::focal::LossError> {
        let [__focal_tensor0, __focal_tensor1, __focal_tensor2] = ::focal::__private::check_arguments::<
            3usize,
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
        WeightedSquared::f_forward(
            self,
            __focal_tensor0,
            __focal_tensor1,
            __focal_tensor2,
        )
    }
    fn as_loss(&self) -> ::core::option::Option<&dyn ::focal::Loss> {
        ::core::option::Option::Some(self)
    }
}
impl ::focal::Loss for WeightedSquared {
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
        WeightedSquared::f_forward(self, input, target, ::core::option::Option::None)
    }
}
