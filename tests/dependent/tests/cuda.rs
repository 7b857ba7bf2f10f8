//! In a crate that depends on focal with no build script of its own, `libtorch_cuda` is linked
//! (rustc's `--as-needed` link drops it unless focal keeps it), so CUDA works where a GPU exists.

use tch::{Device, Kind, Tensor};

#[test]
fn libtorch_cuda_is_loaded_in_a_dependent_crate() {
    let x = Tensor::from_slice(&[1.0f32, 2.0, 4.0]);
    let y = Tensor::from_slice(&[0.0f32, 2.0, 1.0]);
    let on_cpu = focal_dependent_test::mean_squared_error(&x, &y);
    assert!((on_cpu - 10.0 / 3.0).abs() < 1e-6, "{on_cpu} on cpu");
    let available = tch::Cuda::is_available();
    let maps = std::fs::read_to_string("/proc/self/maps").expect("reading /proc/self/maps");
    assert!(
        maps.contains("libtorch_cuda.so"),
        "libtorch_cuda.so is not loaded in a crate that depends on focal (cuda available: {available})"
    );
    if available {
        let device = Device::Cuda(0);
        let on_gpu =
            focal_dependent_test::mean_squared_error(&x.to_device(device), &y.to_device(device));
        assert!((on_gpu - 10.0 / 3.0).abs() < 1e-6, "{on_gpu} on cuda:0");
        let t = Tensor::ones([2], (Kind::Float, device));
        assert_eq!(t.sum(Kind::Float).double_value(&[]), 2.0);
    }
}
