//! How elementwise losses are reduced to the value a loss returns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a loss reduces its elementwise values: as PyTorch's `reduction=` argument.
///
/// ```
/// use focal_runtime::Reduction;
/// let r: Reduction = "sum".parse().unwrap();
/// assert_eq!(r, Reduction::Sum);
/// assert_eq!(r.to_string(), "sum");
/// assert_eq!(tch::Reduction::from(r), tch::Reduction::Sum);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// No reduction: one loss value per element.
    None,
    /// The (weighted) mean of the elementwise losses.
    #[default]
    Mean,
    /// The sum of the elementwise losses.
    Sum,
}

impl Reduction {
    /// Every reduction, in the order `none`, `mean`, `sum`.
    pub const ALL: [Reduction; 3] = [Reduction::None, Reduction::Mean, Reduction::Sum];

    /// The lowercase name used by `Display`, `FromStr` and serde.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reduction::None => "none",
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
        }
    }
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Reduction`] from a string or converting it from `tch::Reduction`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reduction `{found}`: expected one of \"none\", \"mean\", \"sum\"")]
pub struct ParseReductionError {
    /// What was given.
    pub found: String,
}

impl FromStr for Reduction {
    type Err = ParseReductionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reduction::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ParseReductionError {
                found: s.to_owned(),
            })
    }
}

impl From<Reduction> for tch::Reduction {
    fn from(r: Reduction) -> Self {
        match r {
            Reduction::None => tch::Reduction::None,
            Reduction::Mean => tch::Reduction::Mean,
            Reduction::Sum => tch::Reduction::Sum,
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
            }),
        }
    }
}
