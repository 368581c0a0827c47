//! Embedding realnvp-runtime in another program: score every PNG/JPEG in a folder and sample a grid.
//!
//! ```text
//! cd examples/embed && cargo build --release
//! ORT_DYLIB_PATH=/path/to/libonnxruntime.so target/release/realnvp-embed-example MODEL_DIR IMAGE_DIR GRID.png
//! ```
//!
//! Prints `path<TAB>bits/dim` per image; unreadable images are reported and skipped (exit status 1).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use realnvp_runtime::{Device, Flow, LoadOptions, image_io};

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [model, folder, grid] = args.as_slice() else {
        eprintln!("usage: realnvp-embed-example MODEL_DIR IMAGE_DIR GRID.png");
        return ExitCode::from(2);
    };
    match run(model, folder, grid) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether every image could be read.
fn run(model: &Path, folder: &Path, grid: &Path) -> Result<bool, Box<dyn std::error::Error>> {
    // The library comes from ORT_DYLIB_PATH, else the system loader (set `library_path` to pin one).
    let options = LoadOptions {
        device: Device::Cpu,
        ..LoadOptions::default()
    };
    let flow = Flow::load(model, &options)?;
    eprintln!("{} model on {}", flow.data_shape(), flow.provider());

    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("png" | "jpg" | "jpeg")
            )
        })
        .collect();
    files.sort();

    let (mut names, mut data, mut all_ok) = (Vec::new(), Vec::new(), true);
    for file in files {
        match flow.load_image(&file) {
            Ok(pixels) => {
                names.push(file);
                data.extend(pixels);
            }
            Err(e) => {
                eprintln!("skipping: {e}");
                all_ok = false;
            }
        }
    }
    if !names.is_empty() {
        let bits = flow.bits_per_dim(&data, names.len())?;
        for (name, b) in names.iter().zip(&bits) {
            println!("{}\t{b:.4}", name.display());
        }
    } else {
        eprintln!("no readable images in {}", folder.display());
        all_ok = false;
    }

    let samples = flow.sample(16, 0.7, 1)?;
    image_io::write_grid_png(grid, &samples, 16, flow.data_shape(), None, 3)?;
    eprintln!("wrote 16 samples to {}", grid.display());
    Ok(all_ok)
}
