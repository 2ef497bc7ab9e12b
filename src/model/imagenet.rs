//! ImageNet ResNet-18 and ResNet-50 in torchvision's layout (He et al. 2016; torchvision's
//! `resnet18` / `resnet50`, v1.5: the bottleneck's stride sits on its 3x3 convolution), with
//! dual batch norms, and the map from their parameter paths to torchvision's `state_dict`
//! keys.
//!
//! The module fields mirror torchvision's attribute names (`conv1`, `bn1`, `layer1..layer4`
//! as lists of blocks, `fc`; blocks `conv1 bn1 conv2 bn2 [conv3 bn3] downsample`), and
//! `downsample` is an optional `(Conv2d, DualBatchNorm)` tuple, whose children burn names
//! `0` and `1` as PyTorch's `nn.Sequential` does; so burn's path of every tensor is
//! torchvision's key up to the dual batch norms' `clean`/`adv` level and burn's batch-norm
//! names ([`torchvision_key`]).

use burn::module::{Module, ModuleDisplay, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::blocks::kaiming;
use super::tiny::global_avg_pool;
use super::{BnMode, Cut, DualBatchNorm, SplitModel, conv1x1, conv3x3};

/// A residual block of an ImageNet ResNet ([`BasicBlock`] or [`Bottleneck`]).
pub trait ResidualBlock: Module + ModuleDisplay + Sized {
    /// Output channels per unit of `planes` (1 for the basic block, 4 for the bottleneck).
    const EXPANSION: usize;

    /// A block from `inplanes` channels to `planes * EXPANSION`, `stride` on its spatial
    /// convolution; a `downsample` projection when the shape changes.
    fn new(inplanes: usize, planes: usize, stride: usize, device: &Device) -> Self;

    /// Shapes: `[N, inplanes, H, W]` -> `[N, planes * EXPANSION, H / stride, W / stride]`.
    fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<4>;

    /// Makes every adversarial batch-norm copy equal to its clean copy.
    fn reset_adv_bn(self) -> Self;
}

/// torchvision's `downsample`: 1x1 convolution (with the block's stride) and batch norm,
/// children `0` and `1`.
type Downsample = Option<(Conv2d, DualBatchNorm)>;

fn downsample(inplanes: usize, outplanes: usize, stride: usize, device: &Device) -> Downsample {
    (stride != 1 || inplanes != outplanes).then(|| {
        (
            conv1x1(inplanes, outplanes, stride, device),
            DualBatchNorm::new(outplanes, device),
        )
    })
}

fn shortcut(downsample: &Downsample, x: Tensor<4>, mode: BnMode) -> Tensor<4> {
    match downsample {
        Some((conv, bn)) => bn.forward(conv.forward(x), mode),
        None => x,
    }
}

fn reset_downsample(downsample: Downsample) -> Downsample {
    downsample.map(|(conv, bn)| (conv, bn.reset_adv_from_clean()))
}

/// torchvision's `BasicBlock`: relu(bn2(conv2(relu(bn1(conv1 x)))) + downsample(x)), both
/// convolutions 3x3, the stride on `conv1`.
///
/// Shapes: `[N, inplanes, H, W]` -> `[N, planes, H / stride, W / stride]`.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: DualBatchNorm,
    conv2: Conv2d,
    bn2: DualBatchNorm,
    downsample: Downsample,
}

impl ResidualBlock for BasicBlock {
    const EXPANSION: usize = 1;

    fn new(inplanes: usize, planes: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv1: conv3x3(inplanes, planes, stride, device),
            bn1: DualBatchNorm::new(planes, device),
            conv2: conv3x3(planes, planes, 1, device),
            bn2: DualBatchNorm::new(planes, device),
            downsample: downsample(inplanes, planes, stride, device),
        }
    }

    fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<4> {
        let identity = shortcut(&self.downsample, x.clone(), mode);
        let out = relu(self.bn1.forward(self.conv1.forward(x), mode));
        let out = self.bn2.forward(self.conv2.forward(out), mode);
        relu(out + identity)
    }

    fn reset_adv_bn(mut self) -> Self {
        self.bn1 = self.bn1.reset_adv_from_clean();
        self.bn2 = self.bn2.reset_adv_from_clean();
        self.downsample = reset_downsample(self.downsample);
        self
    }
}

/// torchvision's `Bottleneck` (v1.5): 1x1 to `planes`, 3x3 (with the stride) to `planes`,
/// 1x1 to `4 planes`, batch norm after each, ReLU after the first two and after the sum with
/// `downsample(x)`.
///
/// Shapes: `[N, inplanes, H, W]` -> `[N, 4 planes, H / stride, W / stride]`.
#[derive(Module, Debug)]
pub struct Bottleneck {
    conv1: Conv2d,
    bn1: DualBatchNorm,
    conv2: Conv2d,
    bn2: DualBatchNorm,
    conv3: Conv2d,
    bn3: DualBatchNorm,
    downsample: Downsample,
}

impl ResidualBlock for Bottleneck {
    const EXPANSION: usize = 4;

    fn new(inplanes: usize, planes: usize, stride: usize, device: &Device) -> Self {
        let outplanes = planes * Self::EXPANSION;
        Self {
            conv1: conv1x1(inplanes, planes, 1, device),
            bn1: DualBatchNorm::new(planes, device),
            conv2: conv3x3(planes, planes, stride, device),
            bn2: DualBatchNorm::new(planes, device),
            conv3: conv1x1(planes, outplanes, 1, device),
            bn3: DualBatchNorm::new(outplanes, device),
            downsample: downsample(inplanes, outplanes, stride, device),
        }
    }

    fn forward(&self, x: Tensor<4>, mode: BnMode) -> Tensor<4> {
        let identity = shortcut(&self.downsample, x.clone(), mode);
        let out = relu(self.bn1.forward(self.conv1.forward(x), mode));
        let out = relu(self.bn2.forward(self.conv2.forward(out), mode));
        let out = self.bn3.forward(self.conv3.forward(out), mode);
        relu(out + identity)
    }

    fn reset_adv_bn(mut self) -> Self {
        self.bn1 = self.bn1.reset_adv_from_clean();
        self.bn2 = self.bn2.reset_adv_from_clean();
        self.bn3 = self.bn3.reset_adv_from_clean();
        self.downsample = reset_downsample(self.downsample);
        self
    }
}

/// An ImageNet ResNet in torchvision's layout: `conv1` 7x7 stride 2 (64 channels, no bias),
/// `bn1`, ReLU, 3x3 max pool stride 2, `layer1..layer4` (64, 128, 256, 512 planes; layers 2-4
/// start with stride 2), global average pooling, `fc`. Every batch norm is a
/// [`DualBatchNorm`].
///
/// Four cuts: stage 1 is the stem (conv1, bn1, ReLU, max pool) and `layer1`; stage `k` is
/// `layer{k}` for k = 2..4. Every cut follows a block's final ReLU. With the bottleneck
/// (ResNet-50) the cut after stage 1 is where AdvBN's reference perturbs.
///
/// Initialisation as torchvision: convolutions Kaiming normal (fan out, ReLU gain), batch
/// norms weight 1 and bias 0; `fc` keeps burn's default (uniform in `±1/sqrt(fan_in)`, for
/// weight and bias), which is also PyTorch's `nn.Linear` default that torchvision keeps.
///
/// Shapes (ResNet-18 / ResNet-50, `E` = 1 / 4): `[N, 3, 224, 224]` -> stage1
/// `[N, 64E, 56, 56]` -> stage2 `[N, 128E, 28, 28]` -> stage3 `[N, 256E, 14, 14]` -> stage4
/// `[N, 512E, 7, 7]` -> `[N, classes]`; in general each cut divides H and W by 4, 8, 16, 32
/// (rounding up), e.g. 64x64 inputs give 16, 8, 4, 2.
#[derive(Module, Debug)]
pub struct ImageNetResNet<B> {
    conv1: Conv2d,
    bn1: DualBatchNorm,
    maxpool: MaxPool2d,
    layer1: Vec<B>,
    layer2: Vec<B>,
    layer3: Vec<B>,
    layer4: Vec<B>,
    fc: Linear,
}

/// ResNet-18: basic blocks, `[2, 2, 2, 2]` (11.7 M parameters at 1000 classes).
pub type ResNet18 = ImageNetResNet<BasicBlock>;

/// ResNet-50: bottlenecks, `[3, 4, 6, 3]` (25.6 M parameters at 1000 classes).
pub type ResNet50 = ImageNetResNet<Bottleneck>;

impl ResNet18 {
    /// torchvision's `resnet18(num_classes=classes)`.
    pub fn resnet18(classes: usize, device: &Device) -> Self {
        Self::new([2, 2, 2, 2], STANDARD_WIDTH, classes, device)
    }
}

impl ResNet50 {
    /// torchvision's `resnet50(num_classes=classes)`.
    pub fn resnet50(classes: usize, device: &Device) -> Self {
        Self::new([3, 4, 6, 3], STANDARD_WIDTH, classes, device)
    }
}

/// torchvision's base width: `conv1` and `layer1` have 64 planes.
pub const STANDARD_WIDTH: usize = 64;

impl<B: ResidualBlock> ImageNetResNet<B> {
    /// A ResNet with `blocks[k]` blocks in `layer{k+1}` and `width` planes in `conv1` and
    /// `layer1` (torchvision: 64), doubling in each later layer. Narrower networks keep
    /// torchvision's layout and key names; they serve small experiments and test fixtures.
    pub fn new(blocks: [usize; 4], width: usize, classes: usize, device: &Device) -> Self {
        let mut inplanes = width;
        let mut layer = |planes: usize, count: usize, stride: usize| -> Vec<B> {
            (0..count)
                .map(|i| {
                    let block = B::new(inplanes, planes, if i == 0 { stride } else { 1 }, device);
                    inplanes = planes * B::EXPANSION;
                    block
                })
                .collect()
        };
        let layer1 = layer(width, blocks[0], 1);
        let layer2 = layer(2 * width, blocks[1], 2);
        let layer3 = layer(4 * width, blocks[2], 2);
        let layer4 = layer(8 * width, blocks[3], 2);
        Self {
            conv1: Conv2dConfig::new([3, width], [7, 7])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                .with_bias(false)
                .with_initializer(kaiming())
                .init(device),
            bn1: DualBatchNorm::new(width, device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1,
            layer2,
            layer3,
            layer4,
            fc: LinearConfig::new(8 * width * B::EXPANSION, classes).init(device),
        }
    }

    /// Stage `k` (1-based): the features at cut `k - 1` to those at cut `k`.
    fn stage(&self, k: usize, x: Tensor<4>, mode: BnMode) -> Tensor<4> {
        let (x, layer) = match k {
            // The max pool's padding never wins: its inputs come out of a ReLU (>= 0) and
            // every window holds at least one real pixel, so burn's padding value does not
            // matter and this equals PyTorch's -inf padding.
            1 => (
                self.maxpool
                    .forward(relu(self.bn1.forward(self.conv1.forward(x), mode))),
                &self.layer1,
            ),
            2 => (x, &self.layer2),
            3 => (x, &self.layer3),
            4 => (x, &self.layer4),
            _ => unreachable!("an ImageNet ResNet has 4 stages, asked for stage {k}"),
        };
        layer.iter().fold(x, |x, block| block.forward(x, mode))
    }
}

impl<B: ResidualBlock> SplitModel for ImageNetResNet<B> {
    fn segment(&self, x: Tensor<4>, from: Cut, to: Cut, mode: BnMode) -> Tensor<4> {
        assert!(from <= to, "segment from {from} to {to} runs backwards");
        (from.index() + 1..=to.index()).fold(x, |x, k| self.stage(k, x, mode))
    }

    fn head_from(&self, x: Tensor<4>, from: Cut, mode: BnMode) -> Tensor<2> {
        let x = self.segment(x, from, Cut::Stage4, mode);
        self.fc.forward(global_avg_pool(x))
    }

    fn ends_in_relu(&self, _cut: Cut) -> bool {
        true
    }

    fn reset_adv_bn(mut self) -> Self {
        let reset = |layer: Vec<B>| layer.into_iter().map(B::reset_adv_bn).collect();
        self.bn1 = self.bn1.reset_adv_from_clean();
        self.layer1 = reset(self.layer1);
        self.layer2 = reset(self.layer2);
        self.layer3 = reset(self.layer3);
        self.layer4 = reset(self.layer4);
        self
    }

    fn stages(&self) -> usize {
        4
    }
}

/// torchvision's `state_dict` key of the tensor at `burn_param_path` in an
/// [`ImageNetResNet`] (the dotted path of field names and list indices that burn's
/// [`ModuleVisitor`] `enter_module` calls give, as [`tensor_paths`] lists them; a leading
/// [`super::Network`] variant name, `Resnet18.` or `Resnet50.`, is dropped).
///
/// - Dual batch norms: the clean copy maps to torchvision's batch norm (`bn1.clean.gamma`
///   -> `bn1.weight`, `beta` -> `bias`, `running_mean` and `running_var` keep their names;
///   both hold PyTorch's conventions, the running variance being the unbiased one); the
///   adversarial copy has no counterpart: `None`.
/// - Convolutions: `weight` `[out, in, kh, kw]`, as torchvision.
/// - `fc.weight`: burn's `Linear` stores `[in, out]`, torchvision `[out, in]`; the key is the
///   same and a loader must **transpose** it. `fc.bias` matches.
/// - torchvision's `num_batches_tracked` buffers have no counterpart here (a loader ignores
///   them).
///
/// ```
/// use advbn::model::torchvision_key;
/// assert_eq!(
///     torchvision_key("layer2.0.downsample.1.clean.running_var").as_deref(),
///     Some("layer2.0.downsample.1.running_var")
/// );
/// assert_eq!(torchvision_key("bn1.clean.gamma").as_deref(), Some("bn1.weight"));
/// assert_eq!(torchvision_key("layer1.0.bn2.adv.beta"), None);
/// assert_eq!(torchvision_key("fc.weight").as_deref(), Some("fc.weight"));
/// ```
pub fn torchvision_key(burn_param_path: &str) -> Option<String> {
    let mut parts: Vec<&str> = burn_param_path.split('.').collect();
    if matches!(parts.first(), Some(&("Resnet18" | "Resnet50"))) {
        parts.remove(0);
    }
    if parts.contains(&"adv") {
        return None;
    }
    if let Some(i) = parts.iter().position(|p| *p == "clean") {
        parts.remove(i);
        let last = parts.last_mut()?;
        *last = match *last {
            "gamma" => "weight",
            "beta" => "bias",
            other => other,
        };
    }
    Some(parts.join("."))
}

/// Every float tensor of `module` (parameters and running statistics), as its dotted burn
/// path (field names and list indices, e.g. `layer1.0.bn1.clean.running_mean`) and shape, in
/// visiting order. Reading a shape does not initialise a lazy parameter.
pub fn tensor_paths<M: Module>(module: &M) -> Vec<(String, Vec<usize>)> {
    struct Paths {
        stack: Vec<String>,
        found: Vec<(String, Vec<usize>)>,
    }
    impl ModuleVisitor for Paths {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.stack.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.found
                .push((self.stack.join("."), param.lazy_shape().to_vec()));
        }
    }
    let mut paths = Paths {
        stack: Vec::new(),
        found: Vec::new(),
    };
    module.visit(&mut paths);
    paths.found
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use std::collections::BTreeSet;

    fn device() -> Device {
        Device::flex()
    }

    /// The torchvision keys of `net` (unique), with the number of elements of the clean
    /// trainable parameters (weights and biases, no running statistics).
    fn torchvision_keys<M: Module>(net: &M) -> (BTreeSet<String>, usize) {
        let mut keys = BTreeSet::new();
        let mut trainable = 0;
        for (path, shape) in tensor_paths(net) {
            let Some(key) = torchvision_key(&path) else {
                assert!(path.contains(".adv."), "{path} has no key");
                continue;
            };
            if !key.ends_with("running_mean") && !key.ends_with("running_var") {
                trainable += shape.iter().product::<usize>();
            }
            assert!(keys.insert(key.clone()), "{path} maps to the duplicate key {key}");
        }
        (keys, trainable)
    }

    #[test]
    fn parameters_map_one_to_one_onto_torchvision_keys_with_the_published_sizes() {
        // ResNet-18: conv1 + bn1 (2 params, 2 buffers); 8 basic blocks of 2 convs and 2 BNs;
        // 3 downsamples (layers 2-4) of 1 conv and 1 BN; fc weight and bias.
        // Convs: 1 + 16 + 3 = 20; BNs: 1 + 16 + 3 = 20.
        // Params: 20 conv weights + 20 x 2 BN affine + 2 fc = 62; buffers: 20 x 2 = 40.
        // torchvision's state_dict minus the 20 num_batches_tracked: 102.
        // ResNet-50: 16 bottlenecks of 3 convs and 3 BNs, 4 downsamples (layer1 too: 64 ->
        // 256): convs 1 + 48 + 4 = 53, BNs 53: params 53 + 106 + 2 = 161, buffers 106: 267.
        let device = device();
        let cases = [
            (
                "resnet18",
                torchvision_keys(&ResNet18::resnet18(1000, &device)),
                102,
                11_689_512,
                "layer4.1.conv2.weight",
            ),
            (
                "resnet50",
                torchvision_keys(&ResNet50::resnet50(1000, &device)),
                267,
                25_557_032,
                "layer4.2.conv3.weight",
            ),
        ];
        for (name, (keys, trainable), count, params, last_conv) in cases {
            for key in [
                "conv1.weight",
                "bn1.weight",
                "bn1.bias",
                "bn1.running_mean",
                "bn1.running_var",
                "layer1.0.conv1.weight",
                "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.weight",
                "layer2.0.downsample.1.running_var",
                last_conv,
                "fc.weight",
                "fc.bias",
            ] {
                assert!(keys.contains(key), "{name}: {key} missing");
            }
            assert_eq!(keys.len(), count, "{name}: {keys:?}");
            assert_eq!(trainable, params, "{name}: clean parameters");
        }
        // ResNet-18 has no downsample in layer1; ResNet-50 has.
        let (keys18, _) = torchvision_keys(&ResNet18::resnet18(10, &device));
        assert!(!keys18.contains("layer1.0.downsample.0.weight"));
        // The Network enum's variant name is dropped.
        assert_eq!(
            torchvision_key("Resnet50.layer1.0.downsample.1.clean.beta").as_deref(),
            Some("layer1.0.downsample.1.bias")
        );
    }

    fn shapes_at<M: SplitModel>(net: &M, size: usize) -> Vec<[usize; 4]> {
        let mut x = Tensor::<4>::zeros([1, 3, size, size], &device());
        let mut from = Cut::Input;
        let mut shapes = Vec::new();
        for cut in [Cut::Stage1, Cut::Stage2, Cut::Stage3, Cut::Stage4] {
            x = net.segment(x, from, cut, BnMode::EVAL);
            shapes.push(x.dims());
            from = cut;
        }
        shapes
    }

    #[test]
    fn stage_shapes_at_224_and_64() {
        let device = device();
        // Drawn now and under the generator lock: lazily initialised weights would draw at
        // the first forward pass, inside other tests' seeded sections.
        let (r18, r50) = crate::device::with_rng_exclusive(|| {
            let r18 = ResNet18::resnet18(5, &device);
            let r50 = ResNet50::resnet50(5, &device);
            crate::device::materialize_parameters(&r18);
            crate::device::materialize_parameters(&r50);
            (r18, r50)
        });
        assert_eq!(
            shapes_at(&r18, 224),
            [
                [1, 64, 56, 56],
                [1, 128, 28, 28],
                [1, 256, 14, 14],
                [1, 512, 7, 7]
            ]
        );
        assert_eq!(
            shapes_at(&r50, 224),
            [
                [1, 256, 56, 56],
                [1, 512, 28, 28],
                [1, 1024, 14, 14],
                [1, 2048, 7, 7]
            ]
        );
        assert_eq!(
            shapes_at(&r18, 64),
            [[1, 64, 16, 16], [1, 128, 8, 8], [1, 256, 4, 4], [1, 512, 2, 2]]
        );
        assert_eq!(
            shapes_at(&r50, 64),
            [[1, 256, 16, 16], [1, 512, 8, 8], [1, 1024, 4, 4], [1, 2048, 2, 2]]
        );
        let x = Tensor::<4>::zeros([2, 3, 64, 64], &device);
        assert_eq!(r50.forward(x.clone(), BnMode::EVAL).dims(), [2, 5]);
        assert_eq!(r18.forward(x, BnMode::EVAL).dims(), [2, 5]);
        assert_eq!((r18.stages(), r50.stages()), (4, 4));
        assert!(r50.ends_in_relu(Cut::Stage1) && r50.ends_in_relu(Cut::Stage4));
    }

    #[test]
    fn segments_compose_into_the_whole_network() {
        let device = device();
        for net in [super::super::Arch::Resnet18, super::super::Arch::Resnet50] {
            let (net, x) = crate::device::with_seed(&device, 2, || {
                let net = super::super::Network::new(net, 7, &device);
                let x = Tensor::<4>::random([2, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device);
                (net, x)
            });
            let whole = net.forward(x.clone(), BnMode::EVAL);
            let mut features = x;
            let mut from = Cut::Input;
            for cut in [Cut::Stage1, Cut::Stage2, Cut::Stage3, Cut::Stage4] {
                features = net.segment(features, from, cut, BnMode::EVAL);
                from = cut;
            }
            let pieces = net.head_from(features, Cut::Stage4, BnMode::EVAL);
            whole
                .into_data()
                .assert_approx_eq::<f32>(&pieces.into_data(), burn::tensor::Tolerance::default());
        }
    }
}
