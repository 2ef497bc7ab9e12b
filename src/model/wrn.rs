//! WideResNet (Zagoruyko & Komodakis 2016), the CIFAR network of the AugMix paper.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::resnet::{PreActBlock, Stage, cifar_stages, segment_stages};
use super::tiny::global_avg_pool;
use super::{BnMode, Cut, DualBatchNorm, SplitModel, conv3x3};

/// WideResNet-`depth`-`widen`: conv3x3(16), three groups of `(depth - 4) / 6` pre-activation
/// wide blocks with `16k`, `32k`, `64k` channels (groups 2-3 start with stride 2), BN-ReLU,
/// global pooling, linear. Without dropout (AugMix's setting). Group outputs are not
/// followed by a ReLU.
///
/// Shapes (WRN-40-2): `[N, 3, 32, 32]` -> stage1 `[N, 32, 32, 32]` -> stage2
/// `[N, 64, 16, 16]` -> stage3 `[N, 128, 8, 8]` -> `[N, classes]`.
#[derive(Module, Debug)]
pub struct WideResNet {
    conv: Conv2d,
    stages: Vec<Stage<PreActBlock>>,
    bn: DualBatchNorm,
    fc: Linear,
}

impl WideResNet {
    /// A WideResNet of `depth` (6n + 4) and widening factor `widen`.
    ///
    /// # Panics
    /// When `depth` is not of the form 6n + 4 with n >= 1.
    pub fn new(depth: usize, widen: usize, classes: usize, device: &Device) -> Self {
        assert!(
            depth >= 10 && (depth - 4).is_multiple_of(6),
            "WideResNet depth must be 6n + 4"
        );
        let n = (depth - 4) / 6;
        let widths = [16 * widen, 32 * widen, 64 * widen];
        let stages = cifar_stages(16, &widths, n, |i, o, s| PreActBlock::new(i, o, s, device));
        Self {
            conv: conv3x3(3, 16, 1, device),
            stages,
            bn: DualBatchNorm::new(widths[2], device),
            fc: LinearConfig::new(widths[2], classes).init(device),
        }
    }
}

impl SplitModel for WideResNet {
    fn segment(&self, x: Tensor<4>, from: Cut, to: Cut, mode: BnMode) -> Tensor<4> {
        segment_stages(&self.stages, |x| self.conv.forward(x), x, from, to, mode)
    }

    fn head_from(&self, x: Tensor<4>, from: Cut, mode: BnMode) -> Tensor<2> {
        let x = self.segment(x, from, Cut::Stage3, mode);
        self.fc.forward(global_avg_pool(relu(self.bn.forward(x, mode))))
    }

    fn ends_in_relu(&self, _cut: Cut) -> bool {
        false
    }

    fn reset_adv_bn(mut self) -> Self {
        self.stages = self.stages.into_iter().map(Stage::reset_adv_bn).collect();
        self.bn = self.bn.reset_adv_from_clean();
        self
    }
}
