//! A catalogue of bad and edge inputs run against every built-in loss: shapes and ranks, empty
//! tensors, every dtype, unusable and unusual layouts (undefined, sparse, MKL-DNN, quantized,
//! non-contiguous, expanded, channels-last), class ids out of range or wrapped by a narrow integer
//! type, NaN / ±inf / ±max in input and target, and hyperparameters out of range (infinities
//! included).
//!
//! Every case states its outcome by hand, per reduction: which `LossError` variant, or a finite
//! or a non-finite value. Each case runs under every reduction, on the fused path and the
//! composed one (`fused::composed_only`), with and without a gradient, each run behind
//! `catch_unwind` (a panic fails that case only), and the test asserts:
//! - the outcome is the stated one, on both paths, with and without grad;
//! - an error names the loss and reads the same on both paths;
//! - the value and the input gradient agree across paths (1e-10 float64, 1e-5 float32, relative to
//!   the largest finite magnitude) with the same NaN / +inf / -inf positions; the value is the
//!   same with and without grad;
//! - a finite value has a finite gradient;
//! - a layout case (non-contiguous, expanded, channels-last, a wide ignore_index) gives what its
//!   plain counterpart gives.
//!
//! The counts (cases, runs, errors by variant, values) are printed at the end; every failing case
//! is listed.

mod common;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use common::dtype::{max_of, tolerance};
use focal::{
    fused, Activation, DiceFocalLoss, DiceLoss, Focal, FocalLoss, Loss, LossError, Reduction,
    SigmoidFocalLoss, SoftmaxFocalLoss,
};
use tch::{Device, Kind, Tensor};

const CPU: Device = Device::Cpu;

/// What a run gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Finite,
    NonFinite,
    Device,
    Shape,
    DType,
    Hyper,
    Target,
    Unsupported,
    Tch,
}
use Outcome::*;

fn outcome_of(e: &LossError) -> Outcome {
    match e {
        LossError::DeviceMismatch { .. } => Device,
        LossError::ShapeMismatch { .. } => Shape,
        LossError::DTypeMismatch { .. } => DType,
        LossError::InvalidHyperparameter { .. } => Hyper,
        LossError::TargetOutOfRange { .. } => Target,
        LossError::UnsupportedTensor { .. } => Unsupported,
        LossError::Tch { .. } => Tch,
        _ => Tch,
    }
}

/// The outcome under `None`, `Mean` and `Sum`.
#[derive(Clone, Copy, Debug)]
struct Expect([Outcome; 3]);

fn all(o: Outcome) -> Expect {
    Expect([o; 3])
}

/// An empty input: `None` gives an empty tensor, `Mean` 0 / 0 (NaN, as PyTorch), `Sum` 0.
const EMPTY: Expect = Expect([Finite, NonFinite, Finite]);

fn slot(r: Reduction) -> usize {
    Reduction::ALL
        .iter()
        .position(|standard| *standard == r)
        .expect("the built-in losses take the standard reductions")
}

type Make = Rc<dyn Fn(Reduction) -> Box<dyn Loss>>;

fn make<L: Loss + 'static>(f: impl Fn() -> L + 'static, with: fn(L, Reduction) -> L) -> Make {
    Rc::new(move |r| Box::new(with(f(), r)) as Box<dyn Loss>)
}

/// The built-in losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L {
    Focal,
    FocalLoss,
    Sigmoid,
    Softmax,
    Dice,
    DiceFocal,
}

impl L {
    const ALL: [L; 6] = [
        L::Focal,
        L::FocalLoss,
        L::Sigmoid,
        L::Softmax,
        L::Dice,
        L::DiceFocal,
    ];

    fn default_loss(self) -> Make {
        match self {
            L::Focal => make(Focal::new, Focal::with_reduction),
            L::FocalLoss => make(FocalLoss::new, FocalLoss::with_reduction),
            L::Sigmoid => make(SigmoidFocalLoss::new, SigmoidFocalLoss::with_reduction),
            L::Softmax => make(SoftmaxFocalLoss::new, SoftmaxFocalLoss::with_reduction),
            L::Dice => make(DiceLoss::new, DiceLoss::with_reduction),
            L::DiceFocal => make(DiceFocalLoss::new, DiceFocalLoss::with_reduction),
        }
    }

    /// `(N, C, *)` logits and class-index targets.
    fn indexed(self) -> bool {
        !matches!(self, L::Focal | L::Sigmoid)
    }
}

/// The float dtypes of the value cases (the kernels cover these two).
const FLOATS: [Kind; 2] = [Kind::Double, Kind::Float];

const KINDS: [Kind; 11] = [
    Kind::Uint8,
    Kind::Int8,
    Kind::Int16,
    Kind::Int,
    Kind::Int64,
    Kind::Bool,
    Kind::Half,
    Kind::BFloat16,
    Kind::Float,
    Kind::Double,
    Kind::ComplexFloat,
];

fn is_float(k: Kind) -> bool {
    matches!(k, Kind::Half | Kind::BFloat16 | Kind::Float | Kind::Double)
}

fn is_int(k: Kind) -> bool {
    matches!(
        k,
        Kind::Uint8 | Kind::Int8 | Kind::Int16 | Kind::Int | Kind::Int64
    )
}

/// A valid input and target of loss `l` for an input of shape `s`, in dtype `kind`.
fn valid(l: L, s: &[i64], kind: Kind, seed: i64) -> (Tensor, Tensor) {
    tch::manual_seed(seed);
    let f64s = (Kind::Double, CPU);
    match l {
        L::Focal => (
            Tensor::rand(s, f64s).to_kind(kind),
            Tensor::randint(2, s, (Kind::Int64, CPU)),
        ),
        L::Sigmoid => (
            (Tensor::randn(s, f64s) * 2.0).to_kind(kind),
            Tensor::rand(s, f64s).gt(0.5).to_kind(kind),
        ),
        _ => {
            let x = (Tensor::randn(s, f64s) * 2.0).to_kind(kind);
            let t_shape: Vec<i64> = [s[0]].into_iter().chain(s[2..].iter().copied()).collect();
            let t = if s[1] > 0 {
                Tensor::randint(s[1], t_shape.as_slice(), (Kind::Int64, CPU))
            } else {
                Tensor::zeros(t_shape.as_slice(), (Kind::Int64, CPU))
            };
            (x, t)
        }
    }
}

/// A case: a loss, an input, a target and the outcome per reduction.
struct Case {
    name: String,
    loss: Make,
    input: Tensor,
    target: Tensor,
    expect: Expect,
    /// Whether the input can be made a leaf that requires grad (a dense float tensor).
    grad: bool,
    /// A plain counterpart that must give the same values (layout cases).
    same_as: Option<(Make, Tensor, Tensor)>,
}

#[derive(Default)]
struct Catalogue {
    cases: Vec<Case>,
}

impl Catalogue {
    fn add(&mut self, name: String, loss: Make, input: Tensor, target: Tensor, expect: Expect) {
        let grad = input.defined() && is_float(input.kind());
        self.cases.push(Case {
            name,
            loss,
            input,
            target,
            expect,
            grad,
            same_as: None,
        });
    }

    /// A case whose input is not a dense tensor (no gradient is asked for).
    fn add_special(&mut self, name: String, loss: Make, input: Tensor, target: Tensor) {
        self.cases.push(Case {
            name,
            loss,
            input,
            target,
            expect: all(Unsupported),
            grad: false,
            same_as: None,
        });
    }

    fn add_same_as(
        &mut self,
        name: String,
        loss: Make,
        input: Tensor,
        target: Tensor,
        plain: (Make, Tensor, Tensor),
    ) {
        self.add(name, loss, input, target, all(Finite));
        self.cases.last_mut().unwrap().same_as = Some(plain);
    }
}

fn dtypes(c: &mut Catalogue) {
    for l in L::ALL {
        for k in KINDS {
            let (x, t) = valid(l, &[2, 3, 4], Kind::Double, 1);
            let expect = if is_float(k) { Finite } else { DType };
            c.add(
                format!("{l:?}/input dtype {k:?}"),
                l.default_loss(),
                x.to_kind(k),
                t,
                all(expect),
            );
            let (x, t) = valid(l, &[2, 3, 4], Kind::Double, 2);
            let expect = match l {
                L::Focal | L::Dice | L::DiceFocal if k == Kind::ComplexFloat => DType,
                L::Focal => Finite,
                L::FocalLoss | L::Softmax if is_int(k) => Finite,
                L::FocalLoss | L::Softmax => DType,
                L::Sigmoid if is_float(k) => Finite,
                L::Sigmoid => DType,
                // Class indices (N, *) in a float dtype: a float target must have the input's shape.
                L::Dice | L::DiceFocal if is_float(k) => Shape,
                L::Dice | L::DiceFocal => Finite,
            };
            c.add(
                format!("{l:?}/target dtype {k:?}"),
                l.default_loss(),
                x,
                t.to_kind(k),
                all(expect),
            );
            if matches!(l, L::Dice | L::DiceFocal) {
                // A dense one-hot target in every dtype.
                let (x, t) = valid(l, &[2, 3, 4], Kind::Double, 3);
                let onehot = t.one_hot(3).permute([0, 2, 1]).contiguous();
                let expect = if k == Kind::ComplexFloat {
                    DType
                } else {
                    Finite
                };
                c.add(
                    format!("{l:?}/one-hot target dtype {k:?}"),
                    l.default_loss(),
                    x,
                    onehot.to_kind(k),
                    all(expect),
                );
            }
        }
    }
}

fn shapes(c: &mut Catalogue) {
    for l in L::ALL {
        let loss = l.default_loss();
        for kind in FLOATS {
            // Rank 0 and 1 inputs: any shape for the elementwise losses, (N, C, *) for the others.
            for s in [&[][..], &[3][..]] {
                let x = Tensor::rand(s, (kind, CPU));
                let t = Tensor::ones(s, (Kind::Int64, CPU));
                let t = if l == L::Sigmoid { t.to_kind(kind) } else { t };
                let expect = if l.indexed() { Shape } else { Finite };
                c.add(
                    format!("{l:?}/{kind:?}/input of shape {s:?}"),
                    loss.clone(),
                    x,
                    t,
                    all(expect),
                );
            }
            // No spatial dims, 3 spatial dims.
            for s in [&[4, 3][..], &[2, 3, 2, 3, 2][..]] {
                let (x, t) = valid(l, s, kind, 4);
                c.add(
                    format!("{l:?}/{kind:?}/input of shape {s:?}"),
                    loss.clone(),
                    x,
                    t,
                    all(Finite),
                );
            }
            let (x, t) = valid(l, &[2, 3, 4], kind, 5);
            if l.indexed() {
                c.add(
                    format!("{l:?}/{kind:?}/target (N, 1, *)"),
                    loss.clone(),
                    x.shallow_clone(),
                    t.unsqueeze(1),
                    all(Finite),
                );
                for bad in [&[2, 5][..], &[2, 4, 1][..], &[4][..], &[2, 2, 4][..]] {
                    c.add(
                        format!("{l:?}/{kind:?}/target of shape {bad:?}"),
                        loss.clone(),
                        x.shallow_clone(),
                        Tensor::zeros(bad, (Kind::Int64, CPU)),
                        all(Shape),
                    );
                }
            } else {
                for bad in [&[2, 3, 5][..], &[1, 3, 4][..], &[24][..], &[][..]] {
                    c.add(
                        format!("{l:?}/{kind:?}/target of shape {bad:?}"),
                        loss.clone(),
                        x.shallow_clone(),
                        Tensor::zeros(bad, (t.kind(), CPU)),
                        all(Shape),
                    );
                }
            }
            // One class.
            if l.indexed() {
                let (x, t) = valid(l, &[2, 1, 4], kind, 6);
                let expect = match l {
                    L::FocalLoss => Finite,
                    _ => Shape,
                };
                c.add(
                    format!("{l:?}/{kind:?}/one class"),
                    loss.clone(),
                    x,
                    t,
                    all(expect),
                );
            }
        }
    }
    // One channel with the sigmoid; without the background it is refused.
    for (name, loss) in [
        (
            "Dice",
            make(
                || DiceLoss::new().with_activation(Activation::Sigmoid),
                DiceLoss::with_reduction,
            ),
        ),
        (
            "DiceFocal",
            make(
                || DiceFocalLoss::new().with_activation(Activation::Sigmoid),
                DiceFocalLoss::with_reduction,
            ),
        ),
    ] {
        let (x, t) = valid(L::Dice, &[2, 1, 4], Kind::Double, 7);
        c.add(
            format!("{name}/sigmoid/one channel"),
            loss,
            x.shallow_clone(),
            t.shallow_clone(),
            all(Finite),
        );
        let no_bg = make(
            || {
                DiceLoss::new()
                    .with_activation(Activation::Sigmoid)
                    .with_include_background(false)
            },
            DiceLoss::with_reduction,
        );
        c.add(
            format!("{name}/sigmoid/one channel without the background"),
            no_bg,
            x,
            t,
            all(Shape),
        );
    }
}

fn sigmoid_dice(l: L) -> Make {
    match l {
        L::Dice => make(
            || DiceLoss::new().with_activation(Activation::Sigmoid),
            DiceLoss::with_reduction,
        ),
        _ => make(
            || DiceFocalLoss::new().with_activation(Activation::Sigmoid),
            DiceFocalLoss::with_reduction,
        ),
    }
}

fn empties(c: &mut Catalogue) {
    for l in L::ALL {
        for kind in FLOATS {
            let loss = l.default_loss();
            // N = 0, with and without spatial dims.
            for s in [&[0, 3, 4][..], &[0, 3][..]] {
                let (x, t) = valid(l, s, kind, 8);
                let expect = match l {
                    // MONAI's Dice without spatial dims sums over the whole batch: the Dice of
                    // nothing is 1 - smooth_nr / smooth_dr = 0.
                    L::Dice if s.len() == 2 => all(Finite),
                    _ => EMPTY,
                };
                c.add(
                    format!("{l:?}/{kind:?}/empty input {s:?}"),
                    loss.clone(),
                    x,
                    t,
                    expect,
                );
            }
            // C = 0.
            let s = [2, 0, 4];
            let (x, t) = valid(l, &s, kind, 9);
            let expect = match l {
                L::Focal | L::Sigmoid => EMPTY,
                // Target 0 is no class index in [0, 0).
                L::FocalLoss | L::Dice | L::DiceFocal => all(Target),
                _ => all(Shape),
            };
            c.add(
                format!("{l:?}/{kind:?}/no class {s:?}"),
                loss.clone(),
                x,
                t,
                expect,
            );
            // Empty spatial dims.
            let s = [2, 3, 0];
            let (x, t) = valid(l, &s, kind, 10);
            let expect = match l {
                // Every Dice is 1 - smooth_nr / smooth_dr = 0.
                L::Dice => all(Finite),
                // The focal part is a mean over no positions.
                L::DiceFocal => all(NonFinite),
                _ => EMPTY,
            };
            c.add(
                format!("{l:?}/{kind:?}/empty spatial dims {s:?}"),
                loss.clone(),
                x,
                t,
                expect,
            );
        }
    }
    // The sigmoid Dice losses with no channel, dense targets.
    for l in [L::Dice, L::DiceFocal] {
        for kind in FLOATS {
            for s in [&[2, 0, 4][..], &[2, 0][..], &[0, 2][..]] {
                let x = Tensor::zeros(s, (kind, CPU));
                let t = Tensor::zeros(s, (kind, CPU));
                let expect = if l == L::Dice && s.len() == 2 {
                    all(Finite)
                } else {
                    EMPTY
                };
                c.add(
                    format!("{l:?}/sigmoid/{kind:?}/empty dense {s:?}"),
                    sigmoid_dice(l),
                    x,
                    t,
                    expect,
                );
            }
        }
    }
}

fn layouts(c: &mut Catalogue) {
    for l in L::ALL {
        let loss = l.default_loss();
        for kind in FLOATS {
            let (x, t) = valid(l, &[2, 3, 4], kind, 11);
            let plain = || (loss.clone(), x.shallow_clone(), t.shallow_clone());
            // Non-contiguous input and target, same values.
            let strided = x.transpose(0, 2).contiguous().transpose(0, 2);
            assert!(!strided.is_contiguous());
            c.add_same_as(
                format!("{l:?}/{kind:?}/non-contiguous input"),
                loss.clone(),
                strided,
                t.shallow_clone(),
                plain(),
            );
            let t_strided = if t.dim() == 2 {
                t.tr().contiguous().tr()
            } else {
                t.transpose(0, 2).contiguous().transpose(0, 2)
            };
            c.add_same_as(
                format!("{l:?}/{kind:?}/non-contiguous target"),
                loss.clone(),
                x.shallow_clone(),
                t_strided,
                plain(),
            );
            // Expanded (stride 0) input and target.
            let x1 = x.narrow(0, 0, 1);
            let t1 = t.narrow(0, 0, 1);
            let xe = x1.expand(x.size(), false);
            let te = t1.expand(t.size(), false);
            let plain_e = (loss.clone(), xe.contiguous(), te.contiguous());
            c.add_same_as(
                format!("{l:?}/{kind:?}/expanded input and target"),
                loss.clone(),
                xe,
                te,
                plain_e,
            );
            // Channels-last (N, C, H, W).
            let (x4, t4) = valid(l, &[2, 3, 4, 5], kind, 12);
            let cl = x4.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]);
            c.add_same_as(
                format!("{l:?}/{kind:?}/channels-last input"),
                loss.clone(),
                cl,
                t4.shallow_clone(),
                (loss.clone(), x4, t4),
            );
            // Tensors no loss computes with.
            c.add_special(
                format!("{l:?}/{kind:?}/undefined input"),
                loss.clone(),
                Tensor::new(),
                t.shallow_clone(),
            );
            c.add_special(
                format!("{l:?}/{kind:?}/undefined target"),
                loss.clone(),
                x.shallow_clone(),
                Tensor::new(),
            );
            c.add_special(
                format!("{l:?}/{kind:?}/sparse input"),
                loss.clone(),
                x.to_sparse_sparse_dim(1),
                t.shallow_clone(),
            );
            c.add_special(
                format!("{l:?}/{kind:?}/sparse target"),
                loss.clone(),
                x.shallow_clone(),
                t.to_sparse_sparse_dim(1),
            );
            c.add_special(
                format!("{l:?}/{kind:?}/quantized input"),
                loss.clone(),
                x.to_kind(Kind::Float)
                    .quantize_per_tensor(0.1, 0, Kind::QInt8),
                t.shallow_clone(),
            );
            if kind == Kind::Float {
                c.add_special(
                    format!("{l:?}/{kind:?}/mkldnn input"),
                    loss.clone(),
                    x.to_mkldnn(),
                    t.shallow_clone(),
                );
            }
        }
    }
}

fn softmax_with(f: impl Fn() -> SoftmaxFocalLoss + 'static) -> Make {
    make(f, SoftmaxFocalLoss::with_reduction)
}

fn class_ids(c: &mut Catalogue) {
    for l in L::ALL.into_iter().filter(|l| l.indexed()) {
        let loss = l.default_loss();
        for kind in FLOATS {
            let (x, t) = valid(l, &[2, 3, 4], kind, 13);
            let with = |v: i64| {
                let t = t.copy();
                let _ = t.get(1).get(2).fill_(v);
                t
            };
            for v in [-1, 3, 1000, i64::MAX, i64::MIN, -100] {
                let expect = if l == L::Softmax && v == -100 {
                    Finite
                } else {
                    Target
                };
                c.add(
                    format!("{l:?}/{kind:?}/class id {v}"),
                    loss.clone(),
                    x.shallow_clone(),
                    with(v),
                    all(expect),
                );
            }
            // -100 in a u8 target is 156: no class, not ignored.
            c.add(
                format!("{l:?}/{kind:?}/u8 class id 156"),
                loss.clone(),
                x.shallow_clone(),
                with(156).to_kind(Kind::Uint8),
                all(Target),
            );
            c.add(
                format!("{l:?}/{kind:?}/i16 class id 5000"),
                loss.clone(),
                x.shallow_clone(),
                with(5000).to_kind(Kind::Int16),
                all(Target),
            );
            c.add(
                format!("{l:?}/{kind:?}/i8 class id -1"),
                loss.clone(),
                x.shallow_clone(),
                with(-1).to_kind(Kind::Int8),
                all(Target),
            );
            // 300 classes, u8 class ids up to 255.
            let (x300, t300) = valid(l, &[2, 300, 2], kind, 14);
            let _ = t300.get(0).get(0).fill_(255);
            c.add(
                format!("{l:?}/{kind:?}/u8 ids of 300 classes"),
                loss.clone(),
                x300,
                t300.to_kind(Kind::Uint8),
                all(Finite),
            );
        }
    }
    for kind in FLOATS {
        let (x, t) = valid(L::Softmax, &[2, 3, 4], kind, 15);
        let plain = || {
            (
                L::Softmax.default_loss(),
                x.shallow_clone(),
                t.shallow_clone(),
            )
        };
        // An ignore_index beyond i32 does not ignore class 0 of an i32 target.
        c.add_same_as(
            format!("Softmax/{kind:?}/i32 target, ignore_index 1 << 32"),
            softmax_with(|| SoftmaxFocalLoss::new().with_ignore_index(Some(1 << 32))),
            x.shallow_clone(),
            t.to_kind(Kind::Int),
            plain(),
        );
        c.add_same_as(
            format!("Softmax/{kind:?}/no ignore_index"),
            softmax_with(|| SoftmaxFocalLoss::new().with_ignore_index(None)),
            x.shallow_clone(),
            t.shallow_clone(),
            plain(),
        );
        for v in [i64::MIN, -100] {
            let tv = t.copy();
            let _ = tv.get(0).get(0).fill_(v);
            c.add(
                format!("Softmax/{kind:?}/no ignore_index, class id {v}"),
                softmax_with(|| SoftmaxFocalLoss::new().with_ignore_index(None)),
                x.shallow_clone(),
                tv.shallow_clone(),
                all(Target),
            );
            c.add(
                format!("Softmax/{kind:?}/ignore_index {v}, class id {v}"),
                softmax_with(move || SoftmaxFocalLoss::new().with_ignore_index(Some(v))),
                x.shallow_clone(),
                tv,
                all(Finite),
            );
        }
        c.add(
            format!("Softmax/{kind:?}/ignore_index 1 (a class)"),
            softmax_with(|| SoftmaxFocalLoss::new().with_ignore_index(Some(1))),
            x.shallow_clone(),
            t.shallow_clone(),
            all(Finite),
        );
        // Every element ignored: PyTorch's cross_entropy gives 0 / 0 under Mean.
        c.add(
            format!("Softmax/{kind:?}/every element ignored"),
            L::Softmax.default_loss(),
            x.shallow_clone(),
            t.full_like(-100),
            EMPTY,
        );
    }
    // Dense targets out of range, and the elementwise losses' targets.
    for kind in FLOATS {
        for l in [L::Dice, L::DiceFocal, L::Focal, L::Sigmoid] {
            let (x, t) = if l.indexed() {
                let (x, t) = valid(l, &[2, 3, 4], kind, 16);
                (
                    x,
                    t.one_hot(3).permute([0, 2, 1]).to_kind(kind).contiguous(),
                )
            } else {
                let (x, t) = valid(l, &[2, 3, 4], kind, 16);
                (x, t.to_kind(kind))
            };
            for (v, soft_ok) in [
                (0.5, true),
                (-0.0, true),
                (1.5, false),
                (-0.5, false),
                (2.0, false),
                (f64::NAN, false),
                (f64::INFINITY, false),
                (f64::NEG_INFINITY, false),
            ] {
                let tv = t.copy();
                let _ = tv.get(1).get(2).get(3).fill_(v);
                // Focal's targets are 0 and 1; the others' float targets are soft labels.
                let ok = soft_ok && (l != L::Focal || v == 0.0);
                c.add(
                    format!("{l:?}/{kind:?}/float target value {v}"),
                    l.default_loss(),
                    x.shallow_clone(),
                    tv,
                    all(if ok { Finite } else { Target }),
                );
            }
            if l != L::Sigmoid {
                for v in [2i64, -1] {
                    let tv = t.to_kind(Kind::Int64);
                    let _ = tv.get(0).get(1).get(1).fill_(v);
                    c.add(
                        format!("{l:?}/{kind:?}/integer mask value {v}"),
                        l.default_loss(),
                        x.shallow_clone(),
                        tv,
                        all(Target),
                    );
                }
            }
        }
    }
}

/// One logit (or probability, for `Focal`) set to a special value, in the target class or another.
fn values(c: &mut Catalogue) {
    let losses: Vec<(String, L, Make)> = L::ALL
        .into_iter()
        .map(|l| (format!("{l:?}"), l, l.default_loss()))
        .chain([
            (
                "Softmax+smoothing".to_owned(),
                L::Softmax,
                softmax_with(|| SoftmaxFocalLoss::new().with_label_smoothing(0.1)),
            ),
            (
                "Softmax+gamma0.5+alpha".to_owned(),
                L::Softmax,
                softmax_with(|| {
                    SoftmaxFocalLoss::new()
                        .with_gamma(0.5)
                        .with_alpha(Some(vec![0.2, 0.5, 0.3]))
                }),
            ),
            ("Dice/sigmoid".to_owned(), L::Dice, sigmoid_dice(L::Dice)),
            (
                "DiceFocal/sigmoid".to_owned(),
                L::DiceFocal,
                sigmoid_dice(L::DiceFocal),
            ),
        ])
        .collect();
    for (name, l, loss) in losses {
        let sigmoid = name.contains("sigmoid") || l == L::Sigmoid;
        for kind in FLOATS {
            let max = max_of(kind);
            for (what, v) in [
                ("nan", f64::NAN),
                ("+inf", f64::INFINITY),
                ("-inf", f64::NEG_INFINITY),
                ("+max", max),
                ("-max", -max),
            ] {
                for in_target in [true, false] {
                    let (x, t) = valid(l, &[2, 3, 4], kind, 17);
                    // Position (n = 1, s = 2): its target class is 0; the value goes into class
                    // 0 or class 1.
                    let class = if in_target { 0 } else { 1 };
                    if l.indexed() {
                        let _ = t.get(1).get(2).fill_(0);
                    } else {
                        let _ = t.get(1).get(class).get(2).fill_(1);
                    }
                    let _ = x.get(1).get(class).get(2).fill_(v);
                    let smoothing = name.contains("smoothing");
                    let expect = match (what, l) {
                        ("nan", _) => NonFinite,
                        // Label smoothing adds -log p of every class: +max makes two of them
                        // -max - max = -inf (overflow), a -inf logit one; PyTorch's
                        // cross_entropy gives inf too.
                        ("+max" | "-inf", _) if smoothing => NonFinite,
                        // Focal's probabilities are clamped: any number but NaN gives a loss.
                        (_, L::Focal) => Finite,
                        _ if sigmoid => Finite,
                        // softmax(+inf) is NaN.
                        ("+inf", _) => NonFinite,
                        // p = 0 for the target class: -log p = inf (the seed clamps p_t).
                        ("-inf", L::Softmax | L::DiceFocal) if in_target => NonFinite,
                        _ => Finite,
                    };
                    let place = if in_target { "target" } else { "other" };
                    c.add(
                        format!("{name}/{kind:?}/{what} in the {place} class"),
                        loss.clone(),
                        x,
                        t,
                        all(expect),
                    );
                }
            }
            if l.indexed() && !sigmoid {
                // Every logit of a position -inf: softmax is 0 / 0.
                let (x, t) = valid(l, &[2, 3, 4], kind, 18);
                let _ = x.narrow(2, 1, 1).fill_(f64::NEG_INFINITY);
                c.add(
                    format!("{name}/{kind:?}/a position all -inf"),
                    loss.clone(),
                    x,
                    t,
                    all(NonFinite),
                );
                // +max and -max at one position, target on either.
                for target in [0i64, 1, 2] {
                    let (x, t) = valid(l, &[2, 3, 4], kind, 19);
                    let _ = x.get(0).get(0).get(1).fill_(max);
                    let _ = x.get(0).get(1).get(1).fill_(-max);
                    let _ = t.get(0).get(1).fill_(target);
                    // -max - max overflows: log p of the -max class is -inf (as PyTorch's
                    // log_softmax), its cross entropy inf.
                    let smoothing = name.contains("smoothing");
                    let expect =
                        if smoothing || target == 1 && matches!(l, L::Softmax | L::DiceFocal) {
                            NonFinite
                        } else {
                            Finite
                        };
                    c.add(
                        format!("{name}/{kind:?}/+max and -max, target {target}"),
                        loss.clone(),
                        x,
                        t,
                        all(expect),
                    );
                }
                // Huge logit gaps.
                for gap in [1e5, 1e7, 1e15, 1e30] {
                    let (x, t) = valid(l, &[2, 3, 4], kind, 20);
                    let _ = x.get(0).get(0).get(0).fill_(-gap);
                    let _ = x.get(0).get(1).get(0).fill_(gap);
                    let _ = x.get(0).get(2).get(0).fill_(-gap);
                    let _ = t.get(0).get(0).fill_(0);
                    c.add(
                        format!("{name}/{kind:?}/logit gap {gap:e}"),
                        loss.clone(),
                        x,
                        t,
                        all(Finite),
                    );
                }
            }
        }
    }
}

type Set = fn(f64) -> Make;
type Row = (
    &'static str,
    L,
    &'static str,
    Set,
    &'static [f64],
    &'static [f64],
);

fn row(
    name: &'static str,
    l: L,
    field: &'static str,
    set: Set,
    good: &'static [f64],
    bad: &'static [f64],
) -> Row {
    (name, l, field, set, good, bad)
}

/// Elementwise losses near the dtype's largest value at several elements: a `Sum` (and a `Mean`)
/// beyond the range is infinite, as the composed path's float32 sum.
fn overflows(c: &mut Catalogue) {
    for kind in FLOATS {
        let max = max_of(kind);
        // Sigmoid: -max against target 1 costs 0.25 max (alpha 0.25), 1.0 max without alpha.
        let (x, t) = valid(L::Sigmoid, &[2, 3, 4], kind, 23);
        let _ = x.narrow(2, 0, 2).fill_(-max);
        let _ = t.narrow(2, 0, 2).fill_(1.0);
        let no_alpha = make(
            || SigmoidFocalLoss::new().with_alpha(None),
            SigmoidFocalLoss::with_reduction,
        );
        c.add(
            format!("Sigmoid/{kind:?}/12 losses of max"),
            no_alpha,
            x,
            t,
            Expect([Finite, NonFinite, NonFinite]),
        );
        // Softmax: target logit -max against 0 costs max.
        let (x, t) = valid(L::Softmax, &[2, 3, 4], kind, 24);
        let _ = x.narrow(1, 0, 1).fill_(-max);
        let t = t.zeros_like();
        c.add(
            format!("Softmax/{kind:?}/8 losses of max"),
            L::Softmax.default_loss(),
            x,
            t,
            Expect([Finite, NonFinite, NonFinite]),
        );
    }
}

/// Hyperparameters: every float one of every loss, out of range (NaN and infinities included)
/// and at its bounds.
fn hypers(c: &mut Catalogue) {
    let table = vec![
        row(
            "Focal",
            L::Focal,
            "gamma",
            |v| make(move || Focal::new().with_gamma(v), Focal::with_reduction),
            &[0.0, 0.5, 50.0],
            &[-1.0],
        ),
        row(
            "Focal",
            L::Focal,
            "alpha",
            |v| make(move || Focal::new().with_alpha(v), Focal::with_reduction),
            &[0.0, 1.0],
            &[-0.1, 1.5],
        ),
        row(
            "FocalLoss",
            L::FocalLoss,
            "gamma",
            |v| {
                make(
                    move || FocalLoss::new().with_gamma(v),
                    FocalLoss::with_reduction,
                )
            },
            &[0.0, 0.5, 50.0],
            &[-1.0],
        ),
        row(
            "FocalLoss",
            L::FocalLoss,
            "alpha",
            |v| {
                make(
                    move || FocalLoss::new().with_alpha(v),
                    FocalLoss::with_reduction,
                )
            },
            &[0.0, 1.0],
            &[-0.1, 1.5],
        ),
        row(
            "Sigmoid",
            L::Sigmoid,
            "gamma",
            |v| {
                make(
                    move || SigmoidFocalLoss::new().with_gamma(v),
                    SigmoidFocalLoss::with_reduction,
                )
            },
            &[0.0, 0.5, 50.0],
            &[-1.0],
        ),
        row(
            "Sigmoid",
            L::Sigmoid,
            "alpha",
            |v| {
                make(
                    move || SigmoidFocalLoss::new().with_alpha(Some(v)),
                    SigmoidFocalLoss::with_reduction,
                )
            },
            &[0.0, 1.0],
            &[-0.1, 1.5],
        ),
        row(
            "Softmax",
            L::Softmax,
            "gamma",
            |v| softmax_with(move || SoftmaxFocalLoss::new().with_gamma(v)),
            &[0.0, 0.5, 50.0],
            &[-1.0],
        ),
        row(
            "Softmax",
            L::Softmax,
            "label_smoothing",
            |v| softmax_with(move || SoftmaxFocalLoss::new().with_label_smoothing(v)),
            &[0.0, 1.0],
            &[-0.1, 1.5],
        ),
        row(
            "Softmax",
            L::Softmax,
            "alpha[1]",
            |v| softmax_with(move || SoftmaxFocalLoss::new().with_alpha(Some(vec![0.5, v, 1.0]))),
            &[0.0, 7.0],
            &[-0.1],
        ),
        row(
            "Dice",
            L::Dice,
            "smooth_nr",
            |v| {
                make(
                    move || DiceLoss::new().with_smooth_nr(v),
                    DiceLoss::with_reduction,
                )
            },
            &[0.0, 3.0],
            &[-1.0],
        ),
        row(
            "Dice",
            L::Dice,
            "smooth_dr",
            |v| {
                make(
                    move || DiceLoss::new().with_smooth_dr(v),
                    DiceLoss::with_reduction,
                )
            },
            &[0.0, 3.0],
            &[-1.0],
        ),
        row(
            "DiceFocal",
            L::DiceFocal,
            "gamma",
            |v| {
                make(
                    move || DiceFocalLoss::new().with_gamma(v),
                    DiceFocalLoss::with_reduction,
                )
            },
            &[0.0, 0.5, 50.0],
            &[-1.0],
        ),
        row(
            "DiceFocal",
            L::DiceFocal,
            "alpha",
            |v| {
                make(
                    move || DiceFocalLoss::new().with_alpha(Some(v)),
                    DiceFocalLoss::with_reduction,
                )
            },
            &[0.0, 1.0],
            &[-0.1, 1.5],
        ),
        row(
            "DiceFocal",
            L::DiceFocal,
            "smooth_dr",
            |v| {
                make(
                    move || DiceFocalLoss::new().with_smooth_dr(v),
                    DiceFocalLoss::with_reduction,
                )
            },
            &[0.0, 3.0],
            &[-1.0],
        ),
        row(
            "DiceFocal",
            L::DiceFocal,
            "lambda_dice",
            |v| {
                make(
                    move || DiceFocalLoss::new().with_lambda_dice(v),
                    DiceFocalLoss::with_reduction,
                )
            },
            &[0.0, 2.0],
            &[-1.0],
        ),
        row(
            "DiceFocal",
            L::DiceFocal,
            "lambda_focal",
            |v| {
                make(
                    move || DiceFocalLoss::new().with_lambda_focal(v),
                    DiceFocalLoss::with_reduction,
                )
            },
            &[0.0, 2.0],
            &[-1.0],
        ),
    ];
    for (name, l, field, set, good, bad) in table {
        for kind in FLOATS {
            let (x, t) = valid(l, &[2, 3, 4], kind, 21);
            let non_finite = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
            for &v in bad.iter().chain(non_finite.iter()) {
                c.add(
                    format!("{name}/{kind:?}/{field} = {v}"),
                    set(v),
                    x.shallow_clone(),
                    t.shallow_clone(),
                    all(Hyper),
                );
            }
            for &v in good {
                c.add(
                    format!("{name}/{kind:?}/{field} = {v}"),
                    set(v),
                    x.shallow_clone(),
                    t.shallow_clone(),
                    all(Finite),
                );
            }
        }
    }
    // Softmax alpha vectors.
    for kind in FLOATS {
        let (x, t) = valid(L::Softmax, &[2, 3, 4], kind, 22);
        for (what, alpha, expect) in [
            ("too short", vec![0.5, 0.5], all(Hyper)),
            ("too long", vec![0.5; 4], all(Hyper)),
            ("empty", vec![], all(Hyper)),
            // Every weight 0: cross_entropy's weighted mean is 0 / 0.
            ("all zero", vec![0.0; 3], EMPTY),
        ] {
            c.add(
                format!("Softmax/{kind:?}/alpha {what}"),
                softmax_with(move || SoftmaxFocalLoss::new().with_alpha(Some(alpha.clone()))),
                x.shallow_clone(),
                t.shallow_clone(),
                expect,
            );
        }
    }
}

/// What one run gave: its outcome, the error's text or the value, and the input's gradient.
struct Run {
    outcome: Outcome,
    error: Option<String>,
    value: Option<Tensor>,
    grad: Option<Tensor>,
}

fn run_once(case: &Case, reduction: Reduction, composed: bool, grad: bool) -> Result<Run, String> {
    let loss = (case.loss)(reduction);
    let x = if grad && case.grad {
        case.input.detach().set_requires_grad(true)
    } else {
        case.input.shallow_clone()
    };
    let forward = || loss.f_forward(&x, &case.target);
    let result = if composed {
        fused::composed_only(forward)
    } else {
        forward()
    };
    match result {
        Err(e) => {
            if e.loss() != loss.name() {
                return Err(format!(
                    "error names {:?}, not {}: {e}",
                    e.loss(),
                    loss.name()
                ));
            }
            Ok(Run {
                outcome: outcome_of(&e),
                error: Some(e.to_string()),
                value: None,
                grad: None,
            })
        }
        Ok(v) => {
            if v.kind() != case.input.kind() {
                return Err(format!("value dtype {:?}", v.kind()));
            }
            let mut g = None;
            if grad && case.grad {
                if !v.requires_grad() {
                    return Err("the value does not require grad".to_owned());
                }
                v.sum(v.kind()).f_backward().map_err(|e| {
                    format!("backward: {}", e.to_string().lines().next().unwrap_or(""))
                })?;
                let xg = x.grad();
                if !xg.defined() {
                    return Err("no gradient".to_owned());
                }
                g = Some(xg.to_kind(Kind::Double));
            }
            let v = v.detach().to_kind(Kind::Double);
            let finite = v.isfinite().all().int64_value(&[]) == 1;
            Ok(Run {
                outcome: if finite { Finite } else { NonFinite },
                error: None,
                value: Some(v),
                grad: g,
            })
        }
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned())
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Whether `a` and `b` agree: same shape, same NaN / +inf / -inf positions, finite values within
/// `tol` of the largest finite magnitude of `b`.
fn agree(a: &Tensor, b: &Tensor, tol: f64) -> Result<(), String> {
    if a.size() != b.size() {
        return Err(format!("shapes {:?} and {:?}", a.size(), b.size()));
    }
    for (what, fa, fb) in [
        ("NaN", a.isnan(), b.isnan()),
        ("+inf", a.isposinf(), b.isposinf()),
        ("-inf", a.isneginf(), b.isneginf()),
    ] {
        if fa != fb {
            return Err(format!("{what} positions differ"));
        }
    }
    if a.numel() == 0 {
        return Ok(());
    }
    let finite = b.isfinite();
    let (a, b) = (a.masked_select(&finite), b.masked_select(&finite));
    if b.numel() == 0 {
        return Ok(());
    }
    let scale = b.abs().max().double_value(&[]).max(1.0);
    let err = (a - &b).abs().max().double_value(&[]);
    if err <= tol * scale {
        Ok(())
    } else {
        Err(format!("differ by {err:e} (scale {scale:e})"))
    }
}

#[derive(Default)]
struct Counts {
    runs: usize,
    by_outcome: BTreeMap<Outcome, usize>,
    panics: usize,
}

/// Runs a case under every reduction, path and grad mode; returns its failures.
fn check_case(case: &Case, counts: &mut Counts) -> Vec<String> {
    let mut failures = Vec::new();
    let tol = case.input.f_kind().map_or(1e-10, tolerance);
    for reduction in Reduction::ALL {
        let expected = case.expect.0[slot(reduction)];
        let mut runs: Vec<(String, Run)> = Vec::new();
        for grad in [false, true] {
            for composed in [false, true] {
                let label = format!(
                    "{reduction}/{}/{}",
                    if composed { "composed" } else { "fused" },
                    if grad { "grad" } else { "no grad" }
                );
                counts.runs += 1;
                match catch_unwind(AssertUnwindSafe(|| {
                    run_once(case, reduction, composed, grad)
                })) {
                    Err(p) => {
                        counts.panics += 1;
                        failures.push(format!("{label}: panicked: {}", panic_text(p)));
                    }
                    Ok(Err(e)) => failures.push(format!("{label}: {e}")),
                    Ok(Ok(run)) => {
                        *counts.by_outcome.entry(run.outcome).or_default() += 1;
                        if run.outcome != expected {
                            failures.push(format!(
                                "{label}: expected {expected:?}, got {:?}{}",
                                run.outcome,
                                run.error
                                    .as_deref()
                                    .map(|e| format!(": {e}"))
                                    .unwrap_or_default()
                            ));
                        }
                        runs.push((label, run));
                    }
                }
            }
        }
        // Every run against the first: the fused value without grad.
        let Some(((first_label, first), rest)) = runs.split_first() else {
            continue;
        };
        for (label, run) in rest {
            if run.outcome != first.outcome {
                failures.push(format!(
                    "{label}: {:?} but {first_label}: {:?}",
                    run.outcome, first.outcome
                ));
                continue;
            }
            if run.error != first.error {
                failures.push(format!(
                    "{label}: error {:?} but {first_label}: {:?}",
                    run.error, first.error
                ));
            }
            if let (Some(a), Some(b)) = (&run.value, &first.value) {
                if let Err(e) = agree(a, b, tol) {
                    failures.push(format!("{label} vs {first_label}: values {e}"));
                }
            }
        }
        // Gradients: fused against composed.
        let grads: Vec<&(String, Run)> = runs.iter().filter(|(_, r)| r.grad.is_some()).collect();
        if let [(la, a), (lb, b)] = grads.as_slice() {
            if let Err(e) = agree(a.grad.as_ref().unwrap(), b.grad.as_ref().unwrap(), tol) {
                failures.push(format!("{la} vs {lb}: gradients {e}"));
            }
        }
        for (label, run) in &runs {
            if let (Finite, Some(g)) = (run.outcome, &run.grad) {
                if g.isfinite().all().int64_value(&[]) != 1 {
                    failures.push(format!("{label}: finite value, non-finite gradient"));
                }
            }
        }
        // A layout case gives what its plain counterpart gives.
        if let (Some((make, x, t)), Some((_, first))) = (&case.same_as, runs.first()) {
            let plain = catch_unwind(AssertUnwindSafe(|| {
                make(reduction)
                    .f_forward(x, t)
                    .map(|v| v.to_kind(Kind::Double))
            }));
            match (plain, &first.value) {
                (Ok(Ok(p)), Some(v)) => {
                    if let Err(e) = agree(v, &p, tol) {
                        failures.push(format!("{reduction}: the plain counterpart's value {e}"));
                    }
                }
                (Ok(Err(e)), _) => failures.push(format!("{reduction}: plain counterpart: {e}")),
                (Err(p), _) => failures.push(format!(
                    "{reduction}: plain counterpart panicked: {}",
                    panic_text(p)
                )),
                _ => {}
            }
        }
    }
    failures
}

#[test]
fn every_loss_under_bad_and_edge_inputs() {
    let mut catalogue = Catalogue::default();
    dtypes(&mut catalogue);
    shapes(&mut catalogue);
    empties(&mut catalogue);
    layouts(&mut catalogue);
    class_ids(&mut catalogue);
    values(&mut catalogue);
    overflows(&mut catalogue);
    hypers(&mut catalogue);

    // Panics are caught and counted; keep their messages out of the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut counts = Counts::default();
    let mut failing = Vec::new();
    for case in &catalogue.cases {
        let failures = match catch_unwind(AssertUnwindSafe(|| check_case(case, &mut counts))) {
            Ok(f) => f,
            Err(p) => vec![format!("the check panicked: {}", panic_text(p))],
        };
        if !failures.is_empty() {
            failing.push(format!("{}:\n    {}", case.name, failures.join("\n    ")));
        }
    }
    std::panic::set_hook(hook);

    let by: Vec<String> = counts
        .by_outcome
        .iter()
        .map(|(o, n)| format!("{o:?} {n}"))
        .collect();
    eprintln!(
        "robustness: {} cases, {} runs; outcomes: {}; panics {}; failing cases {}",
        catalogue.cases.len(),
        counts.runs,
        by.join(", "),
        counts.panics,
        failing.len()
    );
    assert!(
        failing.is_empty(),
        "{} of {} cases failed:\n{}",
        failing.len(),
        catalogue.cases.len(),
        failing.join("\n")
    );
}
