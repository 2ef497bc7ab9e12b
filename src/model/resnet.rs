//! ResNet-20 (post-activation, CIFAR) and pre-activation ResNet-18.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::tiny::global_avg_pool;
use super::{BnMode, Cut, DualBatchNorm, SplitModel, conv1x1, conv3x3, run_stages};

/// A projection shortcut: 1x1 convolution and batch norm.
#[derive(Module, Debug)]
pub struct Projection {
    conv: Conv2d,
    bn: DualBatchNorm,
}

/// The post-activation basic block: relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut(x)).
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: DualBatchNorm,
    conv2: Conv2d,
    bn2: DualBatchNorm,
    shortcut: Option<Projection>,
}

impl BasicBlock {
    fn new(input: usize, output: usize, stride: usize, device: &Device) -> Self {
        let shortcut = (stride != 1 || input != output).then(|| Projection {
            conv: conv1x1(input, output, stride, device),
            bn: DualBatchNorm::new(output, device),
        });
        Self {
            conv1: conv3x3(input, output, stride, device),
            bn1: DualBatchNorm::new(output, device),
            conv2: conv3x3(output, output, 1, device),
            bn2: DualBatchNorm::new(output, device),
            shortcut,
        }
    }
}

impl Block for BasicBlock {
    fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<4> {
        let residual = match &self.shortcut {
            Some(p) => p.bn.forward(p.conv.forward(x.clone()), mode),
            None => x.clone(),
        };
        let out = relu(self.bn1.forward(self.conv1.forward(x), mode));
        let out = self.bn2.forward(self.conv2.forward(out), mode);
        relu(out + residual)
    }

    fn reset_adv_bn(mut self) -> Self {
        self.bn1 = self.bn1.reset_adv_from_clean();
        self.bn2 = self.bn2.reset_adv_from_clean();
        self.shortcut = self.shortcut.map(|mut p| {
            p.bn = p.bn.reset_adv_from_clean();
            p
        });
        self
    }
}

/// A residual block of the CIFAR networks: one step of a [`Stage`].
pub(crate) trait Block: Sized {
    /// Shapes: `[N, C_in, H, W]` -> `[N, C_out, H / stride, W / stride]`.
    fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<4>;

    /// Makes every adversarial batch-norm copy equal to its clean copy.
    fn reset_adv_bn(self) -> Self;
}

/// A stage: a list of blocks.
#[derive(Module, Debug)]
pub struct Stage<B> {
    pub(crate) blocks: Vec<B>,
}

impl<B: Block> Stage<B> {
    pub(crate) fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<4> {
        self.blocks.iter().fold(x, |x, b| b.forward(x, mode))
    }

    pub(crate) fn reset_adv_bn(self) -> Self {
        Stage {
            blocks: self.blocks.into_iter().map(B::reset_adv_bn).collect(),
        }
    }
}

/// The layers of a CIFAR network between two cuts: `stem` (its input layers) when starting
/// from the input, then the stages in between. The `segment` of every CIFAR ResNet.
pub(crate) fn segment_stages<B: Block>(
    stages: &[Stage<B>],
    stem: impl FnOnce(Tensor<4>) -> Tensor<4>,
    x: Tensor<4>,
    from: Cut,
    to: Cut,
    mode: BnMode,
) -> Tensor<4> {
    let x = if from == Cut::Input && to > Cut::Input {
        stem(x)
    } else {
        x
    };
    run_stages(stages, x, from, to, |s, x| s.forward(x, mode))
}

/// The three stages of a CIFAR ResNet: `blocks` blocks per stage with the given output
/// widths, the first block of stages 2 and 3 with stride 2; `block(input, output, stride)`.
pub(crate) fn cifar_stages<B>(
    input: usize,
    widths: &[usize; 3],
    blocks: usize,
    block: impl Fn(usize, usize, usize) -> B,
) -> Vec<Stage<B>> {
    let mut input = input;
    widths
        .iter()
        .enumerate()
        .map(|(i, &width)| {
            let blocks = (0..blocks)
                .map(|b| {
                    let stride = if i > 0 && b == 0 { 2 } else { 1 };
                    let made = block(input, width, stride);
                    input = width;
                    made
                })
                .collect();
            Stage { blocks }
        })
        .collect()
}

/// ResNet-20 for CIFAR: conv3x3(16)-BN-ReLU, then three stages of `n` basic blocks with 16,
/// 32 and 64 channels (the last two start with stride 2), global pooling and a linear layer.
/// `n = 3` gives ResNet-20. Projection (1x1 conv) shortcuts where the shape changes.
/// Stage outputs end in a ReLU. The input convolution belongs to stage 1.
///
/// Shapes: `[N, 3, 32, 32]` -> stage1 `[N, 16, 32, 32]` -> stage2 `[N, 32, 16, 16]` ->
/// stage3 `[N, 64, 8, 8]` -> `[N, classes]`.
#[derive(Module, Debug)]
pub struct ResNet20 {
    conv: Conv2d,
    bn: DualBatchNorm,
    stages: Vec<Stage<BasicBlock>>,
    fc: Linear,
}

impl ResNet20 {
    /// A CIFAR ResNet with `blocks_per_stage` blocks per stage (3 for ResNet-20).
    pub fn new(blocks_per_stage: usize, classes: usize, device: &Device) -> Self {
        let widths = [16, 32, 64];
        let stages = cifar_stages(16, &widths, blocks_per_stage, |i, o, s| {
            BasicBlock::new(i, o, s, device)
        });
        Self {
            conv: conv3x3(3, 16, 1, device),
            bn: DualBatchNorm::new(16, device),
            stages,
            fc: LinearConfig::new(64, classes).init(device),
        }
    }
}

impl SplitModel for ResNet20 {
    fn segment(&self, x: Tensor<4>, from: Cut, to: Cut, mode: BnMode) -> Tensor<4> {
        let stem = |x| relu(self.bn.forward(self.conv.forward(x), mode));
        segment_stages(&self.stages, stem, x, from, to, mode)
    }

    fn head_from(&self, x: Tensor<4>, from: Cut, mode: BnMode) -> Tensor<2> {
        self.fc
            .forward(global_avg_pool(self.segment(x, from, Cut::Stage3, mode)))
    }

    fn ends_in_relu(&self, _cut: Cut) -> bool {
        true
    }

    fn reset_adv_bn(mut self) -> Self {
        self.bn = self.bn.reset_adv_from_clean();
        self.stages = self.stages.into_iter().map(Stage::reset_adv_bn).collect();
        self
    }
}

/// The pre-activation block: out = conv2(relu(bn2(conv1(relu(bn1 x))))) + shortcut, where
/// the projection shortcut (when the shape changes) takes relu(bn1 x).
#[derive(Module, Debug)]
pub struct PreActBlock {
    bn1: DualBatchNorm,
    conv1: Conv2d,
    bn2: DualBatchNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

impl PreActBlock {
    pub(crate) fn new(input: usize, output: usize, stride: usize, device: &Device) -> Self {
        Self {
            bn1: DualBatchNorm::new(input, device),
            conv1: conv3x3(input, output, stride, device),
            bn2: DualBatchNorm::new(output, device),
            conv2: conv3x3(output, output, 1, device),
            shortcut: (stride != 1 || input != output).then(|| conv1x1(input, output, stride, device)),
        }
    }
}

impl Block for PreActBlock {
    fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<4> {
        let pre = relu(self.bn1.forward(x.clone(), mode));
        let residual = match &self.shortcut {
            Some(conv) => conv.forward(pre.clone()),
            None => x,
        };
        let out = self.conv1.forward(pre);
        let out = self.conv2.forward(relu(self.bn2.forward(out, mode)));
        out + residual
    }

    fn reset_adv_bn(mut self) -> Self {
        self.bn1 = self.bn1.reset_adv_from_clean();
        self.bn2 = self.bn2.reset_adv_from_clean();
        self
    }
}

/// Pre-activation ResNet-18 for CIFAR: conv3x3(64), four stages of two pre-activation
/// blocks (64, 128, 256, 512 channels; stages 2-4 start with stride 2), BN-ReLU, global
/// pooling, linear. Cut points are after stages 1-3; stage outputs are *not* followed by a
/// ReLU (pre-activation), so AdvBN perturbs without re-applying one.
///
/// Shapes: `[N, 3, 32, 32]` -> stage1 `[N, 64, 32, 32]` -> stage2 `[N, 128, 16, 16]` ->
/// stage3 `[N, 256, 8, 8]` -> `[N, classes]`.
#[derive(Module, Debug)]
pub struct PreActResNet18 {
    conv: Conv2d,
    stages: Vec<Stage<PreActBlock>>,
    last: Stage<PreActBlock>,
    bn: DualBatchNorm,
    fc: Linear,
}

impl PreActResNet18 {
    /// A pre-activation ResNet-18.
    pub fn new(classes: usize, device: &Device) -> Self {
        let stage = |input: usize, output: usize, stride: usize| Stage {
            blocks: vec![
                PreActBlock::new(input, output, stride, device),
                PreActBlock::new(output, output, 1, device),
            ],
        };
        Self {
            conv: conv3x3(3, 64, 1, device),
            stages: vec![stage(64, 64, 1), stage(64, 128, 2), stage(128, 256, 2)],
            last: stage(256, 512, 2),
            bn: DualBatchNorm::new(512, device),
            fc: LinearConfig::new(512, classes).init(device),
        }
    }
}

impl SplitModel for PreActResNet18 {
    fn segment(&self, x: Tensor<4>, from: Cut, to: Cut, mode: BnMode) -> Tensor<4> {
        segment_stages(&self.stages, |x| self.conv.forward(x), x, from, to, mode)
    }

    fn head_from(&self, x: Tensor<4>, from: Cut, mode: BnMode) -> Tensor<2> {
        let x = self.segment(x, from, Cut::Stage3, mode);
        let x = self.last.forward(x, mode);
        let x = relu(self.bn.forward(x, mode));
        self.fc.forward(global_avg_pool(x))
    }

    fn ends_in_relu(&self, _cut: Cut) -> bool {
        false
    }

    fn reset_adv_bn(mut self) -> Self {
        self.stages = self.stages.into_iter().map(Stage::reset_adv_bn).collect();
        self.last = self.last.reset_adv_bn();
        self.bn = self.bn.reset_adv_from_clean();
        self
    }
}
