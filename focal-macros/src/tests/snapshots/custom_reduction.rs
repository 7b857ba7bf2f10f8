pub fn kl_div(
    input: &Tensor,
    target: &Tensor,
    reduction: Reduction,
) -> Result<Tensor, LossError> {
    let pointwise = target.f_xlogy(target)?.f_sub(&target.f_mul(input)?)?;
    match reduction {
        Reduction::Custom("batchmean") => {
            Ok(pointwise.f_sum(None)?.f_div_scalar(input.size()[0])?)
        }
        standard => standard.apply(KlDiv::NAME, &pointwise),
    }
}
/// The `kl_div` loss as a module: see [`kl_div`].
#[derive(
    ::core::fmt::Debug,
    ::core::clone::Clone,
    ::core::cmp::PartialEq,
    ::focal::__private::serde::Serialize,
    ::focal::__private::serde::Deserialize
)]
#[serde(crate = "::focal::__private::serde", try_from = "__FocalUncheckedKlDiv")]
pub struct KlDiv {
    /// How the elementwise losses are reduced (default: `mean`): one of `none`, `mean`, `sum`, `batchmean`.
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
    rename = "__FocalUncheckedKlDiv"
)]
pub struct __FocalUncheckedKlDiv {
    #[serde(deserialize_with = "KlDiv::__focal_deserialize_reduction")]
    reduction: ::focal::Reduction,
}
impl ::core::default::Default for __FocalUncheckedKlDiv {
    fn default() -> Self {
        let defaults = <KlDiv as ::core::default::Default>::default();
        Self {
            reduction: defaults.reduction,
        }
    }
}
impl ::core::convert::TryFrom<__FocalUncheckedKlDiv> for KlDiv {
    type Error = ::focal::LossError;
    fn try_from(
        unchecked: __FocalUncheckedKlDiv,
    ) -> ::core::result::Result<Self, Self::Error> {
        let loss = Self {
            reduction: unchecked.reduction,
        };
        loss.validate()?;
        ::core::result::Result::Ok(loss)
    }
}
::focal::__private::inventory::submit! {
    ::focal::__private::Registration::new:: < KlDiv > ("kl_div")
}
impl ::core::default::Default for KlDiv {
    fn default() -> Self {
        Self {
            reduction: ::focal::Reduction::Mean,
        }
    }
}
impl KlDiv {
    /// The loss with its default hyperparameters.
    pub fn new() -> Self {
        <Self as ::core::default::Default>::default()
    }
}
impl KlDiv {
    /// The loss's name, as its error messages give it.
    pub const NAME: &'static str = ::core::stringify!(KlDiv);
    /// The names of the reductions this loss accepts.
    pub const REDUCTIONS: &'static [&'static str] = &[
        "none",
        "mean",
        "sum",
        "batchmean",
    ];
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
    /// Sets [`reduction`](Self::reduction).
    #[must_use]
    pub fn with_reduction(mut self, reduction: ::focal::Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}
impl KlDiv {
    /// Checks the hyperparameters and the reduction, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::focal::__private::check_reduction(
            Self::NAME,
            self.reduction,
            Self::REDUCTIONS,
        )?;
        ::core::result::Result::Ok(())
    }
    /// Computes the loss, or says why it cannot; runs [`kl_div`] after the checks.
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
                        kl_div(input, target, self.reduction),
                    )
                })
                .and_then(|__focal_output| __focal_output)
                .map_err(|__focal_err| __focal_err.in_loss(Self::NAME))?;
            __focal_output.reduce(Self::NAME, ::focal::Reduction::None)
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
    /// The loss's name, as its error messages give it.
    pub fn name(&self) -> &'static str {
        Self::NAME
    }
}
impl ::focal::DynLoss for KlDiv {
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
        KlDiv::f_forward(self, __focal_tensor0, __focal_tensor1)
    }
    fn as_loss(&self) -> ::core::option::Option<&dyn ::focal::Loss> {
        ::core::option::Option::Some(self)
    }
}
impl ::focal::Loss for KlDiv {
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
        KlDiv::f_forward(self, input, target)
    }
}
