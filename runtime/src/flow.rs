//! A loaded, validated forward/inverse pair and the operations on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::value::{Outlet, TensorElementType, TensorRef, ValueType};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Result, RuntimeError};
use crate::library;
use crate::metadata::{self, BundleMetadata, DataKind};
use crate::options::{Device, LoadOptions, Provider};

/// The result of [`Flow::encode`]: per item, the latent and the exact log-likelihood.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// Latents, `n × latent_dim` values, item-major.
    pub z: Vec<f32>,
    /// `log p(x)` in nats, one per item.
    pub log_prob: Vec<f32>,
    /// `-log p(x) / (L ln 2)`, one per item.
    pub bits_per_dim: Vec<f32>,
}

/// A RealNVP bundle loaded into ONNX Runtime: `forward.onnx` (data → latent, log-likelihood) and
/// `inverse.onnx` (latent → data).
///
/// All data are flat `f32` slices, item-major, with the item count `n` passed alongside so a wrong length is
/// caught instead of silently reshaped. Inputs larger than [`LoadOptions::batch_size`] items are run in chunks.
///
/// # Threads
/// `Flow` is `Send + Sync`. ONNX Runtime sessions need exclusive access to run (`ort` takes `&mut Session`), so
/// each graph sits behind its own `Mutex`: calls from many threads are safe and give the same results as calls
/// from one thread, and they run one graph call at a time per graph (each call still uses all of ONNX Runtime's
/// intra-op threads). For parallel throughput, load one `Flow` per worker.
///
/// ```no_run
/// use realnvp_runtime::{Flow, LoadOptions};
/// # fn main() -> Result<(), realnvp_runtime::RuntimeError> {
/// let flow = Flow::load("out/model", &LoadOptions::default())?;
/// let x = flow.sample(4, 0.7, 1)?;
/// let bits = flow.bits_per_dim(&x, 4)?;
/// println!("{} on {}: {bits:?}", flow.metadata().data_kind, flow.provider());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Flow {
    dir: PathBuf,
    meta: BundleMetadata,
    forward: Mutex<Session>,
    inverse: Mutex<Session>,
    provider: Provider,
    batch_size: usize,
    library: PathBuf,
}

const FORWARD: &str = "forward.onnx";
const INVERSE: &str = "inverse.onnx";

impl Flow {
    /// Loads and validates the bundle in `dir`.
    ///
    /// Checks: both graph files exist and load; their metadata (docs/bundle.md) is complete, of a known format
    /// version, in the right direction and from the same export (pair id); data kind, shape and latent size agree
    /// with each other, with the graphs' inputs and outputs, and with `model.json` when present.
    ///
    /// The first successful load in a process loads the ONNX Runtime library (see [`LoadOptions::library_path`]);
    /// later loads reuse it, and an explicit different `library_path` is a [`RuntimeError::LibraryConflict`].
    ///
    /// ```no_run
    /// use realnvp_runtime::{Device, Flow, LoadOptions};
    /// # fn main() -> Result<(), realnvp_runtime::RuntimeError> {
    /// let flow = Flow::load("out/model", &LoadOptions { device: Device::Cpu, ..Default::default() })?;
    /// assert_eq!(flow.provider().name(), "CPU");
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(dir: impl AsRef<Path>, options: &LoadOptions) -> Result<Flow> {
        let dir = dir.as_ref().to_path_buf();
        if options.batch_size == 0 {
            return Err(RuntimeError::InvalidOption {
                name: "batch_size",
                reason: "must be at least 1 (256 is the default)".into(),
            });
        }
        if options.threads == Some(0) {
            return Err(RuntimeError::InvalidOption {
                name: "threads",
                reason: "must be at least 1, or None to let ONNX Runtime choose".into(),
            });
        }
        let forward_file = dir.join(FORWARD);
        let inverse_file = dir.join(INVERSE);
        for file in [&forward_file, &inverse_file] {
            if !file.is_file() {
                return Err(RuntimeError::MissingFile { file: file.clone() });
            }
        }

        let (env, library) = library::environment(options.library_path.as_deref())?;
        let (forward, provider) =
            open_session(&env, &forward_file, options.device, options.threads)?;
        // The inverse runs where the forward runs, so both graphs see the same numerics.
        let inverse_device = match provider {
            Provider::Cpu => Device::Cpu,
            Provider::Cuda(id) => Device::Cuda(id),
        };
        let (inverse, _) = open_session(&env, &inverse_file, inverse_device, options.threads)?;

        let meta = metadata::parse_graph(
            &forward_file,
            "forward",
            read_props(&forward, &forward_file)?,
        )?;
        let inverse_meta = metadata::parse_graph(
            &inverse_file,
            "inverse",
            read_props(&inverse, &inverse_file)?,
        )?;
        metadata::check_pair(&dir, &meta, &inverse_meta)?;

        let batch: i64 = -1;
        let data: Vec<i64> = std::iter::once(batch)
            .chain(meta.data_shape.iter().map(|&d| d as i64))
            .collect();
        let latent = vec![batch, meta.latent_dim as i64];
        check_outlets(
            &dir,
            &forward_file,
            "input",
            forward.inputs(),
            &[("x", &data)],
        )?;
        check_outlets(
            &dir,
            &forward_file,
            "output",
            forward.outputs(),
            &[
                ("z", &latent),
                ("log_prob", &[batch]),
                ("bits_per_dim", &[batch]),
            ],
        )?;
        check_outlets(
            &dir,
            &inverse_file,
            "input",
            inverse.inputs(),
            &[("z", &latent)],
        )?;
        check_outlets(
            &dir,
            &inverse_file,
            "output",
            inverse.outputs(),
            &[("x", &data)],
        )?;
        metadata::check_model_json(&dir, &meta)?;

        if meta.model_layout() < 2 {
            tracing::warn!(
                "{}: exported from a layout-1 model, whose scores of u8 images (u = 0.5) run up to a bit/dim too high; train it again with realnvp-rs >= layout 2 and re-export",
                dir.display()
            );
        }
        tracing::debug!(dir = %dir.display(), %provider, "loaded bundle");
        Ok(Flow {
            dir,
            meta,
            forward: Mutex::new(forward),
            inverse: Mutex::new(inverse),
            provider,
            batch_size: options.batch_size,
            library,
        })
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The validated metadata.
    pub fn metadata(&self) -> &BundleMetadata {
        &self.meta
    }

    /// Image or vector model.
    pub fn data_kind(&self) -> DataKind {
        self.meta.data_kind
    }

    /// Per-item data shape: `[C, H, W]` or `[D]`.
    pub fn data_shape(&self) -> &[usize] {
        &self.meta.data_shape
    }

    /// Latent size `L`; also the number of values per data item.
    pub fn latent_dim(&self) -> usize {
        self.meta.latent_dim
    }

    /// The execution provider that runs the graphs.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The ONNX Runtime library file in use.
    pub fn library_path(&self) -> &Path {
        &self.library
    }

    /// Items per ONNX Runtime call.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Runs `x` (`n` items of [`Flow::data_shape`]) through the forward graph.
    ///
    /// Images must be in pixel units `[0, 256)` (256 itself is tolerated) (see [`crate::image_io::load_image`]).
    pub fn encode(&self, x: &[f32], n: usize) -> Result<Encoded> {
        self.check_input("x", x, n)?;
        let per_item = self.latent_dim();
        let mut out = Encoded {
            z: Vec::with_capacity(n * per_item),
            log_prob: Vec::with_capacity(n),
            bits_per_dim: Vec::with_capacity(n),
        };
        let mut shape: Vec<i64> = std::iter::once(0)
            .chain(self.meta.data_shape.iter().map(|&d| d as i64))
            .collect();
        for (chunk_index, chunk) in x.chunks(self.batch_size * per_item).enumerate() {
            let rows = chunk.len() / per_item;
            shape[0] = rows as i64;
            let mut session = lock(&self.forward);
            let input = TensorRef::from_array_view((shape.clone(), chunk))
                .map_err(|e| RuntimeError::ort("creating the input tensor", e))?;
            let outputs = session
                .run(ort::inputs!["x" => input])
                .map_err(|e| RuntimeError::ort("running forward.onnx", e))?;
            let first = chunk_index * self.batch_size;
            for (name, dest, len) in [
                ("z", &mut out.z, rows * per_item),
                ("log_prob", &mut out.log_prob, rows),
                ("bits_per_dim", &mut out.bits_per_dim, rows),
            ] {
                let values = extract(&outputs, name, len, "forward.onnx")?;
                if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
                    let per = len / rows;
                    return Err(RuntimeError::NonFiniteOutput {
                        graph: "forward",
                        output: static_name(name),
                        item: first + bad / per,
                    });
                }
                dest.extend_from_slice(values);
            }
        }
        Ok(out)
    }

    /// `log p(x)` in nats for each of the `n` items of `x`.
    pub fn log_prob(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        Ok(self.encode(x, n)?.log_prob)
    }

    /// Bits per dimension, `-log p(x) / (L ln 2)`, for each of the `n` items of `x`.
    pub fn bits_per_dim(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        Ok(self.encode(x, n)?.bits_per_dim)
    }

    /// Maps `n` latents (`n × latent_dim` values) to data through the inverse graph.
    pub fn decode(&self, z: &[f32], n: usize) -> Result<Vec<f32>> {
        self.check_input("z", z, n)?;
        let per_item = self.latent_dim();
        let mut x = Vec::with_capacity(n * per_item);
        for (chunk_index, chunk) in z.chunks(self.batch_size * per_item).enumerate() {
            let rows = chunk.len() / per_item;
            let mut session = lock(&self.inverse);
            let input = TensorRef::from_array_view((vec![rows as i64, per_item as i64], chunk))
                .map_err(|e| RuntimeError::ort("creating the input tensor", e))?;
            let outputs = session
                .run(ort::inputs!["z" => input])
                .map_err(|e| RuntimeError::ort("running inverse.onnx", e))?;
            let values = extract(&outputs, "x", rows * per_item, "inverse.onnx")?;
            if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
                return Err(RuntimeError::NonFiniteOutput {
                    graph: "inverse",
                    output: "x",
                    item: chunk_index * self.batch_size + bad / per_item,
                });
            }
            x.extend_from_slice(values);
        }
        Ok(x)
    }

    /// Draws `n` latents `z ~ N(0, temperature² I)` from a `StdRng` seeded with `seed` (deterministic for a given
    /// seed, `n` and latent size).
    pub fn sample_latent(&self, n: usize, temperature: f32, seed: u64) -> Result<Vec<f32>> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(RuntimeError::InvalidTemperature { value: temperature });
        }
        if n == 0 {
            return Err(RuntimeError::EmptyBatch);
        }
        let mut rng = StdRng::seed_from_u64(seed);
        Ok((0..n * self.latent_dim())
            .map(|_| {
                let e: f32 = StandardNormal.sample(&mut rng);
                e * temperature
            })
            .collect())
    }

    /// Draws `n` samples at `temperature` with the given `seed`: [`Flow::sample_latent`] then [`Flow::decode`].
    /// Returns `n` items of [`Flow::data_shape`] (pixel units for images).
    ///
    /// ```no_run
    /// # use realnvp_runtime::{Flow, LoadOptions};
    /// # fn main() -> Result<(), realnvp_runtime::RuntimeError> {
    /// # let flow = Flow::load("out/model", &LoadOptions::default())?;
    /// let a = flow.sample(16, 0.7, 42)?;
    /// assert_eq!(a, flow.sample(16, 0.7, 42)?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sample(&self, n: usize, temperature: f32, seed: u64) -> Result<Vec<f32>> {
        let z = self.sample_latent(n, temperature, seed)?;
        self.decode(&z, n)
    }

    /// Loads an image file as one data item for this (image) model: see [`crate::image_io::load_image`].
    pub fn load_image(&self, path: impl AsRef<Path>) -> Result<Vec<f32>> {
        self.require_kind(DataKind::Image, "loading an image")?;
        crate::image_io::load_image(path, &self.meta.data_shape)
    }

    /// Fails unless this is a model of `kind`.
    pub fn require_kind(&self, kind: DataKind, operation: &'static str) -> Result<()> {
        if self.meta.data_kind == kind {
            Ok(())
        } else {
            Err(RuntimeError::WrongDataKind {
                operation,
                expected: kind.as_str(),
                found: self.meta.data_kind.as_str(),
            })
        }
    }

    fn check_input(&self, what: &'static str, values: &[f32], n: usize) -> Result<()> {
        if n == 0 || values.is_empty() {
            return Err(RuntimeError::EmptyBatch);
        }
        let per_item = self.latent_dim();
        let expected = n.saturating_mul(per_item);
        if values.len() != expected {
            return Err(RuntimeError::InputLength {
                what,
                got: values.len(),
                expected,
                n,
                per_item,
                shape: if what == "x" {
                    self.meta.data_shape.clone()
                } else {
                    vec![per_item]
                },
            });
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(RuntimeError::NonFinite {
                what,
                item: i / per_item,
                position: i % per_item,
                value: values[i],
            });
        }
        if what == "x" && self.meta.data_kind == DataKind::Image {
            // 256 itself is allowed: a sample whose sigmoid saturates in f32 decodes to exactly 256.
            if let Some(i) = values.iter().position(|v| !(0.0..=256.0).contains(v)) {
                return Err(RuntimeError::OutOfRange {
                    item: i / per_item,
                    position: i % per_item,
                    value: values[i],
                });
            }
        }
        Ok(())
    }
}

fn static_name(name: &str) -> &'static str {
    match name {
        "z" => "z",
        "log_prob" => "log_prob",
        _ => "bits_per_dim",
    }
}

/// Locks a session; a poisoned lock is recovered because a panic elsewhere cannot leave a session half-updated
/// from our side (the session holds no state between runs).
fn lock(session: &Mutex<Session>) -> MutexGuard<'_, Session> {
    session
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn extract<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    name: &str,
    len: usize,
    file: &str,
) -> Result<&'a [f32]> {
    let value = outputs.get(name).ok_or_else(|| {
        RuntimeError::ort(
            format!("reading the outputs of {file}"),
            format!("no output `{name}`"),
        )
    })?;
    let (_, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| RuntimeError::ort(format!("reading output `{name}` of {file}"), e))?;
    if data.len() != len {
        return Err(RuntimeError::ort(
            format!("reading output `{name}` of {file}"),
            format!("{} values, expected {len}", data.len()),
        ));
    }
    Ok(data)
}

/// A CPU session builder: every graph optimization on (explicitly, whatever the library's default),
/// because the layout pass (NCHWc) is what fuses our convolutions with their batch norms and ReLUs;
/// `threads` intra-op threads, or ONNX Runtime's choice (one per physical core).
fn session_builder(env: &Environment, threads: Option<usize>) -> Result<SessionBuilder> {
    let builder = Session::builder(env)
        .map_err(|e| RuntimeError::ort("creating a session", e))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| {
            RuntimeError::ort(
                "setting the graph optimization level",
                ort::Error::<()>::from(e),
            )
        })?;
    match threads {
        Some(t) => builder
            .with_intra_threads(t)
            .map_err(|e| RuntimeError::ort("setting the thread count", ort::Error::<()>::from(e))),
        None => Ok(builder),
    }
}

fn commit(mut builder: SessionBuilder, file: &Path) -> Result<Session> {
    builder
        .commit_from_file(file)
        .map_err(|e| RuntimeError::InvalidGraph {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Opens `file` on `device`; `Auto` falls back to CPU (with a warning) only when the CUDA provider itself fails,
/// never on a bad graph.
fn open_session(
    env: &Environment,
    file: &Path,
    device: Device,
    threads: Option<usize>,
) -> Result<(Session, Provider)> {
    match device {
        Device::Cpu => Ok((commit(session_builder(env, threads)?, file)?, Provider::Cpu)),
        Device::Cuda(id) => {
            let builder = cuda_builder(env, threads, id)?;
            Ok((commit(builder, file)?, Provider::Cuda(id)))
        }
        Device::Auto => {
            if cfg!(feature = "cuda") {
                match cuda_builder(env, threads, 0) {
                    Ok(builder) => return Ok((commit(builder, file)?, Provider::Cuda(0))),
                    Err(e) => tracing::warn!("CUDA unavailable, running on CPU: {e}"),
                }
            }
            Ok((commit(session_builder(env, threads)?, file)?, Provider::Cpu))
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda_builder(env: &Environment, threads: Option<usize>, id: i32) -> Result<SessionBuilder> {
    use ort::ep::ExecutionProvider;
    let fail = |reason: String| RuntimeError::ExecutionProvider {
        provider: "CUDA".into(),
        reason,
    };
    match ort::ep::CUDA::is_available() {
        Ok(true) => {}
        Ok(false) => {
            return Err(fail(
                "the loaded ONNX Runtime library has no CUDA execution provider (the CPU `onnxruntime` build has \
                 none); point --ort-lib / ORT_DYLIB_PATH at an onnxruntime-gpu library or use --device cpu"
                    .into(),
            ));
        }
        Err(e) => return Err(fail(e.to_string())),
    }
    session_builder(env, threads)?
        .with_execution_providers([ort::ep::CUDA::default()
            .with_device_id(id)
            .build()
            .error_on_failure()])
        .map_err(|e| {
            fail(format!(
                "registering device {id} failed: {e}; use --device cpu"
            ))
        })
}

#[cfg(not(feature = "cuda"))]
fn cuda_builder(_env: &Environment, _threads: Option<usize>, _id: i32) -> Result<SessionBuilder> {
    Err(RuntimeError::ExecutionProvider {
        provider: "CUDA".into(),
        reason:
            "realnvp-runtime was built without the `cuda` feature; rebuild with `--features cuda` \
                 (and an onnxruntime-gpu library) or use --device cpu"
                .into(),
    })
}

fn read_props(session: &Session, file: &Path) -> Result<BTreeMap<String, String>> {
    let context = || format!("reading the metadata of {}", file.display());
    let meta = session
        .metadata()
        .map_err(|e| RuntimeError::ort(context(), e))?;
    let keys = meta
        .custom_keys()
        .map_err(|e| RuntimeError::ort(context(), e))?;
    Ok(keys
        .into_iter()
        .filter_map(|key| meta.custom(&key).map(|value| (key, value)))
        .collect())
}

/// Checks that each named input/output exists as an f32 tensor of the expected shape (`-1` = the batch dim).
fn check_outlets(
    dir: &Path,
    file: &Path,
    role: &str,
    outlets: &[Outlet],
    expected: &[(&str, &[i64])],
) -> Result<()> {
    let name = file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fail = |reason: String| RuntimeError::InconsistentBundle {
        dir: dir.into(),
        reason: format!("{name}: {reason}"),
    };
    for (want, shape) in expected {
        let Some(outlet) = outlets.iter().find(|o| o.name() == *want) else {
            let have: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
            return Err(fail(format!("no {role} `{want}` (it has {have:?})")));
        };
        match outlet.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape: found,
                ..
            } => {
                if &found[..] != *shape {
                    return Err(fail(format!(
                        "{role} `{want}` has shape {:?}, the metadata imply {shape:?} (-1 = dynamic batch)",
                        &found[..]
                    )));
                }
            }
            other => {
                return Err(fail(format!(
                    "{role} `{want}` is {other:?}, expected a float32 tensor"
                )));
            }
        }
    }
    Ok(())
}
