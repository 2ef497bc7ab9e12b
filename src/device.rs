//! Choosing the compute device: the CPU backend (`flex`, always built) or a GPU backend
//! compiled in with a cargo feature.

use std::str::FromStr;
use std::sync::Mutex;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// Seeds `device` and runs `draw` while no other seeded section of this process runs.
///
/// burn's backends keep one random generator per process, so `device.seed(s)` followed by
/// random draws (weight initialisation, `Tensor::random`) gives the values of seed `s` only
/// if no other thread seeds or draws in between; two trainings in one process (parallel
/// tests, a user's threads) would otherwise get each other's numbers. Every section of this
/// crate that draws from that generator goes through here or [`with_rng_exclusive`].
///
/// ```
/// use advbn::device::with_seed;
/// use advbn::model::{Arch, BnMode, Network, SplitModel};
/// use burn::tensor::{Device, Tensor};
/// let device = Device::flex();
/// let logits = |seed| {
///     let net = with_seed(&device, seed, || Network::new(Arch::Tiny, 3, &device));
///     let out = net.forward(Tensor::ones([1, 3, 32, 32], &device), BnMode::EVAL);
///     out.into_data().try_to_vec::<f32>().unwrap()
/// };
/// assert_eq!(logits(5), logits(5));
/// assert_ne!(logits(5), logits(6));
/// ```
pub fn with_seed<R>(device: &Device, seed: u64, draw: impl FnOnce() -> R) -> R {
    with_rng_exclusive(|| {
        device.seed(seed);
        draw()
    })
}

/// Standard normal values of `shape` drawn on the CPU from `seed` and moved to `device`:
/// the same values on every device (each backend's own generator draws other ones).
///
/// ```
/// use advbn::device::host_normal;
/// use burn::tensor::Device;
/// let a = host_normal([2, 3], 5, &Device::flex());
/// assert_eq!(a.into_data(), host_normal([2, 3], 5, &Device::flex()).into_data());
/// ```
pub fn host_normal<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    let host = Device::flex();
    with_seed(&host, seed, || {
        Tensor::<D>::random(shape, burn::tensor::Distribution::Normal(0.0, 1.0), &host)
    })
    .to_device(device)
}

/// Builds a module from seed `seed` so that it has the same weights on every device.
///
/// Each burn backend has its own random generator (the CPU backend's and wgpu's draw
/// different numbers for the same seed), so a model built directly on a GPU device would
/// start from other weights than the same command on the CPU. `build` therefore runs on the
/// CPU backend inside [`with_seed`], every parameter is drawn there
/// ([`materialize_parameters`]), and the module is then moved to `device` with
/// [`Module::fork`], which keeps parameter ids and which parameters require gradients.
///
/// ```
/// use advbn::device::init_seeded;
/// use burn::module::Module;
/// use burn::nn::LinearConfig;
/// use burn::tensor::Device;
/// let device = Device::flex().autodiff();
/// let layer = init_seeded(&device, 3, |host| LinearConfig::new(4, 2).init(host));
/// assert_eq!(layer.weight.device(), device);
/// let again = init_seeded(&device, 3, |host| LinearConfig::new(4, 2).init(host));
/// assert_eq!(layer.weight.val().into_data(), again.weight.val().into_data());
/// ```
pub fn init_seeded<M: Module>(device: &Device, seed: u64, build: impl FnOnce(&Device) -> M) -> M {
    // Built with autodiff when `device` has it, so that the parameters require gradients
    // there (a parameter that does not track gradients stays so when moved).
    let host = if device.is_autodiff() {
        Device::flex().autodiff()
    } else {
        Device::flex()
    };
    let module = with_seed(&host, seed, || {
        let module = build(&host);
        materialize_parameters(&module);
        module
    });
    module.fork(device)
}

/// Draws every lazily initialised float parameter of `module` now.
///
/// burn initialises a parameter on its first use, not when the module is built, so the
/// random draws of a freshly built model would otherwise happen at its first forward pass,
/// outside any [`with_seed`] section and interleaved with whatever else the process draws.
/// [`init_seeded`] and `Network::new` call this; call it on your own modules inside a
/// seeded section.
///
/// ```
/// use advbn::device::{materialize_parameters, with_seed};
/// use burn::nn::LinearConfig;
/// use burn::tensor::Device;
/// let device = Device::flex();
/// let layer = with_seed(&device, 3, || {
///     let layer = LinearConfig::new(4, 2).init(&device);
///     materialize_parameters(&layer);
///     layer
/// });
/// assert_eq!(layer.weight.dims(), [4, 2]);
/// ```
pub fn materialize_parameters<M: Module>(module: &M) {
    struct Touch;
    impl burn::module::ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
}

/// Runs `draw`, whose random values do not matter (weights a checkpoint is about to
/// replace), while no [`with_seed`] section runs: its draws still advance burn's
/// process-wide generator and must not land inside a seeded section.
pub fn with_rng_exclusive<R>(draw: impl FnOnce() -> R) -> R {
    static RNG_USERS: Mutex<()> = Mutex::new(());
    // A panic inside another section leaves nothing half-done that matters here.
    let _only_us = RNG_USERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    draw()
}

/// A device as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// burn's pure-Rust CPU backend (`flex`).
    Cpu,
    /// burn-wgpu: Vulkan, Metal or DX12 (cargo feature `wgpu`).
    Wgpu,
    /// burn-cuda: NVIDIA CUDA (cargo feature `cuda`).
    Cuda,
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "wgpu" => Ok(DeviceChoice::Wgpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            other => Err(format!("unknown device `{other}` (valid: cpu, wgpu, cuda)")),
        }
    }
}

impl DeviceChoice {
    /// The burn device (without autodiff), or an error saying which feature to build with.
    pub fn device(self) -> Result<Device, String> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            DeviceChoice::Wgpu => wgpu_device(),
            DeviceChoice::Cuda => cuda_device(),
        }
    }
}

/// The devices of a `--devices` list: `cpu`, `wgpu`, `wgpu:N` (the N-th discrete GPU),
/// `cuda` or `cuda:N`, comma-separated; a name may repeat (`cpu,cpu` runs two CPU workers
/// on the one CPU device, which is how the tests exercise several devices).
///
/// ```
/// let devices = advbn::device::parse_devices("cpu,cpu").unwrap();
/// assert_eq!(devices.len(), 2);
/// assert!(advbn::device::parse_devices("cpu,tpu:1").unwrap_err().contains("`tpu:1`"));
/// ```
pub fn parse_devices(list: &str) -> Result<Vec<Device>, String> {
    let devices = list
        .split(',')
        .map(|item| {
            let item = item.trim();
            let (kind, index) = match item.split_once(':') {
                Some((kind, index)) => {
                    let index: usize = index
                        .parse()
                        .map_err(|_| format!("device `{item}`: `{index}` is not a device index"))?;
                    (kind, Some(index))
                }
                None => (item, None),
            };
            match (kind, index) {
                ("cpu", None) => Ok(Device::flex()),
                ("cpu", Some(_)) => Err(format!("device `{item}`: the CPU has no index (write `cpu`)")),
                ("wgpu", index) => wgpu_device_at(index),
                ("cuda", index) => cuda_device_at(index.unwrap_or(0)),
                _ => Err(format!(
                    "unknown device `{item}` (valid: cpu, wgpu, wgpu:N, cuda, cuda:N)"
                )),
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    if devices.is_empty() || list.trim().is_empty() {
        return Err("--devices is empty: name at least one device".into());
    }
    Ok(devices)
}

#[cfg(feature = "wgpu")]
fn wgpu_device_at(index: Option<usize>) -> Result<Device, String> {
    Ok(match index {
        Some(i) => Device::wgpu(burn::tensor::DeviceKind::DiscreteGpu(i)),
        None => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device_at(_index: Option<usize>) -> Result<Device, String> {
    wgpu_device()
}

#[cfg(feature = "cuda")]
fn cuda_device_at(index: usize) -> Result<Device, String> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device_at(_index: usize) -> Result<Device, String> {
    cuda_device()
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, String> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device, String> {
    Err("this advbn was built without GPU support for `wgpu`: rebuild with `cargo build --release --features wgpu`".into())
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device, String> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, String> {
    Err("this advbn was built without CUDA support: rebuild with `cargo build --release --features cuda` (needs internet at build time, see README)".into())
}
