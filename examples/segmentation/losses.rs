//! The losses the demo trains with, by flag name.

use focal::{loss, Loss, LossError};
use tch::Tensor;

/// A loss the demo can train with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// The seed's `FocalLoss`.
    Focal,
    /// `SoftmaxFocalLoss` (from log-softmax; defaults: gamma 2, no alpha).
    SoftmaxFocal,
    /// `DiceFocalLoss` (softmax Dice plus softmax focal).
    DiceFocal,
    /// Plain cross-entropy, declared below with `#[loss]`.
    CrossEntropy,
}

impl LossKind {
    pub const ALL: [LossKind; 4] = [
        LossKind::Focal,
        LossKind::SoftmaxFocal,
        LossKind::DiceFocal,
        LossKind::CrossEntropy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LossKind::Focal => "focal",
            LossKind::SoftmaxFocal => "softmax-focal",
            LossKind::DiceFocal => "dice-focal",
            LossKind::CrossEntropy => "cross-entropy",
        }
    }

    /// `focal,cross-entropy` or `all`; unknown names list the valid ones.
    pub fn parse_list(text: &str) -> Result<Vec<LossKind>, String> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim) {
            if part == "all" {
                out.extend(LossKind::ALL);
                continue;
            }
            let kind = LossKind::ALL
                .into_iter()
                .find(|k| k.name() == part)
                .ok_or_else(|| {
                    let valid: Vec<&str> = LossKind::ALL.iter().map(|k| k.name()).collect();
                    format!(
                        "--loss: unknown loss `{part}`; expected one of {}, or all",
                        valid.join(", ")
                    )
                })?;
            out.push(kind);
        }
        out.dedup();
        Ok(out)
    }

    /// The loss module, configured for the 3-class problem.
    pub fn build(self) -> Box<dyn Loss> {
        match self {
            LossKind::Focal => Box::new(focal::FocalLoss::default()),
            LossKind::SoftmaxFocal => Box::new(focal::SoftmaxFocalLoss::default()),
            LossKind::DiceFocal => Box::new(focal::DiceFocalLoss::default()),
            LossKind::CrossEntropy => Box::new(CrossEntropy::default()),
        }
    }
}

/// Cross-entropy on logits `(N, C, *)` against class indices `(N, *)`.
#[loss]
pub fn cross_entropy(
    #[tensor(float)] input: &Tensor,
    #[tensor(integer)] target: &Tensor,
) -> Result<Tensor, LossError> {
    let log_p = input.f_log_softmax(1, input.kind())?;
    Ok(log_p
        .f_gather(1, &target.f_unsqueeze(1)?, false)?
        .f_squeeze_dim(1)?
        .f_neg()?)
}
