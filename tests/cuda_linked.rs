//! A binary that uses focal keeps `libtorch_cuda.so` linked (tch's `--as-needed` link would drop
//! it and silently turn CUDA off): focal's shim references it, with no link flags of the
//! binary's own (`tests/dependent` checks the same in a separate crate). On a machine without a
//! GPU the library still loads.

#[test]
fn libtorch_cuda_is_loaded_into_the_process() {
    // Use focal (any loss calls the shim), and touch libtorch.
    assert!(focal::autograd::is_grad_enabled());
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
