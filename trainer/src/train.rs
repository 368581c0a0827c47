//! The training loop: Adam on the model's loss, periodic evaluation, samples, metrics and
//! checkpoints, exact resume, and recovery from non-finite steps.
//!
//! Exactness: everything a step depends on — weights, running statistics, Adam's moments and
//! step count, the learning rate, the batch position — is in the checkpoint, and batches are a
//! pure function of `(seed, epoch, index)`, so a resumed run replays the uninterrupted one.
//!
//! Non-finite steps: a step whose loss or gradient norm is NaN/Inf is skipped (no update;
//! running statistics restored). After `max_bad_steps` such steps in a row the run reloads the
//! last checkpoint (always finite: checkpoints with NaN/Inf are never written), halves the
//! learning rate and carries on from there.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, TensorId, Var};
use candle_nn::VarMap;
use image::DynamicImage;
use realnvp_models::{FlowConfig, Mode, RealNvp};

use crate::checkpoint::{self, CHECKPOINT_FILE, TrainState};
use crate::data::{Batcher, Dataset, Split};
use crate::ema::Ema;
use crate::eval::{self, Score};
use crate::flags;
use crate::metrics::{self, Row};
use crate::optim::{self, Adam, AdamConfig};
use crate::run::{self, CONFIG_FILE, CURVE_FILE, FitOptions, METRICS_FILE, MODEL_DIR, RUN_FILE};
use crate::{Result, TrainError, sample};

/// Points per side of a 2-D model's density panel. The full 400 × 400 panel would be 160,000 evaluations, about
/// 5 s per sample write on 2 CPU cores (more than 250 training steps); 100² costs a sixteenth of that.
const DENSITY_POINTS: u32 = 100;

/// What one training step did, for progress displays.
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    /// Steps done, this one included.
    pub step: u64,
    /// The run's total steps.
    pub total: u64,
    /// Epoch of this step's batch.
    pub epoch: u64,
    /// The loss (bits/dim + L2); NaN or Inf for a skipped step.
    pub loss: f32,
    /// Mean training bits/dim of the batch.
    pub bits_per_dim: f32,
    /// Training throughput over the last logging interval (0 before the first).
    pub examples_per_s: f64,
    /// Whether the step was skipped for a non-finite loss or gradient.
    pub skipped: bool,
}

/// Receives progress from [`fit`] and a resume ([`crate::request::fit_or_resume`]). Every method has an empty default.
pub trait Observer {
    /// Training starts (or resumes) at `step` of `total`.
    fn on_start(&mut self, _step: u64, _total: u64) {}
    /// A step finished.
    fn on_step(&mut self, _report: &StepReport) {}
    /// The test split was scored after `step` steps.
    fn on_eval(&mut self, _step: u64, _score: &Score) {}
    /// Whether to stop after the current step (e.g. Ctrl-C): the loop writes a checkpoint and
    /// returns [`TrainError::Interrupted`].
    fn stop_requested(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// What a call to [`fit`] or a resume did.
#[derive(Debug, Clone)]
pub struct FitReport {
    /// `(step, loss)` for every step run in this call, in order (steps repeat after a rollback;
    /// skipped steps have a non-finite loss).
    pub losses: Vec<(u64, f32)>,
    /// The test score at the end (u = 0.5, over `eval_examples`).
    pub final_test: Score,
    /// The counters at the end (also in the checkpoint).
    pub state: TrainState,
}

/// Starts a new run in `dir` (created; it must not hold a checkpoint yet): writes `config.json`,
/// `run.json`, `metrics.csv` and a step-0 checkpoint, then trains `options.steps` steps.
pub fn fit(
    dir: &Path,
    config: &FlowConfig,
    options: &FitOptions,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<FitReport> {
    options.validate()?;
    config.validate()?;
    if dir.join(CHECKPOINT_FILE).exists() {
        return Err(TrainError::run(
            dir,
            format!(
                "already holds a run ({CHECKPOINT_FILE}); pass {} to continue it or choose another {}",
                flags::RESUME,
                flags::OUT
            ),
        ));
    }
    // Everything that can fail on bad input happens before the run directory exists, so a refused
    // run leaves nothing behind.
    let data = run::load_data(&options.data, config, options.seed)?;
    let (model, varmap) = crate::init::seeded_init(config, options.seed, device)?;
    // Vector models standardize with statistics of the training split, fitted once here and
    // saved with the weights.
    model.fit_preprocessing(&eval::split_tensor(&data, Split::Train, device)?)?;
    let adam = Adam::new(trainable(&model, &varmap), AdamConfig::with_lr(options.lr))?;
    let mut t = Trainer::new(dir, model, varmap, adam, &data, options, device)?;
    t.state = TrainState::new(options.lr);
    let created = !dir.exists();
    remove_stale_temporaries(dir)?;
    let start = (|| {
        std::fs::create_dir_all(dir).map_err(|e| {
            TrainError::run(
                dir,
                format!(
                    "cannot create the run directory ({e}); choose an {} in a writable directory",
                    flags::OUT
                ),
            )
        })?;
        run::write_json(&dir.join(CONFIG_FILE), config)?;
        run::write_json(&dir.join(RUN_FILE), options)?;
        metrics::rewrite(&dir.join(METRICS_FILE), &[])?;
        t.checkpoint()
    })();
    if start.is_err() && created {
        let _ = std::fs::remove_dir_all(dir);
    }
    start?;
    tracing::info!(
        "new run in {}: {} on {} ({} train / {} test), {} steps of {}",
        dir.display(),
        options.preset.as_deref().unwrap_or("custom config"),
        data.name,
        data.len_train(),
        data.len_test(),
        options.steps,
        options.batch_size
    );
    t.run(observer)
}

/// Continues the run in `dir` from its checkpoint with `options` (the run's own, with only the schedule
/// changed: [`crate::request::fit_or_resume`] checks that). The checkpoint is read once. Returns at once if
/// the run is complete.
pub(crate) fn resume(
    dir: &Path,
    options: &FitOptions,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<FitReport> {
    options.validate()?;
    remove_stale_temporaries(dir)?;
    let (loaded, ck) = run::open_run(dir, device, run::Weights::Live)?;
    let config = loaded.model.config().clone();
    let data = run::load_data(&options.data, &config, options.seed)?;
    let mut adam = Adam::new(
        trainable(&loaded.model, &loaded.varmap),
        AdamConfig::with_lr(ck.state.lr),
    )?;
    // open_run restored the weights; the optimizer's state is all that is left to copy.
    ck.restore_optimizer(&mut adam)?;
    let mut t = Trainer::new(
        dir,
        loaded.model,
        loaded.varmap,
        adam,
        &data,
        options,
        device,
    )?;
    if let Some(ema) = &mut t.ema {
        ema.load_state(&ck.tensors, t.adam.params())?;
    }
    t.state = ck.state;
    t.rows = metrics::truncate_after(&dir.join(METRICS_FILE), t.state.step)?;
    tracing::info!(
        "resuming {} at step {} of {} (lr {})",
        dir.display(),
        t.state.step,
        options.steps,
        t.state.lr
    );
    t.run(observer)
}

/// Removes the temporary files that a session killed while writing (SIGKILL, power loss) left in the run
/// directory `dir`, its `model/` and its `samples/` (see `realnvp_bundle::files::remove_stale`).
fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    for d in [
        dir.to_path_buf(),
        dir.join(MODEL_DIR),
        dir.join(run::SAMPLES_DIR),
    ] {
        for path in realnvp_bundle::files::remove_stale(&d)? {
            tracing::info!(
                "removed {}, left by a session that was killed while writing it",
                path.display()
            );
        }
    }
    Ok(())
}

/// The trainable variables of `model`'s `varmap` (all but [`RealNvp::buffers`]), sorted by name
/// (a stable order for the optimizer).
pub fn trainable(model: &RealNvp, varmap: &VarMap) -> Vec<(String, Var)> {
    let buffers: HashSet<TensorId> = model.buffers().iter().map(|b| b.id()).collect();
    let data = varmap.data().lock().expect("varmap lock");
    let mut v: Vec<(String, Var)> = data
        .iter()
        .filter(|(_, var)| !buffers.contains(&var.id()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Accumulates the good steps of one logging interval.
#[derive(Default)]
struct Interval {
    loss: f64,
    bpd: f64,
    good: u64,
    examples: u64,
    train_s: f64,
}

struct Trainer<'a> {
    dir: PathBuf,
    model: RealNvp,
    varmap: VarMap,
    adam: Adam,
    /// The weight average (`--ema-decay`), or `None`.
    ema: Option<Ema>,
    data: &'a Dataset,
    batcher: Batcher<'a>,
    options: FitOptions,
    device: Device,
    state: TrainState,
    rows: Vec<Row>,
    /// Variables the forward pass updates (running statistics), restored after a skipped step.
    buffers: Vec<Var>,
    interval: Interval,
    rate: f64,
}

impl<'a> Trainer<'a> {
    fn new(
        dir: &Path,
        model: RealNvp,
        varmap: VarMap,
        adam: Adam,
        data: &'a Dataset,
        options: &FitOptions,
        device: &Device,
    ) -> Result<Self> {
        // The weight average starts at the optimizer's current weights; a resumed run then
        // loads the saved one.
        let ema = options
            .ema_decay
            .map(|d| Ema::new(d, adam.params()))
            .transpose()?;
        let batcher = Batcher::new(data, options.batch_size, options.seed, options.flip)?;
        let buffers = model.buffers();
        Ok(Self {
            dir: dir.to_path_buf(),
            model,
            varmap,
            adam,
            ema,
            data,
            batcher,
            options: options.clone(),
            device: device.clone(),
            state: TrainState::new(options.lr),
            rows: Vec::new(),
            buffers,
            interval: Interval::default(),
            rate: 0.0,
        })
    }

    fn run(mut self, observer: &mut dyn Observer) -> Result<FitReport> {
        let total = self.options.steps;
        self.batcher.seek_step(self.state.step);
        observer.on_start(self.state.step, total);
        let mut losses = Vec::new();
        let mut last_score = None;
        let mut clock = Instant::now();
        let session = Instant::now();
        while self.state.step < total {
            let epoch = self.batcher.position().0;
            let t0 = Instant::now();
            let (loss, bpd, ok) = self.step()?;
            self.interval.train_s += t0.elapsed().as_secs_f64();
            self.state.step += 1;
            let (e, i) = self.batcher.position();
            (self.state.epoch, self.state.batch_index) = (e, i);
            losses.push((self.state.step, loss));
            observer.on_step(&StepReport {
                step: self.state.step,
                total,
                epoch,
                loss,
                bits_per_dim: bpd,
                examples_per_s: self.rate,
                skipped: !ok,
            });
            if !ok {
                self.state.bad_streak += 1;
                self.state.skipped_steps += 1;
                tracing::warn!(
                    "step {}: non-finite loss or gradient ({loss}); step skipped ({} in a row)",
                    self.state.step,
                    self.state.bad_streak
                );
                if self.state.bad_streak >= self.options.max_bad_steps {
                    self.state.wall_time_s += clock.elapsed().as_secs_f64();
                    clock = Instant::now();
                    self.rollback()?;
                }
                continue;
            }
            self.state.bad_streak = 0;
            let s = self.state.step;
            let out_of_time = self
                .options
                .time_limit_s
                .is_some_and(|limit| session.elapsed().as_secs_f64() >= limit);
            let last = s == total || out_of_time;
            let eval_now = s.is_multiple_of(self.options.eval_every) || last;
            if s.is_multiple_of(self.options.log_every) || eval_now {
                let score = if eval_now {
                    let sc = self.evaluate()?;
                    observer.on_eval(s, &sc);
                    last_score = Some(sc);
                    Some(sc)
                } else {
                    None
                };
                self.state.wall_time_s += clock.elapsed().as_secs_f64();
                clock = Instant::now();
                self.log_row(score)?;
            }
            let every = self.options.sample_every;
            if (every > 0 && s.is_multiple_of(every)) || last {
                self.with_average(Self::write_samples)?;
            }
            let stop = observer.stop_requested();
            if s.is_multiple_of(self.options.checkpoint_every) || last || stop {
                self.state.wall_time_s += clock.elapsed().as_secs_f64();
                clock = Instant::now();
                if !self.checkpoint()? {
                    self.rollback()?;
                }
            }
            if stop {
                return Err(TrainError::Interrupted {
                    step: self.state.step,
                });
            }
            if out_of_time {
                tracing::info!(
                    "time limit reached after step {s} ({:.0} s this session)",
                    session.elapsed().as_secs_f64()
                );
                break;
            }
        }
        let final_test = match last_score {
            Some(s) => s,
            None => self.evaluate()?,
        };
        Ok(FitReport {
            losses,
            final_test,
            state: self.state,
        })
    }

    /// One batch: `(loss, bits/dim, whether the update was applied)`.
    fn step(&mut self) -> Result<(f32, f32, bool)> {
        let x = self.batcher.next_batch(&self.device)?;
        let saved: Vec<Tensor> = self
            .buffers
            .iter()
            .map(|v| v.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?;
        #[allow(unused_mut)] // only the tests' fault injection changes it
        let (mut loss, bpd) = self.model.loss(&x)?;
        #[cfg(test)]
        if tests::take_injected_nan(self.state.step + 1) {
            loss = (loss * f64::NAN)?;
        }
        let loss_v = loss.to_scalar::<f32>()?;
        let bpd_v = bpd.to_scalar::<f32>()?;
        let mut ok = loss_v.is_finite();
        if ok {
            let mut grads = loss.backward()?;
            let norm = optim::global_grad_norm(&grads, self.adam.params())?;
            ok = norm.is_finite();
            if ok {
                if let Some(max) = self.options.clip_grad {
                    optim::clip_grads(&mut grads, self.adam.params(), norm, max)?;
                }
                self.adam
                    .set_lr(self.options.lr_at(self.state.lr, self.state.step));
                self.adam.step(&grads)?;
                self.state.adam_step = self.adam.step_count();
                if let Some(ema) = &mut self.ema {
                    ema.update(self.adam.params(), self.state.adam_step)?;
                }
                self.interval.loss += loss_v as f64;
                self.interval.bpd += bpd_v as f64;
                self.interval.good += 1;
            }
        }
        if !ok {
            for (v, t) in self.buffers.iter().zip(&saved) {
                v.set(t)?;
            }
        }
        self.interval.examples += x.dim(0)? as u64;
        self.state.examples_seen += x.dim(0)? as u64;
        Ok((loss_v, bpd_v, ok))
    }

    /// Runs `f` with the averaged weights in the model when the run keeps an average.
    fn with_average<T>(&mut self, f: impl FnOnce(&Self) -> Result<T>) -> Result<T> {
        let mut ema = self.ema.take();
        if let Some(e) = &mut ema {
            e.swap(self.adam.params())?;
        }
        let out = f(self);
        if let Some(e) = &mut ema {
            e.swap(self.adam.params())?;
        }
        self.ema = ema;
        out
    }

    fn evaluate(&mut self) -> Result<Score> {
        self.with_average(Self::score_test)
    }

    fn score_test(&self) -> Result<Score> {
        let s = eval::score(
            &self.model,
            self.data,
            Split::Test,
            self.options.eval_batch_size,
            self.options.eval_limit(),
            &self.device,
        )?;
        tracing::info!(
            "step {}: test {:.4} bits/dim (u = 0.5), {:.4} nats/example over {} examples",
            self.state.step,
            s.bits_per_dim,
            s.nll_nats,
            s.examples
        );
        Ok(s)
    }

    fn log_row(&mut self, score: Option<Score>) -> Result<()> {
        let iv = std::mem::take(&mut self.interval);
        let mean = |v: f64| (iv.good > 0).then(|| v / iv.good as f64);
        if iv.train_s > 0.0 {
            self.rate = iv.examples as f64 / iv.train_s;
        }
        let row = Row {
            step: self.state.step,
            epoch: self.state.epoch,
            train_loss: mean(iv.loss),
            train_bpd: mean(iv.bpd),
            test_bpd: score.map(|s| s.bits_per_dim),
            test_nll: score.map(|s| s.nll_nats),
            examples_per_s: (iv.train_s > 0.0).then_some(self.rate),
            wall_s: self.state.wall_time_s,
            lr: self.adam.config().lr,
        };
        metrics::append(&self.dir.join(METRICS_FILE), &row)?;
        self.rows.push(row);
        if score.is_some() {
            self.write_curve()?;
        }
        Ok(())
    }

    /// Test examples scored at each evaluation.
    fn test_examples(&self) -> usize {
        eval::count(self.data, Split::Test, self.options.eval_limit())
    }

    fn write_curve(&self) -> Result<()> {
        let train: Vec<(f64, f64)> = self
            .rows
            .iter()
            .filter_map(|r| Some((r.step as f64, r.train_bpd?)))
            .collect();
        let test: Vec<(f64, f64)> = self
            .rows
            .iter()
            .filter_map(|r| Some((r.step as f64, r.test_bpd?)))
            .collect();
        let n = self.test_examples();
        let (train_label, test_label) = match self.model.config().data.dims().len() {
            3 => ("train (random u)", format!("test (u = 0.5, {n} images)")),
            _ => ("train", format!("test ({n} examples)")),
        };
        let img = realnvp_plot::line_plot(
            &[
                realnvp_plot::Series {
                    points: &train,
                    colour: realnvp_plot::PALETTE[0],
                    label: train_label,
                },
                realnvp_plot::Series {
                    points: &test,
                    colour: realnvp_plot::PALETTE[1],
                    label: &test_label,
                },
            ],
            realnvp_plot::Axes {
                x: "step",
                y: "bits/dim",
            },
            720,
            440,
        );
        let path = self.dir.join(CURVE_FILE);
        Ok(realnvp_plot::write_png(
            &path,
            &DynamicImage::ImageRgb8(img),
        )?)
    }

    /// Images: 36 samples at T = 0.7 (left) and T = 1.0 (right), the same latents every time
    /// so the pictures show the model changing. Vectors: test data (left) and as many samples
    /// (middle), first two features; for 2-D models also the learned density (right).
    fn write_samples(&self) -> Result<()> {
        let seed = self.options.seed ^ 0x05A3_B1E5;
        let img = if self.model.config().data.dims().len() == 3 {
            let grids = [0.7, 1.0]
                .iter()
                .map(|&t| {
                    let x = sample::sample(&self.model, 36, t, seed, &self.device)?;
                    let v = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                    let shape = self.model.config().data;
                    Ok(realnvp_plot::image_grid(&v, 36, shape, Some(6), 2)?.to_rgb8())
                })
                .collect::<Result<Vec<_>>>()?;
            realnvp_plot::hstack(&grids, 12)
        } else {
            let test = eval::split_tensor(self.data, Split::Test, &self.device)?;
            let n = test.dim(0)?.min(2000);
            let test = test.narrow(0, 0, n)?;
            let samples = sample::sample(&self.model, n, 1.0, seed, &self.device)?;
            let dim = self.model.config().data.numel();
            let pts = |t: &Tensor| -> Result<Vec<[f32; 2]>> {
                Ok(realnvp_plot::first_two(
                    &t.flatten_all()?.to_vec1::<f32>()?,
                    dim,
                ))
            };
            let (test, samples) = (pts(&test)?, pts(&samples)?);
            let scatter = realnvp_plot::scatter_panels(&[&test, &samples], 400);
            if self.model.config().data.numel() == 2 {
                realnvp_plot::hstack(&[scatter, self.density_map(&test, 400)?], 8)
            } else {
                scatter
            }
        };
        let path = run::sample_path(&self.dir, self.state.step);
        Ok(realnvp_plot::write_png(
            &path,
            &DynamicImage::ImageRgb8(img),
        )?)
    }

    /// The model's density (eval mode) as a `size × size` panel on the scatter panels' axes for
    /// `data` (2-D models): evaluated on [`DENSITY_POINTS`]² points, each drawn as a block.
    fn density_map(&self, data: &[[f32; 2]], size: u32) -> Result<image::RgbImage> {
        let range = realnvp_plot::panel_range(data);
        let grid = realnvp_plot::panel_grid(range, DENSITY_POINTS);
        let flat: Vec<f32> = grid.iter().flatten().copied().collect();
        let xs = Tensor::from_vec(flat, (grid.len(), 2), &self.device)?;
        let lp = self.model.log_prob(&xs, Mode::Eval)?;
        let lp = lp.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        Ok(realnvp_plot::density_panel(
            &lp,
            DENSITY_POINTS,
            range,
            size,
        ))
    }

    /// Writes the checkpoint and `model/`; `false` (nothing written) when a tensor is not
    /// finite.
    fn checkpoint(&mut self) -> Result<bool> {
        let tensors = checkpoint::collect_tensors(&self.varmap, &self.adam, self.ema.as_ref());
        if let Some(name) = checkpoint::first_non_finite(&tensors)? {
            tracing::warn!(
                "step {}: `{name}` is not finite; not writing a checkpoint",
                self.state.step
            );
            return Ok(false);
        }
        let path = self.dir.join(CHECKPOINT_FILE);
        checkpoint::save(
            &path,
            &self.varmap,
            &self.adam,
            self.ema.as_ref(),
            &self.state,
            self.model.config(),
        )?;
        self.with_average(|t| {
            t.model
                .save(&t.varmap, &t.dir.join(MODEL_DIR))
                .map_err(Into::into)
        })?;
        tracing::debug!("step {}: checkpoint written", self.state.step);
        Ok(true)
    }

    /// Reloads the last checkpoint and halves the learning rate.
    fn rollback(&mut self) -> Result<()> {
        if self.state.rollbacks >= self.options.max_rollbacks {
            return Err(TrainError::Diverged(format!(
                "still non-finite after {} rollbacks (lr now {}); try a lower {} or {}",
                self.state.rollbacks,
                self.state.lr,
                flags::LR,
                flags::CLIP_GRAD
            )));
        }
        let ck = checkpoint::load(&self.dir.join(CHECKPOINT_FILE), &self.device)?;
        ck.restore(&self.varmap)?;
        ck.restore_optimizer(&mut self.adam)?;
        if let Some(ema) = &mut self.ema {
            ema.load_state(&ck.tensors, self.adam.params())?;
        }
        let lr = self.state.lr / 2.0;
        let from = self.state.step;
        self.state = TrainState {
            lr,
            rollbacks: self.state.rollbacks + 1,
            skipped_steps: self.state.skipped_steps,
            wall_time_s: self.state.wall_time_s,
            examples_seen: self.state.examples_seen,
            bad_streak: 0,
            ..ck.state
        };
        self.batcher.seek_step(self.state.step);
        self.rows = metrics::truncate_after(&self.dir.join(METRICS_FILE), self.state.step)?;
        self.interval = Interval::default();
        tracing::warn!(
            "step {from}: rolled back to the checkpoint of step {} with the learning rate halved to {lr} (rollback {})",
            self.state.step,
            self.state.rollbacks
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Fault injection lives here, compiled only into the unit tests: no test hook in the public API.

    use std::cell::RefCell;
    use std::collections::HashSet;

    use candle_core::Device;
    use realnvp_models::{Architecture, FlowConfig};

    use super::*;
    use crate::checkpoint;

    thread_local! {
        /// Steps whose loss becomes NaN, each once (the training loop runs on the calling thread).
        static NAN_AT: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
    }

    /// Whether step `step` is to be poisoned (then it is not any more).
    pub(super) fn take_injected_nan(step: u64) -> bool {
        NAN_AT.with(|steps| steps.borrow_mut().remove(&step))
    }

    #[test]
    fn forced_nan_is_skipped_then_rolled_back() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))?;
        let mut config = FlowConfig::preset("moons")?;
        if let Architecture::Mlp(m) = &mut config.architecture {
            m.hidden = 32;
        }
        let options = FitOptions {
            data: "toy:moons?n=2000&n_test=500".into(),
            seed: 7,
            batch_size: 64,
            lr: 2e-3,
            steps: 30,
            eval_every: 1000,
            sample_every: 0,
            checkpoint_every: 5,
            log_every: 5,
            eval_examples: 0,
            ..FitOptions::default()
        };
        // Step 3: one NaN, skipped. Steps 12..=16: five in a row -> rollback to the step-10
        // checkpoint with lr halved, then steps 11.. are replayed (each injection fires once).
        NAN_AT.with(|s| *s.borrow_mut() = HashSet::from([3, 12, 13, 14, 15, 16]));
        let report = fit(dir.path(), &config, &options, &Device::Cpu, &mut Silent)?;
        let s = &report.state;
        assert_eq!(s.rollbacks, 1);
        assert_eq!(s.skipped_steps, 6);
        assert!((s.lr - options.lr / 2.0).abs() < 1e-12, "lr {}", s.lr);
        assert_eq!(s.step, 30);
        // Adam took one update per good step: 30 - 1 skipped before the rollback point, and the
        // steps 11..=16 that were undone do not count.
        assert_eq!(s.adam_step, 29);
        let steps: Vec<u64> = report.losses.iter().map(|l| l.0).collect();
        assert_eq!(&steps[10..17], &[11, 12, 13, 14, 15, 16, 11]);
        assert!(report.losses[2].1.is_nan());
        assert!(report.losses.last().is_some_and(|l| l.1.is_finite()));
        // Everything saved is finite, and the checkpoint remembers the halved rate.
        let ck = checkpoint::load(&dir.path().join(CHECKPOINT_FILE), &Device::Cpu)?;
        assert_eq!(ck.state.lr, s.lr);
        let tensors: Vec<_> = ck.tensors.into_iter().collect();
        assert_eq!(checkpoint::first_non_finite(&tensors)?, None);
        assert!(report.final_test.nll_nats.is_finite());
        Ok(())
    }
}
