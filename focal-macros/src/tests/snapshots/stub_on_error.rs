::core::compile_error! {
    "invalid reduction \"avg\": expected one of \"none\", \"mean\", \"sum\""
}
::core::compile_error! {
    "unknown #[hyper] key `defualt`: did you mean `default`? (valid: `default`, `check`)"
}
pub fn scaled(input: &Tensor, target: &Tensor, gamma: f64) -> Tensor {
    (input - target).square() * gamma
}
/// The `scaled` loss as a module: see [`scaled`].
pub struct Scaled {
    /// Default: the type's `Default`.
    pub gamma: f64,
    /// How the elementwise losses are reduced (default: `mean`).
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
    /// Checks the hyperparameters, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::core::panic!("#[loss] could not expand this loss; see the compile errors")
    }
    /// Computes the loss, or says why it cannot; runs [`scaled`] after the checks.
    pub fn f_forward(
        &self,
        _input: &::focal::__private::tch::Tensor,
        _target: &::focal::__private::tch::Tensor,
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
        _input: &::focal::__private::tch::Tensor,
        _target: &::focal::__private::tch::Tensor,
    ) -> ::focal::__private::tch::Tensor {
        match self.f_forward(_input, _target) {
            ::core::result::Result::Ok(loss) => loss,
            ::core::result::Result::Err(err) => ::core::panic!("{}", err),
        }
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
        _input: &::focal::__private::tch::Tensor,
        _target: &::focal::__private::tch::Tensor,
    ) -> ::core::result::Result<::focal::__private::tch::Tensor, ::focal::LossError> {
        Scaled::f_forward(self, _input, _target)
    }
}
