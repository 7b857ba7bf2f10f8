//! Checking a loss's gradient against central finite differences.

use tch::{Kind, Tensor};

use crate::{Loss, LossError};

/// Settings of [`gradcheck`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradcheckOptions {
    /// The finite-difference step.
    pub eps: f64,
    /// At most this many input elements are perturbed (evenly spread); the rest are not checked.
    pub max_elements: usize,
    /// Seed of the random cotangent that weighs an unreduced (`Reduction::None`) output.
    pub seed: i64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            max_elements: 512,
            seed: 0,
        }
    }
}

/// What [`gradcheck`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// The largest `|autograd - numeric|` over the checked elements.
    pub max_abs_error: f64,
    /// `max_abs_error` divided by the largest `|numeric|` (or 1 where all are below 1e-12).
    pub max_rel_error: f64,
    /// The flat index of the element with the largest error.
    pub worst_index: i64,
    /// How many elements were checked.
    pub checked: usize,
}

impl GradcheckReport {
    /// Whether the worst relative error is at most `tolerance`.
    pub fn passed(&self, tolerance: f64) -> bool {
        self.max_rel_error <= tolerance
    }
}

/// Compares autograd's gradient of `loss` with respect to `input` with central finite
/// differences, in float64, and reports the worst error.
///
/// The input (and a floating-point target) are cast to float64. An unreduced output is weighed
/// by a fixed random cotangent, so every output element counts.
///
/// ```
/// use focal_runtime::{gradcheck, FocalLoss, GradcheckOptions};
/// use tch::{Device, Kind, Tensor};
/// let x = Tensor::randn([3, 4, 2], (Kind::Double, Device::Cpu));
/// let t = Tensor::randint(4, [3, 2], (Kind::Int64, Device::Cpu));
/// let report = gradcheck(&FocalLoss::default(), &x, &t, GradcheckOptions::default()).unwrap();
/// assert!(report.passed(1e-6), "{report:?}");
/// ```
pub fn gradcheck(
    loss: &dyn Loss,
    input: &Tensor,
    target: &Tensor,
    options: GradcheckOptions,
) -> Result<GradcheckReport, LossError> {
    let name = loss.name();
    let tag = |e: tch::TchError| LossError::from(e).in_loss(name);
    let x = input
        .f_to_kind(Kind::Double)
        .map_err(tag)?
        .f_detach()
        .map_err(tag)?;
    let target = if target.is_floating_point() {
        target.f_to_kind(Kind::Double).map_err(tag)?
    } else {
        target.shallow_clone()
    };
    let cotangent = {
        let out = tch::no_grad(|| loss.f_forward(&x, &target))?;
        let generator_seed = options.seed;
        tch::manual_seed(generator_seed);
        if out.dim() == 0 {
            None
        } else {
            Some(Tensor::f_rand(out.size(), (Kind::Double, out.device())).map_err(tag)?)
        }
    };
    let scalar = |value: &Tensor| -> Result<Tensor, LossError> {
        let out = loss.f_forward(value, &target)?;
        match &cotangent {
            None => Ok(out),
            Some(v) => out
                .f_mul(v)
                .and_then(|o| o.f_sum(Kind::Double))
                .map_err(tag),
        }
    };

    let leaf = x.f_detach().map_err(tag)?.set_requires_grad(true);
    let value = scalar(&leaf)?;
    let grads = Tensor::f_run_backward(&[&value], &[&leaf], false, false).map_err(tag)?;
    let analytic = grads[0].f_reshape([-1]).map_err(tag)?;

    let flat = x.f_reshape([-1]).map_err(tag)?;
    let numel = flat.size()[0];
    let step = ((numel as usize).div_ceil(options.max_elements.max(1))).max(1) as i64;
    let (mut max_abs, mut max_numeric, mut worst, mut checked) = (0.0f64, 0.0f64, 0i64, 0usize);
    tch::no_grad(|| -> Result<(), LossError> {
        let mut i = 0;
        while i < numel {
            let original = flat.f_double_value(&[i]).map_err(tag)?;
            let shifted = |delta: f64| -> Result<f64, LossError> {
                let perturbed = flat.f_detach_copy().map_err(tag)?;
                let _ = perturbed
                    .f_get(i)
                    .map_err(tag)?
                    .f_fill_(original + delta)
                    .map_err(tag)?;
                let reshaped = perturbed.f_reshape(x.size()).map_err(tag)?;
                scalar(&reshaped)?.f_double_value(&[]).map_err(tag)
            };
            let numeric = (shifted(options.eps)? - shifted(-options.eps)?) / (2.0 * options.eps);
            let auto = analytic.f_double_value(&[i]).map_err(tag)?;
            let err = (auto - numeric).abs();
            if err > max_abs || err.is_nan() {
                max_abs = if err.is_nan() { f64::INFINITY } else { err };
                worst = i;
            }
            max_numeric = max_numeric.max(numeric.abs());
            checked += 1;
            i += step;
        }
        Ok(())
    })?;
    let scale = if max_numeric < 1e-12 {
        1.0
    } else {
        max_numeric
    };
    Ok(GradcheckReport {
        max_abs_error: max_abs,
        max_rel_error: max_abs / scale,
        worst_index: worst,
        checked,
    })
}
