//! Weights at the border: torchvision `state_dict` files into the ImageNet ResNets, and their
//! clean branch back out in torchvision's key names.
//!
//! Reading uses burn-store's readers (PyTorch's zip format for `.pth`/`.pt`, and
//! `.safetensors`), so no file format is parsed here; what this module adds is torchvision's
//! naming ([`torchvision_key`]), the dual batch norms (both branches start from the file's
//! statistics), `fc`'s transposed layout, and errors that name the key and both shapes.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{DType, Device, TensorData};
use burn_store::burn_pack::{Bytes, Tensor as PackTensor};
use burn_store::{ModuleSnapshot, ModuleStore, PytorchStore, SafetensorsStore};

use super::imagenet::{tensor_paths, torchvision_key};
use super::{Arch, Network};

/// The float tensors of a torchvision `state_dict` file, as `f32`, by key;
/// `num_batches_tracked` buffers dropped (they have no counterpart here).
///
/// Keys saved through `nn.DataParallel` (`module.` prefix) or inside a training checkpoint
/// (`state_dict.` / `model.` prefix) are found too: the prefix in front of `conv1.weight` is
/// stripped and tensors outside it (an optimizer's state, say) are ignored.
///
/// ```no_run
/// use advbn::model::TorchvisionWeights;
/// let weights = TorchvisionWeights::read("resnet50.pth".as_ref()).unwrap();
/// assert_eq!(weights.shape("fc.weight"), Some(&[1000, 2048][..]));
/// ```
#[derive(Clone, Debug)]
pub struct TorchvisionWeights {
    source: String,
    tensors: BTreeMap<String, TensorData>,
}

/// What loading weights into a network changed beyond a plain copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadNote {
    /// `Some((file classes, model classes))` when `fc` was left at its initial weights
    /// because the class counts differ (fine-tuning to another label set).
    pub fc_kept: Option<(usize, usize)>,
}

impl TorchvisionWeights {
    /// Reads a PyTorch (`.pth`, `.pt`, `.bin`: zip or legacy pickle) or `.safetensors` file;
    /// the format is told by the file's first bytes, not its name.
    pub fn read(path: &Path) -> Result<Self, String> {
        let source = path.display().to_string();
        let mut head = [0u8; 4];
        {
            use std::io::Read;
            let mut file =
                std::fs::File::open(path).map_err(|e| format!("cannot read weights {source}: {e}"))?;
            let n = file
                .read(&mut head)
                .map_err(|e| format!("cannot read weights {source}: {e}"))?;
            if n < 4 {
                return Err(format!("{source}: not a weights file (only {n} bytes)"));
            }
        }
        // A zip archive (`PK\x03\x04`) or a pickle (protocol opcode 0x80) is PyTorch's;
        // anything else must be safetensors (an 8-byte little-endian header length).
        let packed = if head == *b"PK\x03\x04" || head[0] == 0x80 {
            all_tensors(PytorchStore::from_file(path))
                .map_err(|e| format!("{source}: not a readable PyTorch file ({e})"))?
        } else {
            all_tensors(SafetensorsStore::from_file(path))
                .map_err(|e| format!("{source}: not a readable safetensors or PyTorch file ({e})"))?
        };
        let mut tensors = BTreeMap::new();
        for tensor in packed {
            let (name, dtype, shape, _, bytes) = tensor
                .into_parts()
                .map_err(|e| format!("{source}: cannot read a tensor ({e})"))?;
            if name.ends_with("num_batches_tracked") {
                continue;
            }
            let data = TensorData::from_bytes(bytes, shape, dtype);
            let data = match dtype {
                DType::F32 => data,
                DType::F64 | DType::F16 | DType::BF16 => data.convert::<f32>(),
                other => {
                    return Err(format!(
                        "{source}: `{name}` has dtype {other:?}, expected a float"
                    ));
                }
            };
            tensors.insert(name, data);
        }
        let prefix = tensors
            .keys()
            .find_map(|k| {
                k.strip_suffix("conv1.weight")
                    .filter(|p| p.is_empty() || p.ends_with('.'))
            })
            .map(str::to_string)
            .ok_or_else(|| format!("{source}: no `conv1.weight`: not a torchvision ResNet state_dict"))?;
        if !prefix.is_empty() {
            tensors = tensors
                .into_iter()
                .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v)))
                .collect();
        }
        Ok(Self { source, tensors })
    }

    /// The file this came from, as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The shape of the tensor at torchvision key `key`.
    pub fn shape(&self, key: &str) -> Option<&[usize]> {
        self.tensors.get(key).map(|t| &t.shape()[..])
    }

    /// The torchvision keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Which ImageNet ResNet the file holds, told by its blocks: bottlenecks (`conv3`) make a
    /// ResNet-50, two basic blocks per layer a ResNet-18; anything else `None`.
    pub fn arch(&self) -> Option<Arch> {
        let has = |k: &str| self.tensors.contains_key(k);
        if has("layer1.0.conv3.weight") && has("layer3.5.conv3.weight") && !has("layer3.6.conv1.weight") {
            Some(Arch::Resnet50)
        } else if !has("layer1.0.conv3.weight")
            && has("layer4.1.conv2.weight")
            && !has("layer4.2.conv1.weight")
        {
            Some(Arch::Resnet18)
        } else {
            None
        }
    }

    /// The base width (`conv1`'s output channels) and the class count (`fc`'s rows).
    pub fn width_and_classes(&self) -> Result<(usize, usize), String> {
        let conv1 = self.shape("conv1.weight").expect("checked when read");
        let fc = self
            .shape("fc.weight")
            .ok_or_else(|| format!("{}: no `fc.weight`", self.source))?;
        if fc.len() != 2 || conv1.len() != 4 {
            return Err(format!(
                "{}: `conv1.weight` is {conv1:?} and `fc.weight` {fc:?}, expected 4 and 2 dimensions",
                self.source
            ));
        }
        Ok((conv1[0], fc[0]))
    }

    /// A network of `arch` shaped by the file (its width and classes) holding its weights.
    pub fn to_network(&self, arch: Arch, device: &Device) -> Result<Network, String> {
        self.check_arch(arch)?;
        let (width, classes) = self.width_and_classes()?;
        let width = (width != super::imagenet::STANDARD_WIDTH).then_some(width);
        // A degenerate file (zero channels or classes) is an error, not a panic while building.
        arch.check_width(width)
            .map_err(|e| format!("{}: `conv1.weight`'s width {e}", self.source))?;
        if classes == 0 {
            return Err(format!("{}: `fc.weight` has no classes", self.source));
        }
        let net = crate::device::with_rng_exclusive(|| Network::with_width(arch, width, classes, device));
        let (net, _) = self.load_into(net)?;
        Ok(net)
    }

    fn check_arch(&self, arch: Arch) -> Result<(), String> {
        if !matches!(arch, Arch::Resnet18 | Arch::Resnet50) {
            return Err(format!(
                "torchvision weights load into resnet18 or resnet50, not {arch}"
            ));
        }
        match self.arch() {
            Some(found) if found != arch => Err(format!(
                "{} holds a {found} checkpoint, the model is {arch}",
                self.source
            )),
            _ => Ok(()),
        }
    }

    /// Copies the file's tensors into `net` (an ImageNet ResNet): every key must be there with
    /// torchvision's shape, no key may be left over, and both branches of each dual batch norm
    /// take the file's parameters and statistics. Only `fc` may differ in its class count:
    /// then it keeps its initial weights and [`LoadNote::fc_kept`] says so.
    pub fn load_into(&self, mut net: Network) -> Result<(Network, LoadNote), String> {
        let arch = net.arch();
        self.check_arch(arch)?;
        let mut note = LoadNote::default();
        if let (Some(file), Some(model)) = (self.shape("fc.weight"), fc_shape(&net))
            && file.len() == 2
            && file[1] == model[1]
            && file[0] != model[0]
        {
            note.fc_kept = Some((file[0], model[0]));
        }
        let mut expected = std::collections::BTreeSet::new();
        let mut packed = Vec::new();
        for (path, shape) in tensor_paths(&net) {
            let key = torchvision_key(&path.replace(".adv.", ".clean."))
                .ok_or_else(|| format!("{path} has no torchvision key"))?;
            let torch_shape = if key == "fc.weight" {
                shape.iter().rev().copied().collect()
            } else {
                shape.clone()
            };
            expected.insert(key.clone());
            if note.fc_kept.is_some() && key.starts_with("fc.") {
                continue;
            }
            let Some(data) = self.tensors.get(&key) else {
                return Err(format!(
                    "{} has no `{key}` ({arch} expects {torch_shape:?})",
                    self.source
                ));
            };
            if data.shape()[..] != torch_shape[..] {
                return Err(format!(
                    "`{key}` is {:?} in {}, {arch} expects {torch_shape:?}",
                    &data.shape()[..],
                    self.source
                ));
            }
            let data = if key == "fc.weight" {
                transpose(data)
            } else {
                data.clone()
            };
            packed.push(PackTensor::new(
                path,
                DType::F32,
                data.shape().to_vec(),
                None,
                Bytes::from_bytes_vec(data.into_bytes().to_vec()),
            ));
        }
        if let Some((key, data)) = self.tensors.iter().find(|(k, _)| !expected.contains(*k)) {
            return Err(format!(
                "{} has `{key}` {:?}, which {arch} does not have",
                self.source,
                &data.shape()[..]
            ));
        }
        let result = net.apply(packed, None, None, false);
        // A kept fc is missing on purpose.
        let missing = result
            .missing
            .iter()
            .filter(|m| {
                !(note.fc_kept.is_some() && torchvision_key(&m.0).is_some_and(|k| k.starts_with("fc.")))
            })
            .count();
        if !result.errors.is_empty() || missing > 0 || !result.unused.is_empty() {
            return Err(format!("{}: loading failed: {result}", self.source));
        }
        Ok((net, note))
    }
}

fn all_tensors(mut store: impl ModuleStore) -> Result<Vec<PackTensor>, String> {
    Ok(store
        .get_all_tensors()
        .map_err(|e| e.to_string())?
        .values()
        .cloned()
        .collect())
}

fn fc_shape(net: &Network) -> Option<Vec<usize>> {
    tensor_paths(net)
        .into_iter()
        .find(|(p, _)| torchvision_key(p).as_deref() == Some("fc.weight"))
        .map(|(_, shape)| shape.into_iter().rev().collect())
}

/// A 2-D tensor transposed (burn's `Linear` keeps `[in, out]`, PyTorch `[out, in]`).
fn transpose(data: &TensorData) -> TensorData {
    let (rows, cols) = (data.shape()[0], data.shape()[1]);
    let values = data.try_to_vec::<f32>().expect("f32 after read");
    let mut out = vec![0f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    TensorData::new(out, [cols, rows])
}

/// The clean branch of an ImageNet ResNet as a torchvision `state_dict` in safetensors
/// format: torchvision's keys and shapes (`fc.weight` as `[out, in]`), float32, with a
/// `num_batches_tracked` of 0 beside each batch norm so that PyTorch's strict
/// `load_state_dict` accepts it.
///
/// ```
/// use advbn::model::{Arch, Network, TorchvisionWeights, torchvision_safetensors};
/// use burn::tensor::Device;
/// let net = Network::with_width(Arch::Resnet18, Some(4), 10, &Device::flex());
/// let bytes = torchvision_safetensors(&net).unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("r18.safetensors");
/// std::fs::write(&path, bytes).unwrap();
/// let back = TorchvisionWeights::read(&path).unwrap();
/// assert_eq!(back.shape("fc.weight"), Some(&[10, 32][..]));
/// ```
pub fn torchvision_safetensors(net: &Network) -> Result<Vec<u8>, String> {
    let arch = net.arch();
    if !matches!(arch, Arch::Resnet18 | Arch::Resnet50) {
        return Err(format!(
            "export writes torchvision's resnet18 / resnet50 layout; this run's model is {arch}"
        ));
    }
    let mut tensors: Vec<(String, DType, Vec<usize>, Vec<u8>)> = Vec::new();
    for tensor in net.collect(None, None, false) {
        let Some(key) = torchvision_key(&tensor.name) else {
            continue;
        };
        let (_, dtype, shape, _, bytes) = tensor
            .into_parts()
            .map_err(|e| format!("cannot read `{key}` from the model: {e}"))?;
        let data = TensorData::from_bytes(bytes, shape, dtype).convert::<f32>();
        let data = if key == "fc.weight" {
            transpose(&data)
        } else {
            data
        };
        if let Some(bn) = key.strip_suffix(".running_var") {
            tensors.push((
                format!("{bn}.num_batches_tracked"),
                DType::I64,
                Vec::new(),
                0i64.to_le_bytes().to_vec(),
            ));
        }
        let shape = data.shape().to_vec();
        tensors.push((key, DType::F32, shape, data.into_bytes().to_vec()));
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(key, dtype, shape, bytes)| {
            let dtype = match dtype {
                DType::I64 => safetensors::Dtype::I64,
                _ => safetensors::Dtype::F32,
            };
            safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes)
                .map(|view| (key.clone(), view))
                .map_err(|e| format!("cannot write `{key}`: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let metadata = std::collections::HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            "producer".to_string(),
            format!("advbn {}", env!("CARGO_PKG_VERSION")),
        ),
        ("arch".to_string(), arch.to_string()),
    ]);
    safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| format!("cannot write safetensors: {e}"))
}
