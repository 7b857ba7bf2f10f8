//! The fused kernels' threads and SIMD levels: the split over 2 and 3 threads (set here, so that
//! it runs even on a one-core machine) gives the one-thread loss and gradient bit for bit (the
//! parts depend on the size alone); several threads calling a loss at once get the lone call's
//! result bit for bit, and the kernels' pool never runs more workers than
//! `tch::get_num_threads()`; every SIMD level this CPU has (AVX-512, AVX2 + FMA, forced down in
//! turn) gives the one-lane path's result.
//!
//! The thread count is process-wide: the tests here take a lock so that they do not change it
//! under each other.

use std::sync::Mutex;

use focal::fused::{self, SimdLevel};
use focal::{FocalLoss, Loss, SigmoidFocalLoss, SoftmaxFocalLoss};
use tch::{Device, Kind, Tensor};

static THREADS: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    THREADS.lock().unwrap_or_else(|e| e.into_inner())
}

/// One case: a loss, its logits and its target.
struct Case {
    name: String,
    loss: Box<dyn Loss + Send + Sync>,
    input: Tensor,
    target: Tensor,
}

/// Large enough for several threads (`2 x 4 x 40^3`), with a last block shorter than 64
/// positions (`37 x 41 x 7`), in float32 and float64, for the three fused losses.
fn cases() -> Vec<Case> {
    let mut all = Vec::new();
    for kind in [Kind::Float, Kind::Double] {
        for (shape, seed) in [([2i64, 4, 40, 40, 40], 1i64), ([3, 5, 37, 41, 7], 2)] {
            tch::manual_seed(seed);
            let input = Tensor::randn(shape, (kind, Device::Cpu)) * 3.0;
            let c = shape[1];
            let spatial: Vec<i64> = [shape[0]]
                .into_iter()
                .chain(shape[2..].iter().copied())
                .collect();
            let classes = Tensor::randint(c, spatial.as_slice(), (Kind::Int64, Device::Cpu));
            let dense = classes
                .one_hot(c)
                .permute([0, 4, 1, 2, 3])
                .to_kind(kind)
                .contiguous();
            let losses: Vec<(Box<dyn Loss + Send + Sync>, Tensor)> = vec![
                (Box::new(FocalLoss::default()), classes.shallow_clone()),
                (
                    Box::new(FocalLoss::default().with_gamma(0.5)),
                    classes.shallow_clone(),
                ),
                (
                    Box::new(SoftmaxFocalLoss::default()),
                    classes.shallow_clone(),
                ),
                (
                    Box::new(
                        SoftmaxFocalLoss::default()
                            .with_gamma(1.5)
                            .with_alpha(Some((0..c).map(|k| 0.2 + 0.1 * k as f64).collect())),
                    ),
                    classes.shallow_clone(),
                ),
                (Box::new(SigmoidFocalLoss::default()), dense.shallow_clone()),
                (
                    Box::new(SigmoidFocalLoss::default().with_gamma(0.7)),
                    dense.shallow_clone(),
                ),
            ];
            for (loss, target) in losses {
                all.push(Case {
                    name: format!("{} {kind:?} {shape:?}", loss.name()),
                    loss,
                    input: input.shallow_clone(),
                    target,
                });
            }
        }
    }
    all
}

/// A loss value and its input gradient.
type Result = (Tensor, Tensor);

/// The fused loss and gradient (asserting that the kernel ran).
fn fused_run(case: &Case) -> Result {
    let before = focal::__private::fused_kernel_runs();
    let x = case.input.detach().set_requires_grad(true);
    let value = case.loss.forward(&x, &case.target);
    value.backward();
    assert_eq!(
        focal::__private::fused_kernel_runs(),
        before + 1,
        "{}: the kernel did not run",
        case.name
    );
    (value.detach(), x.grad())
}

fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let scale = b.abs().max().double_value(&[]).max(1e-300);
    (a - b).abs().max().double_value(&[]) / scale
}

fn value_tolerance(kind: Kind) -> f64 {
    if kind == Kind::Double {
        1e-12
    } else {
        1e-6
    }
}

fn bit_equal(a: &Tensor, b: &Tensor) -> bool {
    a.equal(b)
}

#[test]
fn the_thread_split_gives_the_one_thread_result() {
    let _guard = lock();
    let before = tch::get_num_threads();
    for case in cases() {
        tch::set_num_threads(1);
        let (v1, g1) = fused_run(&case);
        for threads in [2, 3] {
            tch::set_num_threads(threads);
            let (v, g) = fused_run(&case);
            assert!(
                rel(&v, &v1) <= value_tolerance(case.input.kind()),
                "{} on {threads} threads: loss {v:?} vs {v1:?}",
                case.name
            );
            // To rounding, then (below) exactly.
            assert!(
                rel(&g, &g1) <= value_tolerance(case.input.kind()),
                "{} on {threads} threads: gradient differs by {:e}",
                case.name,
                rel(&g, &g1)
            );
            // The split into parts depends on the size alone and the parts' sums are merged in
            // order, so the thread count changes nothing at all.
            assert!(
                bit_equal(&v, &v1) && bit_equal(&g, &g1),
                "{} on {threads} threads: not the one-thread result bit for bit",
                case.name
            );
        }
    }
    tch::set_num_threads(before);
}

#[test]
fn concurrent_callers_get_the_lone_result_without_oversubscription() {
    let _guard = lock();
    let before = tch::get_num_threads();
    let threads = 2;
    tch::set_num_threads(threads);
    let cases = cases();
    let lone: Vec<Result> = cases.iter().map(fused_run).collect();
    // Tensors are `Send`, not `Sync`: each caller gets its own inputs (the same numbers) and
    // its own copy of the lone results.
    let callers: Vec<(Vec<Case>, Vec<Result>)> = (0..4)
        .map(|_| {
            let copies = lone.iter().map(|(v, g)| (v.copy(), g.copy())).collect();
            (self::cases(), copies)
        })
        .collect();
    drop(cases);
    std::thread::scope(|scope| {
        for (caller, (cases, lone)) in callers.into_iter().enumerate() {
            scope.spawn(move || {
                // The intra-op thread count may be per thread (OpenMP): set it here too.
                tch::set_num_threads(threads);
                for round in 0..2 {
                    for (case, (v, g)) in cases.iter().zip(&lone) {
                        let (cv, cg) = fused_run(case);
                        assert!(
                            bit_equal(&cv, v) && bit_equal(&cg, g),
                            "{} in caller {caller}, round {round}: differs from the lone call",
                            case.name
                        );
                    }
                }
            });
        }
    });
    let peak = focal::__private::fused_pool_peak_workers();
    assert!(
        peak < threads as usize,
        "the pool ran {peak} workers at once (the callers make up the rest of {threads} threads)"
    );
    tch::set_num_threads(before);
}

#[test]
fn every_simd_level_gives_the_one_lane_result() {
    let _guard = lock();
    let before = tch::get_num_threads();
    tch::set_num_threads(2);
    let detected = fused::detected_simd_level();
    eprintln!("SIMD level of this CPU: {detected:?}");
    for case in cases() {
        let (sv, sg) = fused::with_simd_level(SimdLevel::Scalar, || fused_run(&case));
        for level in [SimdLevel::Avx2, SimdLevel::Avx512] {
            if level > detected {
                eprintln!("{level:?}: not on this CPU, not tested");
                continue;
            }
            let (v, g) = fused::with_simd_level(level, || fused_run(&case));
            assert!(
                rel(&v, &sv) <= value_tolerance(case.input.kind()),
                "{} at {level:?}: loss {v:?} vs one lane {sv:?}",
                case.name
            );
            // Per element the same operations in the same order (exp and ln bit for bit); the
            // sum of the weights a weighted mean divides by is added in another order.
            assert!(
                rel(&g, &sg) <= value_tolerance(case.input.kind()),
                "{} at {level:?}: gradient differs from one lane by {:e}",
                case.name,
                rel(&g, &sg)
            );
        }
        // And the one-lane path against the composed one.
        let x = case.input.detach().set_requires_grad(true);
        let cv = fused::composed_only(|| case.loss.forward(&x, &case.target));
        cv.backward();
        let tol = if case.input.kind() == Kind::Double {
            1e-10
        } else {
            1e-4
        };
        assert!(
            rel(&sv, &cv) <= tol,
            "{}: one lane vs composed loss",
            case.name
        );
        let finite = x.grad().isfinite();
        assert!(
            rel(&sg.masked_select(&finite), &x.grad().masked_select(&finite)) <= tol,
            "{}: one lane vs composed gradient",
            case.name
        );
    }
    tch::set_num_threads(before);
}
