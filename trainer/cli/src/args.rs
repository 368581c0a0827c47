//! The command line's flags: clap definitions only (what they do is in the library).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use realnvp_models::PRESETS;
use realnvp_trainer::device::DeviceRequest;
use realnvp_trainer::export::Tolerances;
use realnvp_trainer::flags;
use realnvp_trainer::optim::LrDecay;

#[derive(Parser)]
#[command(
    name = "trainer",
    version,
    about = "Train, evaluate and sample RealNVP normalizing flows"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Train a flow; writes a run directory (see docs/training.md).
    Fit(Box<FitArgs>),
    /// Test NLL of a trained run (u = 0.5, or K-sample importance-weighted with --samples K).
    Eval(EvalArgs),
    /// Draw samples from a trained run into a PNG grid (images), scatter plot or CSV (vectors).
    Sample(SampleArgs),
    /// Export a run as an ONNX bundle: forward.onnx (scoring), inverse.onnx (sampling), model.json.
    Export(ExportArgs),
}

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// Run directory written by `trainer fit`.
    #[arg(long = flags::RUN.name())]
    pub(crate) run: PathBuf,
    /// Bundle directory to write (created; an existing bundle there is replaced atomically).
    #[arg(long = flags::OUT.name())]
    pub(crate) out: PathBuf,
    /// Test examples (u = 0.5) on which the graphs are checked against the candle model.
    #[arg(long = flags::VERIFY_EXAMPLES.name(), default_value_t = 32)]
    pub(crate) verify_examples: usize,
    /// Test examples whose bits/dim statistics (u = 0.5) the bundle records for the runtime's typicality score
    /// (default: the whole test split; 0 records none).
    #[arg(long = flags::SCORE_EXAMPLES.name())]
    pub(crate) score_examples: Option<usize>,
    /// Largest accepted |z_onnx - z_candle|.
    #[arg(long = flags::TOLERANCE_Z.name(), default_value_t = Tolerances::default().z_max_abs)]
    pub(crate) tolerance_z: f64,
    /// Largest accepted relative log_prob difference.
    #[arg(long = flags::TOLERANCE_LOG_PROB.name(), default_value_t = Tolerances::default().log_prob_max_rel)]
    pub(crate) tolerance_log_prob: f64,
    /// Largest accepted inverse(forward(x)) - x, in data units (pixels).
    #[arg(long = flags::TOLERANCE_ROUNDTRIP.name(), default_value_t = Tolerances::default().roundtrip_max_abs)]
    pub(crate) tolerance_roundtrip: f64,
}

#[derive(Args)]
pub(crate) struct FitArgs {
    /// Built-in model config.
    #[arg(long = flags::PRESET.name(), value_parser = clap::builder::PossibleValuesParser::new(PRESETS), conflicts_with = "config")]
    pub(crate) preset: Option<String>,
    /// Model config JSON file (as written to RUN_DIR/config.json).
    #[arg(long = flags::CONFIG.name())]
    pub(crate) config: Option<PathBuf>,
    /// Data source (`trainer fit --data help` lists the forms). Default: embedded.
    #[arg(long = flags::DATA.name())]
    pub(crate) data: Option<String>,
    /// Run directory (required, except with `--data help`).
    #[arg(long = flags::OUT.name())]
    pub(crate) out: Option<PathBuf>,
    /// Total training steps (batches) [default: 1000].
    #[arg(long = flags::STEPS.name(), conflicts_with = "epochs")]
    pub(crate) steps: Option<u64>,
    /// Total training epochs (converted to steps: epochs × floor(train examples / batch size)).
    #[arg(long = flags::EPOCHS.name())]
    pub(crate) epochs: Option<u64>,
    /// Examples per batch [default: 64].
    #[arg(long = flags::BATCH_SIZE.name())]
    pub(crate) batch_size: Option<usize>,
    /// Adam learning rate [default: 1e-3].
    #[arg(long = flags::LR.name())]
    pub(crate) lr: Option<f64>,
    /// Steps over which the learning rate rises linearly to --lr [default: 0].
    #[arg(long = flags::WARMUP_STEPS.name())]
    pub(crate) warmup_steps: Option<u64>,
    /// The learning rate after the warm-up: constant, cosine (down to 0 at the run's last
    /// step, kept when later sessions change --steps) or cosine:STEP [default: constant].
    #[arg(long = flags::LR_DECAY.name())]
    pub(crate) lr_decay: Option<LrDecay>,
    /// Evaluate, sample and export with a moving average of the weights with this decay
    /// (e.g. 0.999) [default: none].
    #[arg(long = flags::EMA_DECAY.name())]
    pub(crate) ema_decay: Option<f64>,
    /// Seed for weights, batch order, noise, flips and toy data [default: 0].
    #[arg(long = flags::SEED.name())]
    pub(crate) seed: Option<u64>,
    /// Score the test split every N steps [default: 250].
    #[arg(long = flags::EVAL_EVERY.name())]
    pub(crate) eval_every: Option<u64>,
    /// Write samples/step-N.png every N steps; 0 = only at the end [default: 250].
    #[arg(long = flags::SAMPLE_EVERY.name())]
    pub(crate) sample_every: Option<u64>,
    /// Write the checkpoint every N steps [default: 250].
    #[arg(long = flags::CHECKPOINT_EVERY.name())]
    pub(crate) checkpoint_every: Option<u64>,
    /// Append a metrics.csv row every N steps [default: 25].
    #[arg(long = flags::LOG_EVERY.name())]
    pub(crate) log_every: Option<u64>,
    /// Test examples scored at each evaluation, 0 = all [default: 1000].
    #[arg(long = flags::EVAL_EXAMPLES.name())]
    pub(crate) eval_examples: Option<usize>,
    /// Clip gradients to this global L2 norm.
    #[arg(long = flags::CLIP_GRAD.name())]
    pub(crate) clip_grad: Option<f64>,
    /// Mirror training images left-right at random.
    #[arg(long = flags::FLIP.name())]
    pub(crate) flip: bool,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long = flags::DEVICE.name(), default_value = "auto")]
    pub(crate) device: DeviceRequest,
    /// Stop this session after the step that reaches this many seconds of training, then
    /// evaluate, sample and checkpoint as at the end (continue later with --resume).
    #[arg(long = flags::TIME_LIMIT.name(), value_name = "SECONDS")]
    pub(crate) time_limit: Option<f64>,
    /// Continue the run in --out from its checkpoint (starts a new run if there is none).
    #[arg(long = flags::RESUME.name())]
    pub(crate) resume: bool,
}

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// Run directory written by `trainer fit`.
    #[arg(long = flags::RUN.name())]
    pub(crate) run: PathBuf,
    /// Data source; default: the run's (toy data is drawn with the run's seed).
    #[arg(long = flags::DATA.name())]
    pub(crate) data: Option<String>,
    /// K-sample importance-weighted estimate with random dequantization noise (images).
    #[arg(long = flags::SAMPLES.name())]
    pub(crate) samples: Option<usize>,
    /// Seed of the dequantization noise for --samples.
    #[arg(long = flags::SEED.name(), default_value_t = 0)]
    pub(crate) seed: u64,
    /// Score only the first N test examples.
    #[arg(long = flags::LIMIT.name())]
    pub(crate) limit: Option<usize>,
    /// Evaluation batch size.
    #[arg(long = flags::BATCH_SIZE.name(), default_value_t = 250)]
    pub(crate) batch_size: usize,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long = flags::DEVICE.name(), default_value = "auto")]
    pub(crate) device: DeviceRequest,
    /// Also write the figures to RUN/eval.json, which `trainer export` records in the bundle.
    #[arg(long = flags::SAVE.name())]
    pub(crate) save: bool,
}

#[derive(Args)]
pub(crate) struct SampleArgs {
    /// Run directory written by `trainer fit`.
    #[arg(long = flags::RUN.name())]
    pub(crate) run: PathBuf,
    /// Number of samples.
    #[arg(long = flags::N.name(), default_value_t = 64)]
    pub(crate) n: usize,
    /// Standard deviation of the latent (1 = the model's distribution; < 1 sharper samples).
    #[arg(long = flags::TEMPERATURE.name(), default_value_t = 1.0, allow_negative_numbers = true)]
    pub(crate) temperature: f64,
    /// Seed of the latent draw.
    #[arg(long = flags::SEED.name(), default_value_t = 0)]
    pub(crate) seed: u64,
    /// Output: .png (image grid, or scatter of the first two features) or .csv (vectors).
    #[arg(long = flags::OUT.name())]
    pub(crate) out: PathBuf,
    /// Pixel enlargement of image grids.
    #[arg(long = flags::SCALE.name(), default_value_t = 2)]
    pub(crate) scale: u32,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long = flags::DEVICE.name(), default_value = "auto")]
    pub(crate) device: DeviceRequest,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use realnvp_trainer::flags::{self, Flag};

    use super::Cli;

    /// The library's flag lists and the clap definitions name the same long flags, subcommand by
    /// subcommand: a flag renamed in one place but not the other fails here.
    #[test]
    fn the_library_names_exactly_the_flags_of_each_subcommand() {
        let cli = Cli::command();
        for (name, listed) in [
            ("fit", flags::FIT),
            ("eval", flags::EVAL),
            ("sample", flags::SAMPLE),
            ("export", flags::EXPORT),
        ] {
            let sub = cli.find_subcommand(name).expect("subcommand");
            let mut defined: Vec<&str> = sub
                .get_arguments()
                .filter_map(|a| a.get_long())
                .filter(|l| !matches!(*l, "help" | "version"))
                .collect();
            let mut named: Vec<&str> = listed.iter().map(|f: &Flag| f.name()).collect();
            defined.sort_unstable();
            named.sort_unstable();
            assert_eq!(defined, named, "trainer {name}");
        }
    }
}
