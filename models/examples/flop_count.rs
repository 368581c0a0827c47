//! Parameter count and analytic FLOPs of a preset (no timing).
//!
//! `cargo run --release -p realnvp-models --example flop_count -- [PRESET]` (default
//! fmnist-small). Prints machine-readable lines:
//! - `params_trainable N`: the sum of element counts of the VarMap's trainable variables (what
//!   the optimizer sees; running statistics excluded), from a freshly built model;
//! - `params_analytic N`: the same count from the architecture formula below (a cross-check of
//!   both, and what `benches/torch_ref.py` must match);
//! - `flops_forward_per_image F`, `flops_train_per_image F`.
//!
//! FLOPs count the 3×3 convolutions of the s/t ResNets only, as multiply-adds × 2:
//! `2·O·I·K²·H·W` per image per conv forward. Everything else (masks, tanh/exp, batch norm,
//! ReLU, residual adds, logit) is elementwise, a few FLOPs per activation against `2·I·K²`
//! (≥ 576 at width 32) per conv output, i.e. about 1% more, and is left out, so achieved GFLOP/s
//! are slight underestimates. Scoring (forward) and sampling (inverse) run the same nets: both
//! cost `flops_forward_per_image`. A training step costs 3× the forward (forward, gradient with
//! respect to the input, gradient with respect to the weights; the first conv of every net needs
//! its input gradient too, since its input depends on earlier layers); Adam is O(params),
//! negligible.

use candle_core::{DType, Device};
use realnvp_models::{Architecture, DataShape, FlowConfig, MultiScaleConfig, RealNvp, Result};

/// One s/t ResNet on `c`-channel `h·w` inputs: `(params, forward FLOPs per image)`.
fn resnet(c: usize, hw: usize, width: usize, blocks: usize) -> (usize, f64) {
    // Weight-normed 3×3 conv: v [O, I, 3, 3], gain g [O], bias [O].
    let conv = |i: usize, o: usize| (o * i * 9 + 2 * o, 2.0 * (o * i * 9 * hw) as f64);
    let norm = 2 * width; // batch norm gamma, beta (running statistics are not trained)
    let (p_in, f_in) = conv(c, width);
    let (p_mid, f_mid) = conv(width, width);
    let (p_out, f_out) = conv(width, 2 * c);
    let params = p_in + blocks * 2 * (norm + p_mid) + norm + p_out;
    let flops = f_in + (2 * blocks) as f64 * f_mid + f_out;
    (params, flops)
}

/// `(trainable params, forward FLOPs per image)` of a multi-scale flow on `[c, h, w]` images,
/// following `StackBuilder::scale` in `models/src/flow.rs`.
fn multi_scale(
    ms: &MultiScaleConfig,
    (c, h, w): (usize, usize, usize),
    flow_bn: bool,
) -> (usize, f64) {
    let (mut params, mut flops) = (0usize, 0f64);
    let (mut c, mut h, mut w) = (c, h, w);
    for index in 0..ms.num_scales {
        let width = ms.hidden_channels << index;
        let last = index + 1 == ms.num_scales;
        // A coupling: its net, the per-channel s scale, and the flow batch norm (log γ, β).
        let mut coupling = |c: usize, hw: usize| {
            let (p, f) = resnet(c, hw, width, ms.num_blocks);
            params += p + c + if flow_bn { 2 * c } else { 0 };
            flops += f;
        };
        let checker = if last {
            ms.final_couplings
        } else {
            ms.checkerboard_couplings
        };
        for _ in 0..checker {
            coupling(c, h * w);
        }
        if last {
            break;
        }
        (c, h, w) = (4 * c, h / 2, w / 2);
        for _ in 0..ms.channel_couplings {
            coupling(c, h * w);
        }
        c -= c / 2; // factor out half
    }
    (params, flops)
}

fn main() -> Result<()> {
    let preset = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fmnist-small".into());
    let config = FlowConfig::preset(&preset)?;
    let (model, varmap) = RealNvp::init(&config, DType::F32, &Device::Cpu)?;
    let buffers: usize = model.buffers().iter().map(|b| b.elem_count()).sum();
    let all: usize = varmap.all_vars().iter().map(|var| var.elem_count()).sum();
    let trainable = all - buffers;
    println!("preset {preset}");
    println!("params_trainable {trainable}");
    if let (
        Architecture::MultiScale(ms),
        DataShape::Image {
            channels,
            height,
            width,
        },
    ) = (&config.architecture, config.data)
    {
        let (params, flops) = multi_scale(
            ms,
            (channels, height, width),
            config.flow_batch_norm.is_some(),
        );
        println!("params_analytic {params}");
        println!("flops_forward_per_image {flops:.0}");
        println!("flops_train_per_image {:.0}", 3.0 * flops);
    }
    Ok(())
}
