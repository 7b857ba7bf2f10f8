//! How elementwise losses are reduced to the value a loss returns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tch::Tensor;

use crate::LossError;

/// How a loss reduces its elementwise values: as PyTorch's `reduction=` argument.
///
/// Every loss accepts the three standard reductions; a loss may accept more names of its own
/// (`KLDivLoss`'s `"batchmean"`), declared with `#[loss(extra_reductions = ["batchmean"])]` and
/// held as [`Reduction::Custom`]. Such a loss reduces its values itself: its body takes the
/// reduction as a parameter.
///
/// ```
/// use focal_runtime::Reduction;
/// let r: Reduction = "sum".parse().unwrap();
/// assert_eq!(r, Reduction::Sum);
/// assert_eq!(r.to_string(), "sum");
/// assert_eq!(tch::Reduction::try_from(r).unwrap(), tch::Reduction::Sum);
///
/// // A loss's own names are parsed against the names that loss accepts.
/// let batchmean = Reduction::parse_among("batchmean", &["none", "mean", "sum", "batchmean"]).unwrap();
/// assert_eq!(batchmean, Reduction::Custom("batchmean"));
/// let err = Reduction::parse_among("max", &["none", "mean", "sum", "batchmean"]).unwrap_err();
/// assert_eq!(err.to_string(), "unknown reduction `max`: expected one of \"none\", \"mean\", \"sum\", \"batchmean\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Reduction {
    /// No reduction: one loss value per element.
    None,
    /// The (weighted) mean of the elementwise losses.
    #[default]
    Mean,
    /// The sum of the elementwise losses.
    Sum,
    /// A reduction of the loss's own, by name (`"batchmean"`): only a loss that declares the name
    /// accepts it, and that loss's body applies it.
    Custom(&'static str),
}

impl Reduction {
    /// The three standard reductions, in the order `none`, `mean`, `sum`.
    pub const ALL: [Reduction; 3] = [Reduction::None, Reduction::Mean, Reduction::Sum];

    /// The names of the standard reductions, which every loss accepts.
    pub const STANDARD_NAMES: [&'static str; 3] = ["none", "mean", "sum"];

    /// The lowercase name used by `Display`, `FromStr` and serde.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reduction::None => "none",
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
            Reduction::Custom(name) => name,
        }
    }

    /// The reduction named `name` among `accepted` (the names a loss accepts, standard ones
    /// included), or an error listing them.
    pub fn parse_among(
        name: &str,
        accepted: &'static [&'static str],
    ) -> Result<Self, ParseReductionError> {
        let unknown = || ParseReductionError {
            found: name.to_owned(),
            expected: accepted,
        };
        let known = accepted.iter().find(|a| **a == name).ok_or_else(unknown)?;
        Ok(match *known {
            "none" => Reduction::None,
            "mean" => Reduction::Mean,
            "sum" => Reduction::Sum,
            custom => Reduction::Custom(custom),
        })
    }

    /// Whether this is one of the standard reductions (not a [`Reduction::Custom`]).
    pub const fn is_standard(self) -> bool {
        !matches!(self, Reduction::Custom(_))
    }

    /// Applies a standard reduction to elementwise losses: as they are, their mean, or their sum.
    /// A body that reduces itself calls this for the standard names; a custom name is an error
    /// here, naming `loss` (it is the body's to apply).
    ///
    /// ```
    /// use focal_runtime::Reduction;
    /// let t = tch::Tensor::from_slice(&[1.0f64, 2.0, 6.0]);
    /// assert_eq!(Reduction::Mean.apply("MyLoss", &t).unwrap().double_value(&[]), 3.0);
    /// assert_eq!(Reduction::Sum.apply("MyLoss", &t).unwrap().double_value(&[]), 9.0);
    /// let err = Reduction::Custom("batchmean").apply("MyLoss", &t).unwrap_err();
    /// assert_eq!(err.to_string(), "MyLoss: hyperparameter reduction should be one of \"none\", \"mean\", \"sum\" (the body applies its own) but is \"batchmean\"");
    /// ```
    pub fn apply(self, loss: &'static str, elementwise: &Tensor) -> Result<Tensor, LossError> {
        let kind = elementwise.kind();
        let reduced = match self {
            Reduction::None => Ok(elementwise.shallow_clone()),
            Reduction::Mean => elementwise.f_mean(kind),
            Reduction::Sum => elementwise.f_sum(kind),
            Reduction::Custom(name) => {
                return Err(LossError::InvalidHyperparameter {
                    loss,
                    name: "reduction",
                    expected: format!(
                        "one of {} (the body applies its own)",
                        quoted_list(&Reduction::STANDARD_NAMES)
                    ),
                    found: format!("{name:?}"),
                })
            }
        };
        reduced.map_err(|e| LossError::from(e).in_loss(loss))
    }
}

/// `"a", "b", "c"`.
pub(crate) fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Reduction`] from a string or converting it from `tch::Reduction`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown reduction `{found}`: expected one of {}",
    quoted_list(expected)
)]
pub struct ParseReductionError {
    /// What was given.
    pub found: String,
    /// The names that were accepted.
    pub expected: &'static [&'static str],
}

/// Parses a standard reduction (`"none"`, `"mean"`, `"sum"`); a loss's own names are parsed by
/// that loss (`KlDiv::parse_reduction`, generated by `#[loss]`) or [`Reduction::parse_among`].
impl FromStr for Reduction {
    type Err = ParseReductionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reduction::parse_among(s, &Reduction::STANDARD_NAMES)
    }
}

impl Serialize for Reduction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Deserializes a standard reduction; a loss with names of its own deserializes its `reduction`
/// field against them.
impl<'de> Deserialize<'de> for Reduction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_among(deserializer, &Reduction::STANDARD_NAMES)
    }
}

/// Deserializes a reduction named among `accepted`, with an error listing them.
pub fn deserialize_among<'de, D: Deserializer<'de>>(
    deserializer: D,
    accepted: &'static [&'static str],
) -> Result<Reduction, D::Error> {
    struct Visitor(&'static [&'static str]);
    impl serde::de::Visitor<'_> for Visitor {
        type Value = Reduction;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "one of {}", quoted_list(self.0))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Reduction, E> {
            Reduction::parse_among(v, self.0).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Visitor(accepted))
}

/// The standard reductions convert to tch's; a custom one is an error.
impl TryFrom<Reduction> for tch::Reduction {
    type Error = ParseReductionError;

    fn try_from(r: Reduction) -> Result<Self, Self::Error> {
        match r {
            Reduction::None => Ok(tch::Reduction::None),
            Reduction::Mean => Ok(tch::Reduction::Mean),
            Reduction::Sum => Ok(tch::Reduction::Sum),
            Reduction::Custom(name) => Err(ParseReductionError {
                found: name.to_owned(),
                expected: &Reduction::STANDARD_NAMES,
            }),
        }
    }
}

impl TryFrom<tch::Reduction> for Reduction {
    type Error = ParseReductionError;

    fn try_from(r: tch::Reduction) -> Result<Self, Self::Error> {
        match r {
            tch::Reduction::None => Ok(Reduction::None),
            tch::Reduction::Mean => Ok(Reduction::Mean),
            tch::Reduction::Sum => Ok(Reduction::Sum),
            tch::Reduction::Other(code) => Err(ParseReductionError {
                found: format!("tch::Reduction::Other({code})"),
                expected: &Reduction::STANDARD_NAMES,
            }),
        }
    }
}
