//! A small plain CNN for tests and the quick demo.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::{BnMode, Cut, DualBatchNorm, SplitModel, conv3x3, run_stages};

/// conv3x3 -> BN -> ReLU.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    conv: Conv2d,
    bn: DualBatchNorm,
}

impl ConvBnRelu {
    fn new(input: usize, output: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv3x3(input, output, stride, device),
            bn: DualBatchNorm::new(output, device),
        }
    }

    fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<4> {
        relu(self.bn.forward(self.conv.forward(x), mode))
    }

    fn reset_adv_bn(mut self) -> Self {
        self.bn = self.bn.reset_adv_from_clean();
        self
    }
}

/// Three stages of two conv-BN-ReLU layers (`width`, `2 width`, `4 width` channels; stages
/// 2 and 3 start with stride 2), global average pooling and a linear classifier. Every stage
/// ends in a ReLU. Two convolutions per stage give the last features a receptive field
/// large enough (about 29 pixels) to see whole shapes in 32x32 images.
///
/// Shapes: `[N, 3, H, W]` -> stage1 `[N, w, H, W]` -> stage2 `[N, 2w, H/2, W/2]` ->
/// stage3 `[N, 4w, H/4, W/4]` -> `[N, classes]`.
#[derive(Module, Debug)]
pub struct TinyCnn {
    stages: Vec<Vec<ConvBnRelu>>,
    fc: Linear,
}

impl TinyCnn {
    /// A tiny CNN with base width `width`.
    pub fn new(width: usize, classes: usize, device: &Device) -> Self {
        let stage = |input: usize, output: usize, stride: usize| {
            vec![
                ConvBnRelu::new(input, output, stride, device),
                ConvBnRelu::new(output, output, 1, device),
            ]
        };
        Self {
            stages: vec![
                stage(3, width, 2),
                stage(width, 2 * width, 2),
                stage(2 * width, 4 * width, 2),
            ],
            fc: LinearConfig::new(4 * width, classes).init(device),
        }
    }
}

impl SplitModel for TinyCnn {
    fn segment(&self, x: Tensor<4>, from: Cut, to: Cut, mode: BnMode) -> Tensor<4> {
        run_stages(&self.stages, x, from, to, |stage, x| {
            stage.iter().fold(x, |x, layer| layer.forward(x, mode))
        })
    }

    fn head_from(&self, x: Tensor<4>, from: Cut, mode: BnMode) -> Tensor<2> {
        let features = self.segment(x, from, Cut::Stage3, mode);
        self.fc.forward(global_avg_pool(features))
    }

    fn ends_in_relu(&self, _cut: Cut) -> bool {
        true
    }

    fn reset_adv_bn(mut self) -> Self {
        self.stages = self
            .stages
            .into_iter()
            .map(|stage| stage.into_iter().map(ConvBnRelu::reset_adv_bn).collect())
            .collect();
        self
    }
}

/// `[N, C, H, W]` -> `[N, C]` by averaging over space.
pub(crate) fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    x.mean_dims(&[2, 3]).reshape([n, c])
}
