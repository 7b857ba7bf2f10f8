/// `1 - cos(x1, x2)` for similar pairs, `max(0, cos - margin)` for the others.
pub fn cosine_embedding(
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    margin: f64,
) -> Result<Tensor, LossError> {
    let cos = input1.f_cosine_similarity(input2, 1, 1e-8)?;
    Ok(
        cos
            .f_rsub_scalar(1.0)?
            .f_where_self(&target.f_eq(1)?, &(cos - margin).f_relu()?)?,
    )
}
/// `1 - cos(x1, x2)` for similar pairs, `max(0, cos - margin)` for the others.
#[derive(
    ::core::fmt::Debug,
    ::core::clone::Clone,
    ::core::cmp::PartialEq,
    ::focal::__private::serde::Serialize,
    ::focal::__private::serde::Deserialize
)]
#[serde(
    crate = "::focal::__private::serde",
    try_from = "__FocalUncheckedCosineEmbedding"
)]
pub struct CosineEmbedding {
    /// Default: `0.5`.
    pub margin: f64,
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
    rename = "__FocalUncheckedCosineEmbedding"
)]
pub struct __FocalUncheckedCosineEmbedding {
    margin: f64,
    #[serde(deserialize_with = "CosineEmbedding::__focal_deserialize_reduction")]
    reduction: ::focal::Reduction,
}
impl ::core::default::Default for __FocalUncheckedCosineEmbedding {
    fn default() -> Self {
        let defaults = <CosineEmbedding as ::core::default::Default>::default();
        Self {
            margin: defaults.margin,
            reduction: defaults.reduction,
        }
    }
}
impl ::core::convert::TryFrom<__FocalUncheckedCosineEmbedding> for CosineEmbedding {
    type Error = ::focal::LossError;
    fn try_from(
        unchecked: __FocalUncheckedCosineEmbedding,
    ) -> ::core::result::Result<Self, Self::Error> {
        let loss = Self {
            margin: unchecked.margin,
            reduction: unchecked.reduction,
        };
        loss.validate()?;
        ::core::result::Result::Ok(loss)
    }
}
impl ::core::default::Default for CosineEmbedding {
    fn default() -> Self {
        Self {
            margin: {
                let __focal_default: f64 = 0.5;
                __focal_default
            },
            reduction: ::focal::Reduction::Mean,
        }
    }
}
impl CosineEmbedding {
    /// The loss with its default hyperparameters.
    pub fn new() -> Self {
        <Self as ::core::default::Default>::default()
    }
}
impl CosineEmbedding {
    /// The loss's name, as its error messages give it.
    pub const NAME: &'static str = ::core::stringify!(CosineEmbedding);
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
    /// Sets [`margin`](Self::margin).
    #[must_use]
    pub fn with_margin(mut self, margin: f64) -> Self {
        self.margin = margin;
        self
    }
    /// Sets [`reduction`](Self::reduction).
    #[must_use]
    pub fn with_reduction(mut self, reduction: ::focal::Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}
impl CosineEmbedding {
    /// Checks the hyperparameters and the reduction, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::focal::__private::check_reduction(
            Self::NAME,
            self.reduction,
            Self::REDUCTIONS,
        )?;
        ::focal::__private::hyper_in_range(
            Self::NAME,
            "margin",
            &self.margin,
            &((::core::ops::Bound::Excluded(0.0), ::core::ops::Bound::Included(1.0))),
            "0.0<..=1.0",
        )?;
        ::core::result::Result::Ok(())
    }
    /// Computes the loss, or says why it cannot; runs [`cosine_embedding`] after the checks.
    pub fn f_forward(
        &self,
        input1: &::focal::__private::tch::Tensor,
        input2: &::focal::__private::tch::Tensor,
        target: &::focal::__private::tch::Tensor,
    ) -> ::core::result::Result<::focal::__private::tch::Tensor, ::focal::LossError> {
        self.validate()?;
        ::focal::checks::usable(Self::NAME, "input1", input1)?;
        ::focal::checks::usable(Self::NAME, "input2", input2)?;
        ::focal::checks::usable(Self::NAME, "target", target)?;
        ::focal::checks::same_device(
            Self::NAME,
            &[("input1", input1), ("input2", input2), ("target", target)],
        )?;
        {
            let __focal_this = input1;
            ::focal::checks::dtype(
                Self::NAME,
                "input1",
                __focal_this,
                ::focal::checks::DTypes::FLOAT,
            )?;
            ::focal::checks::rank(Self::NAME, "input1", __focal_this, 2usize, 2usize)?;
        }
        {
            let __focal_this = input2;
            ::focal::checks::dtype(
                Self::NAME,
                "input2",
                __focal_this,
                ::focal::checks::DTypes::FLOAT,
            )?;
            if let ::core::option::Option::Some(__focal_other) = ::core::option::Option::Some(
                input1,
            ) {
                ::focal::checks::same_shape(
                    Self::NAME,
                    "input2",
                    __focal_this,
                    "input1",
                    __focal_other,
                )?;
            }
        }
        {
            let __focal_this = target;
            ::focal::checks::per_sample(
                Self::NAME,
                "target",
                __focal_this,
                "input1",
                input1,
            )?;
        }
        let __focal_composed = || -> ::focal::__private::CheckedResult {
            let __focal_output = ::focal::__private::catch_tch_panics(|| {
                    ::focal::__private::IntoLossOutput::into_loss_output(
                        cosine_embedding(
                            input1,
                            input2,
                            target,
                            ::core::clone::Clone::clone(&self.margin),
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
        input1: &::focal::__private::tch::Tensor,
        input2: &::focal::__private::tch::Tensor,
        target: &::focal::__private::tch::Tensor,
    ) -> ::focal::__private::tch::Tensor {
        match self.f_forward(input1, input2, target) {
            ::core::result::Result::Ok(loss) => loss,
            ::core::result::Result::Err(err) => ::core::panic!("{}", err),
        }
    }
    /// The loss's name, as its error messages give it.
    pub fn name(&self) -> &'static str {
        Self::NAME
    }
}
impl ::focal::DynLoss for CosineEmbedding {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn reduction(&self) -> ::focal::Reduction {
        self.reduction
    }
    fn tensor_args(&self) -> &'static [::focal::TensorArg] {
        &[
            ::focal::TensorArg {
                name: "input1",
                optional: false,
            },
            ::focal::TensorArg {
                name: "input2",
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
        let ::core::option::Option::Some(__focal_tensor2) = __focal_tensor2 else {
            return ::core::result::Result::Err(
                ::focal::__private::missing_argument(Self::NAME),
            );
        };
        CosineEmbedding::f_forward(
            self,
            __focal_tensor0,
            __focal_tensor1,
            __focal_tensor2,
        )
    }
    fn as_loss(&self) -> ::core::option::Option<&dyn ::focal::Loss> {
        ::core::option::Option::None
    }
}
