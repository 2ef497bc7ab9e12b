//! Convolution helpers shared by the networks.

use burn::nn::Initializer;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Device;

/// 3x3 convolution, padding 1, no bias, Kaiming-normal (fan out) init as torchvision's
/// CIFAR ResNets.
pub fn conv3x3(input: usize, output: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .with_initializer(kaiming())
        .init(device)
}

/// 1x1 convolution, no bias (projection shortcuts).
pub fn conv1x1(input: usize, output: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [1, 1])
        .with_stride([stride, stride])
        .with_bias(false)
        .with_initializer(kaiming())
        .init(device)
}

pub(crate) fn kaiming() -> Initializer {
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: true,
    }
}
