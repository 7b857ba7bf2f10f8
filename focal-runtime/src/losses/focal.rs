//! The seed's binary focal loss on probabilities.

use focal_macros::loss;
use tch::Tensor;

use crate::{checks, LossError};

/// The lower clamp of `p_t`, as in the seed's reference code.
pub(crate) const P_T_MIN: f64 = 1e-4;

/// Binary focal loss on probabilities (Lin et al. 2017), exactly as the seed's `Focal`:
/// `-alpha_t (1 - p_t)^gamma ln(clamp(p_t, 1e-4, 1))`, where `p_t` is `p` for targets of 1 and
/// `1 - p` for targets of 0, and `alpha_t` is `alpha` for targets of 1 and `1 - alpha` for 0.
///
/// `input` holds probabilities of the positive class, any shape; `target` has the same shape and
/// holds 0 and 1 (any dtype). Mean (the seed's `size_average=True`) and Sum (`False`) reduce
/// over every element.
///
/// ```
/// use focal_runtime::{Focal, Reduction};
/// use tch::Tensor;
/// let p = Tensor::from_slice(&[0.9f64, 0.2]);
/// let t = Tensor::from_slice(&[1i64, 0]);
/// let loss = Focal::new().with_reduction(Reduction::None).forward(&p, &t);
/// // -0.25 * 0.1^2 * ln 0.9 and -0.75 * 0.2^2 * ln 0.8
/// let expected = [-0.25 * 0.01 * 0.9f64.ln(), -0.75 * 0.04 * 0.8f64.ln()];
/// for (i, e) in expected.iter().enumerate() {
///     assert!((loss.double_value(&[i as i64]) - e).abs() < 1e-15);
/// }
/// ```
#[loss(crate = crate, register = "focal")]
pub fn focal(
    #[tensor(float)] input: &Tensor,
    #[tensor(float, integer, bool, same_shape_as = input)] target: &Tensor,
    /// The focusing exponent: larger values down-weight well-classified elements more.
    #[hyper(default = 2.0, check = 0.0..)]
    gamma: f64,
    /// The weight of positives; negatives get `1 - alpha`.
    #[hyper(default = 0.25, check = 0.0..=1.0)]
    alpha: f64,
) -> Result<Tensor, LossError> {
    checks::binary_values(Focal::NAME, "target", target)?;
    let positive = target.f_eq(1)?;
    Ok(binary_focal_terms(input, &positive, gamma, alpha)?)
}

/// The elementwise seed focal loss for probabilities `p` against the boolean mask `positive`.
pub(crate) fn binary_focal_terms(
    p: &Tensor,
    positive: &Tensor,
    gamma: f64,
    alpha: f64,
) -> Result<Tensor, tch::TchError> {
    let one_minus_p = p.f_neg()?.f_add_scalar(1.0)?;
    let p_t = p
        .f_where_self(positive, &one_minus_p)?
        .f_clamp(P_T_MIN, 1.0)?;
    let alpha_t = Tensor::f_scalar_tensor(alpha, (p.kind(), p.device()))?
        .f_where_scalarother(positive, 1.0 - alpha)?;
    let modulator = p_t.f_neg()?.f_add_scalar(1.0)?.f_pow_tensor_scalar(gamma)?;
    alpha_t.f_neg()?.f_mul(&modulator)?.f_mul(&p_t.f_log()?)
}
