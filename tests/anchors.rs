//! Parity with the anchor libraries: torchvision's `sigmoid_focal_loss`, kornia's `focal_loss` and
//! `binary_focal_loss_with_logits`, MONAI's `DiceLoss` and focal core, and torch's `cross_entropy`.
//!
//! The fixtures (tests/fixtures/anchors.safetensors, from scripts/fixtures/anchors.py) hold, per
//! case, the input, the target, the loss as `LossConfig` JSON, and the anchor's loss and input
//! gradient, computed in float64 (float32 cases: on the float32 inputs, then rounded). For
//! `Reduction::None` the gradient is that of `sum(loss * cotangent)`.
//!
//! Where our semantics differ on purpose, the fixture holds the anchor's result corrected for it
//! (see anchors.py for the code):
//! - kornia's `focal_loss` counts ignored pixels, and every class of each pixel, in its `mean`
//!   denominator (`C` times the pixel count); ours divides by the sum of the target classes'
//!   alpha over the non-ignored pixels, as `cross_entropy` does: the anchor's mean is multiplied by
//!   `C * pixels / sum(alpha[y])`. Its `none` is a `(N, C, *)` map, summed over `C`.
//! - MONAI's `DiceFocalLoss` uses a sigmoid focal part even with `softmax=True` and casts it to
//!   float32; the anchor is MONAI's `DiceLoss` plus MONAI's focal core of the same activation in
//!   float64, reduced as MONAI's `FocalLoss` reduces. Without the background, our log-softmax
//!   runs over all classes before channel 0 is dropped (MONAI drops it first).
//! - MONAI's `none` outputs are `(N, C, 1, ...)` (Dice) and `(N, C, *)` (Dice-Focal); ours are
//!   `(N, C)`: the latter is averaged over the spatial dims.
//! - MONAI's `to_onehot_y` builds a float32 one-hot (imprecise with `squared_pred`): class-index
//!   cases give MONAI the float64 one-hot. MONAI's sigmoid focal core weighs soft labels as
//!   `exp(gamma * logsigmoid(-x (2t - 1)))`, not torchvision's `(1 - p_t)^gamma`; ours follows
//!   torchvision, the anchor for soft labels.
//!
//! Each case runs twice: with the fused kernels on, and on the composed path alone.
//!
//! Tolerances: relative error `max |ours - anchor| / max |anchor|` at most 1e-10 in float64 and
//! 1e-5 in float32, for the loss and for the gradient, on every device: the fixtures were made on
//! the CPU; our losses run on the test device (`FOCAL_TEST_DEVICE`) and are compared on the CPU.
//! Float32 cases are judged against the float64 truth unrounded (`truth_loss`, `truth_grad`), and
//! must also be no further from it than the anchor's own float32 result on the same inputs
//! (`anchor32_loss`, `anchor32_grad`), or than [`ROUNDING`] where the anchor is closer.

mod common;

use std::collections::BTreeMap;

use focal::{fused, LossConfig, Reduction};
use tch::{Kind, Tensor};

/// Float32 errors below this count as rounding: the "no worse than the anchor's float32 result"
/// bar is at least this (a float32 sum of a few hundred terms is this far off at worst).
const ROUNDING: f64 = 1e-6;

/// `max |ours - anchor| / max |anchor|` (at least 1e-300), of the same shape.
fn rel_error(ours: &Tensor, anchor: &Tensor) -> f64 {
    assert_eq!(ours.size(), anchor.size(), "shapes differ");
    common::rel_error_above(ours, anchor, 1e-300)
}

fn config_of(fields: &BTreeMap<String, Tensor>) -> (String, LossConfig) {
    let json = common::cases::config_json(fields);
    let config = serde_json::from_str(&json).unwrap_or_else(|e| panic!("config {json}: {e}"));
    (json, config)
}

/// Runs every case whose name starts with `prefix`, with the kernels on and on the composed path
/// (what CUDA and half-precision users get); returns how many cases ran.
fn check(prefix: &str) -> usize {
    let device = common::test_device();
    let mut ran = 0;
    let mut failures = Vec::new();
    let mut worst = [0.0f64; 4];
    // The anchors' own float32 results against the truth (loss, gradient).
    let mut anchor_worst = [0.0f64; 2];
    let cases = common::cases::fixture_cases("anchors.safetensors");
    for (name, fields) in cases.into_iter().filter(|(n, _)| n.starts_with(prefix)) {
        let (json, config) = config_of(&fields);
        let loss = config.build().expect("valid config");
        let float32 = fields["input"].kind() == Kind::Float;
        let (want_loss, want_grad) = if float32 {
            (&fields["truth_loss"], &fields["truth_grad"])
        } else {
            (&fields["loss"], &fields["grad"])
        };
        // The bar for float32: the anchor's own float32 result's error, or rounding.
        let bar = if float32 {
            let l = rel_error(&fields["anchor32_loss"], want_loss);
            let g = rel_error(&fields["anchor32_grad"], want_grad);
            anchor_worst = [anchor_worst[0].max(l), anchor_worst[1].max(g)];
            [l.max(ROUNDING), g.max(ROUNDING)]
        } else {
            [f64::INFINITY; 2]
        };
        for path in ["kernels on", "composed"] {
            let input = fields["input"]
                .to_device(device)
                .detach()
                .set_requires_grad(true);
            let tolerance = common::dtype::tolerance(input.kind());
            let run = || {
                let out = loss
                    .f_forward(&input, &fields["target"].to_device(device))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let scalar = match fields.get("cotangent") {
                    Some(cot) => {
                        assert_eq!(loss.reduction(), Reduction::None);
                        (&out * cot.to_device(device)).sum(out.kind())
                    }
                    None => out.shallow_clone(),
                };
                scalar.backward();
                out
            };
            let out = if path == "composed" {
                fused::composed_only(run)
            } else {
                run()
            };
            assert_eq!(out.kind(), input.kind(), "{name}: output dtype");
            assert_eq!(out.device(), device, "{name}: output device");
            let loss_err = rel_error(&out, want_loss);
            let grad_err = rel_error(&input.grad(), want_grad);
            let slot = if input.kind() == Kind::Double { 0 } else { 2 };
            worst[slot] = worst[slot].max(loss_err);
            worst[slot + 1] = worst[slot + 1].max(grad_err);
            if !(loss_err <= tolerance && grad_err <= tolerance) {
                failures.push(format!(
                    "{name} ({path}) {json}: loss rel error {loss_err:.3e}, grad rel error {grad_err:.3e}"
                ));
            }
            if !(loss_err <= bar[0] && grad_err <= bar[1]) {
                failures.push(format!(
                    "{name} ({path}) {json}: loss rel error {loss_err:.3e}, grad rel error \
                     {grad_err:.3e}, worse than the anchor's float32 result (bars {:.3e}, {:.3e})",
                    bar[0], bar[1]
                ));
            }
        }
        ran += 1;
    }
    eprintln!(
        "{prefix} on {device:?}, both paths: {ran} cases; worst rel error f64 loss {:.1e} grad {:.1e}, f32 loss {:.1e} grad {:.1e} (the anchor's float32: {:.1e}, {:.1e})",
        worst[0], worst[1], worst[2], worst[3], anchor_worst[0], anchor_worst[1]
    );
    assert!(ran > 0, "no fixture case starts with {prefix}");
    assert!(
        failures.is_empty(),
        "{} failures over {ran} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    ran
}

#[test]
fn sigmoid_focal_matches_torchvision() {
    assert_eq!(check("sigmoid_focal/torchvision/"), 48);
}

#[test]
fn sigmoid_focal_matches_kornia_on_hard_targets() {
    assert_eq!(check("sigmoid_focal/kornia/"), 24);
}

#[test]
fn softmax_focal_matches_kornia_with_the_cross_entropy_mean() {
    assert_eq!(check("softmax_focal/kornia/"), 72);
}

#[test]
fn softmax_focal_with_gamma_0_matches_cross_entropy_with_label_smoothing() {
    assert_eq!(check("softmax_focal/cross_entropy/"), 24);
}

#[test]
fn dice_matches_monai() {
    assert_eq!(check("dice/monai/"), 48);
}

#[test]
fn dice_focal_matches_monai_with_the_same_activation() {
    assert_eq!(check("dice_focal/monai/"), 48);
}
