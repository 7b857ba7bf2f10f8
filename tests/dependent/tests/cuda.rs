//! In a crate that depends on focal with no build script of its own, `libtorch_cuda` is linked
//! (rustc's `--as-needed` link drops it unless focal keeps it), so CUDA works where a GPU exists.

use tch::{Device, Kind, Tensor};

#[test]
fn libtorch_cuda_is_loaded_in_a_dependent_crate() {
    let logits = Tensor::randn([2, 3], (Kind::Float, Device::Cpu));
    let target = Tensor::from_slice(&[0i64, 2]);
    assert!(focal_dependent_test::focal_loss(&logits, &target) > 0.0);
    let available = tch::Cuda::is_available();
    let maps = std::fs::read_to_string("/proc/self/maps").expect("reading /proc/self/maps");
    assert!(
        maps.contains("libtorch_cuda.so"),
        "libtorch_cuda.so is not loaded in a crate that depends on focal (cuda available: {available})"
    );
    if available {
        let device = Device::Cuda(0);
        let value =
            focal_dependent_test::focal_loss(&logits.to_device(device), &target.to_device(device));
        let cpu = focal_dependent_test::focal_loss(&logits, &target);
        assert!(
            (value - cpu).abs() < 1e-5,
            "{value} on cuda:0, {cpu} on cpu"
        );
    }
}
