//! CIFAR and ImageNet networks that split at named cut points into a stem and a head, with
//! dual batch norms, and the small trait ([`SplitModel`]) that AdvBN and the other feature-space
//! augmenters need from any model, ours or a user's.

mod blocks;
pub mod imagenet;
mod loss;
mod norm;
mod resnet;
mod tiny;
mod torchvision;
mod wrn;

pub use blocks::{conv1x1, conv3x3};
pub use imagenet::{ImageNetResNet, ResNet18, ResNet50, tensor_paths, torchvision_key};
pub use loss::{accuracy, cross_entropy, jensen_shannon};
pub use norm::{BnBranch, BnMode, BnState, BnStats, DualBatchNorm};
pub use resnet::{PreActResNet18, ResNet20};
pub use tiny::TinyCnn;
pub use torchvision::{LoadNote, TorchvisionWeights, torchvision_safetensors};
pub use wrn::WideResNet;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// A point in a network where features can be taken out and put back: the input, or the
/// output of one of its stages (3 in the CIFAR networks, 4 in the ImageNet ResNets; see
/// [`SplitModel::stages`]).
///
/// `stageN` is also accepted as `layerN` (torchvision's name of an ImageNet ResNet's
/// stages); it always prints as `stageN`.
///
/// ```
/// use advbn::model::Cut;
/// assert_eq!("layer1".parse::<Cut>().unwrap(), Cut::Stage1);
/// assert_eq!(Cut::Stage4.to_string(), "stage4");
/// assert_eq!(Cut::from_index(4), Some(Cut::Stage4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// The image itself (before the first layer).
    Input,
    /// After the first stage.
    #[serde(alias = "layer1")]
    Stage1,
    /// After the second stage.
    #[serde(alias = "layer2")]
    Stage2,
    /// After the third stage.
    #[serde(alias = "layer3")]
    Stage3,
    /// After the fourth stage (networks with 4 stages only).
    #[serde(alias = "layer4")]
    Stage4,
}

impl Cut {
    /// The names accepted in recipes and on the command line (each also as `layerN`).
    pub const NAMES: &'static [&'static str] = &["stage1", "stage2", "stage3", "stage4"];

    /// The cuts after each stage, in order.
    pub const STAGES: [Cut; 4] = [Cut::Stage1, Cut::Stage2, Cut::Stage3, Cut::Stage4];

    /// 0 for the input, `k` after stage `k`.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The cut with [`Cut::index`] `index`, if there is one.
    pub fn from_index(index: usize) -> Option<Cut> {
        match index {
            0 => Some(Cut::Input),
            k => Cut::STAGES.get(k - 1).copied(),
        }
    }

    /// An error message when this cut lies beyond a network of `stages` stages: recipes are
    /// checked with it against their architecture.
    pub fn check_within(self, stages: usize) -> Result<(), String> {
        if self.index() <= stages {
            Ok(())
        } else {
            let valid: Vec<&str> = Cut::NAMES.iter().take(stages).copied().collect();
            Err(format!(
                "`{self}` is beyond the network's {stages} stages (valid: {})",
                valid.join(", ")
            ))
        }
    }
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cut::Input => "input",
            Cut::Stage1 => "stage1",
            Cut::Stage2 => "stage2",
            Cut::Stage3 => "stage3",
            Cut::Stage4 => "stage4",
        })
    }
}

impl std::str::FromStr for Cut {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stage1" | "layer1" => Ok(Cut::Stage1),
            "stage2" | "layer2" => Ok(Cut::Stage2),
            "stage3" | "layer3" => Ok(Cut::Stage3),
            "stage4" | "layer4" => Ok(Cut::Stage4),
            other => Err(format!(
                "unknown cut `{other}` (valid: {}, or layer1..layer4)",
                Cut::NAMES.join(", ")
            )),
        }
    }
}

/// A classifier that can be run piecewise between [`Cut`] points, with dual batch norms.
///
/// This is all AdvBN needs from a model: the *stem* is `segment(x, Input, cut)`, the *head*
/// is `head_from(features, cut)`, and [`BnMode`] picks the batch-norm branch and statistics
/// for each call. A user's model implements the two methods to get AdvBN (see
/// `examples/custom_model.rs`).
pub trait SplitModel: Module {
    /// Runs the layers between `from` and `to` (identity when equal).
    ///
    /// Shapes: `[N, C_from, H_from, W_from]` -> `[N, C_to, H_to, W_to]`.
    fn segment(&self, x: Tensor<4>, from: Cut, to: Cut, mode: BnMode) -> Tensor<4>;

    /// Runs the layers from `from` to the logits.
    ///
    /// Shapes: `[N, C_from, H_from, W_from]` -> `[N, classes]`.
    fn head_from(&self, x: Tensor<4>, from: Cut, mode: BnMode) -> Tensor<2>;

    /// Whether the features at `cut` come out of a ReLU (AdvBN then re-applies one after
    /// perturbing, as the reference does); false for pre-activation networks.
    fn ends_in_relu(&self, cut: Cut) -> bool;

    /// Makes every adversarial batch-norm copy equal to its clean copy.
    fn reset_adv_bn(self) -> Self;

    /// The number of cuts after the input: the last cut is stage `stages()`, and
    /// `segment`/`head_from` accept the cuts up to it. 3 unless a model says otherwise (the
    /// ImageNet ResNets have 4).
    fn stages(&self) -> usize {
        3
    }

    /// The last cut ([`SplitModel::stages`]): the features the classifier pools.
    fn last_cut(&self) -> Cut {
        Cut::from_index(self.stages()).expect("a model has 1 to 4 stages")
    }

    /// The whole network. Shapes: `[N, 3, H, W]` -> `[N, classes]`.
    fn forward(&self, images: Tensor<4>, mode: BnMode) -> Tensor<2> {
        self.head_from(images, Cut::Input, mode)
    }
}

/// The built-in architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// A 3-stage plain CNN for tests and the quick demo (about 0.1 M parameters at width 16).
    Tiny,
    /// ResNet-20 (He et al. 2016, CIFAR variant, 0.27 M parameters).
    Resnet20,
    /// Pre-activation ResNet-18 (He et al. 2016b, CIFAR stem, 11 M parameters).
    PreactResnet18,
    /// WideResNet-40-2 (Zagoruyko & Komodakis 2016; AugMix's CIFAR network, 2.2 M).
    Wrn40_2,
    /// ImageNet ResNet-18 in torchvision's layout (11.7 M parameters at 1000 classes).
    Resnet18,
    /// ImageNet ResNet-50 in torchvision's layout (25.6 M parameters at 1000 classes).
    Resnet50,
}

impl Arch {
    /// The names accepted in recipes.
    pub const NAMES: &'static [&'static str] = &[
        "tiny",
        "resnet20",
        "preact_resnet18",
        "wrn40_2",
        "resnet18",
        "resnet50",
    ];

    /// Whether `width` is a base width this architecture can be built with: any positive
    /// width for the ImageNet ResNets, none (`None`) for the others.
    ///
    /// ```
    /// use advbn::model::Arch;
    /// assert!(Arch::Resnet50.check_width(Some(16)).is_ok());
    /// assert!(Arch::Resnet20.check_width(Some(16)).unwrap_err().contains("resnet20"));
    /// ```
    pub fn check_width(self, width: Option<usize>) -> Result<(), String> {
        match (self, width) {
            (_, None) | (Arch::Resnet18 | Arch::Resnet50, Some(1..)) => Ok(()),
            (Arch::Resnet18 | Arch::Resnet50, Some(0)) => Err("must be at least 1".into()),
            (other, Some(_)) => Err(format!("applies to resnet18 and resnet50 only, not {other}")),
        }
    }

    /// The number of cuts after the input ([`SplitModel::stages`] of the network).
    pub fn stages(self) -> usize {
        match self {
            Arch::Tiny | Arch::Resnet20 | Arch::PreactResnet18 | Arch::Wrn40_2 => 3,
            Arch::Resnet18 | Arch::Resnet50 => 4,
        }
    }
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tiny" => Ok(Arch::Tiny),
            "resnet20" => Ok(Arch::Resnet20),
            "preact_resnet18" => Ok(Arch::PreactResnet18),
            "wrn40_2" => Ok(Arch::Wrn40_2),
            "resnet18" => Ok(Arch::Resnet18),
            "resnet50" => Ok(Arch::Resnet50),
            other => Err(format!(
                "unknown architecture `{other}` (valid: {})",
                Arch::NAMES.join(", ")
            )),
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = *self as usize;
        f.write_str(Arch::NAMES[i])
    }
}

/// One of the built-in networks.
#[derive(Module, Debug)]
pub enum Network {
    /// [`TinyCnn`].
    Tiny(TinyCnn),
    /// [`ResNet20`].
    Resnet20(ResNet20),
    /// [`PreActResNet18`].
    PreactResnet18(PreActResNet18),
    /// [`WideResNet`] 40-2.
    Wrn40_2(WideResNet),
    /// [`ResNet18`] (ImageNet).
    Resnet18(ResNet18),
    /// [`ResNet50`] (ImageNet).
    Resnet50(ResNet50),
}

impl Network {
    /// Builds `arch` for `classes` classes on `device`, its weights drawn now from the
    /// device's RNG (see [`materialize_parameters`]). For reproducible weights use
    /// [`Network::seeded`], which gives the same weights on every device.
    ///
    /// ```
    /// use advbn::model::{Arch, Network, SplitModel, BnMode};
    /// use burn::tensor::{Device, Tensor};
    /// let device = Device::flex();
    /// let net = Network::new(Arch::Tiny, 10, &device);
    /// let logits = net.forward(Tensor::<4>::zeros([2, 3, 32, 32], &device), BnMode::EVAL);
    /// assert_eq!(logits.dims(), [2, 10]);
    /// ```
    pub fn new(arch: Arch, classes: usize, device: &Device) -> Self {
        Self::with_width(arch, None, classes, device)
    }

    /// [`Network::new`] with the base width of an ImageNet ResNet (`None`: torchvision's
    /// 64, see [`imagenet::STANDARD_WIDTH`]); the other architectures have a fixed width and
    /// reject `Some`, as [`Arch::check_width`] says.
    ///
    /// ```
    /// use advbn::model::{Arch, Network};
    /// use burn::module::Module;
    /// use burn::tensor::Device;
    /// let narrow = Network::with_width(Arch::Resnet18, Some(8), 10, &Device::flex());
    /// assert!(narrow.num_params() < 400_000);
    /// ```
    pub fn with_width(arch: Arch, width: Option<usize>, classes: usize, device: &Device) -> Self {
        if let Err(e) = arch.check_width(width) {
            panic!("model.width {e}");
        }
        let wide = width.unwrap_or(imagenet::STANDARD_WIDTH);
        let net = match arch {
            Arch::Tiny => Network::Tiny(TinyCnn::new(16, classes, device)),
            Arch::Resnet20 => Network::Resnet20(ResNet20::new(3, classes, device)),
            Arch::PreactResnet18 => Network::PreactResnet18(PreActResNet18::new(classes, device)),
            Arch::Wrn40_2 => Network::Wrn40_2(WideResNet::new(40, 2, classes, device)),
            Arch::Resnet18 => Network::Resnet18(ResNet18::new([2, 2, 2, 2], wide, classes, device)),
            Arch::Resnet50 => Network::Resnet50(ResNet50::new([3, 4, 6, 3], wide, classes, device)),
        };
        materialize_parameters(&net);
        net
    }

    /// Builds `arch` with weights drawn from seed `seed`: the same weights on every device
    /// (they are drawn on the CPU backend and moved, see [`crate::device::init_seeded`]).
    ///
    /// ```
    /// use advbn::model::{Arch, BnMode, Network, SplitModel};
    /// use burn::tensor::{Device, Tensor};
    /// let device = Device::flex();
    /// let logits = |seed| {
    ///     let net = Network::seeded(Arch::Tiny, 10, seed, &device);
    ///     net.forward(Tensor::ones([1, 3, 32, 32], &device), BnMode::EVAL).into_data()
    /// };
    /// assert_eq!(logits(7), logits(7));
    /// assert_ne!(logits(7), logits(8));
    /// ```
    pub fn seeded(arch: Arch, classes: usize, seed: u64, device: &Device) -> Self {
        Self::seeded_with_width(arch, None, classes, seed, device)
    }

    /// [`Network::seeded`] with a base width ([`Network::with_width`]).
    pub fn seeded_with_width(
        arch: Arch,
        width: Option<usize>,
        classes: usize,
        seed: u64,
        device: &Device,
    ) -> Self {
        crate::device::init_seeded(device, seed, |host| {
            Network::with_width(arch, width, classes, host)
        })
    }

    /// The architecture this network is.
    pub fn arch(&self) -> Arch {
        match self {
            Network::Tiny(_) => Arch::Tiny,
            Network::Resnet20(_) => Arch::Resnet20,
            Network::PreactResnet18(_) => Arch::PreactResnet18,
            Network::Wrn40_2(_) => Arch::Wrn40_2,
            Network::Resnet18(_) => Arch::Resnet18,
            Network::Resnet50(_) => Arch::Resnet50,
        }
    }
}

pub use crate::device::materialize_parameters;

macro_rules! dispatch {
    ($self:ident, $net:ident => $body:expr) => {
        match $self {
            Network::Tiny($net) => $body,
            Network::Resnet20($net) => $body,
            Network::PreactResnet18($net) => $body,
            Network::Wrn40_2($net) => $body,
            Network::Resnet18($net) => $body,
            Network::Resnet50($net) => $body,
        }
    };
}

impl SplitModel for Network {
    fn segment(&self, x: Tensor<4>, from: Cut, to: Cut, mode: BnMode) -> Tensor<4> {
        dispatch!(self, n => n.segment(x, from, to, mode))
    }

    fn head_from(&self, x: Tensor<4>, from: Cut, mode: BnMode) -> Tensor<2> {
        dispatch!(self, n => n.head_from(x, from, mode))
    }

    fn ends_in_relu(&self, cut: Cut) -> bool {
        dispatch!(self, n => n.ends_in_relu(cut))
    }

    fn reset_adv_bn(self) -> Self {
        match self {
            Network::Tiny(n) => Network::Tiny(n.reset_adv_bn()),
            Network::Resnet20(n) => Network::Resnet20(n.reset_adv_bn()),
            Network::PreactResnet18(n) => Network::PreactResnet18(n.reset_adv_bn()),
            Network::Wrn40_2(n) => Network::Wrn40_2(n.reset_adv_bn()),
            Network::Resnet18(n) => Network::Resnet18(n.reset_adv_bn()),
            Network::Resnet50(n) => Network::Resnet50(n.reset_adv_bn()),
        }
    }

    fn stages(&self) -> usize {
        dispatch!(self, n => n.stages())
    }
}

/// Runs stages `from..to` of a network made of a list of stage modules, where stage `k`
/// (1-based) maps the features at cut `k-1` to those at cut `k`. The shared traversal of
/// every built-in network.
pub(crate) fn run_stages<S>(
    stages: &[S],
    x: Tensor<4>,
    from: Cut,
    to: Cut,
    forward: impl Fn(&S, Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    assert!(from <= to, "segment from {from} to {to} runs backwards");
    assert!(
        to.index() <= stages.len(),
        "cut {to} is beyond this network's {} stages",
        stages.len()
    );
    stages[from.index()..to.index()]
        .iter()
        .fold(x, |x, stage| forward(stage, x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn dims_at(net: &Network, cut: Cut) -> [usize; 4] {
        let x = Tensor::<4>::zeros([2, 3, 32, 32], &Device::flex());
        net.segment(x, Cut::Input, cut, BnMode::EVAL).dims()
    }

    #[test]
    fn every_architecture_has_the_documented_shapes_and_size() {
        let device = Device::flex();
        // (arch, channels at stage1..3, spatial size at stage1..3, parameters without the
        // adversarial BN copies: the published sizes)
        let cases = [
            (Arch::Tiny, [16, 32, 64], [16, 8, 4], (50_000, 80_000)),
            (Arch::Resnet20, [16, 32, 64], [32, 16, 8], (265_000, 280_000)),
            (
                Arch::PreactResnet18,
                [64, 128, 256],
                [32, 16, 8],
                (11_100_000, 11_250_000),
            ),
            (Arch::Wrn40_2, [32, 64, 128], [32, 16, 8], (2_190_000, 2_260_000)),
        ];
        for (arch, channels, sizes, (lo, hi)) in cases {
            let net = crate::device::with_rng_exclusive(|| Network::new(arch, 10, &device));
            for (k, cut) in [Cut::Stage1, Cut::Stage2, Cut::Stage3].into_iter().enumerate() {
                assert_eq!(
                    dims_at(&net, cut),
                    [2, channels[k], sizes[k], sizes[k]],
                    "{arch} at {cut}"
                );
            }
            let logits = net.forward(Tensor::zeros([2, 3, 32, 32], &device), BnMode::EVAL);
            assert_eq!(logits.dims(), [2, 10]);
            // The dual BNs' second copy adds 2 parameters per BN channel (gamma, beta) and
            // 2 buffers; count the single-BN network by subtracting half the BN tensors.
            let total = net.num_params();
            assert!(total > lo, "{arch}: {total} parameters");
            assert!(total < hi * 11 / 10, "{arch}: {total} parameters");
        }
    }

    #[test]
    fn segments_compose_into_the_whole_network() {
        let device = Device::flex();
        let (net, x) = crate::device::with_seed(&device, 1, || {
            let net = Network::new(Arch::Resnet20, 10, &device);
            let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
            (net, x)
        });
        let whole = net.forward(x.clone(), BnMode::EVAL);
        let f1 = net.segment(x, Cut::Input, Cut::Stage1, BnMode::EVAL);
        let f2 = net.segment(f1, Cut::Stage1, Cut::Stage2, BnMode::EVAL);
        let pieces = net.head_from(f2, Cut::Stage2, BnMode::EVAL);
        let (a, b) = (whole.into_data(), pieces.into_data());
        a.assert_approx_eq::<f32>(&b, burn::tensor::Tolerance::default());
    }

    #[test]
    fn dual_batch_norm_updates_only_the_asked_branch_with_pytorch_statistics() {
        let device = Device::flex().autodiff();
        let bn = DualBatchNorm::new(1, &device);
        // One channel, values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased var 14/3.
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 6.0], [1, 1, 2, 2]),
            &device,
        );
        let out = bn.forward(x.clone(), BnMode::TRAIN);
        let expected: Vec<f32> = [1.0f32, 2.0, 3.0, 6.0]
            .iter()
            .map(|v| (v - 3.0) / (3.5f32 + 1e-5).sqrt())
            .collect();
        out.into_data().assert_approx_eq::<f32>(
            &TensorData::new(expected.clone(), [1, 1, 2, 2]),
            burn::tensor::Tolerance::default(),
        );
        let value = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap()[0];
        // Momentum 0.1 from mean 0 and variance 1; the running variance is the unbiased one.
        assert!((value(bn.clean.running_mean.value_sync()) - 0.3).abs() < 1e-6);
        assert!((value(bn.clean.running_var.value_sync()) - (0.9 + 0.1 * 14.0 / 3.0)).abs() < 1e-5);
        assert_eq!(
            value(bn.adv.running_mean.value_sync()),
            0.0,
            "the adversarial copy must not move"
        );
        // Batch statistics without update, and running statistics, leave both untouched.
        let _ = bn.forward(
            x.clone(),
            BnMode {
                branch: BnBranch::Adv,
                stats: BnStats::Batch {
                    update_running: false,
                },
            },
        );
        let _ = bn.forward(x.clone(), BnMode::ATTACK);
        assert_eq!(value(bn.adv.running_mean.value_sync()), 0.0);
        assert!((value(bn.clean.running_mean.value_sync()) - 0.3).abs() < 1e-6);
        // Resetting copies the clean statistics into the adversarial branch.
        let bn = bn.reset_adv_from_clean();
        assert!((value(bn.adv.running_mean.value_sync()) - 0.3).abs() < 1e-6);
        // Measuring normalises like training and writes the batch statistics as they are.
        let out = bn.forward(
            x,
            BnMode {
                branch: BnBranch::Adv,
                stats: BnStats::Measure,
            },
        );
        out.into_data().assert_approx_eq::<f32>(
            &TensorData::new(expected, [1, 1, 2, 2]),
            burn::tensor::Tolerance::default(),
        );
        assert!((value(bn.adv.running_mean.value_sync()) - 3.0).abs() < 1e-6);
        assert!((value(bn.adv.running_var.value_sync()) - 14.0 / 3.0).abs() < 1e-5);
        assert!((value(bn.clean.running_mean.value_sync()) - 0.3).abs() < 1e-6);
    }

    #[test]
    fn names_parse_and_print() {
        for name in Arch::NAMES {
            assert_eq!(name.parse::<Arch>().unwrap().to_string(), *name);
        }
        assert!("vgg".parse::<Arch>().unwrap_err().contains("tiny"));
        for name in Cut::NAMES {
            assert_eq!(name.parse::<Cut>().unwrap().to_string(), *name);
        }
        // stage4 exists (the ImageNet ResNets' last cut); layerN is an alias of stageN.
        assert!("stage5".parse::<Cut>().is_err());
        assert!("input".parse::<Cut>().is_err());
        for (k, cut) in Cut::STAGES.into_iter().enumerate() {
            let alias = format!("layer{}", k + 1);
            assert_eq!(alias.parse::<Cut>().unwrap(), cut);
            assert_eq!(cut.to_string(), format!("stage{}", k + 1));
            assert_eq!(Cut::from_index(k + 1), Some(cut));
        }
        assert_eq!(Cut::from_index(5), None);
        assert_eq!(serde_json::from_str::<Cut>("\"layer2\"").unwrap(), Cut::Stage2);
        assert_eq!(serde_json::to_string(&Cut::Stage4).unwrap(), "\"stage4\"");
        assert!(
            Cut::Stage4
                .check_within(3)
                .unwrap_err()
                .contains("stage1, stage2, stage3")
        );
        assert!(Cut::Stage4.check_within(4).is_ok());
        assert_eq!((Arch::Resnet20.stages(), Arch::Resnet50.stages()), (3, 4));
        assert_eq!("adv".parse::<BnBranch>().unwrap(), BnBranch::Adv);
    }
}
