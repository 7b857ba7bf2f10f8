//! Losses by name: every loss declared with `#[loss(register)]` (the built-ins among them) can
//! be read from configuration as `{"type": "<name>", fields...}`.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::fields::{from_fields, split_type};
use crate::DynLoss;

/// Builds a registered loss from its configuration fields.
type Builder = fn(Map<String, Value>) -> Result<Box<dyn DynLoss + Send + Sync>, String>;

/// A loss type registered by name. `#[loss(register)]` submits one; not built by hand.
pub struct Registration {
    name: &'static str,
    build: Builder,
}

impl Registration {
    /// The registration of `T` under `name`.
    pub const fn new<T>(name: &'static str) -> Self
    where
        T: DeserializeOwned + DynLoss + Send + Sync + 'static,
    {
        Registration {
            name,
            build: build::<T>,
        }
    }
}

fn build<T>(fields: Map<String, Value>) -> Result<Box<dyn DynLoss + Send + Sync>, String>
where
    T: DeserializeOwned + DynLoss + Send + Sync + 'static,
{
    from_fields::<T>(fields).map(|loss| Box::new(loss) as Box<dyn DynLoss + Send + Sync>)
}

inventory::collect!(Registration);

/// The names of every registered loss, sorted (the built-ins and every `#[loss(register)]` linked
/// into the program).
///
/// ```
/// let names = focal_runtime::registered_names();
/// assert!(names.contains(&"softmax_focal") && names.contains(&"dice"));
/// ```
pub fn registered_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = inventory::iter::<Registration>
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Any registered loss, read from configuration: `{"type": "<name>", fields...}`, where the name
/// is a built-in's (`"softmax_focal"`) or one given by `#[loss(register)]`, and missing fields
/// take their defaults. Reading it builds and validates the loss, so a bad value fails at load
/// time, naming the field. It holds the loss as [`DynLoss`]; [`DynLoss::as_loss`] gives the
/// two-tensor [`Loss`](crate::Loss) where it is one.
///
/// ```
/// use focal_runtime::{AnyLoss, DynLoss};
/// let loss: AnyLoss = serde_json::from_str(r#"{"type": "softmax_focal", "gamma": 1.0}"#).unwrap();
/// assert_eq!(loss.name(), "SoftmaxFocalLoss");
/// assert!(loss.as_loss().is_some());
///
/// let err = serde_json::from_str::<AnyLoss>(r#"{"type": "softmax_focal", "label_smoothing": 3.0}"#).unwrap_err();
/// assert!(err.to_string().starts_with(
///     "softmax_focal: SoftmaxFocalLoss: hyperparameter label_smoothing should be in 0.0..=1.0 but is 3.0"
/// ), "{err}");
/// let err = serde_json::from_str::<AnyLoss>(r#"{"type": "focal", "gamma": "2"}"#).unwrap_err();
/// assert!(err.to_string().starts_with("focal: gamma: invalid type: string \"2\", expected f64"), "{err}");
/// ```
pub struct AnyLoss(Box<dyn DynLoss + Send + Sync>);

impl AnyLoss {
    /// The loss named by `type` in `config` (a JSON object).
    ///
    /// ```
    /// let loss = focal_runtime::AnyLoss::from_value(serde_json::json!({"type": "dice"})).unwrap();
    /// assert_eq!(focal_runtime::DynLoss::name(&*loss), "DiceLoss");
    /// ```
    pub fn from_value(config: Value) -> Result<Self, String> {
        let Value::Object(map) = config else {
            return Err(format!(
                "expected a map with a `type` field (the loss's name), found {}",
                super::fields::shorten(&config.to_string())
            ));
        };
        let (name, fields) = split_type(map)?;
        let registration = inventory::iter::<Registration>
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| {
                format!(
                    "unknown loss `{}`: expected one of {}",
                    super::fields::shorten(&name),
                    registered_names()
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        (registration.build)(fields)
            .map(AnyLoss)
            .map_err(|e| format!("{name}: {e}"))
    }

    /// The loss.
    pub fn into_inner(self) -> Box<dyn DynLoss + Send + Sync> {
        self.0
    }
}

impl std::ops::Deref for AnyLoss {
    type Target = dyn DynLoss + Send + Sync;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for AnyLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AnyLoss").field(&self.0.name()).finish()
    }
}

impl<'de> Deserialize<'de> for AnyLoss {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        AnyLoss::from_value(value).map_err(serde::de::Error::custom)
    }
}
