//! The largest errors a test saw on each path, printed at its end.

use tch::Kind;

/// The largest errors seen on one path: float32 loss and gradient, float64 loss and gradient,
/// each with its case.
#[derive(Default)]
pub struct Worst {
    pub errors: [(f64, String); 4],
}

impl Worst {
    /// The slot of a loss error in `kind` (its gradient's is the next one).
    pub fn slot(kind: Kind) -> usize {
        if kind == Kind::Double {
            2
        } else {
            0
        }
    }

    /// Keeps `error` in `slot` where it is the largest so far (or the first seen).
    pub fn see(&mut self, slot: usize, error: f64, case: &str) {
        let w = &mut self.errors[slot];
        if error > w.0 || w.1.is_empty() {
            *w = (error, case.to_string());
        }
    }

    /// Prints the fused path's worst errors (`worst[0]`) and the composed one's, a line each.
    pub fn print(name: &str, worst: &[Worst; 2]) {
        for (path, w) in ["fused", "composed"].iter().zip(worst) {
            for (what, (e, case)) in [
                "float32 loss",
                "float32 gradient",
                "float64 loss",
                "float64 gradient",
            ]
            .iter()
            .zip(&w.errors)
            {
                eprintln!("{name} {path}: worst {what} error {e:.1e} ({case})");
            }
        }
    }
}
