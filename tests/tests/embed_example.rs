//! The embedding example (`examples/embed`, its own workspace) builds against `realnvp-runtime` by path and runs
//! from a directory outside this workspace with nothing but the ONNX Runtime library on the loader path: it
//! scores a folder of real PNG files and samples a grid.

use std::path::Path;
use std::process::Command;

use candle_core::Device;
use realnvp_e2e::{cpu, ort_library, workspace_root};
use realnvp_runtime::Flow;
use realnvp_trainer::data::{EvalNoise, Split};
use realnvp_trainer::run;

type Result<T> = anyhow::Result<T>;

/// Builds the example into the workspace's target directory (its release settings match, so the compiled
/// dependencies are reused) and returns the binary.
fn build_example() -> Result<std::path::PathBuf> {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--offline",
            "--manifest-path",
        ])
        .arg(root.join("examples/embed/Cargo.toml"))
        .env("CARGO_TARGET_DIR", root.join("target"))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "building examples/embed failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(root.join("target/release/realnvp-embed-example"))
}

/// Writes the first `n` embedded Fashion-MNIST test images as 8-bit grey PNG files.
fn write_pngs(dir: &Path, n: usize) -> Result<()> {
    let model = workspace_root().join("pretrained/fmnist");
    let flow = Flow::load(&model, &cpu())?;
    let config: realnvp_models::FlowConfig =
        serde_json::from_value(flow.metadata().config.clone())?;
    let data = run::load_data("embedded", &config, 0)?;
    let x = data.eval_batch(Split::Test, 0, n, EvalNoise::Midpoint, &Device::Cpu)?;
    let pixels = x.flatten_all()?.to_vec1::<f32>()?;
    for (i, item) in pixels.chunks(28 * 28).enumerate() {
        let bytes: Vec<u8> = item.iter().map(|&v| v.floor() as u8).collect();
        image::GrayImage::from_raw(28, 28, bytes)
            .expect("28x28")
            .save(dir.join(format!("item{i}.png")))?;
    }
    Ok(())
}

#[test]
fn embedding_example_scores_a_folder_and_samples_outside_the_workspace() -> Result<()> {
    let binary = build_example()?;
    let work = tempfile::tempdir()?;
    let images = work.path().join("images");
    std::fs::create_dir(&images)?;
    write_pngs(&images, 4)?;
    let grid = work.path().join("grid.png");
    let model = workspace_root().join("pretrained/fmnist");
    let out = Command::new(&binary)
        .arg(&model)
        .arg(&images)
        .arg(&grid)
        .current_dir(work.path())
        .env_remove(realnvp_runtime::ORT_DYLIB_ENV)
        .env(
            "LD_LIBRARY_PATH",
            ort_library().parent().expect("library dir"),
        )
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The example's scores are the runtime's scores of the same files.
    let flow = Flow::load(&model, &cpu())?;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        let (path, bits) = line.split_once('\t').expect("path<TAB>bits");
        let file = images.join(format!("item{i}.png"));
        assert_eq!(Path::new(path), file);
        let expected = flow.bits_per_dim(&flow.load_image(&file)?, 1)?[0];
        assert!(
            (bits.parse::<f32>()? - expected).abs() < 1e-3,
            "{line} vs {expected}"
        );
    }
    let grid = image::open(&grid)?;
    assert_eq!(
        (grid.width(), grid.height()),
        (351, 351),
        "4×4 tiles of 28 px + borders, ×3"
    );
    Ok(())
}

/// The command-line stack lives in the binaries' own crates: a program that embeds the runtime compiles none
/// of it (issue 28). `cargo tree` of the example lists every crate it builds.
#[test]
fn embedding_the_runtime_builds_no_command_line_crates() -> Result<()> {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--offline",
            "--prefix",
            "none",
            "--edges",
            "normal,build",
            "--manifest-path",
        ])
        .arg(root.join("examples/embed/Cargo.toml"))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "cargo tree failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout)?;
    let crates: std::collections::BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(
        crates.contains("realnvp-runtime") && crates.contains("ort"),
        "cargo tree did not list the runtime:\n{tree}"
    );
    let cli: Vec<&str> = [
        "clap",
        "anyhow",
        "tracing-subscriber",
        "indicatif",
        "ctrlc",
        "candle-core",
    ]
    .into_iter()
    .filter(|name| crates.contains(name))
    .collect();
    assert!(
        cli.is_empty(),
        "embedding realnvp-runtime compiles {cli:?}; keep them in runtime/cli"
    );
    Ok(())
}
