//! The catalogue: every loss of `torch.nn.functional` declared with `#[loss]`
//! (tests/catalogue/losses.rs), checked against PyTorch at every reduction it accepts.
//!
//! The fixtures (tests/fixtures/catalogue.safetensors, from scripts/fixtures/catalogue.py) hold,
//! per case (a loss and one hyperparameter setting, named `{loss}/{variant}`), the inputs under
//! PyTorch's argument names and, for every reduction PyTorch accepts, PyTorch's loss and the
//! gradient of every float tensor PyTorch differentiates (for `none`, of `sum(loss * cotangent)`
//! with the stored cotangent). Each case below repeats by hand the hyperparameters of the case of
//! the same name in catalogue.py.
//!
//! For each case and reduction the harness puts the inputs on the test device
//! (`FOCAL_TEST_DEVICE`), sets `requires_grad` on exactly the tensors that have a gradient in the
//! fixture, and compares the loss and each gradient with PyTorch's: relative error
//! `max |ours - torch| / max |torch|` at most 1e-10 (float64). `every_fixture_is_checked` fails
//! where the file holds a tensor no case read.

mod common;
#[path = "catalogue/losses.rs"]
mod losses;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use focal::{LossError, Reduction};
use tch::{Device, Tensor};

const FIXTURES: &str = "catalogue.safetensors";
const TOLERANCE: f64 = 1e-10;

/// The inputs of one case at one reduction, as the loss body receives them.
struct Args {
    case: &'static str,
    tensors: BTreeMap<String, Tensor>,
    /// The arguments the body asked for.
    read: RefCell<BTreeSet<String>>,
}

impl Args {
    /// A required tensor argument.
    fn t(&self, arg: &str) -> &Tensor {
        self.opt(arg)
            .unwrap_or_else(|| panic!("{}: the fixture has no argument {arg}", self.case))
    }

    /// An optional tensor argument: `None` where the case has none.
    fn opt(&self, arg: &str) -> Option<&Tensor> {
        self.read.borrow_mut().insert(arg.to_owned());
        self.tensors.get(arg)
    }
}

type Body = Box<dyn Fn(&Args, Reduction) -> Result<Tensor, LossError>>;

/// One fixture case: its name, the reductions its loss accepts (its `REDUCTIONS`: every one must
/// have a fixture), and the loss called with one of them.
struct Case {
    name: &'static str,
    reductions: &'static [&'static str],
    body: Body,
}

fn case(
    name: &'static str,
    reductions: &'static [&'static str],
    body: impl Fn(&Args, Reduction) -> Result<Tensor, LossError> + 'static,
) -> Case {
    Case {
        name,
        reductions,
        body: Box::new(body),
    }
}

/// What checking a loss's cases found.
#[derive(Default)]
struct Report {
    /// Every fixture key read and compared.
    used: BTreeSet<String>,
    failures: Vec<String>,
    worst_loss: f64,
    worst_grad: f64,
}

fn cpu_rel_error(ours: &Tensor, torch: &Tensor) -> Result<f64, String> {
    let ours = ours.to_device(Device::Cpu);
    if ours.size() != torch.size() {
        return Err(format!(
            "shape {:?}, PyTorch's is {:?}",
            ours.size(),
            torch.size()
        ));
    }
    Ok(common::rel_error(&ours, torch))
}

/// Checks every case of `loss` at every reduction, collecting failures instead of stopping.
fn run(loss: &str, cases: &[Case], fixtures: &BTreeMap<String, Tensor>) -> Report {
    let device = common::test_device();
    let mut report = Report::default();
    if cases.is_empty() {
        report.failures.push(format!("{loss}: no cases"));
    }
    for case in cases {
        let name = case.name;
        if !name.starts_with(&format!("{loss}/")) {
            report
                .failures
                .push(format!("{name}: not a case of {loss}"));
        }
        // `{case}.{arg}`: the fields without a further dot.
        let prefix = format!("{name}.");
        let inputs: BTreeMap<&str, &Tensor> = fixtures
            .iter()
            .filter_map(|(k, t)| Some((k.strip_prefix(&prefix)?, t)))
            .filter(|(field, _)| !field.contains('.'))
            .collect();
        if inputs.is_empty() {
            report.failures.push(format!("{name}: not in {FIXTURES}"));
            continue;
        }
        for &reduction in case.reductions {
            let at = format!("{name} ({reduction})");
            let Some(expected) = fixtures.get(&format!("{name}.{reduction}.loss")) else {
                report.failures.push(format!("{at}: no loss in {FIXTURES}"));
                continue;
            };
            let grad_prefix = format!("{name}.{reduction}.grad.");
            let differentiated: BTreeSet<&str> = fixtures
                .keys()
                .filter_map(|k| k.strip_prefix(&grad_prefix))
                .collect();
            let args = Args {
                case: name,
                tensors: inputs
                    .iter()
                    .map(|(arg, t)| {
                        let t = t
                            .to_device(device)
                            .detach()
                            .set_requires_grad(differentiated.contains(arg));
                        (arg.to_string(), t)
                    })
                    .collect(),
                read: RefCell::default(),
            };
            let parsed = match Reduction::parse_among(reduction, case.reductions) {
                Ok(r) => r,
                Err(e) => {
                    report.failures.push(format!("{at}: {e}"));
                    continue;
                }
            };
            let ours = match (case.body)(&args, parsed) {
                Ok(t) => t,
                Err(e) => {
                    report.failures.push(format!("{at}: {e}"));
                    continue;
                }
            };
            for arg in args.read.borrow().iter() {
                if args.tensors.contains_key(arg) {
                    report.used.insert(format!("{name}.{arg}"));
                }
            }
            match cpu_rel_error(&ours, expected) {
                Ok(err) if err <= TOLERANCE => report.worst_loss = report.worst_loss.max(err),
                Ok(err) => report
                    .failures
                    .push(format!("{at}: loss relative error {err:e}")),
                Err(e) => report.failures.push(format!("{at}: loss {e}")),
            }
            report.used.insert(format!("{name}.{reduction}.loss"));
            if differentiated.is_empty() {
                continue;
            }
            let out = if reduction == "none" {
                let key = format!("{name}.none.cotangent");
                let Some(cotangent) = fixtures.get(&key) else {
                    report.failures.push(format!("{at}: no {key}"));
                    continue;
                };
                report.used.insert(key);
                (&ours * cotangent.to_device(device)).sum(None)
            } else {
                ours
            };
            let leaves: Vec<&Tensor> = differentiated
                .iter()
                .map(|arg| match args.tensors.get(*arg) {
                    Some(t) => t,
                    None => panic!("{at}: a gradient of {arg}, which is not an input"),
                })
                .collect();
            let grads = match Tensor::f_run_backward(&[&out], &leaves, false, false) {
                Ok(grads) => grads,
                Err(e) => {
                    let first = e.to_string().lines().next().unwrap_or_default().to_owned();
                    report.failures.push(format!("{at}: backward: {first}"));
                    continue;
                }
            };
            for (arg, grad) in differentiated.iter().zip(&grads) {
                let key = format!("{grad_prefix}{arg}");
                match cpu_rel_error(grad, &fixtures[&key]) {
                    Ok(err) if err <= TOLERANCE => report.worst_grad = report.worst_grad.max(err),
                    Ok(err) => report
                        .failures
                        .push(format!("{at}: gradient of {arg}: relative error {err:e}")),
                    Err(e) => report
                        .failures
                        .push(format!("{at}: gradient of {arg}: {e}")),
                }
                report.used.insert(key);
            }
        }
    }
    report
}

/// The test of one loss: every case, every reduction, the loss and each gradient.
fn check(loss: &str, cases: Vec<Case>) {
    let report = run(loss, &cases, &common::fixtures(FIXTURES));
    eprintln!(
        "{loss}: {} cases, max relative error {:e} (loss), {:e} (gradients)",
        cases.len(),
        report.worst_loss,
        report.worst_grad
    );
    assert!(
        report.failures.is_empty(),
        "{loss}:\n{}",
        report.failures.join("\n")
    );
}

/// One `#[test]` per loss (named as the loss, so a failure names it) and the list of them all.
macro_rules! catalogue {
    ($($loss:ident),* $(,)?) => {
        $(
            #[test]
            fn $loss() {
                check(stringify!($loss), cases::$loss());
            }
        )*

        fn all_losses() -> Vec<(&'static str, Vec<Case>)> {
            vec![$((stringify!($loss), cases::$loss())),*]
        }
    };
}

catalogue!(
    l1,
    mse,
    huber,
    smooth_l1,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    nll,
    kl_div,
    poisson_nll,
    gaussian_nll,
    hinge_embedding,
    soft_margin,
    multilabel_soft_margin,
    multilabel_margin,
    multi_margin,
    cosine_embedding,
    margin_ranking,
    triplet_margin,
    triplet_margin_with_distance,
    ctc,
);

/// Every tensor of the fixture file was read by some case: a case generated but never checked
/// (or an input a body ignores) fails here.
#[test]
fn every_fixture_is_checked() {
    let fixtures = common::fixtures(FIXTURES);
    let mut used = BTreeSet::new();
    let (mut worst_loss, mut worst_grad) = (0.0f64, 0.0f64);
    for (loss, cases) in all_losses() {
        let report = run(loss, &cases, &fixtures);
        used.extend(report.used);
        worst_loss = worst_loss.max(report.worst_loss);
        worst_grad = worst_grad.max(report.worst_grad);
    }
    eprintln!("catalogue: max relative error {worst_loss:e} (losses), {worst_grad:e} (gradients)");
    let unread: Vec<&String> = fixtures.keys().filter(|k| !used.contains(*k)).collect();
    assert!(
        unread.is_empty(),
        "{} fixture tensors no case checked (or whose case failed):\n{}",
        unread.len(),
        unread
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The cases of each loss, with the hyperparameters of the case of the same name in
/// scripts/fixtures/catalogue.py (kept in step by hand): each builds the loss module with them,
/// sets the reduction, and calls its `f_forward` with PyTorch's arguments.
mod cases {
    use super::losses::*;
    use super::{case, Case};

    // catalogue.py pointwise(): no hyperparameters.
    pub fn l1() -> Vec<Case> {
        ["l1/matrix", "l1/cube"]
            .map(|name| {
                case(name, L1::REDUCTIONS, |a, r| {
                    L1::new()
                        .with_reduction(r)
                        .f_forward(a.t("input"), a.t("target"))
                })
            })
            .into()
    }

    pub fn mse() -> Vec<Case> {
        ["mse/matrix", "mse/cube"]
            .map(|name| {
                case(name, Mse::REDUCTIONS, |a, r| {
                    Mse::new()
                        .with_reduction(r)
                        .f_forward(a.t("input"), a.t("target"))
                })
            })
            .into()
    }

    // catalogue.py pointwise(): {"delta": ...}
    pub fn huber() -> Vec<Case> {
        [
            ("huber/default", Huber::new()),
            ("huber/delta", Huber::new().with_delta(0.5)),
        ]
        .map(|(name, loss)| {
            case(name, Huber::REDUCTIONS, move |a, r| {
                loss.clone()
                    .with_reduction(r)
                    .f_forward(a.t("input"), a.t("target"))
            })
        })
        .into()
    }

    // catalogue.py pointwise(): {"beta": ...}
    pub fn smooth_l1() -> Vec<Case> {
        [
            ("smooth_l1/default", SmoothL1::new()),
            ("smooth_l1/beta", SmoothL1::new().with_beta(0.3)),
            ("smooth_l1/beta_zero", SmoothL1::new().with_beta(0.0)),
        ]
        .map(|(name, loss)| {
            case(name, SmoothL1::REDUCTIONS, move |a, r| {
                loss.clone()
                    .with_reduction(r)
                    .f_forward(a.t("input"), a.t("target"))
            })
        })
        .into()
    }

    // catalogue.py binary(): no hyperparameters; `clamp` has no gradients (see there).
    pub fn binary_cross_entropy() -> Vec<Case> {
        [
            "binary_cross_entropy/soft",
            "binary_cross_entropy/weight",
            "binary_cross_entropy/clamp",
        ]
        .map(|name| {
            case(name, BinaryCrossEntropy::REDUCTIONS, |a, r| {
                BinaryCrossEntropy::new().with_reduction(r).f_forward(
                    a.t("input"),
                    a.t("target"),
                    a.opt("weight"),
                )
            })
        })
        .into()
    }

    // catalogue.py binary(): no hyperparameters.
    pub fn binary_cross_entropy_with_logits() -> Vec<Case> {
        [
            "binary_cross_entropy_with_logits/plain",
            "binary_cross_entropy_with_logits/weight",
            "binary_cross_entropy_with_logits/pos_weight",
            "binary_cross_entropy_with_logits/pos_weight_only",
        ]
        .map(|name| {
            case(name, BinaryCrossEntropyWithLogits::REDUCTIONS, |a, r| {
                BinaryCrossEntropyWithLogits::new()
                    .with_reduction(r)
                    .f_forward(
                        a.t("input"),
                        a.t("target"),
                        a.opt("weight"),
                        a.opt("pos_weight"),
                    )
            })
        })
        .into()
    }

    // catalogue.py classification(): {"ignore_index": ..., "label_smoothing": ...}, PyTorch's
    // defaults -100 and 0.0 where a case names neither.
    pub fn cross_entropy() -> Vec<Case> {
        [
            ("cross_entropy/indices", CrossEntropy::new()),
            (
                "cross_entropy/weight_ignore_smoothing",
                CrossEntropy::new()
                    .with_ignore_index(1)
                    .with_label_smoothing(0.1),
            ),
            (
                "cross_entropy/unbatched",
                CrossEntropy::new().with_label_smoothing(0.2),
            ),
            (
                "cross_entropy/probabilities",
                CrossEntropy::new().with_label_smoothing(0.15),
            ),
        ]
        .map(|(name, loss)| {
            case(name, CrossEntropy::REDUCTIONS, move |a, r| {
                loss.clone().with_reduction(r).f_forward(
                    a.t("input"),
                    a.t("target"),
                    a.opt("weight"),
                )
            })
        })
        .into()
    }

    // catalogue.py classification(): {"ignore_index": ...}, default -100.
    pub fn nll() -> Vec<Case> {
        [
            ("nll/plain", Nll::new()),
            ("nll/weight_ignore", Nll::new().with_ignore_index(2)),
            ("nll/spatial", Nll::new()),
            ("nll/unbatched", Nll::new()),
        ]
        .map(|(name, loss)| {
            case(name, Nll::REDUCTIONS, move |a, r| {
                loss.clone().with_reduction(r).f_forward(
                    a.t("input"),
                    a.t("target"),
                    a.opt("weight"),
                )
            })
        })
        .into()
    }

    // catalogue.py divergences(): {"log_target": ...}; its reductions include "batchmean".
    pub fn kl_div() -> Vec<Case> {
        [
            ("kl_div/probabilities", KlDiv::new()),
            ("kl_div/log_target", KlDiv::new().with_log_target(true)),
        ]
        .map(|(name, loss)| {
            case(name, KlDiv::REDUCTIONS, move |a, r| {
                loss.clone()
                    .with_reduction(r)
                    .f_forward(a.t("input"), a.t("target"))
            })
        })
        .into()
    }

    // catalogue.py divergences(): {"log_input": ..., "full": ..., "eps": ...}
    pub fn poisson_nll() -> Vec<Case> {
        [
            ("poisson_nll/log_input", PoissonNll::new()),
            (
                "poisson_nll/log_input_full",
                PoissonNll::new().with_full(true),
            ),
            (
                "poisson_nll/rate_full",
                PoissonNll::new().with_log_input(false).with_full(true),
            ),
            (
                "poisson_nll/rate_eps",
                PoissonNll::new().with_log_input(false).with_eps(0.1),
            ),
        ]
        .map(|(name, loss)| {
            case(name, PoissonNll::REDUCTIONS, move |a, r| {
                loss.clone()
                    .with_reduction(r)
                    .f_forward(a.t("input"), a.t("target"))
            })
        })
        .into()
    }

    // catalogue.py divergences(): {"full": ..., "eps": ...}
    pub fn gaussian_nll() -> Vec<Case> {
        [
            (
                "gaussian_nll/clamped_full",
                GaussianNll::new().with_full(true).with_eps(1e-3),
            ),
            ("gaussian_nll/var_column", GaussianNll::new()),
            ("gaussian_nll/var_vector", GaussianNll::new()),
            ("gaussian_nll/unbatched", GaussianNll::new().with_full(true)),
        ]
        .map(|(name, loss)| {
            case(name, GaussianNll::REDUCTIONS, move |a, r| {
                loss.clone()
                    .with_reduction(r)
                    .f_forward(a.t("input"), a.t("target"), a.t("var"))
            })
        })
        .into()
    }

    // catalogue.py margins(): {"margin": ...}
    pub fn hinge_embedding() -> Vec<Case> {
        [
            ("hinge_embedding/default", HingeEmbedding::new()),
            (
                "hinge_embedding/margin",
                HingeEmbedding::new().with_margin(0.5),
            ),
        ]
        .map(|(name, loss)| {
            case(name, HingeEmbedding::REDUCTIONS, move |a, r| {
                loss.clone()
                    .with_reduction(r)
                    .f_forward(a.t("input"), a.t("target"))
            })
        })
        .into()
    }

    // catalogue.py margins(): no hyperparameters.
    pub fn soft_margin() -> Vec<Case> {
        ["soft_margin/matrix", "soft_margin/vector"]
            .map(|name| {
                case(name, SoftMargin::REDUCTIONS, |a, r| {
                    SoftMargin::new()
                        .with_reduction(r)
                        .f_forward(a.t("input"), a.t("target"))
                })
            })
            .into()
    }

    // catalogue.py margins(): no hyperparameters.
    pub fn multilabel_soft_margin() -> Vec<Case> {
        [
            "multilabel_soft_margin/plain",
            "multilabel_soft_margin/weight",
            "multilabel_soft_margin/unbatched",
        ]
        .map(|name| {
            case(name, MultilabelSoftMargin::REDUCTIONS, |a, r| {
                MultilabelSoftMargin::new().with_reduction(r).f_forward(
                    a.t("input"),
                    a.t("target"),
                    a.opt("weight"),
                )
            })
        })
        .into()
    }

    // catalogue.py margins(): no hyperparameters.
    pub fn multilabel_margin() -> Vec<Case> {
        ["multilabel_margin/batched", "multilabel_margin/unbatched"]
            .map(|name| {
                case(name, MultilabelMargin::REDUCTIONS, |a, r| {
                    MultilabelMargin::new()
                        .with_reduction(r)
                        .f_forward(a.t("input"), a.t("target"))
                })
            })
            .into()
    }

    // catalogue.py margins(): {"p": ..., "margin": ...}
    pub fn multi_margin() -> Vec<Case> {
        [
            ("multi_margin/default", MultiMargin::new()),
            (
                "multi_margin/p2_weight",
                MultiMargin::new().with_p(2).with_margin(0.7),
            ),
            (
                "multi_margin/unbatched",
                MultiMargin::new().with_margin(1.5),
            ),
        ]
        .map(|(name, loss)| {
            case(name, MultiMargin::REDUCTIONS, move |a, r| {
                loss.clone().with_reduction(r).f_forward(
                    a.t("input"),
                    a.t("target"),
                    a.opt("weight"),
                )
            })
        })
        .into()
    }

    // catalogue.py margins(): {"margin": ...}
    pub fn cosine_embedding() -> Vec<Case> {
        [
            ("cosine_embedding/default", CosineEmbedding::new()),
            (
                "cosine_embedding/margin",
                CosineEmbedding::new().with_margin(0.3),
            ),
            (
                "cosine_embedding/unbatched",
                CosineEmbedding::new().with_margin(-0.5),
            ),
        ]
        .map(|(name, loss)| {
            case(name, CosineEmbedding::REDUCTIONS, move |a, r| {
                loss.clone().with_reduction(r).f_forward(
                    a.t("input1"),
                    a.t("input2"),
                    a.t("target"),
                )
            })
        })
        .into()
    }

    // catalogue.py margins(): {"margin": ...}
    pub fn margin_ranking() -> Vec<Case> {
        [
            ("margin_ranking/default", MarginRanking::new()),
            (
                "margin_ranking/margin",
                MarginRanking::new().with_margin(0.5),
            ),
        ]
        .map(|(name, loss)| {
            case(name, MarginRanking::REDUCTIONS, move |a, r| {
                loss.clone().with_reduction(r).f_forward(
                    a.t("input1"),
                    a.t("input2"),
                    a.t("target"),
                )
            })
        })
        .into()
    }

    // catalogue.py triplets(): {"margin": ..., "p": ..., "eps": ..., "swap": ...}
    pub fn triplet_margin() -> Vec<Case> {
        [
            ("triplet_margin/default", TripletMargin::new()),
            (
                "triplet_margin/swap",
                TripletMargin::new().with_margin(1.5).with_swap(true),
            ),
            (
                "triplet_margin/p1_eps",
                TripletMargin::new()
                    .with_margin(0.5)
                    .with_p(1.0)
                    .with_eps(1e-3)
                    .with_swap(true),
            ),
            (
                "triplet_margin/unbatched",
                TripletMargin::new().with_margin(3.0).with_p(3.0),
            ),
        ]
        .map(|(name, loss)| {
            case(name, TripletMargin::REDUCTIONS, move |a, r| {
                loss.clone().with_reduction(r).f_forward(
                    a.t("anchor"),
                    a.t("positive"),
                    a.t("negative"),
                )
            })
        })
        .into()
    }

    // catalogue.py triplets(): the distance tuple, {"margin": ..., "swap": ...}
    pub fn triplet_margin_with_distance() -> Vec<Case> {
        let loss = TripletMarginWithDistance::new;
        [
            ("triplet_margin_with_distance/default", loss()),
            (
                "triplet_margin_with_distance/pairwise_p3_swap",
                loss()
                    .with_distance(Distance::Pairwise { p: 3.0, eps: 1e-4 })
                    .with_margin(1.5)
                    .with_swap(true),
            ),
            (
                "triplet_margin_with_distance/cosine_swap",
                loss()
                    .with_distance(Distance::Cosine)
                    .with_margin(0.5)
                    .with_swap(true),
            ),
            (
                "triplet_margin_with_distance/unbatched",
                loss().with_margin(4.0).with_swap(true),
            ),
        ]
        .map(|(name, loss)| {
            case(name, TripletMarginWithDistance::REDUCTIONS, move |a, r| {
                loss.clone().with_reduction(r).f_forward(
                    a.t("anchor"),
                    a.t("positive"),
                    a.t("negative"),
                )
            })
        })
        .into()
    }

    // catalogue.py ctc(): {"blank": ..., "zero_infinity": ...}
    pub fn ctc() -> Vec<Case> {
        [
            ("ctc/padded", Ctc::new()),
            ("ctc/concatenated_blank_last", Ctc::new().with_blank(4)),
            ("ctc/zero_infinity", Ctc::new().with_zero_infinity(true)),
            ("ctc/unbatched", Ctc::new()),
        ]
        .map(|(name, loss)| {
            case(name, Ctc::REDUCTIONS, move |a, r| {
                loss.clone().with_reduction(r).f_forward(
                    a.t("log_probs"),
                    a.t("targets"),
                    a.t("input_lengths"),
                    a.t("target_lengths"),
                )
            })
        })
        .into()
    }
}
