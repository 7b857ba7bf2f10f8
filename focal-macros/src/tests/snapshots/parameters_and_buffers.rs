pub fn uncertainty(
    input: &Tensor,
    target: &Tensor,
    log_vars: &Tensor,
    task_weights: &Tensor,
) -> Tensor {
    (input - target).square() * (-log_vars).exp() * task_weights + log_vars
}
/// The `uncertainty` loss as a module: see [`uncertainty`].
#[derive(::core::fmt::Debug)]
pub struct Uncertainty {
    /// A learnable parameter, registered on the `VarStore` path given to `new`.
    pub log_vars: ::focal::__private::tch::Tensor,
    /// A buffer (saved and moved with the `VarStore`, never trained).
    pub task_weights: ::focal::__private::tch::Tensor,
    /// How the elementwise losses are reduced (default: `mean`): one of `none`, `mean`, `sum`.
    pub reduction: ::focal::Reduction,
}
impl Uncertainty {
    /// The loss with its default hyperparameters, its parameters and buffers
    /// registered under `path` (on that `VarStore`'s device).
    pub fn f_new(
        path: &::focal::__private::tch::nn::Path,
    ) -> ::core::result::Result<Self, ::focal::LossError> {
        ::core::result::Result::Ok(Self {
            log_vars: ::focal::__private::state_tensor(
                    path,
                    "log_vars",
                    true,
                    ::core::option::Option::Some(
                        ::core::convert::Into::<::std::vec::Vec<i64>>::into([2]),
                    ),
                    ::core::convert::Into::<::focal::StateInit>::into(0.0),
                )
                .map_err(|err| err.in_loss(Self::NAME))?,
            task_weights: ::focal::__private::state_tensor(
                    path,
                    "task_weights",
                    false,
                    ::core::option::Option::None,
                    ::core::convert::Into::<::focal::StateInit>::into(vec![1.0, 2.0]),
                )
                .map_err(|err| err.in_loss(Self::NAME))?,
            reduction: ::focal::Reduction::Mean,
        })
    }
    /// The loss with its default hyperparameters, its parameters and buffers
    /// registered under `path`.
    ///
    /// # Panics
    /// Where [`f_new`](Self::f_new) fails (an initial value of the wrong shape, say).
    #[track_caller]
    pub fn new(path: &::focal::__private::tch::nn::Path) -> Self {
        match Self::f_new(path) {
            ::core::result::Result::Ok(loss) => loss,
            ::core::result::Result::Err(err) => ::core::panic!("{}", err),
        }
    }
}
impl Uncertainty {
    /// The loss's name, as its error messages give it.
    pub const NAME: &'static str = ::core::stringify!(Uncertainty);
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
    /// Sets [`reduction`](Self::reduction).
    #[must_use]
    pub fn with_reduction(mut self, reduction: ::focal::Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}
impl Uncertainty {
    /// Checks the hyperparameters and the reduction, as `f_forward` does before each call.
    pub fn validate(&self) -> ::core::result::Result<(), ::focal::LossError> {
        ::focal::__private::check_reduction(
            Self::NAME,
            self.reduction,
            Self::REDUCTIONS,
        )?;
        ::core::result::Result::Ok(())
    }
    /// Computes the loss, or says why it cannot; runs [`uncertainty`] after the checks.
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
            &[
                ("input", input),
                ("target", target),
                ("log_vars", &self.log_vars),
                ("task_weights", &self.task_weights),
            ],
        )?;
        let __focal_composed = || -> ::focal::__private::CheckedResult {
            let __focal_output = ::focal::__private::catch_tch_panics(|| {
                    ::focal::__private::IntoLossOutput::into_loss_output(
                        uncertainty(input, target, &self.log_vars, &self.task_weights),
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
impl ::focal::DynLoss for Uncertainty {
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
        Uncertainty::f_forward(self, __focal_tensor0, __focal_tensor1)
    }
    fn as_loss(&self) -> ::core::option::Option<&dyn ::focal::Loss> {
        ::core::option::Option::Some(self)
    }
}
impl ::focal::Loss for Uncertainty {
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
        Uncertainty::f_forward(self, input, target)
    }
}
