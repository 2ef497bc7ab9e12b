//! Choosing the compute device: the CPU backend (`flex`, always built) or a GPU backend
//! compiled in with a cargo feature.

use std::str::FromStr;

use burn::tensor::Device;

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
