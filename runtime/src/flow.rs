//! A loaded, validated forward/inverse pair and the operations on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::value::{Outlet, TensorElementType, TensorRef, ValueType};

use realnvp_bundle::{
    BundleError, BundleMetadata, CARD_FILE, DataKind, DataShape, Direction, MAX_SAMPLE_VALUES,
    ScoreStats, Tensor, pixels,
    sampling::{self, SampleRequestError},
};

use crate::error::{Result, RuntimeError};
use crate::library;
use crate::options::{DEFAULT_BATCH_SIZE, Device, LoadOptions, Provider};

/// The largest difference between two arrays of the same length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Discrepancy {
    /// `max |a - b|`.
    pub max_abs: f32,
    /// `max |a - b| / max(1, max |a|)`, so pixel-unit and unit-scale data share one tolerance.
    pub relative: f32,
}

impl Discrepancy {
    fn between(a: &[f32], b: &[f32]) -> Self {
        let max_abs = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        let scale = a.iter().map(|x| x.abs()).fold(1f32, f32::max);
        Self {
            max_abs,
            relative: max_abs / scale,
        }
    }
}

/// What [`Flow::round_trip`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundTrip {
    /// `x → z → x` on fresh samples.
    pub x: Discrepancy,
    /// `z → x → z` on their latents.
    pub z: Discrepancy,
    /// Samples used.
    pub n: usize,
}

impl RoundTrip {
    /// Whether both relative errors are at most `tolerance` (false when either is NaN).
    pub fn within(&self, tolerance: f32) -> bool {
        self.x.relative <= tolerance && self.z.relative <= tolerance
    }
}

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
/// println!("{} on {}: {bits:?}", flow.data_kind(), flow.provider());
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
    /// The training summary's test statistics, checked once at load.
    test_scores: Option<ScoreStats>,
}

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
                reason: format!("must be at least 1 ({DEFAULT_BATCH_SIZE} is the default)"),
            });
        }
        if options.threads == Some(0) {
            return Err(RuntimeError::InvalidOption {
                name: "threads",
                reason: "must be at least 1, or None to let ONNX Runtime choose".into(),
            });
        }
        let forward_file = dir.join(Direction::Forward.file());
        let inverse_file = dir.join(Direction::Inverse.file());
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

        let meta = BundleMetadata::from_props(
            &forward_file,
            Direction::Forward,
            &read_props(&forward, &forward_file)?,
        )?;
        let inverse_meta = BundleMetadata::from_props(
            &inverse_file,
            Direction::Inverse,
            &read_props(&inverse, &inverse_file)?,
        )?;
        BundleMetadata::check_pair(&dir, &meta, &inverse_meta)?;
        for (direction, session) in [
            (Direction::Forward, &forward),
            (Direction::Inverse, &inverse),
        ] {
            check_outlets(
                &dir,
                direction,
                "input",
                session.inputs(),
                direction.inputs(),
                &meta,
            )?;
            check_outlets(
                &dir,
                direction,
                "output",
                session.outputs(),
                direction.outputs(),
                &meta,
            )?;
        }
        check_card(&dir, &meta)?;
        let test_scores = ScoreStats::from_training(&dir.join(CARD_FILE), &meta.training)?;

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
            test_scores,
        })
    }

    /// The mean and spread of test bits/dim that `trainer export` recorded (`None` for bundles exported
    /// before it did), read and checked when the bundle was loaded.
    pub fn test_scores(&self) -> Option<ScoreStats> {
        self.test_scores
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
        self.meta.data_kind()
    }

    /// Per-item data shape: `[C, H, W]` or `[D]`.
    pub fn data_shape(&self) -> DataShape {
        self.meta.data_shape
    }

    /// Latent size `L`; also the number of values per data item.
    pub fn latent_dim(&self) -> usize {
        self.meta.latent_dim()
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
    /// Images must be in the data domain, pixel units `[0, 256]` ([`realnvp_bundle::pixels`]); a `u8` image is
    /// scored at its bin centres (see [`crate::image_io::load_image`]).
    pub fn encode(&self, x: &[f32], n: usize) -> Result<Encoded> {
        self.check_input(Tensor::X, x, n)?;
        let per_item = self.latent_dim();
        let mut out = Encoded {
            z: Vec::with_capacity(n * per_item),
            log_prob: Vec::with_capacity(n),
            bits_per_dim: Vec::with_capacity(n),
        };
        let mut shape = self.meta.data_shape.batch_dims(0);
        for (chunk_index, chunk) in x.chunks(self.batch_size * per_item).enumerate() {
            let rows = chunk.len() / per_item;
            shape[0] = rows as i64;
            let mut session = lock(&self.forward);
            let input = TensorRef::from_array_view((shape.clone(), chunk))
                .map_err(|e| RuntimeError::ort("creating the input tensor", e))?;
            let outputs = session
                .run(ort::inputs![Tensor::X.name() => input])
                .map_err(|e| RuntimeError::ort("running forward.onnx", e))?;
            let first = chunk_index * self.batch_size;
            for (name, dest, len) in [
                (Tensor::Z, &mut out.z, rows * per_item),
                (Tensor::LogProb, &mut out.log_prob, rows),
                (Tensor::BitsPerDim, &mut out.bits_per_dim, rows),
            ] {
                let values = extract(&outputs, name, len, Direction::Forward)?;
                if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
                    let per = len / rows;
                    return Err(RuntimeError::NonFiniteOutput {
                        graph: Direction::Forward.as_str(),
                        output: name.name(),
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
    ///
    /// Image data are projected onto the data domain `[0, 256]` ([`pixels::to_domain`]): the inverse graph is the
    /// exact inverse of the forward one and reaches past the domain (about `(-14.2, 270.2)` with logit
    /// preprocessing), so what `decode` returns is always something [`Flow::encode`] accepts.
    pub fn decode(&self, z: &[f32], n: usize) -> Result<Vec<f32>> {
        self.check_input(Tensor::Z, z, n)?;
        let per_item = self.latent_dim();
        let mut x = Vec::with_capacity(n * per_item);
        for (chunk_index, chunk) in z.chunks(self.batch_size * per_item).enumerate() {
            let rows = chunk.len() / per_item;
            let mut session = lock(&self.inverse);
            let input = TensorRef::from_array_view((vec![rows as i64, per_item as i64], chunk))
                .map_err(|e| RuntimeError::ort("creating the input tensor", e))?;
            let outputs = session
                .run(ort::inputs![Tensor::Z.name() => input])
                .map_err(|e| RuntimeError::ort("running inverse.onnx", e))?;
            let values = extract(&outputs, Tensor::X, rows * per_item, Direction::Inverse)?;
            if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
                return Err(RuntimeError::NonFiniteOutput {
                    graph: Direction::Inverse.as_str(),
                    output: Tensor::X.name(),
                    item: chunk_index * self.batch_size + bad / per_item,
                });
            }
            match self.data_kind() {
                DataKind::Image => x.extend(values.iter().map(|&v| pixels::to_domain(v))),
                DataKind::Vector => x.extend_from_slice(values),
            }
        }
        Ok(x)
    }

    /// Draws `n` latents `z ~ N(0, temperature² I)` with [`realnvp_bundle::sampling::draw_latent`] (deterministic
    /// for a given seed, `n` and latent size; `trainer sample` draws the same). At most [`MAX_SAMPLE_VALUES`] values (`n` × latent size) per call; more is an
    /// `InvalidOption` error rather than an allocation that aborts the process.
    pub fn sample_latent(&self, n: usize, temperature: f32, seed: u64) -> Result<Vec<f32>> {
        let dim = self.latent_dim();
        sampling::check_request(n, dim, f64::from(temperature)).map_err(|e| match e {
            SampleRequestError::Temperature { .. } => {
                RuntimeError::InvalidTemperature { value: temperature }
            }
            SampleRequestError::Empty => RuntimeError::EmptyBatch,
            SampleRequestError::TooMany { n, most, dim } => RuntimeError::InvalidOption {
                name: "n",
                reason: format!(
                    "{n} samples: at most {most} per call with this model ({dim} values each, {MAX_SAMPLE_VALUES} \
                     values in all); draw more in several calls with different seeds"
                ),
            },
        })?;
        Ok(sampling::draw_latent(n, dim, temperature, seed))
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

    /// `steps ≥ 2` items on the path from item `a` to item `b` (each one item of [`Flow::data_shape`]), evenly
    /// spaced in latent space: both are encoded, the latents joined by spherical interpolation (which keeps
    /// the norm of a typical Gaussian latent, so the middle of the path stays as likely as its ends; linear
    /// where the two latents are nearly parallel), and every point decoded. The first item reconstructs `a`
    /// and the last `b`.
    pub fn interpolate(&self, a: &[f32], b: &[f32], steps: usize) -> Result<Vec<f32>> {
        if steps < 2 {
            return Err(RuntimeError::InvalidOption {
                name: "steps",
                reason: format!("{steps}: an interpolation needs at least 2 points (its two ends)"),
            });
        }
        let mut both = a.to_vec();
        both.extend_from_slice(b);
        let z = self.encode(&both, 2)?.z;
        let (za, zb) = z.split_at(self.latent_dim());
        let dot: f64 = za
            .iter()
            .zip(zb)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        let cos = (dot / (norm(za) * norm(zb)).max(f64::MIN_POSITIVE)).clamp(-1.0, 1.0);
        let omega = cos.acos();
        let path: Vec<f32> = (0..steps)
            .flat_map(|i| {
                let t = i as f64 / (steps - 1) as f64;
                let (wa, wb) = if omega.sin().abs() < 1e-6 {
                    (1.0 - t, t)
                } else {
                    let s = omega.sin();
                    (((1.0 - t) * omega).sin() / s, (t * omega).sin() / s)
                };
                za.iter()
                    .zip(zb)
                    .map(move |(x, y)| (wa * f64::from(*x) + wb * f64::from(*y)) as f32)
            })
            .collect();
        self.decode(&path, steps)
    }

    /// Checks that the two graphs invert each other on this model's own samples: draws `n` samples at
    /// `temperature` (data in the domain, as [`Flow::decode`] returns it), then measures `x → z → x` on them and
    /// `z → x → z` on their latents. What `runtime check` runs; a healthy f32 export lands near 1e-5 relative.
    pub fn round_trip(&self, n: usize, temperature: f32, seed: u64) -> Result<RoundTrip> {
        let x = self.sample(n, temperature, seed)?;
        let z = self.encode(&x, n)?.z;
        let x2 = self.decode(&z, n)?;
        let z2 = self.encode(&x2, n)?.z;
        Ok(RoundTrip {
            x: Discrepancy::between(&x, &x2),
            z: Discrepancy::between(&z, &z2),
            n,
        })
    }

    /// Loads an image file as one data item for this (image) model: see [`crate::image_io::load_image`].
    pub fn load_image(&self, path: impl AsRef<Path>) -> Result<Vec<f32>> {
        self.require_kind(DataKind::Image, "loading an image")?;
        crate::image_io::load_image(path, self.meta.data_shape)
    }

    /// Fails unless this is a model of `kind`.
    pub fn require_kind(&self, kind: DataKind, operation: &'static str) -> Result<()> {
        if self.data_kind() == kind {
            Ok(())
        } else {
            Err(RuntimeError::WrongDataKind {
                operation,
                expected: kind.as_str(),
                found: self.data_kind().as_str(),
            })
        }
    }

    fn check_input(&self, tensor: Tensor, values: &[f32], n: usize) -> Result<()> {
        let what = tensor.name();
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
                shape: if tensor == Tensor::X {
                    self.meta.data_shape.dims()
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
        if tensor == Tensor::X
            && self.data_kind() == DataKind::Image
            && let Some(i) = values.iter().position(|&v| !pixels::in_domain(v))
        {
            return Err(RuntimeError::OutOfRange {
                item: i / per_item,
                position: i % per_item,
                value: values[i],
            });
        }
        Ok(())
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
    tensor: Tensor,
    len: usize,
    direction: Direction,
) -> Result<&'a [f32]> {
    let (name, file) = (tensor.name(), direction.file());
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
fn cuda_builder(env: &Environment, threads: Option<usize>, id: usize) -> Result<SessionBuilder> {
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
    let ordinal =
        i32::try_from(id).map_err(|_| fail(format!("device ordinal {id} is too large")))?;
    session_builder(env, threads)?
        .with_execution_providers([ort::ep::CUDA::default()
            .with_device_id(ordinal)
            .build()
            .error_on_failure()])
        .map_err(|e| {
            fail(format!(
                "registering device {id} failed: {e}; use --device cpu"
            ))
        })
}

#[cfg(not(feature = "cuda"))]
fn cuda_builder(_env: &Environment, _threads: Option<usize>, _id: usize) -> Result<SessionBuilder> {
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

/// The shape `tensor` must have in the graphs of a bundle with metadata `meta` (`-1` = the batch dimension).
fn expected_shape(tensor: Tensor, meta: &BundleMetadata) -> Vec<i64> {
    match tensor {
        Tensor::X => meta.data_shape.batch_dims(-1),
        Tensor::Z => vec![-1, meta.latent_dim() as i64],
        Tensor::LogProb | Tensor::BitsPerDim => vec![-1],
    }
}

/// Checks that each of `expected` exists among `outlets` as an f32 tensor of the shape the metadata imply.
fn check_outlets(
    dir: &Path,
    direction: Direction,
    role: &str,
    outlets: &[Outlet],
    expected: &[Tensor],
    meta: &BundleMetadata,
) -> Result<()> {
    let fail = |reason: String| {
        RuntimeError::from(BundleError::Inconsistent {
            dir: dir.into(),
            reason: format!("{}: {reason}", direction.file()),
        })
    };
    for &tensor in expected {
        let (want, shape) = (tensor.name(), expected_shape(tensor, meta));
        let Some(outlet) = outlets.iter().find(|o| o.name() == want) else {
            let have: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
            return Err(fail(format!("no {role} `{want}` (it has {have:?})")));
        };
        match outlet.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape: found,
                ..
            } => {
                if found[..] != shape[..] {
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

/// Checks `model.json`, when the bundle has one: it must be complete and say what the graphs say.
fn check_card(dir: &Path, meta: &BundleMetadata) -> Result<()> {
    let file = dir.join(CARD_FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(RuntimeError::io(file, e)),
    };
    let card = BundleMetadata::from_card(&file, &text)?;
    Ok(meta.check_card(dir, &card)?)
}
