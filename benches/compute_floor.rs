//! The compute floor of a softmax focal loss on this CPU: what the issue's "2x a copy of the
//! logits" target meets before any checks, edge cases or accuracy corrections.
//!
//! A minimal hand-written AVX2 loop over `2 x 4 x 128^3` float32 logits with int64 class targets,
//! `gamma = 2`, no alpha: per position the largest logit, one `exp` per class (Cephes' polynomial,
//! as the fused kernels'), one `ln`, the loss `-(1 - p_y)^2 ln p_y`, and the gradient
//! `(1 - p_y)^2 (onehot - p)` written to a buffer (not the exact derivative: the same memory
//! traffic and about the same arithmetic as the real one). No ignore index, no saturated-logit
//! corrections, no tail handling (the spatial size is a multiple of 8), no autograd. Timed on one
//! thread and on every core, next to a copy of the logits (the target's unit), each the median of
//! `--reps` runs (7) taking turns in one process, with the polynomials evaluated as
//! multiply-then-add (as the kernels do, for one-lane bit-exactness) and as FMA.
//!
//! `cargo bench --bench compute_floor` (under `cargo test`: one small run, checked against a
//! float64 evaluation).

use std::time::Instant;

/// The loop and its helpers. Every `unsafe fn` here needs a CPU with AVX2 and FMA: the helpers
/// are `#[inline(always)]` and called only from [`avx2::softmax_focal`], whose
/// `#[target_feature]` and caller (`run`, after `is_x86_feature_detected!`) provide that.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// The most classes the loop keeps exponentials for.
    pub const MAX_CLASSES: usize = 16;

    /// Every lane `v`.
    #[inline(always)]
    unsafe fn c(v: f32) -> __m256 {
        _mm256_set1_ps(v)
    }

    /// `a * b + d`: one FMA, or a multiply and an add.
    #[inline(always)]
    unsafe fn madd<const FMA: bool>(a: __m256, b: __m256, d: __m256) -> __m256 {
        if FMA {
            _mm256_fmadd_ps(a, b, d)
        } else {
            _mm256_add_ps(_mm256_mul_ps(a, b), d)
        }
    }

    /// Cephes `expf` for `x <= 0` (the range of `x - max`), 0 below -104.
    #[inline(always)]
    unsafe fn exp<const FMA: bool>(x: __m256) -> __m256 {
        let xc = _mm256_max_ps(x, c(-104.0));
        let t = madd::<FMA>(xc, c(std::f32::consts::LOG2_E), c(12_582_912.0));
        let fx = _mm256_sub_ps(t, c(12_582_912.0));
        let r = madd::<FMA>(fx, c(-0.693_359_4), xc);
        let r = madd::<FMA>(fx, c(2.121_944_4e-4), r);
        let z = _mm256_mul_ps(r, r);
        let mut p = c(1.987_569_1e-4);
        for k in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            5e-1,
        ] {
            p = madd::<FMA>(p, r, c(k));
        }
        let p = _mm256_add_ps(madd::<FMA>(p, z, r), c(1.0));
        let n = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(c(12_582_912.0)));
        let half = _mm256_srai_epi32::<1>(n);
        let bias = _mm256_set1_epi32(127);
        let a = _mm256_slli_epi32::<23>(_mm256_add_epi32(half, bias));
        let b = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_sub_epi32(n, half), bias));
        let y = _mm256_mul_ps(
            _mm256_mul_ps(p, _mm256_castsi256_ps(a)),
            _mm256_castsi256_ps(b),
        );
        _mm256_blendv_ps(y, c(0.0), _mm256_cmp_ps::<_CMP_LT_OQ>(x, c(-104.0)))
    }

    /// Cephes `logf` for normal `x` (a sum of exponentials, at least 1).
    #[inline(always)]
    unsafe fn ln<const FMA: bool>(x: __m256) -> __m256 {
        let bits = _mm256_castps_si256(x);
        let e = _mm256_cvtepi32_ps(_mm256_and_si256(
            _mm256_srli_epi32::<23>(bits),
            _mm256_set1_epi32(0xff),
        ));
        let m = _mm256_castsi256_ps(_mm256_or_si256(
            _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
            _mm256_set1_epi32(0x3f00_0000),
        ));
        let low = _mm256_cmp_ps::<_CMP_LT_OQ>(m, c(std::f32::consts::FRAC_1_SQRT_2));
        let e = _mm256_sub_ps(_mm256_sub_ps(e, c(126.0)), _mm256_and_ps(low, c(1.0)));
        let f = _mm256_sub_ps(_mm256_blendv_ps(m, _mm256_add_ps(m, m), low), c(1.0));
        let z = _mm256_mul_ps(f, f);
        let mut y = c(7.037_683_6e-2);
        for k in [
            -1.151_461e-1,
            1.167_699_9e-1,
            -1.242_014_1e-1,
            1.424_932_3e-1,
            -1.666_805_8e-1,
            2.000_071_4e-1,
            -2.499_999_4e-1,
            3.333_333e-1,
        ] {
            y = madd::<FMA>(y, f, c(k));
        }
        let y = _mm256_mul_ps(_mm256_mul_ps(y, f), z);
        let y = madd::<FMA>(c(-2.121_944_4e-4), e, y);
        let y = madd::<FMA>(c(-0.5), z, y);
        madd::<FMA>(c(0.693_359_4), e, _mm256_add_ps(f, y))
    }

    /// Eight int64 targets as eight int32 lanes.
    ///
    /// # Safety
    /// `p..p + 8` are readable `i64`s; the CPU has AVX2.
    #[inline(always)]
    unsafe fn ids8(p: *const i64) -> __m256i {
        let perm = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
        let a = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(p.cast()), perm);
        let b = _mm256_permutevar8x32_epi32(_mm256_loadu_si256(p.add(4).cast()), perm);
        _mm256_blend_epi32::<0xF0>(a, b)
    }

    /// Positions `s0..s1` (multiples of 8) of every sample of `(n, classes, spatial)` logits `x`
    /// and `(n, spatial)` targets `y`: the loss summed, the gradient written to `grad`.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `x` and `grad` hold `n * classes * spatial` floats and `y`
    /// `n * spatial` targets in `0..classes`; `s0` and `s1` are multiples of 8 with `s1 <=
    /// spatial`, so every 8-wide load and store stays inside its row; `classes <= MAX_CLASSES`;
    /// no other thread reads or writes `grad`'s positions `s0..s1` meanwhile (it may write the
    /// others: this call touches no other element of `grad`).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn softmax_focal<const FMA: bool>(
        x: *const f32,
        y: *const i64,
        grad: *mut f32,
        n: usize,
        classes: usize,
        spatial: usize,
        s0: usize,
        s1: usize,
    ) -> f64 {
        let mut total = 0.0;
        let mut es = [c(0.0); MAX_CLASSES];
        for sample in 0..n {
            let mut acc = c(0.0);
            let base = sample * classes * spatial;
            let mut i = s0;
            while i < s1 {
                let ids = ids8(y.add(sample * spatial + i));
                let xp = x.add(base + i);
                let mut m = _mm256_loadu_ps(xp);
                for k in 1..classes {
                    m = _mm256_max_ps(m, _mm256_loadu_ps(xp.add(k * spatial)));
                }
                let (mut sum, mut others, mut x_y) = (c(0.0), c(0.0), c(0.0));
                for (k, e) in es.iter_mut().enumerate().take(classes) {
                    let row = _mm256_loadu_ps(xp.add(k * spatial));
                    let v = exp::<FMA>(_mm256_sub_ps(row, m));
                    *e = v;
                    sum = _mm256_add_ps(sum, v);
                    let is_y =
                        _mm256_castsi256_ps(_mm256_cmpeq_epi32(ids, _mm256_set1_epi32(k as i32)));
                    others = _mm256_add_ps(others, _mm256_andnot_ps(is_y, v));
                    x_y = _mm256_blendv_ps(x_y, row, is_y);
                }
                let inv = _mm256_div_ps(c(1.0), sum);
                let log_p = _mm256_sub_ps(_mm256_sub_ps(x_y, m), ln::<FMA>(sum));
                let q = _mm256_mul_ps(others, inv);
                let modulator = _mm256_mul_ps(q, q);
                acc = madd::<FMA>(modulator, log_p, acc);
                if (i - s0) % 64 == 56 {
                    // Into float64 every 64 positions, as the kernels' per-block sums.
                    total -= lane_sum(acc);
                    acc = c(0.0);
                }
                for (k, e) in es.iter().enumerate().take(classes) {
                    let is_y =
                        _mm256_castsi256_ps(_mm256_cmpeq_epi32(ids, _mm256_set1_epi32(k as i32)));
                    let p = _mm256_mul_ps(*e, inv);
                    let d = _mm256_blendv_ps(_mm256_sub_ps(c(0.0), p), q, is_y);
                    _mm256_storeu_ps(
                        grad.add(base + k * spatial + i),
                        _mm256_mul_ps(modulator, d),
                    );
                }
                i += 8;
            }
            total -= lane_sum(acc);
        }
        total
    }

    /// The lanes' sum in float64.
    #[inline(always)]
    unsafe fn lane_sum(v: __m256) -> f64 {
        let mut lanes = [0.0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), v);
        lanes.iter().map(|&v| f64::from(v)).sum()
    }
}

/// A pointer the threads share, each writing its own positions.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: the pointer is only used inside `run`'s thread scope, while the `&mut [f32]` it came
// from is borrowed by `run` (so it outlives every use), and each thread writes a disjoint set of
// positions through it (see `run`): no element is written by two threads or read while written.
unsafe impl Send for Shared {}
// SAFETY: as for `Send`: shared references to `Shared` only copy the pointer.
unsafe impl Sync for Shared {}

struct Inputs {
    x: Vec<f32>,
    y: Vec<i64>,
    n: usize,
    classes: usize,
    spatial: usize,
}

/// Deterministic logits in `[-6, 6)` and targets.
fn inputs(side: usize) -> Inputs {
    let (n, classes, spatial) = (2, 4, side * side * side);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let x = (0..n * classes * spatial)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 12.0
        })
        .collect();
    let y: Vec<i64> = (0..n * spatial)
        .map(|i| ((i * 7 + i / 3) % classes) as i64)
        .collect();
    // `run`'s loop indexes by these without a check.
    assert!(y.iter().all(|&t| (0..classes as i64).contains(&t)));
    Inputs {
        x,
        y,
        n,
        classes,
        spatial,
    }
}

/// The loop over `threads` threads (each a slice of every sample's positions); the loss.
#[cfg(target_arch = "x86_64")]
fn run<const FMA: bool>(inp: &Inputs, grad: &mut [f32], threads: usize) -> f64 {
    assert!(
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    );
    assert!(inp.spatial.is_multiple_of(8) && grad.len() == inp.x.len());
    assert!(inp.classes <= avx2::MAX_CLASSES && inp.y.len() == inp.n * inp.spatial);
    let per = (inp.spatial / 8).div_ceil(threads) * 8;
    let out = Shared(grad.as_mut_ptr());
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let (s0, s1) = ((t * per).min(inp.spatial), ((t + 1) * per).min(inp.spatial));
                scope.spawn(move || {
                    let out = out;
                    // SAFETY: AVX2 and FMA were detected; the lengths and the class count were
                    // checked above, the targets' range in `inputs`; `s0`, `s1` are multiples of
                    // 8 (`per` is) within `spatial`; thread `t` writes positions `s0..s1` of
                    // every class row, disjoint from the others'.
                    unsafe {
                        avx2::softmax_focal::<FMA>(
                            inp.x.as_ptr(),
                            inp.y.as_ptr(),
                            out.0,
                            inp.n,
                            inp.classes,
                            inp.spatial,
                            s0,
                            s1,
                        )
                    }
                })
            })
            .collect();
        parts.into_iter().map(|p| p.join().expect("a part")).sum()
    })
}

/// A copy of the logits into `dst`, split over `threads` threads.
fn copy(src: &[f32], dst: &mut [f32], threads: usize) {
    let per = src.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for (s, d) in src.chunks(per).zip(dst.chunks_mut(per)) {
            scope.spawn(move || d.copy_from_slice(s));
        }
    });
}

/// The same loss in float64, one position at a time (the check of the loop's result).
fn reference(inp: &Inputs) -> f64 {
    let (c, s) = (inp.classes, inp.spatial);
    let mut total = 0.0;
    for sample in 0..inp.n {
        for i in 0..s {
            let at = |k: usize| f64::from(inp.x[(sample * c + k) * s + i]);
            let m = (0..c).map(at).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..c).map(|k| (at(k) - m).exp()).sum();
            let y = inp.y[sample * s + i] as usize;
            let log_p = at(y) - m - sum.ln();
            let q = 1.0 - log_p.exp();
            total -= q * q * log_p;
        }
    }
    total
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    {
        println!("compute floor: this CPU lacks AVX2 + FMA, nothing to measure");
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let side = if bench { 128 } else { 16 };
    let inp = inputs(side);
    let mut grad = vec![0.0f32; inp.x.len()];
    let truth = reference(&inp);
    for (name, loss) in [
        ("mul + add", run::<false>(&inp, &mut grad, 1)),
        ("FMA", run::<true>(&inp, &mut grad, 1)),
    ] {
        let rel = (loss - truth).abs() / truth.abs();
        assert!(
            rel < 1e-5,
            "{name}: loss {loss} against the float64 {truth}"
        );
    }
    if !bench {
        println!("compute floor smoke run: ok");
        return;
    }
    let reps: usize = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut copy_dst = vec![0.0f32; inp.x.len()];
    println!(
        "compute floor, 2 x 4 x 128^3 float32, forward + gradient, medians of {reps} (ms, x copy on the same threads):"
    );
    for threads in [1, all] {
        let mut times = [vec![], vec![], vec![]];
        for _ in 0..reps {
            let start = Instant::now();
            copy(&inp.x, &mut copy_dst, threads);
            times[0].push(start.elapsed().as_secs_f64() * 1e3);
            let start = Instant::now();
            std::hint::black_box(run::<false>(&inp, &mut grad, threads));
            times[1].push(start.elapsed().as_secs_f64() * 1e3);
            let start = Instant::now();
            std::hint::black_box(run::<true>(&inp, &mut grad, threads));
            times[2].push(start.elapsed().as_secs_f64() * 1e3);
        }
        let [c, m, f] = times.map(median);
        println!(
            "{threads} thread(s): copy {c:6.1}   floor (mul + add) {m:6.1} = {:4.1}x copy   floor (FMA) {f:6.1} = {:4.1}x copy",
            m / c,
            f / c
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("compute floor: x86_64 only, nothing to measure");
}
