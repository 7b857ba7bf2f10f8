::core::compile_error! {
    "unknown #[hyper] key `defualt`: did you mean `default`? (valid: `default`, `check`)"
}
::core::compile_error! {
    "invalid reduction \"avg\": expected one of \"none\", \"mean\", \"sum\"; a reduction of the loss's own is declared with `extra_reductions = [\"avg\"]`"
}
pub fn scaled(input: &Tensor, target: &Tensor, gamma: f64) -> Tensor {
    (input - target).square() * gamma
}
/// The `scaled` loss as a module: see [`scaled`].
pub struct Scaled {
    /// Default: the type's `Default`.
    pub gamma: f64,
    /// How the elementwise losses are reduced (default: `avg`): one of `none`, `mean`, `sum`.
    pub reduction: ::focal::Reduction,
}
impl ::core::default::Default for Scaled {
    fn default() -> Self {
        ::core::panic!("#[loss] could not expand this loss; see the compile errors")
    }
}
impl Scaled {
    /// The loss with its default hyperparameters.
    pub fn new() -> Self {
        <Self as ::core::default::Default>::default()
    }
}
impl Scaled {
    /// The loss's name, as its error messages give it.
    pub const NAME: &'static str = ::core::stringify!(Scaled);
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
    /// Sets [`gamma`](Self::gamma).
    #[must_use]
    pub fn with_gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }
    /// Sets [`reduction`](Self::reduction).
    #[must_use]
    pub fn with_reduction(mut self, reduction: ::focal::Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}
impl Scaled {
    /// Checks the hyperparameters and the reduction, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::core::panic!("#[loss] could not expand this loss; see the compile errors")
    }
    /// Computes the loss, or says why it cannot; runs [`scaled`] after the checks.
    pub fn f_forward(
        &self,
        _tensor0: &::focal::__private::tch::Tensor,
        _tensor1: &::focal::__private::tch::Tensor,
    ) -> ::core::result::Result<::focal::__private::tch::Tensor, ::focal::LossError> {
        ::core::panic!("#[loss] could not expand this loss; see the compile errors")
    }
    /// Computes the loss.
    ///
    /// # Panics
    /// With the error's message where [`f_forward`](Self::f_forward) fails.
    #[track_caller]
    pub fn forward(
        &self,
        _tensor0: &::focal::__private::tch::Tensor,
        _tensor1: &::focal::__private::tch::Tensor,
    ) -> ::focal::__private::tch::Tensor {
        match self.f_forward(_tensor0, _tensor1) {
            ::core::result::Result::Ok(loss) => loss,
            ::core::result::Result::Err(err) => ::core::panic!("{}", err),
        }
    }
    /// The loss's name, as its error messages give it.
    pub fn name(&self) -> &'static str {
        Self::NAME
    }
}
impl ::focal::DynLoss for Scaled {
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
        ::core::panic!("#[loss] could not expand this loss; see the compile errors")
    }
    fn as_loss(&self) -> ::core::option::Option<&dyn ::focal::Loss> {
        ::core::option::Option::Some(self)
    }
}
impl ::focal::Loss for Scaled {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn reduction(&self) -> ::focal::Reduction {
        self.reduction
    }
    fn f_forward(
        &self,
        _tensor0: &::focal::__private::tch::Tensor,
        _tensor1: &::focal::__private::tch::Tensor,
    ) -> ::core::result::Result<::focal::__private::tch::Tensor, ::focal::LossError> {
        Scaled::f_forward(self, _tensor0, _tensor1)
    }
}
