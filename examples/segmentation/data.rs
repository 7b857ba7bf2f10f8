//! Seeded synthetic volumes: background, a few large spheres (class 1) and thin tubes (class 2,
//! well under 1% of voxels), with noise.

use tch::{Device, Kind, Tensor};

/// Number of classes: background, spheres, tubes.
pub const CLASSES: i64 = 3;
/// Class names, by index.
pub const CLASS_NAMES: [&str; 3] = ["background", "sphere", "tube"];

/// A batch of volumes: images `(B, 1, D, D, D)` float and labels `(B, D, D, D)` int64.
pub struct Batch {
    pub images: Tensor,
    pub labels: Tensor,
}

/// A small deterministic generator (SplitMix64) for the geometry.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next()
    }
}

/// `count` volumes of edge `size`, made on the CPU from `seed` and moved to `device`.
pub fn make_batch(count: i64, size: i64, seed: i64, device: Device) -> Batch {
    let mut rng = Rng(seed as u64 ^ 0x5EED);
    let options = (Kind::Float, Device::Cpu);
    let axis = Tensor::arange(size, options);
    let z = axis.view([size, 1, 1]);
    let y = axis.view([1, size, 1]);
    let x = axis.view([1, 1, size]);
    let s = size as f64;
    let mut labels = Vec::new();
    for _ in 0..count {
        let mut label = Tensor::zeros([size, size, size], (Kind::Int64, Device::Cpu));
        for _ in 0..2 {
            let r = rng.range(s / 8.0, s / 5.0);
            let c: Vec<f64> = (0..3).map(|_| rng.range(r, s - r)).collect();
            let d2 = (&z - c[0]).square() + (&y - c[1]).square() + (&x - c[2]).square();
            label = label.masked_fill(&d2.le(r * r), 1);
        }
        for _ in 0..2 {
            let a: Vec<f64> = (0..3).map(|_| rng.range(2.0, s - 2.0)).collect();
            let b: Vec<f64> = (0..3).map(|_| rng.range(2.0, s - 2.0)).collect();
            let ab: Vec<f64> = (0..3).map(|i| b[i] - a[i]).collect();
            let len2 = ab.iter().map(|v| v * v).sum::<f64>().max(1e-9);
            let (pz, py, px) = (&z - a[0], &y - a[1], &x - a[2]);
            let t = ((&pz * ab[0] + &py * ab[1] + &px * ab[2]) / len2).clamp(0.0, 1.0);
            let d2 = (&pz - &t * ab[0]).square()
                + (&py - &t * ab[1]).square()
                + (&px - &t * ab[2]).square();
            label = label.masked_fill(&d2.le(1.2), 2);
        }
        labels.push(label);
    }
    let labels = Tensor::stack(&labels, 0);
    tch::manual_seed(seed);
    let signal = labels.eq(1).to_kind(Kind::Float) * 1.0 + labels.eq(2).to_kind(Kind::Float) * 2.0;
    let noise = Tensor::randn(labels.size(), options) * 0.7;
    let images = (signal + noise).unsqueeze(1);
    Batch {
        images: images.to_device(device),
        labels: labels.to_device(device),
    }
}

/// The fraction of voxels of each class.
pub fn class_fractions(labels: &Tensor) -> Vec<f64> {
    let total = labels.numel() as f64;
    (0..CLASSES)
        .map(|c| labels.eq(c).sum(Kind::Float).double_value(&[]) / total)
        .collect()
}
