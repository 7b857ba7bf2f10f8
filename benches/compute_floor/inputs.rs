//! The deterministic inputs: `(n, classes, side^3)` logits with int64 class targets (the
//! segmentation shape, also as float32 one-hot targets) and `(n, anchors, classes)` logits with
//! ~1% binary positives (the detection shape).

/// Logits `(n, classes, spatial)` and class targets `(n, spatial)`.
pub struct Classes {
    /// The logits, in `[-6, 6)`.
    pub x: Vec<f32>,
    /// The class of every position, each in `0..classes`.
    pub y: Vec<i64>,
    /// Samples.
    pub n: usize,
    /// Classes.
    pub classes: usize,
    /// Positions per sample.
    pub spatial: usize,
}

/// Logits and float32 binary targets of the same shape (the sigmoid focal loss's inputs).
pub struct Binary {
    /// The logits, in `[-6, 6)`.
    pub x: Vec<f32>,
    /// The targets, each 0 or 1.
    pub t: Vec<f32>,
}

/// `len` deterministic logits in `[-6, 6)` (a 64-bit LCG's top bits).
fn logits(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 12.0
        })
        .collect()
}

/// The segmentation inputs: `2 x 4 x side^3` logits and their class targets.
pub fn seg(side: usize) -> Classes {
    let (n, classes, spatial) = (2, 4, side * side * side);
    let x = logits(n * classes * spatial, 0x9E37_79B9_7F4A_7C15);
    let y: Vec<i64> = (0..n * spatial)
        .map(|i| ((i * 7 + i / 3) % classes) as i64)
        .collect();
    // The loops index by these without a check.
    assert!(y.iter().all(|&t| (0..classes as i64).contains(&t)));
    Classes {
        x,
        y,
        n,
        classes,
        spatial,
    }
}

/// The class targets as float32 one-hot targets of the logits' shape.
pub fn one_hot(inp: &Classes) -> Vec<f32> {
    let (c, s) = (inp.classes, inp.spatial);
    let mut t = vec![0.0f32; inp.x.len()];
    for sample in 0..inp.n {
        for i in 0..s {
            let k = inp.y[sample * s + i] as usize;
            t[(sample * c + k) * s + i] = 1.0;
        }
    }
    t
}

/// The detection inputs: `n x anchors x classes` logits and binary targets, ~1% of them 1
/// (a multiplicative hash of the index).
pub fn det(n: usize, anchors: usize, classes: usize) -> Binary {
    let len = n * anchors * classes;
    let x = logits(len, 0x2545_F491_4F6C_DD1D);
    let t = (0..len as u64)
        .map(|i| {
            let h = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
            if h % 100 == 0 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    Binary { x, t }
}
