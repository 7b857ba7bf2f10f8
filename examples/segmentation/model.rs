//! A compact 3D U-Net: two levels, skip connection, written with `tch::nn`.

use tch::nn::{self, Module};
use tch::Tensor;

#[derive(Debug)]
pub struct UNet3d {
    enc1: [nn::Conv3D; 2],
    enc2: [nn::Conv3D; 2],
    up: nn::ConvTranspose3D,
    dec1: [nn::Conv3D; 2],
    head: nn::Conv3D,
}

impl UNet3d {
    pub fn new(vs: &nn::Path, in_channels: i64, classes: i64, width: i64) -> Self {
        let conv = |name: &str, i: i64, o: i64| {
            nn::conv3d(
                vs / name,
                i,
                o,
                3,
                nn::ConvConfig {
                    padding: 1,
                    ..Default::default()
                },
            )
        };
        UNet3d {
            enc1: [
                conv("enc1a", in_channels, width),
                conv("enc1b", width, width),
            ],
            enc2: [
                conv("enc2a", width, 2 * width),
                conv("enc2b", 2 * width, 2 * width),
            ],
            up: nn::conv_transpose3d(
                vs / "up",
                2 * width,
                width,
                2,
                nn::ConvTransposeConfig {
                    stride: 2,
                    ..Default::default()
                },
            ),
            dec1: [conv("dec1a", 2 * width, width), conv("dec1b", width, width)],
            head: nn::conv3d(vs / "head", width, classes, 1, Default::default()),
        }
    }
}

fn block(convs: &[nn::Conv3D; 2], x: &Tensor) -> Tensor {
    convs[1].forward(&convs[0].forward(x).relu()).relu()
}

impl Module for UNet3d {
    fn forward(&self, x: &Tensor) -> Tensor {
        let e1 = block(&self.enc1, x);
        let e2 = block(
            &self.enc2,
            &e1.max_pool3d([2, 2, 2], [2, 2, 2], [0, 0, 0], [1, 1, 1], false),
        );
        let u = self.up.forward(&e2);
        let d = block(&self.dec1, &Tensor::cat(&[u, e1], 1));
        self.head.forward(&d)
    }
}
