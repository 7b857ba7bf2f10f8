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
/// by a fixed random cotangent, so every output element counts. The cotangent comes from a
/// generator of its own (seeded by `options.seed`): the caller's random stream is untouched.
/// [`gradcheck_function`] checks other arguments (a soft target, a loss's own tensors) too.
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
    let target = if target.is_floating_point() {
        target.f_to_kind(Kind::Double).map_err(tag)?
    } else {
        target.shallow_clone()
    };
    let reports = check(
        name,
        &|inputs: &[Tensor]| Ok(vec![loss.f_forward(&inputs[0], &target)?]),
        &[input],
        options,
    )?;
    reports.into_iter().next().flatten().ok_or_else(|| {
        tag(tch::TchError::Kind(
            "gradcheck needs a floating-point input".into(),
        ))
    })
}

/// Checks the gradients of a function of several tensors with several outputs (a
/// [`Function`](crate::autograd::Function), a loss seen as a function of its input, target and
/// own tensors) against central finite differences, in float64: one report per input, `None`
/// for an input that is not floating-point (class indices). Each output is weighed by a fixed
/// random cotangent (from a generator of its own, seeded by `options.seed`).
///
/// ```
/// use focal_runtime::{gradcheck_function, GradcheckOptions};
/// use tch::{Kind, Tensor};
/// let (a, b) = (Tensor::from_slice(&[0.5f64, 2.0]), Tensor::from_slice(&[1.5f64, -1.0]));
/// let f = |x: &[Tensor]| Ok(vec![(&x[0] * &x[1]).sin(), x[0].exp().sum(Kind::Double)]);
/// let reports = gradcheck_function("product", f, &[&a, &b], GradcheckOptions::default()).unwrap();
/// assert!(reports.iter().all(|r| r.as_ref().unwrap().passed(1e-7)), "{reports:?}");
/// ```
pub fn gradcheck_function(
    name: &'static str,
    function: impl Fn(&[Tensor]) -> Result<Vec<Tensor>, LossError>,
    inputs: &[&Tensor],
    options: GradcheckOptions,
) -> Result<Vec<Option<GradcheckReport>>, LossError> {
    check(name, &function, inputs, options)
}

type Outputs<'a> = dyn Fn(&[Tensor]) -> Result<Vec<Tensor>, LossError> + 'a;

fn check(
    name: &'static str,
    function: &Outputs<'_>,
    inputs: &[&Tensor],
    options: GradcheckOptions,
) -> Result<Vec<Option<GradcheckReport>>, LossError> {
    let tag = |e: tch::TchError| LossError::from(e).in_loss(name);
    let values: Vec<Tensor> = inputs
        .iter()
        .map(|t| {
            if t.is_floating_point() {
                t.f_to_kind(Kind::Double).and_then(|t| t.f_detach())
            } else {
                t.f_detach()
            }
        })
        .collect::<Result<_, _>>()
        .map_err(tag)?;
    // One fixed random cotangent per output, from a local generator.
    let cotangents: Vec<Tensor> = {
        let outputs = tch::no_grad(|| function(&values))?;
        let mut rng = SplitMix(options.seed as u64);
        outputs
            .iter()
            .map(|out| {
                let n = out.numel();
                let weights: Vec<f64> = (0..n).map(|_| rng.next_unit()).collect();
                Tensor::f_from_slice(&weights)
                    .and_then(|w| w.f_reshape(out.size()))
                    .and_then(|w| w.f_to_device(out.device()))
            })
            .collect::<Result<_, _>>()
            .map_err(tag)?
    };
    let scalar = |args: &[Tensor]| -> Result<Tensor, LossError> {
        let outputs = function(args)?;
        let mut total: Option<Tensor> = None;
        for (out, v) in outputs.iter().zip(&cotangents) {
            let term = out
                .f_to_kind(Kind::Double)
                .and_then(|o| o.f_mul(v))
                .and_then(|o| o.f_sum(Kind::Double))
                .map_err(tag)?;
            total = Some(match total {
                None => term,
                Some(t) => t.f_add(&term).map_err(tag)?,
            });
        }
        total.ok_or_else(|| {
            tag(tch::TchError::Shape(
                "the function returned no output".into(),
            ))
        })
    };

    let leaves: Vec<Tensor> = values
        .iter()
        .map(|v| {
            let leaf = v.f_detach()?;
            Ok(if v.is_floating_point() {
                leaf.set_requires_grad(true)
            } else {
                leaf
            })
        })
        .collect::<Result<_, tch::TchError>>()
        .map_err(tag)?;
    let value = scalar(&leaves)?;
    let differentiable: Vec<&Tensor> = leaves.iter().filter(|l| l.requires_grad()).collect();
    let grads = Tensor::f_run_backward(&[&value], &differentiable, false, false).map_err(tag)?;
    let mut grads = grads.into_iter();

    let mut reports = Vec::with_capacity(values.len());
    for (index, x) in values.iter().enumerate() {
        if !x.is_floating_point() {
            reports.push(None);
            continue;
        }
        let analytic = grads
            .next()
            .ok_or_else(|| tag(tch::TchError::Shape("a gradient is missing".into())))?;
        let analytic = if analytic.defined() {
            analytic.f_reshape([-1]).map_err(tag)?
        } else {
            x.f_zeros_like()
                .and_then(|z| z.f_reshape([-1]))
                .map_err(tag)?
        };
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
                    let mut args: Vec<Tensor> = values.iter().map(Tensor::shallow_clone).collect();
                    args[index] = perturbed.f_reshape(x.size()).map_err(tag)?;
                    scalar(&args)?.f_double_value(&[]).map_err(tag)
                };
                let numeric =
                    (shifted(options.eps)? - shifted(-options.eps)?) / (2.0 * options.eps);
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
        reports.push(Some(GradcheckReport {
            max_abs_error: max_abs,
            max_rel_error: max_abs / scale,
            worst_index: worst,
            checked,
        }));
    }
    Ok(reports)
}

/// A small local random generator (SplitMix64): the cotangents do not touch libtorch's global
/// generator.
struct SplitMix(u64);

impl SplitMix {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}
