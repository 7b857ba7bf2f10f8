//! The test binaries keep `libtorch_cuda.so` linked (tch's `--as-needed` link would drop it and
//! silently turn CUDA off). On a machine without a GPU the library still loads.

#[test]
fn libtorch_cuda_is_loaded_into_the_process() {
    // Touch libtorch so the loader has done its work.
    let available = tch::Cuda::is_available();
    let maps = std::fs::read_to_string("/proc/self/maps").expect("reading /proc/self/maps");
    assert!(
        maps.contains("libtorch_cuda.so"),
        "libtorch_cuda.so is not loaded: the binary was linked without it (cuda available: {available})"
    );
    if available {
        let t = tch::Tensor::ones([2], (tch::Kind::Float, tch::Device::Cuda(0)));
        assert_eq!(t.sum(tch::Kind::Float).double_value(&[]), 2.0);
    }
}
