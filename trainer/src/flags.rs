//! The `trainer` command line's flag names, spelled once. The library names flags in its messages (a
//! refused resume, an invalid option), in the command line a run records ([`crate::run::FitOptions::command_line`])
//! and in its hints; the binary's clap definitions take each long name from here (`#[arg(long = LR.name())]`),
//! and a test of the binary checks that every flag listed in [`FIT`], [`EVAL`], [`SAMPLE`] and [`EXPORT`]
//! is a flag of that subcommand.

use std::fmt;

/// A long flag: [`Flag::name`] is what clap matches, `Display` prints it as the user types it (`--name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(&'static str);

impl Flag {
    /// The name without the leading dashes, as clap's `long` takes it.
    pub const fn name(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{}", self.0)
    }
}

/// `--preset NAME`.
pub const PRESET: Flag = Flag("preset");
/// `--config FILE`.
pub const CONFIG: Flag = Flag("config");
/// `--data SPEC`.
pub const DATA: Flag = Flag("data");
/// `--out DIR|FILE`.
pub const OUT: Flag = Flag("out");
/// `--run DIR`.
pub const RUN: Flag = Flag("run");
/// `--steps N`.
pub const STEPS: Flag = Flag("steps");
/// `--epochs N`.
pub const EPOCHS: Flag = Flag("epochs");
/// `--batch-size N`.
pub const BATCH_SIZE: Flag = Flag("batch-size");
/// `--lr RATE`.
pub const LR: Flag = Flag("lr");
/// `--warmup-steps N`.
pub const WARMUP_STEPS: Flag = Flag("warmup-steps");
/// `--lr-decay constant|cosine|cosine:STEP`.
pub const LR_DECAY: Flag = Flag("lr-decay");
/// `--ema-decay D`.
pub const EMA_DECAY: Flag = Flag("ema-decay");
/// `--seed N`.
pub const SEED: Flag = Flag("seed");
/// `--eval-every N`.
pub const EVAL_EVERY: Flag = Flag("eval-every");
/// `--sample-every N`.
pub const SAMPLE_EVERY: Flag = Flag("sample-every");
/// `--checkpoint-every N`.
pub const CHECKPOINT_EVERY: Flag = Flag("checkpoint-every");
/// `--log-every N`.
pub const LOG_EVERY: Flag = Flag("log-every");
/// `--eval-examples N`.
pub const EVAL_EXAMPLES: Flag = Flag("eval-examples");
/// `--clip-grad NORM`.
pub const CLIP_GRAD: Flag = Flag("clip-grad");
/// `--flip`.
pub const FLIP: Flag = Flag("flip");
/// `--device auto|cpu|cuda[:N]`.
pub const DEVICE: Flag = Flag("device");
/// `--time-limit SECONDS`.
pub const TIME_LIMIT: Flag = Flag("time-limit");
/// `--resume`.
pub const RESUME: Flag = Flag("resume");
/// `--samples K` (`trainer eval`).
pub const SAMPLES: Flag = Flag("samples");
/// `--limit N` (`trainer eval`).
pub const LIMIT: Flag = Flag("limit");
/// `--save` (`trainer eval`).
pub const SAVE: Flag = Flag("save");
/// `--n N` (`trainer sample`).
pub const N: Flag = Flag("n");
/// `--temperature T` (`trainer sample`).
pub const TEMPERATURE: Flag = Flag("temperature");
/// `--scale N` (`trainer sample`).
pub const SCALE: Flag = Flag("scale");
/// `--verify-examples N` (`trainer export`).
pub const VERIFY_EXAMPLES: Flag = Flag("verify-examples");
/// `--score-examples N` (`trainer export`).
pub const SCORE_EXAMPLES: Flag = Flag("score-examples");
/// `--tolerance-z`, `--tolerance-log-prob`, `--tolerance-roundtrip` (`trainer export`).
pub const TOLERANCE_Z: Flag = Flag("tolerance-z");
/// See [`TOLERANCE_Z`].
pub const TOLERANCE_LOG_PROB: Flag = Flag("tolerance-log-prob");
/// See [`TOLERANCE_Z`].
pub const TOLERANCE_ROUNDTRIP: Flag = Flag("tolerance-roundtrip");

/// The flags of `trainer fit`.
pub const FIT: &[Flag] = &[
    PRESET,
    CONFIG,
    DATA,
    OUT,
    STEPS,
    EPOCHS,
    BATCH_SIZE,
    LR,
    WARMUP_STEPS,
    LR_DECAY,
    EMA_DECAY,
    SEED,
    EVAL_EVERY,
    SAMPLE_EVERY,
    CHECKPOINT_EVERY,
    LOG_EVERY,
    EVAL_EXAMPLES,
    CLIP_GRAD,
    FLIP,
    DEVICE,
    TIME_LIMIT,
    RESUME,
];
/// The flags of `trainer eval`.
pub const EVAL: &[Flag] = &[RUN, DATA, SAMPLES, SEED, LIMIT, BATCH_SIZE, DEVICE, SAVE];
/// The flags of `trainer sample`.
pub const SAMPLE: &[Flag] = &[RUN, N, TEMPERATURE, SEED, OUT, SCALE, DEVICE];
/// The flags of `trainer export`.
pub const EXPORT: &[Flag] = &[
    RUN,
    OUT,
    VERIFY_EXAMPLES,
    SCORE_EXAMPLES,
    TOLERANCE_Z,
    TOLERANCE_LOG_PROB,
    TOLERANCE_ROUNDTRIP,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_prints_with_two_dashes() {
        assert_eq!(BATCH_SIZE.to_string(), "--batch-size");
        assert_eq!(format!("{LR} 0.001"), "--lr 0.001");
    }
}
