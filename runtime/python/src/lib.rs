//! `realnvp._realnvp`: the Python package's native module, PyO3 bindings over `realnvp-runtime`.
//!
//! It adds no numerics: every number comes from `realnvp-runtime` (and the value conventions from
//! `realnvp_bundle::pixels`). It only moves numpy arrays in and out, checks their dtype and shape, releases
//! the GIL around every ONNX Runtime call and maps `RuntimeError` to the `realnvp.Error` hierarchy
//! ([`errors`]). The Python side (`realnvp/__init__.py`) re-exports it and finds ONNX Runtime in the
//! `onnxruntime` package (`realnvp/_library.py`).

mod errors;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods, dtype,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use realnvp_bundle::{DataKind, DataShape, pixels};
use realnvp_runtime::{
    self as rt, Device, LoadOptions, RuntimeError, ScoredItem, Verdict, image_io, triton,
};

use errors::{Kind, OrRaise, raise};

/// The environment variable the runtime reads for the library path.
const ORT_ENV: &str = rt::ORT_DYLIB_ENV;

/// A RealNVP bundle loaded into ONNX Runtime (see `realnvp.Flow` in `__init__.pyi`).
#[pyclass(frozen, module = "realnvp", name = "Flow")]
struct Flow {
    inner: Arc<rt::Flow>,
    /// What `load` was given, for `__reduce__` (pickling reloads the bundle).
    path: PathBuf,
    device: String,
    library_path: Option<PathBuf>,
    threads: Option<usize>,
    batch_size: usize,
}

/// An input array: its values in the runtime's flat f32 layout and its item count.
struct Items {
    values: Vec<f32>,
    n: usize,
}

fn shape_text(dims: &[usize]) -> String {
    let inner: Vec<String> = dims.iter().map(ToString::to_string).collect();
    if inner.len() == 1 {
        format!("({},)", inner[0])
    } else {
        format!("({})", inner.join(", "))
    }
}

/// `np.asarray(obj)` unless it is an array already.
fn as_array<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyUntypedArray>> {
    let py = obj.py();
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    let converted = py
        .import("numpy")?
        .call_method1("asarray", (obj,))
        .map_err(|e| {
            raise(
                py,
                Kind::InputType,
                format!("{what}: cannot be read as a numpy array ({e})"),
            )
        })?;
    converted.cast_into::<PyUntypedArray>().map_err(|_| {
        raise(
            py,
            Kind::InputType,
            format!("{what}: expected a numpy array"),
        )
    })
}

/// Copies a numpy array of element type `T` into a Vec in C order (any strides).
fn copy_values<T: numpy::Element + Copy>(array: &Bound<'_, PyUntypedArray>) -> PyResult<Vec<T>> {
    let typed = array.cast::<PyArrayDyn<T>>()?;
    let ro = typed.try_readonly()?;
    Ok(match ro.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => ro.as_array().iter().copied().collect(),
    })
}

impl Flow {
    fn shape(&self) -> DataShape {
        self.inner.data_shape()
    }

    /// The shapes an input `x` may have, for messages.
    fn accepted_shapes(&self) -> String {
        let dims: Vec<String> = self
            .shape()
            .dims()
            .iter()
            .map(ToString::to_string)
            .collect();
        let full = format!("(N, {})", dims.join(", "));
        match self.shape() {
            DataShape::Image {
                channels: 1,
                height,
                width,
            } => format!("{full} or (N, {height}, {width})"),
            _ => full,
        }
    }

    /// Runs `op` on the items of `x` ([`Self::data_items`]) with the GIL released; returns its value and the
    /// number of items, or the runtime's error as the matching Python exception.
    fn with_data_items<T: Send>(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        op: impl FnOnce(&rt::Flow, &[f32], usize) -> rt::Result<T> + Send,
    ) -> PyResult<(T, usize)> {
        let Items { values, n } = self.data_items(py, x)?;
        let flow: &rt::Flow = &self.inner;
        let value = py.detach(|| op(flow, &values, n)).or_raise(py)?;
        Ok((value, n))
    }

    /// Reads `x` (uint8 pixels, scored at their bin centres, or float32 data) as the flow's items.
    fn data_items(&self, py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<Items> {
        let array = as_array(x, "x")?;
        let dims = self.shape().dims();
        let got = array.shape().to_vec();
        let batched = got.len() == dims.len() + 1 && got[1..] == dims[..];
        let grey = matches!(self.shape(), DataShape::Image { channels: 1, .. })
            && got.len() == 3
            && got[1..] == dims[1..];
        let is_u8 = array.dtype().is_equiv_to(&dtype::<u8>(py));
        let is_f32 = array.dtype().is_equiv_to(&dtype::<f32>(py));
        let image = self.inner.data_kind() == DataKind::Image;
        if is_u8 && !image {
            return Err(errors::to_py(
                py,
                &RuntimeError::WrongDataKind {
                    operation: "scoring uint8 pixels",
                    expected: "image",
                    found: "vector",
                },
            ));
        }
        if !is_u8 && !is_f32 {
            let fix = if image {
                "pass uint8 pixels (scored at their bin centres, p + 0.5) or float32 values in pixel units [0, 256] \
                 (x.astype(np.float32))"
            } else {
                "pass float32 values in the model's feature units (x.astype(np.float32))"
            };
            return Err(raise(
                py,
                Kind::InputType,
                format!("x has dtype {}; {fix}", array.dtype()),
            ));
        }
        if !(batched || grey) {
            return Err(raise(
                py,
                Kind::Input,
                format!(
                    "x has shape {}; this model takes arrays of shape {} (one item has shape {}; add the batch \
                     axis with x[None] for a single item)",
                    shape_text(&got),
                    self.accepted_shapes(),
                    shape_text(&dims)
                ),
            ));
        }
        let n = got[0];
        let values = if is_u8 {
            copy_values::<u8>(&array)?
                .into_iter()
                .map(pixels::dequantize)
                .collect()
        } else {
            copy_values::<f32>(&array)?
        };
        Ok(Items { values, n })
    }

    /// Reads `z`, float32 `[N, L]`.
    fn latent_items(&self, py: Python<'_>, z: &Bound<'_, PyAny>) -> PyResult<Items> {
        let array = as_array(z, "z")?;
        let latent = self.inner.latent_dim();
        if !array.dtype().is_equiv_to(&dtype::<f32>(py)) {
            return Err(raise(
                py,
                Kind::InputType,
                format!(
                    "z has dtype {}; latents are float32 (z.astype(np.float32))",
                    array.dtype()
                ),
            ));
        }
        let got = array.shape().to_vec();
        if got.len() != 2 || got[1] != latent {
            return Err(raise(
                py,
                Kind::Input,
                format!(
                    "z has shape {}; this model's latents have shape (N, {latent})",
                    shape_text(&got)
                ),
            ));
        }
        Ok(Items {
            values: copy_values::<f32>(&array)?,
            n: got[0],
        })
    }

    /// `values` (n items of the data shape) as an `[N, *data_shape]` float32 array.
    fn data_array<'py>(
        &self,
        py: Python<'py>,
        values: Vec<f32>,
        n: usize,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let mut dims = vec![n];
        dims.extend(self.shape().dims());
        PyArray1::from_vec(py, values).reshape(dims)
    }

    /// `pixels` (n items of the image shape) as an `[N, C, H, W]` uint8 array.
    fn pixel_array<'py>(
        &self,
        py: Python<'py>,
        pixels: Vec<u8>,
        n: usize,
    ) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
        let mut dims = vec![n];
        dims.extend(self.shape().dims());
        PyArray1::from_vec(py, pixels).reshape(dims)
    }

    /// The calibration at `path`, or the bundle's `calibration.json`.
    fn calibration(
        &self,
        py: Python<'_>,
        path: Option<PathBuf>,
    ) -> PyResult<realnvp_bundle::Calibration> {
        let path = path.unwrap_or_else(|| self.inner.default_calibration_path());
        let flow = &self.inner;
        py.detach(|| flow.load_calibration(&path)).or_raise(py)
    }
}

/// Columns of scored items, named as `runtime score`'s CSV/JSON columns.
fn score_columns<'py>(
    py: Python<'py>,
    items: &[ScoredItem],
    ood: bool,
    names: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let column = |f: &dyn Fn(&ScoredItem) -> f32| -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_vec(py, items.iter().map(f).collect())
    };
    if names {
        let paths: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        out.set_item("path", paths)?;
    }
    out.set_item("log_prob", column(&|i| i.scores.log_prob))?;
    out.set_item("bits_per_dim", column(&|i| i.scores.bits_per_dim))?;
    if ood {
        let opt = |v: Option<f32>| v.unwrap_or(f32::NAN);
        out.set_item(
            "complexity_bits_per_dim",
            column(&|i| opt(i.scores.complexity_bits_per_dim)),
        )?;
        out.set_item(
            "complexity_corrected",
            column(&|i| opt(i.scores.complexity_corrected)),
        )?;
        out.set_item("typicality", column(&|i| opt(i.scores.typicality)))?;
        // `runtime score` writes the statistic's value as f32 too.
        out.set_item(
            "ood_score",
            column(&|i| i.verdict.map_or(f32::NAN, |v| v.score as f32)),
        )?;
        let flags: Vec<bool> = items
            .iter()
            .map(|i| i.verdict.is_some_and(|v| v.ood))
            .collect();
        out.set_item("ood", PyArray1::from_vec(py, flags))?;
    }
    Ok(out)
}

/// The library of the `onnxruntime` Python package, if it is installed (`realnvp._library`).
fn package_library(py: Python<'_>) -> PyResult<Option<PathBuf>> {
    py.import("realnvp._library")?
        .call_method0("onnxruntime_package_library")?
        .extract()
}

/// `Flow::load`, then, when the runtime's own search (no explicit path, no `ORT_DYLIB_PATH`) found no library,
/// once more with the `onnxruntime` package's library.
fn load_with_fallback(py: Python<'_>, path: &Path, options: &LoadOptions) -> PyResult<rt::Flow> {
    let first = py.detach(|| rt::Flow::load(path, options));
    let env_set = std::env::var_os(ORT_ENV).is_some_and(|v| !v.is_empty());
    let Err(RuntimeError::Library { tried }) = first else {
        return first.or_raise(py);
    };
    let error = RuntimeError::Library { tried };
    if options.library_path.is_some() || env_set {
        return Err(errors::to_py(py, &error));
    }
    let Some(library) = package_library(py)? else {
        return Err(raise(
            py,
            Kind::Library,
            format!(
                "{}; the `onnxruntime` Python package is not installed either: `pip install onnxruntime==1.31.1` \
                 is all realnvp needs (or pass library_path=)",
                errors::message(&error)
            ),
        ));
    };
    let retry = LoadOptions {
        library_path: Some(library.clone()),
        ..options.clone()
    };
    match py.detach(|| rt::Flow::load(path, &retry)) {
        Err(RuntimeError::Library { tried }) => {
            let reasons: Vec<String> = tried.iter().map(|a| a.reason.clone()).collect();
            Err(raise(
                py,
                Kind::Library,
                format!(
                    "{}; then the `onnxruntime` Python package's library {}: {}",
                    errors::message(&error),
                    library.display(),
                    reasons.join("; ")
                ),
            ))
        }
        other => other.or_raise(py),
    }
}

#[pymethods]
impl Flow {
    /// `Flow(path, ...)` is `Flow.load(path, ...)`.
    #[new]
    #[pyo3(signature = (path, *, device = "auto", library_path = None, threads = None, batch_size = 256))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        device: &str,
        library_path: Option<PathBuf>,
        threads: Option<usize>,
        batch_size: usize,
    ) -> PyResult<Flow> {
        Flow::load(py, path, device, library_path, threads, batch_size)
    }

    /// Loads and validates the bundle in `path`: `device` is "auto", "cpu", "cuda" or "cuda:N";
    /// `library_path` the libonnxruntime.so to load (default: ORT_DYLIB_PATH, the system loader, then the
    /// onnxruntime package); `threads` ONNX Runtime's intra-op threads; `batch_size` items per call.
    #[staticmethod]
    #[pyo3(signature = (path, *, device = "auto", library_path = None, threads = None, batch_size = 256))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        device: &str,
        library_path: Option<PathBuf>,
        threads: Option<usize>,
        batch_size: usize,
    ) -> PyResult<Flow> {
        let parsed: Device = device.parse().map_err(|reason: String| {
            errors::to_py(
                py,
                &RuntimeError::InvalidOption {
                    name: "device",
                    reason,
                },
            )
        })?;
        let options = LoadOptions {
            device: parsed,
            threads,
            library_path: library_path.clone(),
            batch_size,
        };
        let inner = load_with_fallback(py, &path, &options)?;
        Ok(Flow {
            inner: Arc::new(inner),
            path,
            device: device.to_string(),
            library_path,
            threads,
            batch_size,
        })
    }

    /// The per-item data shape: `(C, H, W)` or `(D,)`.
    #[getter]
    fn data_shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.shape().dims())
    }

    /// `"image"` or `"vector"`.
    #[getter]
    fn data_kind(&self) -> &'static str {
        self.inner.data_kind().as_str()
    }

    /// The latent size `L` (values per item).
    #[getter]
    fn latent_dim(&self) -> usize {
        self.inner.latent_dim()
    }

    /// The bundle directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.dir().to_path_buf()
    }

    /// The execution provider that runs the graphs: `"CPU"` or `"CUDA"`.
    #[getter]
    fn provider(&self) -> &'static str {
        self.inner.provider().name()
    }

    /// The ONNX Runtime library file in use.
    #[getter]
    fn library_path(&self) -> PathBuf {
        self.inner.library_path().to_path_buf()
    }

    /// Items per ONNX Runtime call.
    #[getter]
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    /// The bundle's metadata as a dict (the content of `model.json`, read from the graphs).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let text = self.inner.metadata().to_card().to_string();
        py.import("json")?.call_method1("loads", (text,))
    }

    /// Bits per dimension of each item of `x`, float32 `[N]`.
    fn bits_per_dim<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let (bits, _) = self.with_data_items(py, x, rt::Flow::bits_per_dim)?;
        Ok(PyArray1::from_vec(py, bits))
    }

    /// `log p(x)` in nats (data space) of each item of `x`, float32 `[N]`.
    fn log_prob<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let (lp, _) = self.with_data_items(py, x, rt::Flow::log_prob)?;
        Ok(PyArray1::from_vec(py, lp))
    }

    /// The latents of the items of `x`, float32 `[N, L]`.
    fn encode<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let (enc, n) = self.with_data_items(py, x, rt::Flow::encode)?;
        PyArray1::from_vec(py, enc.z).reshape(vec![n, self.inner.latent_dim()])
    }

    /// Data for the latents `z` (float32 `[N, L]`), float32 `[N, *data_shape]`, images in `[0, 256]`.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        z: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let Items { values, n } = self.latent_items(py, z)?;
        let flow = &self.inner;
        let x = py.detach(|| flow.decode(&values, n)).or_raise(py)?;
        self.data_array(py, x, n)
    }

    /// `n` latents `z ~ N(0, temperature² I)`, float32 `[N, L]`.
    #[pyo3(signature = (n, temperature = 1.0, seed = None))]
    fn sample_latent<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        temperature: f32,
        seed: Option<u64>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let seed = seed.unwrap_or_else(rand::random);
        let flow = &self.inner;
        let z = py
            .detach(|| flow.sample_latent(n, temperature, seed))
            .or_raise(py)?;
        PyArray1::from_vec(py, z).reshape(vec![n, self.inner.latent_dim()])
    }

    /// `n` samples at `temperature`: uint8 `[N, C, H, W]` images (float32 with `quantize=False`), float32
    /// `[N, D]` for vector models.
    #[pyo3(signature = (n, temperature = 1.0, seed = None, *, quantize = true))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        temperature: f32,
        seed: Option<u64>,
        quantize: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let seed = seed.unwrap_or_else(rand::random);
        let flow = &self.inner;
        let x = py
            .detach(|| flow.sample(n, temperature, seed))
            .or_raise(py)?;
        if quantize && self.inner.data_kind() == DataKind::Image {
            let pixels = py.detach(|| x.iter().map(|&v| pixels::quantize(v)).collect());
            Ok(self.pixel_array(py, pixels, n)?.into_any())
        } else {
            Ok(self.data_array(py, x, n)?.into_any())
        }
    }

    /// Out-of-distribution scores of the items of `x` and their verdicts under the bundle's
    /// `calibration.json` (or the calibration file given).
    #[pyo3(signature = (x, calibration = None))]
    fn ood<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        calibration: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let Items { values, n } = self.data_items(py, x)?;
        let calibration = self.calibration(py, calibration)?;
        let flow = &self.inner;
        let scores = py.detach(|| flow.ood_scores(&values, n)).or_raise(py)?;
        let items: Vec<ScoredItem> = scores
            .into_iter()
            .map(|scores| ScoredItem {
                name: String::new(),
                verdict: Some(Verdict::of(&scores, &calibration)),
                scores,
            })
            .collect();
        score_columns(py, &items, true, false)
    }

    /// Scores image files, folders of images (or CSV files for vector models) as `runtime score` does.
    #[pyo3(signature = (paths, *, ood = false, calibration = None, on_error = "raise"))]
    fn score_files<'py>(
        &self,
        py: Python<'py>,
        paths: &Bound<'py, PyAny>,
        ood: bool,
        calibration: Option<PathBuf>,
        on_error: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let paths = path_list(paths)?;
        let skip = match on_error {
            "raise" => false,
            "skip" => true,
            other => {
                return Err(raise(
                    py,
                    Kind::Input,
                    format!("on_error={other:?}: use \"raise\" or \"skip\""),
                ));
            }
        };
        let ood = ood || calibration.is_some();
        let calibration = if ood {
            Some(self.calibration(py, calibration)?)
        } else {
            None
        };
        let flow = &self.inner;
        let (items, failures) = py.detach(|| flow.score_inputs(&paths, calibration.as_ref()));
        if let Some(first) = failures.first() {
            if !skip {
                let mut message = errors::message(first);
                if failures.len() > 1 {
                    message.push_str(&format!(
                        " (and {} more unreadable inputs; on_error=\"skip\" scores the readable ones)",
                        failures.len() - 1
                    ));
                }
                return Err(raise(py, errors::kind_of(first), message));
            }
            let warnings = py.import("warnings")?;
            for f in &failures {
                warnings.call_method1("warn", (format!("skipped: {}", errors::message(f)),))?;
            }
        }
        score_columns(py, &items, ood, true)
    }

    /// Reads image files and folders as `runtime score` does: uint8 `[N, C, H, W]` and the file names.
    fn load_images<'py>(
        &self,
        py: Python<'py>,
        paths: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyArrayDyn<u8>>, Vec<String>)> {
        let paths = path_list(paths)?;
        let flow = &self.inner;
        flow.require_kind(DataKind::Image, "loading images")
            .or_raise(py)?;
        let batch = py.detach(|| flow.read_all_inputs(&paths)).or_raise(py)?;
        let n = batch.len();
        let pixels = py.detach(|| batch.values.iter().map(|&v| pixels::quantize(v)).collect());
        Ok((self.pixel_array(py, pixels, n)?, batch.names))
    }

    /// Decodes PNG/JPEG file contents as `runtime score` decodes files: uint8 `[N, C, H, W]`.
    #[pyo3(signature = (images, names = None))]
    fn images_from_bytes<'py>(
        &self,
        py: Python<'py>,
        images: Vec<Vec<u8>>,
        names: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
        let flow = &self.inner;
        flow.require_kind(DataKind::Image, "decoding images")
            .or_raise(py)?;
        if let Some(names) = &names
            && names.len() != images.len()
        {
            return Err(raise(
                py,
                Kind::Input,
                format!(
                    "{} names for {} images; give one name per image, or none",
                    names.len(),
                    images.len()
                ),
            ));
        }
        let shape = self.shape();
        let n = images.len();
        let decoded: Result<Vec<u8>, RuntimeError> = py.detach(|| {
            let mut out = Vec::with_capacity(n * shape.numel());
            for (i, bytes) in images.iter().enumerate() {
                let name = names
                    .as_ref()
                    .map_or_else(|| format!("<image {i}>"), |n| n[i].clone());
                let values = image_io::image_from_bytes(bytes, shape, Path::new(&name))?;
                out.extend(values.iter().map(|&v| pixels::quantize(v)));
            }
            Ok(out)
        });
        self.pixel_array(py, decoded.or_raise(py)?, n)
    }

    /// Writes a Triton Inference Server model repository for this bundle into `out`; returns the model folders.
    #[pyo3(signature = (out, *, name = "realnvp", max_batch_size = 256, default_kind = "gpu", instances = 1, max_queue_delay_us = 100))]
    // One parameter per Python keyword argument.
    #[allow(clippy::too_many_arguments)]
    fn write_triton_repository(
        &self,
        py: Python<'_>,
        out: PathBuf,
        name: &str,
        max_batch_size: usize,
        default_kind: &str,
        instances: usize,
        max_queue_delay_us: u64,
    ) -> PyResult<Vec<PathBuf>> {
        let default_kind = match default_kind {
            "cpu" => triton::InstanceKind::Cpu,
            "gpu" => triton::InstanceKind::Gpu,
            other => {
                return Err(raise(
                    py,
                    Kind::Input,
                    format!("default_kind={other:?}: use \"cpu\" or \"gpu\""),
                ));
            }
        };
        let options = triton::TritonOptions {
            name: name.to_string(),
            max_batch_size,
            max_queue_delay_us,
            default_kind,
            instances,
        };
        let flow = &self.inner;
        let models = py
            .detach(|| triton::write_repository(flow, &out, &options))
            .map_err(|e| match e {
                triton::TritonError::InvalidOption { .. } => {
                    raise(py, Kind::Input, realnvp_host::one_line(&e))
                }
                triton::TritonError::Bundle(b) => errors::to_py(py, &RuntimeError::Bundle(b)),
                other => raise(py, Kind::Other, realnvp_host::one_line(&other)),
            })?;
        Ok(models.into_iter().map(|m| m.dir).collect())
    }

    fn __repr__(&self) -> String {
        format!(
            "realnvp.Flow({:?}, data_shape={}, provider={:?})",
            self.inner.dir().display().to_string(),
            shape_text(&self.shape().dims()),
            self.inner.provider().name()
        )
    }

    /// Pickling reloads the bundle from its path with the same options (for multiprocessing and Ray).
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let loader = py.import("realnvp")?.getattr("_load_for_pickle")?;
        let args = (
            self.path.clone(),
            self.device.clone(),
            self.library_path.clone(),
            self.threads,
            self.batch_size,
        )
            .into_pyobject(py)?;
        Ok((loader, args))
    }
}

/// A path or a list of paths (str or os.PathLike) as a list.
fn path_list(obj: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if let Ok(one) = obj.extract::<PathBuf>() {
        return Ok(vec![one]);
    }
    obj.extract::<Vec<PathBuf>>().map_err(|_| {
        raise(
            obj.py(),
            Kind::InputType,
            "paths: expected a path or a list of paths (str or os.PathLike)",
        )
    })
}

/// `floor(clamp(x, 0, 255))` of a float32 array: data values as uint8 pixels (where images are written).
#[pyfunction]
fn quantize<'py>(py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let array = as_array(x, "x")?;
    if !array.dtype().is_equiv_to(&dtype::<f32>(py)) {
        return Err(raise(
            py,
            Kind::InputType,
            format!("x has dtype {}; quantize takes float32", array.dtype()),
        ));
    }
    let shape = array.shape().to_vec();
    let values = copy_values::<f32>(&array)?;
    let pixels: Vec<u8> = values.into_iter().map(pixels::quantize).collect();
    PyArray1::from_vec(py, pixels).reshape(shape)
}

/// `p + 0.5` of a uint8 array: pixels at their bin centres, as they are scored.
#[pyfunction]
fn dequantize<'py>(
    py: Python<'py>,
    p: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let array = as_array(p, "p")?;
    if !array.dtype().is_equiv_to(&dtype::<u8>(py)) {
        return Err(raise(
            py,
            Kind::InputType,
            format!("p has dtype {}; dequantize takes uint8", array.dtype()),
        ));
    }
    let shape = array.shape().to_vec();
    let values: Vec<f32> = copy_values::<u8>(&array)?
        .into_iter()
        .map(pixels::dequantize)
        .collect();
    PyArray1::from_vec(py, values).reshape(shape)
}

/// The files that `paths` name, by the runtime's folder rule (`runtime score`'s): each folder expanded into
/// its image files (recursively, hidden names skipped, sorted), other paths kept as given.
#[pyfunction]
fn input_files(py: Python<'_>, paths: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    let paths = path_list(paths)?;
    let (files, failures) = py.detach(|| rt::input_files(&paths));
    match failures.first() {
        Some(first) => Err(errors::to_py(py, first)),
        None => Ok(files),
    }
}

/// The ONNX Runtime library this process has loaded, or None before the first `Flow.load`.
#[pyfunction]
fn loaded_library_path() -> Option<PathBuf> {
    rt::loaded_library_path()
}

/// The bundle format's names (files, tensors, metadata keys, version, opset) as JSON, from
/// `realnvp_bundle::names::as_json()`: what `runtime/tests/make_fixture_bundle.py --names` reads (tests only).
#[pyfunction]
fn _bundle_names_json() -> String {
    realnvp_bundle::names::as_json().to_string()
}

/// The Rust runtime's defaults of the keyword arguments that repeat them as literals (`#[pyo3(signature)]`
/// renders only literals in `help()`): `tests/test_stubs.py` checks each signature, and the stubs, against them.
fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let repository = triton::TritonOptions::default();
    d.set_item("batch_size", rt::DEFAULT_BATCH_SIZE)?;
    d.set_item("name", repository.name)?;
    d.set_item("max_batch_size", repository.max_batch_size)?;
    d.set_item("default_kind", repository.default_kind.name())?;
    d.set_item("instances", repository.instances)?;
    d.set_item("max_queue_delay_us", repository.max_queue_delay_us)?;
    Ok(d)
}

#[pymodule]
fn _realnvp(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<Flow>()?;
    m.add_function(wrap_pyfunction!(quantize, m)?)?;
    m.add_function(wrap_pyfunction!(dequantize, m)?)?;
    m.add_function(wrap_pyfunction!(loaded_library_path, m)?)?;
    m.add_function(wrap_pyfunction!(input_files, m)?)?;
    m.add_function(wrap_pyfunction!(_bundle_names_json, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("FORMAT_VERSION", rt::FORMAT_VERSION)?;
    m.add("_DEFAULTS", defaults(m.py())?)?;
    Ok(())
}
