//! A loss body's tch panics as errors: tch's non-`f_` methods (`a.log()`, `&a + &b`) unwrap
//! libtorch's error and panic. `f_forward` promises a `Result`, so the body runs behind
//! [`catch_tch_panics`], which turns such a panic into [`LossError::Tch`] and lets every other
//! panic (a bug in the body) go on unwinding.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use tch::TchError;

use crate::LossError;

thread_local! {
    /// How many loss bodies run on this thread now: while above 0, the panic hook keeps tch's
    /// panics quiet (they become errors).
    static BODIES: Cell<usize> = const { Cell::new(0) };
}

/// The prefix `Result::unwrap` gives its panic message.
const UNWRAP: &str = "called `Result::unwrap()` on an `Err` value: ";

/// Runs a loss body, turning a panic of tch's panicking methods into `LossError::Tch` (libtorch's
/// message); any other panic unwinds as it would have.
pub fn catch_tch_panics<R>(body: impl FnOnce() -> R) -> Result<R, LossError> {
    install_quiet_hook();
    struct Entered;
    impl Drop for Entered {
        fn drop(&mut self) {
            BODIES.with(|b| b.set(b.get() - 1));
        }
    }
    BODIES.with(|b| b.set(b.get() + 1));
    let entered = Entered;
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    drop(entered);
    match result {
        Ok(value) => Ok(value),
        Err(payload) => match payload_text(&*payload).and_then(tch_error) {
            Some(error) => Err(LossError::from(error)),
            None => panic::resume_unwind(payload),
        },
    }
}

/// Chains a hook before the current one, once per process: it prints nothing for a tch panic
/// inside a loss body (it becomes an error) and hands every other panic to the previous hook.
fn install_quiet_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let quiet = BODIES.with(|b| b.get()) > 0
                && payload_text(info.payload()).and_then(tch_error).is_some();
            if !quiet {
                previous(info);
            }
        }));
    });
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&'static str>().copied())
}

/// The `TchError` whose `Debug` text an unwrap panic carries (`Torch("...")`), or `None` where the
/// panic is not one of tch's.
fn tch_error(text: &str) -> Option<TchError> {
    let debug = text.strip_prefix(UNWRAP)?;
    let open = debug.find('(')?;
    let (variant, rest) = debug.split_at(open);
    let inner = rest.strip_prefix("(\"")?.strip_suffix("\")")?;
    let message = unescape(inner)?;
    match variant {
        "Torch" => Some(TchError::Torch(message)),
        "Kind" => Some(TchError::Kind(message)),
        "Shape" => Some(TchError::Shape(message)),
        "Convert" => Some(TchError::Convert(message)),
        _ => None,
    }
}

/// The string whose `Debug` form (without its quotes) is `escaped`.
fn unescape(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'u' => {
                let rest = chars.as_str().strip_prefix('{')?;
                let end = rest.find('}')?;
                out.push(char::from_u32(u32::from_str_radix(&rest[..end], 16).ok()?)?);
                chars = rest[end + 1..].chars();
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tch_errors_back_from_their_debug_text() {
        for message in [
            "shape '[3]' is invalid\nException raised from",
            "a \"quoted\" \\ tab\t é \u{1}",
        ] {
            let text = format!("{UNWRAP}{:?}", TchError::Torch(message.to_owned()));
            match tch_error(&text) {
                Some(TchError::Torch(m)) => assert_eq!(m, message),
                other => panic!("{other:?}"),
            }
        }
        assert!(tch_error("index out of bounds: the len is 3 but the index is 5").is_none());
        assert!(tch_error(&format!("{UNWRAP}ParseIntError {{ kind: Empty }}")).is_none());
    }

    #[test]
    fn a_tch_panic_is_an_error_and_other_panics_unwind() {
        let err =
            catch_tch_panics(|| tch::Tensor::from_slice(&[1.0f64, 2.0]).view([3])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(": libtorch error: Internal torch error: shape '[3]' is invalid"),
            "{err}"
        );
        assert!(!err.to_string().contains('\n'));
        let other = panic::catch_unwind(|| catch_tch_panics(|| panic!("a bug")));
        assert_eq!(*other.unwrap_err().downcast::<&str>().unwrap(), "a bug");
        assert_eq!(catch_tch_panics(|| 7).unwrap(), 7);
    }
}
