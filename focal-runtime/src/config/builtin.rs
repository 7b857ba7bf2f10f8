//! The built-in losses as one configuration enum.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::fields::{from_fields, shorten, split_type};

use crate::{
    DiceFocalLoss, DiceLoss, Focal, FocalLoss, Loss, LossError, SigmoidFocalLoss, SoftmaxFocalLoss,
};

/// A loss and its hyperparameters as configuration: a serde enum tagged by `type`, the loss's
/// name in snake case, with the loss's fields beside it (missing ones take their defaults).
/// Unknown names and unknown fields are errors that list the valid ones; every other error names
/// the field, and a hyperparameter out of its range fails here, at load time.
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
/// assert!(err.to_string().starts_with("softmax_focal: unknown field `gama`, expected one of `gamma`, `alpha`"), "{err}");
///
/// let err = serde_json::from_str::<LossConfig>(r#"{"type": "focal", "gamma": "2"}"#).unwrap_err();
/// assert!(err.to_string().starts_with("focal: gamma: invalid type: string \"2\", expected f64"), "{err}");
/// let err = serde_json::from_str::<LossConfig>(r#"{"type": "focal", "gamma": -1.0}"#).unwrap_err();
/// assert!(err.to_string().starts_with("focal: Focal: hyperparameter gamma should be in 0.0.. but is -1.0"), "{err}");
/// assert!(serde_json::from_str::<LossConfig>(r#"["focal"]"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
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

impl<'de> Deserialize<'de> for LossConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(deserializer)?;
        let Value::Object(map) = value else {
            return Err(D::Error::custom(format!(
                "expected a map with a `type` field (one of {}), found {}",
                names(),
                shorten(&value.to_string())
            )));
        };
        let (name, fields) = split_type(map).map_err(D::Error::custom)?;
        let config = match name.as_str() {
            "focal" => from_fields(fields).map(LossConfig::Focal),
            "focal_loss" => from_fields(fields).map(LossConfig::FocalLoss),
            "sigmoid_focal" => from_fields(fields).map(LossConfig::SigmoidFocal),
            "softmax_focal" => from_fields(fields).map(LossConfig::SoftmaxFocal),
            "dice" => from_fields(fields).map(LossConfig::Dice),
            "dice_focal" => from_fields(fields).map(LossConfig::DiceFocal),
            other => {
                return Err(D::Error::custom(format!(
                    "unknown loss `{}`: expected one of {}",
                    shorten(other),
                    names()
                )))
            }
        };
        config.map_err(|e| D::Error::custom(format!("{name}: {e}")))
    }
}

/// The built-ins' names, quoted.
fn names() -> String {
    LossConfig::NAMES
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
