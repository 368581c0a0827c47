//! `runtime info`, `check` and `triton`: what a bundle is, whether its two graphs invert each other, and the
//! bundle as a Triton model repository.

use std::process::ExitCode;

use anyhow::{Result, bail};
use realnvp_runtime::Flow;

use realnvp_runtime::triton::{InstanceKind, TritonOptions, write_repository};

use crate::args::{CheckArgs, InstanceKindArg, TritonArgs};

pub(crate) fn info(flow: &Flow) -> Result<ExitCode> {
    let m = flow.metadata();
    println!("bundle:          {}", flow.dir().display());
    println!("format version:  {}", m.format_version);
    println!("pair id:         {}", m.pair_id);
    println!("data:            {}", m.data_shape);
    println!("latent dim:      {}", m.latent_dim());
    println!(
        "forward.onnx:    x [N, {}] -> z [N, {}], log_prob [N], bits_per_dim [N]",
        dims(&m.data_shape.dims()),
        m.latent_dim()
    );
    println!(
        "inverse.onnx:    z [N, {}] -> x [N, {}]",
        m.latent_dim(),
        dims(&m.data_shape.dims())
    );
    println!("opset:           {}", m.opset);
    println!("preprocessing:   {}", m.preprocessing);
    println!("training:        {}", m.training);
    println!("export errors:   {}", m.export_errors);
    println!("model layout:    {}", m.model_layout());
    match flow.test_scores() {
        Some(s) => println!(
            "test bits/dim:   mean {:.4}, std {:.4} over {} examples (u = 0.5; the typicality reference)",
            s.mean, s.std, s.count
        ),
        None => {
            println!("test bits/dim:   not recorded (no typicality score; re-export to add it)")
        }
    }
    let calibration_path = flow.default_calibration_path();
    if calibration_path.exists() {
        match flow.load_calibration(&calibration_path) {
            Ok(c) => println!(
                "ood calibration: {} > {:.4} flags at most {}% (fitted on {} items)",
                c.statistic,
                c.threshold,
                c.false_positive_rate * 100.0,
                c.items
            ),
            Err(e) => println!("ood calibration: unusable: {e}"),
        }
    } else {
        println!("ood calibration: none (runtime calibrate)");
    }
    println!("config:          {}", m.config);
    println!("provider:        {}", flow.provider());
    println!("onnxruntime lib: {}", flow.library_path().display());
    Ok(ExitCode::SUCCESS)
}

fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn check(flow: &Flow, a: CheckArgs) -> Result<ExitCode> {
    if !(a.tolerance.is_finite() && a.tolerance > 0.0) {
        bail!("--tolerance must be a positive number, got {}", a.tolerance);
    }
    let r = flow.round_trip(a.n, a.temperature, a.seed)?;
    for (label, d) in [("x -> z -> x", r.x), ("z -> x -> z", r.z)] {
        println!(
            "{label}: max abs error {:.3e}, relative {:.3e}",
            d.max_abs, d.relative
        );
    }
    if !r.within(a.tolerance) {
        eprintln!(
            "FAIL: relative round-trip error above tolerance {:.1e} ({} samples)",
            a.tolerance, a.n
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "ok: within tolerance {:.1e} ({} samples on {})",
        a.tolerance,
        a.n,
        flow.provider()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn triton(flow: &Flow, a: TritonArgs) -> Result<ExitCode> {
    let options = TritonOptions {
        name: a.name,
        max_batch_size: a.max_batch_size,
        instances: a.instances,
        default_kind: match a.default_kind {
            InstanceKindArg::Cpu => InstanceKind::Cpu,
            InstanceKindArg::Gpu => InstanceKind::Gpu,
        },
        ..TritonOptions::default()
    };
    for model in write_repository(flow, &a.out, &options)? {
        println!(
            "{}: {} ({} configs)",
            model.name,
            model.dir.display(),
            model.configs.len()
        );
    }
    println!(
        "serve with: tritonserver --model-repository {}",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
