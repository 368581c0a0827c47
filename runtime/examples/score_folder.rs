//! Embedding the runtime in another program: score every PNG/JPEG in a folder with an exported bundle.
//!
//! ```text
//! cargo run -p realnvp-runtime --example score_folder -- MODEL_DIR IMAGE_DIR
//! ```
//!
//! Unreadable images are reported and skipped; the rest are scored in one batched call.

use std::path::PathBuf;
use std::process::ExitCode;

use realnvp_runtime::{Flow, LoadOptions};

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [model, folder] = args.as_slice() else {
        eprintln!("usage: score_folder MODEL_DIR IMAGE_DIR");
        return ExitCode::from(2);
    };
    match run(model, folder) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether every image could be read.
fn run(model: &PathBuf, folder: &PathBuf) -> Result<bool, Box<dyn std::error::Error>> {
    // Defaults: CUDA if this build has it and it works, else CPU; the library from ORT_DYLIB_PATH or .ort/.
    let flow = Flow::load(model, &LoadOptions::default())?;
    eprintln!(
        "{} model {:?} on {}",
        flow.data_kind(),
        flow.data_shape(),
        flow.provider()
    );

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
    if names.is_empty() {
        eprintln!("no readable images in {}", folder.display());
        return Ok(false);
    }
    let bits = flow.bits_per_dim(&data, names.len())?;
    for (name, b) in names.iter().zip(&bits) {
        println!("{}\t{b:.4}", name.display());
    }
    Ok(all_ok)
}
