//! The fused kernels' recycled output buffers: a freed gradient's memory is kept and the next
//! buffer of its size reuses it (the same address), values stay those of the composed path on
//! reused memory (which still holds the previous call's gradient), the limits hold, a buffer freed
//! on another thread or resized comes back, and `Reduction::None`'s loss buffer is recycled too.
//!
//! The cache is process-wide: everything runs in one test, in order.

use focal::fused;
use focal::{FocalLoss, Loss, Reduction, SoftmaxFocalLoss};
use tch::{Device, Kind, Tensor};

/// `2 x 4 x 64 x 64 x 16` logits (2 MiB in float32, above the recycling threshold) and targets.
fn inputs(seed: i64, kind: Kind) -> (Tensor, Tensor) {
    tch::manual_seed(seed);
    let x = Tensor::randn([2, 4, 64, 64, 16], (kind, Device::Cpu)) * 3.0;
    let y = Tensor::randint(4, [2, 64, 64, 16], (Kind::Int64, Device::Cpu));
    (x, y)
}

/// The fused gradient of `loss` at `x` (a fresh leaf), and the kernel's run count went up.
fn fused_grad(loss: &dyn Loss, x: &Tensor, y: &Tensor) -> Tensor {
    let runs = focal::__private::fused_kernel_runs();
    let leaf = x.detach().set_requires_grad(true);
    loss.forward(&leaf, y).backward();
    assert_eq!(
        focal::__private::fused_kernel_runs(),
        runs + 1,
        "the kernel ran"
    );
    leaf.grad()
}

fn composed_grad(loss: &dyn Loss, x: &Tensor, y: &Tensor) -> Tensor {
    let leaf = x.detach().set_requires_grad(true);
    fused::composed_only(|| loss.forward(&leaf, y).backward());
    leaf.grad()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn recycled_buffers() {
    let loss = SoftmaxFocalLoss::default();
    let bytes = 2 * 4 * 64 * 64 * 16 * 4;
    fused::set_kept_buffer_limits(fused::DEFAULT_MAX_BUFFERS, fused::DEFAULT_MAX_BYTES).unwrap();
    fused::release_kept_buffers();
    assert_eq!(fused::kept_buffers(), fused::KeptBuffers::default());

    // A gradient freed is kept; the next one of its size is the same memory, and correct.
    let (x1, y1) = inputs(1, Kind::Float);
    let g1 = fused_grad(&loss, &x1, &y1);
    let address = g1.data_ptr() as usize;
    assert!(
        max_diff(&g1, &composed_grad(&loss, &x1, &y1)) < 1e-9,
        "the first gradient"
    );
    drop(g1);
    assert_eq!(
        fused::kept_buffers(),
        fused::KeptBuffers { count: 1, bytes }
    );
    let (x2, y2) = inputs(2, Kind::Float);
    let g2 = fused_grad(&loss, &x2, &y2);
    assert_eq!(
        g2.data_ptr() as usize,
        address,
        "the kept buffer was reused"
    );
    assert_eq!(fused::kept_buffers().count, 0);
    let diff = max_diff(&g2, &composed_grad(&loss, &x2, &y2));
    assert!(
        diff < 1e-9,
        "the gradient on reused memory is off by {diff}"
    );

    // Another size (float64) does not take it; both come back when freed.
    let (x3, y3) = inputs(3, Kind::Double);
    let g3 = fused_grad(&loss, &x3, &y3);
    assert_ne!(g3.data_ptr() as usize, address);
    drop(g2);
    drop(g3);
    assert_eq!(
        fused::kept_buffers(),
        fused::KeptBuffers {
            count: 2,
            bytes: 3 * bytes
        }
    );

    // Freed on another thread, it comes back all the same.
    let g4 = fused_grad(&FocalLoss::default(), &x1, &y1);
    assert_eq!(
        fused::kept_buffers().count,
        1,
        "the float32 buffer was taken"
    );
    std::thread::spawn(move || drop(g4)).join().unwrap();
    assert_eq!(fused::kept_buffers().count, 2);

    // Resized, the tensor moves to libtorch's allocator and the buffer comes back.
    let mut g5 = fused_grad(&loss, &x1, &y1);
    assert_eq!(fused::kept_buffers().count, 1);
    let before = g5.copy();
    let _ = g5.resize_([2 * 2 * 4 * 64 * 64 * 16]);
    assert_eq!(
        fused::kept_buffers().count,
        2,
        "the resize gave the buffer back"
    );
    let kept_part = g5.narrow(0, 0, before.numel() as i64);
    assert_eq!(
        max_diff(&kept_part, &before.view([-1])),
        0.0,
        "the resize kept the values"
    );
    drop(g5);
    drop(kept_part);

    // Reduction::None's per-position losses (1 MiB in float64) come from the cache too.
    let unreduced = SoftmaxFocalLoss::default().with_reduction(Reduction::None);
    let (x6, y6) = inputs(6, Kind::Double);
    let losses = tch::no_grad(|| unreduced.forward(&x6, &y6));
    let composed = fused::composed_only(|| tch::no_grad(|| unreduced.forward(&x6, &y6)));
    assert!(max_diff(&losses, &composed) < 1e-12);
    let kept = fused::kept_buffers();
    drop(losses);
    assert_eq!(fused::kept_buffers().count, kept.count + 1);

    // The limits: the oldest go first; 0 keeps none.
    fused::set_kept_buffer_limits(1, usize::MAX).unwrap();
    assert_eq!(fused::kept_buffers().count, 1);
    fused::set_kept_buffer_limits(8, bytes).unwrap();
    assert!(fused::kept_buffers().bytes <= bytes);
    fused::set_kept_buffer_limits(0, 0).unwrap();
    assert_eq!(fused::kept_buffers(), fused::KeptBuffers::default());
    drop(fused_grad(&loss, &x1, &y1));
    assert_eq!(fused::kept_buffers().count, 0, "nothing is kept at limit 0");

    // Released: nothing kept, and the next call allocates afresh (still correct).
    fused::set_kept_buffer_limits(fused::DEFAULT_MAX_BUFFERS, fused::DEFAULT_MAX_BYTES).unwrap();
    drop(fused_grad(&loss, &x1, &y1));
    assert_eq!(fused::kept_buffers().count, 1);
    assert_eq!(fused::release_kept_buffers(), bytes);
    assert_eq!(fused::kept_buffers().count, 0);
    let g = fused_grad(&loss, &x2, &y2);
    assert!(max_diff(&g, &composed_grad(&loss, &x2, &y2)) < 1e-9);
}
