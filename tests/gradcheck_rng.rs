//! `gradcheck` draws its cotangents from a generator of its own: the caller's random stream
//! continues as if it had not run. (Alone in its test binary: libtorch's global generator is
//! shared by every thread of a process, so parallel tests would draw from it too.)

use focal::GradcheckOptions;
use tch::{Device, Kind, Tensor};

#[test]
fn gradcheck_leaves_the_callers_random_stream_alone() {
    let draw = |check: bool| {
        tch::manual_seed(42);
        let x = Tensor::randn([3, 2], (Kind::Double, Device::Cpu));
        if check {
            let loss = focal::FocalLoss::default().with_reduction(focal::Reduction::None);
            let target = Tensor::from_slice(&[0i64, 1, 1]);
            let report = focal::gradcheck(&loss, &x, &target, GradcheckOptions::default()).unwrap();
            assert!(report.passed(1e-6), "{report:?}");
        }
        Tensor::rand([4], (Kind::Double, Device::Cpu))
    };
    let (with, without) = (draw(true), draw(false));
    assert_eq!(
        Vec::<f64>::try_from(&with).unwrap(),
        Vec::<f64>::try_from(&without).unwrap(),
        "gradcheck moved the stream"
    );
}
