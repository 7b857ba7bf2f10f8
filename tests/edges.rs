//! The anchors on edge inputs (tests/fixtures/edges.safetensors, from scripts/fixtures/edges.py):
//! torch's `cross_entropy` and kornia's `focal_loss` at huge logit gaps, ±max, ±inf and NaN logits,
//! an empty batch and every element ignored; torchvision's `sigmoid_focal_loss` at ±max and NaN
//! logits and on an empty input; MONAI's `DiceLoss` with NaN / ±inf / max logits and on empty
//! inputs; and the inputs the anchors refuse (class ids out of range, label smoothing 1.5).
//!
//! The anchors computed in the case's own dtype (torchvision's gradient at ±max logits under `none`
//! and `sum` is NaN by overflow where ours is finite: those cases compare the loss only). Ours must give the same NaN / +inf / -inf positions
//! in the loss and in the input gradient, the finite values within 1e-10 (float64) or 1e-5
//! (float32) of the largest finite magnitude, and an error where the anchor raised.

mod common;

use focal::{LossConfig, Reduction};
use tch::{Kind, Tensor};

/// Same shape, same NaN / +inf / -inf positions, finite values within `tol` of the largest finite
/// magnitude of `anchor` (at least 1).
fn agree(ours: &Tensor, anchor: &Tensor, tol: f64) -> Result<(), String> {
    let ours = ours.to_device(tch::Device::Cpu).to_kind(Kind::Double);
    let anchor = anchor.to_kind(Kind::Double);
    if ours.size() != anchor.size() {
        return Err(format!(
            "shape {:?}, anchor {:?}",
            ours.size(),
            anchor.size()
        ));
    }
    for (what, a, b) in [
        ("NaN", ours.isnan(), anchor.isnan()),
        ("+inf", ours.isposinf(), anchor.isposinf()),
        ("-inf", ours.isneginf(), anchor.isneginf()),
    ] {
        if a != b {
            return Err(format!(
                "{what} positions differ: ours {ours:?}, anchor {anchor:?}"
            ));
        }
    }
    let finite = anchor.isfinite();
    let (a, b) = (ours.masked_select(&finite), anchor.masked_select(&finite));
    if b.numel() == 0 {
        return Ok(());
    }
    let scale = b.abs().max().double_value(&[]).max(1.0);
    let err = (&a - &b).abs().max().double_value(&[]);
    if err <= tol * scale {
        Ok(())
    } else {
        Err(format!(
            "differ by {err:e} (scale {scale:e}): ours {a:?}, anchor {b:?}"
        ))
    }
}

fn check(prefix: &str) -> usize {
    let mut ran = 0;
    let mut failures = Vec::new();
    let cases = common::cases::fixture_cases("edges.safetensors");
    for (name, fields) in cases.into_iter().filter(|(n, _)| n.starts_with(prefix)) {
        let json = common::cases::config_json(&fields);
        let config = match serde_json::from_str::<LossConfig>(&json) {
            Ok(config) => config,
            // A hyperparameter PyTorch refuses is refused when the configuration is read.
            Err(_) if fields.contains_key("error") => {
                ran += 1;
                continue;
            }
            Err(e) => panic!("{name}: config {json}: {e}"),
        };
        // On the test device (`FOCAL_TEST_DEVICE`): on CUDA every loss takes its composed path.
        let device = common::test_device();
        let input = fields["input"]
            .to_device(device)
            .detach()
            .set_requires_grad(true);
        let target = &fields["target"].to_device(device);
        ran += 1;
        let result = config.build().and_then(|loss| {
            let out = loss.f_forward(&input, target)?;
            Ok((loss.reduction(), out))
        });
        if fields.contains_key("error") {
            if let Ok((_, out)) = result {
                failures.push(format!("{name}: the anchor refused, ours gave {out:?}"));
            }
            continue;
        }
        let (reduction, out) = match result {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let tol = common::dtype::tolerance(input.kind());
        if let Err(e) = agree(&out, &fields["loss"], tol) {
            failures.push(format!("{name} {json}: loss {e}"));
        }
        // No `grad`: the anchor's gradient overflows to NaN where ours is finite (see edges.py).
        let Some(grad) = fields.get("grad") else {
            continue;
        };
        if input.numel() == 0 {
            continue;
        }
        let scalar = match fields.get("cotangent") {
            Some(cot) => {
                assert_eq!(reduction, Reduction::None);
                (&out * cot.to_device(device)).sum(out.kind())
            }
            None => out.shallow_clone(),
        };
        scalar.backward();
        if let Err(e) = agree(&input.grad(), grad, tol) {
            failures.push(format!("{name} {json}: gradient {e}"));
        }
    }
    eprintln!("{prefix}: {ran} edge cases");
    assert!(ran > 0, "no edge case starts with {prefix}");
    assert!(
        failures.is_empty(),
        "{} of {ran} edge cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    ran
}

#[test]
fn softmax_focal_matches_cross_entropy_on_edge_inputs() {
    assert_eq!(check("softmax_focal/cross_entropy/"), 176);
}

#[test]
fn softmax_focal_matches_kornia_on_edge_inputs() {
    assert_eq!(check("softmax_focal/kornia/"), 42);
}

#[test]
fn sigmoid_focal_matches_torchvision_on_edge_inputs() {
    assert_eq!(check("sigmoid_focal/torchvision/"), 30);
}

#[test]
fn dice_matches_monai_on_edge_inputs() {
    assert_eq!(check("dice/monai/"), 78);
}
