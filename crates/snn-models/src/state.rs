//! Official PyTorch state dicts: read/write safetensors, and map between official names/shapes
//! and our modules' parameters through [`OfficialSlots`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param, RunningState};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::error::ModelError;

/// Tensors by official name, with the file's JSON metadata.
#[derive(Debug, Clone, Default)]
pub struct StateDict {
    /// Tensors by name.
    pub tensors: BTreeMap<String, TensorData>,
    /// The file's `__metadata__` entries.
    pub metadata: HashMap<String, String>,
}

impl StateDict {
    /// Reads a safetensors file. Float tensors of any width (f64, f32, f16, bf16) and integer
    /// tensors (i64, i32) are accepted and kept in their dtype.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_owned(),
            source,
        })?;
        let format = |message: String| ModelError::Format {
            path: path.to_owned(),
            message,
        };
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| format(e.to_string()))?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| format(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in file.tensors() {
            let dtype = match view.dtype() {
                Dtype::F64 => DType::F64,
                Dtype::F32 => DType::F32,
                Dtype::F16 => DType::F16,
                Dtype::BF16 => DType::BF16,
                Dtype::I64 => DType::I64,
                Dtype::I32 => DType::I32,
                other => {
                    return Err(format(format!(
                        "tensor `{name}` has unsupported dtype {other:?}"
                    )))
                }
            };
            let data =
                TensorData::from_bytes_vec(view.data().to_vec(), view.shape().to_vec(), dtype);
            tensors.insert(name, data);
        }
        Ok(Self {
            tensors,
            metadata: meta.metadata().clone().unwrap_or_default(),
        })
    }

    /// Writes a safetensors file atomically ([`snn_fs::write_file_atomic`]: a unique temporary
    /// file, fsync, rename), so concurrent writers of one path never mix their bytes.
    pub fn write(&self, path: &Path) -> Result<(), ModelError> {
        let format = |message: String| ModelError::Format {
            path: path.to_owned(),
            message,
        };
        let mut views = Vec::new();
        for (name, data) in &self.tensors {
            let dtype = match data.dtype {
                DType::F64 => Dtype::F64,
                DType::F32 => Dtype::F32,
                DType::F16 => Dtype::F16,
                DType::BF16 => Dtype::BF16,
                DType::I64 => Dtype::I64,
                DType::I32 => Dtype::I32,
                other => {
                    return Err(format(format!(
                        "tensor `{name}` has unsupported dtype {other:?}"
                    )))
                }
            };
            let view =
                safetensors::tensor::TensorView::new(dtype, data.shape.to_vec(), data.as_bytes())
                    .map_err(|e| format(e.to_string()))?;
            views.push((name.clone(), view));
        }
        let metadata = (!self.metadata.is_empty()).then(|| self.metadata.clone());
        let bytes = safetensors::serialize(views, metadata).map_err(|e| format(e.to_string()))?;
        snn_fs::write_file_atomic(path, &bytes).map_err(|e| ModelError::Io {
            path: e.path,
            source: e.source,
        })
    }

    /// The entries whose name starts with `prefix`, with the prefix removed.
    pub fn with_prefix(&self, prefix: &str) -> StateDict {
        StateDict {
            tensors: self
                .tensors
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_owned(), v.clone())))
                .collect(),
            metadata: self.metadata.clone(),
        }
    }

    /// A tensor's values as f64.
    pub fn values(&self, name: &str) -> Option<Vec<f64>> {
        self.tensors.get(name).map(|d| d.iter::<f64>().collect())
    }
}

/// A parameter or buffer of one of our modules, seen under its official name and shape.
pub enum Slot<'a, B: Backend> {
    /// A rank-1 parameter.
    Param1(&'a mut Param<Tensor<B, 1>>),
    /// A rank-2 parameter (`transposed`: burn's `Linear` stores `[in, out]`, PyTorch `[out, in]`).
    Param2 {
        /// The parameter.
        param: &'a mut Param<Tensor<B, 2>>,
        /// Whether the official layout is the transpose of ours.
        transposed: bool,
    },
    /// A rank-4 parameter (conv weights, same layout as PyTorch).
    Param4(&'a mut Param<Tensor<B, 4>>),
    /// A buffer (BatchNorm running statistics and batch count).
    Buffer(&'a mut RunningState<Tensor<B, 1>>),
}

/// One entry of [`OfficialSlots::official_slots`].
pub struct NamedSlot<'a, B: Backend> {
    /// The official `state_dict` name.
    pub name: String,
    /// The official shape (e.g. `[out, in, 1, 1, 1]` for an attention MLP weight).
    pub shape: Vec<usize>,
    /// Our tensor.
    pub slot: Slot<'a, B>,
}

/// Modules whose parameters and buffers have official names.
pub trait OfficialSlots<B: Backend> {
    /// Appends every parameter and buffer under `prefix`.
    fn official_slots<'a>(&'a mut self, prefix: &str, out: &mut Vec<NamedSlot<'a, B>>);
}

impl<'a, B: Backend> NamedSlot<'a, B> {
    /// A named slot.
    pub fn new(name: impl Into<String>, shape: Vec<usize>, slot: Slot<'a, B>) -> Self {
        Self {
            name: name.into(),
            shape,
            slot,
        }
    }

    /// Our value in the official layout (dtype of our tensor).
    pub fn read(&self) -> TensorData {
        let data = match &self.slot {
            Slot::Param1(p) => p.val().into_data(),
            Slot::Param2 { param, transposed } => {
                let v = param.val();
                if *transposed { v.transpose() } else { v }.into_data()
            }
            Slot::Param4(p) => p.val().into_data(),
            Slot::Buffer(b) => b.value_sync().into_data(),
        };
        in_shape(data, &self.shape)
    }

    /// Sets our value from official-layout data, converted to `dtype`.
    fn write(&mut self, data: &TensorData, dtype: DType, device: &B::Device) {
        let data = data.clone().convert_dtype(dtype);
        let options = (device, dtype);
        match &mut self.slot {
            Slot::Param1(p) => {
                let n = data.num_elements();
                **p = Param::from_tensor(Tensor::from_data(in_shape(data, &[n]), options));
            }
            Slot::Param2 { param, transposed } => {
                let [a, b] = param.dims();
                let (rows, cols) = if *transposed { (b, a) } else { (a, b) };
                // Transposed on the host, so the parameter is contiguous exactly as one that
                // was trained here (a strided view would take another matmul path and round
                // differently, and a resumed run would drift from an uninterrupted one).
                let data = if *transposed {
                    transpose_host(&data, rows, cols)
                } else {
                    in_shape(data, &[rows, cols])
                };
                **param = Param::from_tensor(Tensor::<B, 2>::from_data(data, options));
            }
            Slot::Param4(p) => {
                let dims = p.dims();
                **p = Param::from_tensor(Tensor::from_data(in_shape(data, &dims), options));
            }
            Slot::Buffer(b) => {
                let n = data.num_elements().max(1);
                **b = RunningState::new(Tensor::from_data(in_shape(data, &[n]), options));
            }
        }
    }
}

impl<B: AutodiffBackend> NamedSlot<'_, B> {
    /// The gradient of a parameter in the official layout (`None` for buffers and for
    /// parameters the loss does not reach).
    pub fn grad(&self, grads: &B::Gradients) -> Option<TensorData> {
        let data = match &self.slot {
            Slot::Param1(p) => p.val().grad(grads)?.into_data(),
            Slot::Param2 { param, transposed } => {
                let g = param.val().grad(grads)?;
                if *transposed { g.transpose() } else { g }.into_data()
            }
            Slot::Param4(p) => p.val().grad(grads)?.into_data(),
            Slot::Buffer(_) => return None,
        };
        Some(TensorData::from_bytes_vec(
            data.as_bytes().to_vec(),
            self.shape.clone(),
            data.dtype,
        ))
    }
}

/// The `[cols, rows]` transpose of row-major `[rows, cols]` data, of any element size.
fn transpose_host(data: &TensorData, rows: usize, cols: usize) -> TensorData {
    let bytes = data.as_bytes();
    let size = bytes.len() / (rows * cols).max(1);
    let mut out = vec![0u8; bytes.len()];
    for r in 0..rows {
        for c in 0..cols {
            let (src, dst) = ((r * cols + c) * size, (c * rows + r) * size);
            out[dst..dst + size].copy_from_slice(&bytes[src..src + size]);
        }
    }
    TensorData::from_bytes_vec(out, vec![cols, rows], data.dtype)
}

/// The same values under another shape of equal size (no copy).
fn in_shape(mut data: TensorData, shape: &[usize]) -> TensorData {
    debug_assert_eq!(data.num_elements(), shape.iter().product::<usize>());
    data.shape = shape.to_vec().into();
    data
}

/// Loads an official state dict into `model`, converting every tensor to `dtype`. Nothing is
/// changed unless every name and shape fits; otherwise the error lists every problem.
///
/// Checkpoints saved from `nn.DataParallel` (every key starting with `module.`, as the official
/// event-model scripts save them) are accepted as they are.
pub fn load_official<B: Backend, M: OfficialSlots<B>>(
    model: &mut M,
    state: &StateDict,
    dtype: DType,
    device: &B::Device,
) -> Result<(), ModelError> {
    let stripped;
    let state =
        if !state.tensors.is_empty() && state.tensors.keys().all(|k| k.starts_with("module.")) {
            stripped = state.with_prefix("module.");
            &stripped
        } else {
            state
        };
    let mut slots = Vec::new();
    model.official_slots("", &mut slots);
    let (mut missing, mut mismatched) = (Vec::new(), Vec::new());
    let mut used = BTreeSet::new();
    for slot in &slots {
        match state.tensors.get(&slot.name) {
            None => missing.push(slot.name.clone()),
            Some(data) => {
                used.insert(slot.name.clone());
                // A scalar buffer (num_batches_tracked, shape []) also matches our [1].
                let fits = data.shape.as_slice() == slot.shape.as_slice()
                    || (slot.shape.is_empty() && data.num_elements() == 1);
                if !fits {
                    mismatched.push(format!(
                        "{}: expected {:?}, found {:?}",
                        slot.name,
                        slot.shape,
                        data.shape.as_slice()
                    ));
                }
            }
        }
    }
    let unexpected: Vec<String> = state
        .tensors
        .keys()
        .filter(|k| !used.contains(*k))
        .cloned()
        .collect();
    if !(missing.is_empty() && unexpected.is_empty() && mismatched.is_empty()) {
        return Err(ModelError::StateDict {
            missing,
            unexpected,
            mismatched,
        });
    }
    for mut slot in slots {
        let data = &state.tensors[&slot.name];
        slot.write(data, dtype, device);
    }
    Ok(())
}

/// Makes burn's lazily initialised parameters take their values in place. A never-used
/// parameter is only a recipe: every clone of it would otherwise draw its own random values.
struct Materialize;

impl<B: Backend> ModuleVisitor<B> for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

/// Our parameters and buffers under their official names and shapes (the inverse of
/// [`load_official`]). `num_batches_tracked` is written as i64, as PyTorch stores it.
pub fn save_official<B: Backend, M: OfficialSlots<B> + Module<B> + Clone>(model: &M) -> StateDict {
    // The slots need `&mut`, so they are taken from a clone: materialise first so the clone
    // holds the model's values.
    model.visit(&mut Materialize);
    let mut model = model.clone();
    let mut slots = Vec::new();
    model.official_slots("", &mut slots);
    let tensors = slots
        .iter()
        .map(|slot| {
            let data = slot.read();
            let data = if slot.name.ends_with("num_batches_tracked") {
                TensorData::new(
                    vec![data.iter::<f64>().next().unwrap_or(0.0) as i64],
                    Vec::<usize>::new(),
                )
            } else {
                data
            };
            (slot.name.clone(), data)
        })
        .collect();
    StateDict {
        tensors,
        metadata: HashMap::new(),
    }
}

/// Slots of a [`crate::norm::BatchNorm`] under PyTorch's names.
pub(crate) fn batch_norm_slots<'a, B: Backend>(
    bn: &'a mut crate::norm::BatchNorm<B>,
    prefix: &str,
    out: &mut Vec<NamedSlot<'a, B>>,
) {
    let c = bn.weight.dims()[0];
    out.push(NamedSlot::new(
        format!("{prefix}weight"),
        vec![c],
        Slot::Param1(&mut bn.weight),
    ));
    out.push(NamedSlot::new(
        format!("{prefix}bias"),
        vec![c],
        Slot::Param1(&mut bn.bias),
    ));
    out.push(NamedSlot::new(
        format!("{prefix}running_mean"),
        vec![c],
        Slot::Buffer(&mut bn.running_mean),
    ));
    out.push(NamedSlot::new(
        format!("{prefix}running_var"),
        vec![c],
        Slot::Buffer(&mut bn.running_var),
    ));
    out.push(NamedSlot::new(
        format!("{prefix}num_batches_tracked"),
        vec![],
        Slot::Buffer(&mut bn.batches_tracked),
    ));
}

/// Slots of an official-form attention block (`ta`, `ca`, `sa` under `prefix`). `fc` selects
/// the Conv1d shape `[out, in, 1]` of the fc-variant TA instead of Conv3d `[out, in, 1, 1, 1]`.
pub(crate) fn attention_slots<'a, B: Backend>(
    att: &'a mut ma_attention::MultiDimAttention<B>,
    prefix: &str,
    fc: bool,
    out: &mut Vec<NamedSlot<'a, B>>,
) {
    let mlp_slots =
        |mlp: &'a mut ma_attention::SharedMlp<B>, p: String, out: &mut Vec<NamedSlot<'a, B>>| {
            let [hidden, n] = mlp.squeeze.dims();
            let tail: &[usize] = if fc { &[1] } else { &[1, 1, 1] };
            let shape = |a: usize, b: usize| [&[a, b][..], tail].concat();
            out.push(NamedSlot::new(
                format!("{p}sharedMLP.0.weight"),
                shape(hidden, n),
                Slot::Param2 {
                    param: &mut mlp.squeeze,
                    transposed: false,
                },
            ));
            out.push(NamedSlot::new(
                format!("{p}sharedMLP.2.weight"),
                shape(n, hidden),
                Slot::Param2 {
                    param: &mut mlp.excite,
                    transposed: false,
                },
            ));
        };
    if let Some(ta) = att.temporal.as_mut() {
        mlp_slots(&mut ta.mlp, format!("{prefix}ta."), out);
    }
    if let Some(ca) = att.channel.as_mut() {
        mlp_slots(&mut ca.mlp, format!("{prefix}ca."), out);
    }
    if let Some(sa) = att.spatial.as_mut() {
        let shape = sa.weight.dims().to_vec();
        out.push(NamedSlot::new(
            format!("{prefix}sa.conv.weight"),
            shape,
            Slot::Param4(&mut sa.weight),
        ));
    }
}
