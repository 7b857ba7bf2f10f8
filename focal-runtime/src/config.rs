//! Building a loss from configuration (JSON, TOML, YAML: any serde format).

use serde::{Deserialize, Serialize};

use crate::{
    DiceFocalLoss, DiceLoss, Focal, FocalLoss, Loss, LossError, SigmoidFocalLoss, SoftmaxFocalLoss,
};

/// A loss and its hyperparameters as configuration: a serde enum tagged by `type`, the loss's
/// name in snake case, with the loss's fields beside it (missing ones take their defaults).
/// Unknown names and unknown fields are errors that list the valid ones.
///
/// ```
/// use focal_runtime::{LossConfig, Reduction};
/// let config: LossConfig =
///     serde_json::from_str(r#"{"type": "softmax_focal", "gamma": 2.0, "alpha": [0.25, 0.75]}"#).unwrap();
/// let loss = config.build().unwrap();
/// assert_eq!(loss.name(), "SoftmaxFocalLoss");
/// assert_eq!(loss.reduction(), Reduction::Mean);
///
/// let err = serde_json::from_str::<LossConfig>(r#"{"type": "softmax_focal", "gama": 2.0}"#).unwrap_err();
/// assert!(err.to_string().starts_with("unknown field `gama`, expected one of `gamma`, `alpha`"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LossConfig {
    /// [`Focal`]: the seed's binary focal loss on probabilities.
    Focal(Focal),
    /// [`FocalLoss`]: the seed's multi-class focal loss.
    FocalLoss(FocalLoss),
    /// [`SigmoidFocalLoss`].
    SigmoidFocal(SigmoidFocalLoss),
    /// [`SoftmaxFocalLoss`].
    SoftmaxFocal(SoftmaxFocalLoss),
    /// [`DiceLoss`].
    Dice(DiceLoss),
    /// [`DiceFocalLoss`].
    DiceFocal(DiceFocalLoss),
}

impl LossConfig {
    /// Every `type` name, in declaration order.
    ///
    /// ```
    /// assert!(focal_runtime::LossConfig::NAMES.contains(&"dice_focal"));
    /// ```
    pub const NAMES: [&'static str; 6] = [
        "focal",
        "focal_loss",
        "sigmoid_focal",
        "softmax_focal",
        "dice",
        "dice_focal",
    ];

    /// The loss, after checking its hyperparameters. It is `Send + Sync` (every built-in loss is
    /// plain data), so it can be shared with a data-loader thread as it is.
    ///
    /// ```
    /// use focal_runtime::{LossConfig, SigmoidFocalLoss};
    /// let bad = LossConfig::SigmoidFocal(SigmoidFocalLoss::new().with_gamma(-1.0));
    /// let err = bad.build().err().unwrap();
    /// assert_eq!(err.to_string(), "SigmoidFocalLoss: hyperparameter gamma should be in 0.0.. but is -1.0");
    ///
    /// let loss = LossConfig::SigmoidFocal(SigmoidFocalLoss::new()).build().unwrap();
    /// let name = std::thread::spawn(move || loss.name()).join().unwrap();
    /// assert_eq!(name, "SigmoidFocalLoss");
    /// ```
    pub fn build(&self) -> Result<Box<dyn Loss + Send + Sync>, LossError> {
        Ok(match self.clone() {
            LossConfig::Focal(l) => l
                .validate()
                .map(|()| Box::new(l) as Box<dyn Loss + Send + Sync>)?,
            LossConfig::FocalLoss(l) => l
                .validate()
                .map(|()| Box::new(l) as Box<dyn Loss + Send + Sync>)?,
            LossConfig::SigmoidFocal(l) => l
                .validate()
                .map(|()| Box::new(l) as Box<dyn Loss + Send + Sync>)?,
            LossConfig::SoftmaxFocal(l) => l
                .validate()
                .map(|()| Box::new(l) as Box<dyn Loss + Send + Sync>)?,
            LossConfig::Dice(l) => l
                .validate()
                .map(|()| Box::new(l) as Box<dyn Loss + Send + Sync>)?,
            LossConfig::DiceFocal(l) => l
                .validate()
                .map(|()| Box::new(l) as Box<dyn Loss + Send + Sync>)?,
        })
    }
}
