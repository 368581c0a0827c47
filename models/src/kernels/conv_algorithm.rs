//! The process-wide choice between Winograd's algorithm and the direct one for same-size 3×3
//! convolutions, and the environment variable through which the binaries set it.
//!
//! A process-wide setting rather than a parameter: the choice is for comparisons and benchmarks,
//! and threading it through every layer and network would change their signatures for that alone.

use std::sync::atomic::{AtomicBool, Ordering};

/// How the CPU f32 convolutions compute same-size 3×3 kernels (all others run [`Self::Direct`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgorithm {
    /// Winograd's F(2×2, 3×3): 2.25× fewer multiplications, the default.
    Winograd,
    /// Gemms over shifted copies of the image: every product of the convolution's definition.
    Direct,
}

impl std::str::FromStr for ConvAlgorithm {
    type Err = UnknownConvAlgorithm;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "winograd" => Ok(Self::Winograd),
            "direct" => Ok(Self::Direct),
            _ => Err(UnknownConvAlgorithm(s.to_string())),
        }
    }
}

/// A name that is not a [`ConvAlgorithm`].
#[derive(Debug, thiserror::Error)]
#[error("unknown convolution algorithm {0:?}: use \"winograd\" or \"direct\"")]
pub struct UnknownConvAlgorithm(pub String);

/// The environment variable that names the convolution algorithm in the project's binaries.
pub const CONV_ALGORITHM_VAR: &str = "REALNVP_CONV";

/// Sets the algorithm named by the environment variable [`CONV_ALGORITHM_VAR`] (`winograd` or
/// `direct`), if set: how the trainer and the benchmark programs let a user compare the two.
pub fn conv_algorithm_from_env() -> std::result::Result<(), UnknownConvAlgorithm> {
    if let Ok(name) = std::env::var(CONV_ALGORITHM_VAR) {
        set_conv_algorithm(name.parse()?);
    }
    Ok(())
}

static DIRECT: AtomicBool = AtomicBool::new(false);

/// Chooses the algorithm of every later same-size 3×3 convolution in the process (forward, input
/// and kernel gradients): for comparisons and benchmarks; [`ConvAlgorithm::Winograd`] is the
/// default.
pub fn set_conv_algorithm(algorithm: ConvAlgorithm) {
    DIRECT.store(algorithm == ConvAlgorithm::Direct, Ordering::Relaxed);
}

/// The algorithm [`set_conv_algorithm`] chose.
pub fn conv_algorithm() -> ConvAlgorithm {
    match DIRECT.load(Ordering::Relaxed) {
        true => ConvAlgorithm::Direct,
        false => ConvAlgorithm::Winograd,
    }
}
