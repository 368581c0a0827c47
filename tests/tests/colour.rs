//! Colour images end to end, through the two commands: `trainer fit --data images:DIR` on the committed folder
//! of 32×32 RGB photograph patches (`data/colour-patches/`), `trainer export`, `runtime check`, `runtime sample`
//! (a colour grid and one PNG per sample), `runtime score` and `runtime calibrate` + `score --ood` on held-out
//! colour PNG files, `runtime interpolate` and `runtime reconstruct`. A short run of a small 3-channel model:
//! the checks are about the chain carrying three channels, not about how well it learns.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::Device;
use image::{GenericImageView, RgbImage};
use realnvp_bundle::DataShape;
use realnvp_e2e::{ort_library, workspace_root};
use realnvp_models::FlowConfig;
use realnvp_runtime::ood::png_complexity;
use realnvp_trainer::data::{EvalNoise, Split};
use realnvp_trainer::{eval, run};

type Result<T> = anyhow::Result<T>;

const SIDE: u32 = 32;

/// The `trainer` and `runtime` binaries of this test's profile, next to its own target directory. `cargo test
/// --workspace` (what `make test` runs) builds both before any test runs, since both packages have
/// integration tests. Building them from here instead would unify features differently and rebuild candle,
/// so when this package is tested alone a missing binary, or one older than a source file it is built from, is
/// an error naming the command that makes it, never a stale binary run.
fn binaries() -> Result<(PathBuf, PathBuf)> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/colour-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow::anyhow!("unexpected test binary path {}", exe.display()))?;
    let release = if profile_dir.ends_with("release") {
        " --release"
    } else {
        ""
    };
    let mut found = Vec::new();
    // Each binary with the workspace crates it is built from.
    for (name, crates) in [
        ("trainer", &["bundle", "models", "plot", "trainer"][..]),
        ("runtime", &["bundle", "plot", "runtime"][..]),
    ] {
        let newest_source = crates
            .iter()
            .map(|d| newest_rs(&workspace_root().join(d)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .max()
            .flatten();
        let binary = profile_dir.join(name);
        let built = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
        anyhow::ensure!(
            built.is_some() && built >= newest_source,
            "{} is missing or older than its sources: run `cargo build{release} --workspace --bins` \
             (or the whole `cargo test{release} --workspace`)",
            binary.display()
        );
        found.push(binary);
    }
    Ok((found[0].clone(), found[1].clone()))
}

/// The latest modification time of a `.rs` file under `dir` (recursively), leaving out what the binaries are not
/// built from: tests, examples, benches, the Python package, build output.
fn newest_rs(dir: &Path) -> Result<Option<std::time::SystemTime>> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if entry.file_type()?.is_dir() {
            if !["tests", "examples", "benches", "python", "target"]
                .iter()
                .any(|skip| name == *skip)
            {
                newest = newest.max(newest_rs(&path)?);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            newest = newest.max(Some(entry.metadata()?.modified()?));
        }
    }
    Ok(newest)
}

/// Runs `binary args`; its stdout on success, both streams in the error otherwise.
fn run_ok(binary: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(binary)
        .args(args)
        .env(realnvp_runtime::ORT_DYLIB_ENV, ort_library())
        .env("RUST_BACKTRACE", "0")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{}{}",
        binary.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Planar `[3, H, W]` u8 pixels of one 32×32 item as an RGB image.
fn rgb_image(planar: &[u8]) -> RgbImage {
    let plane = (SIDE * SIDE) as usize;
    let hwc = (0..plane)
        .flat_map(|i| [planar[i], planar[plane + i], planar[2 * plane + i]])
        .collect();
    RgbImage::from_raw(SIDE, SIDE, hwc).expect("32x32x3")
}

/// Tile `k` of a `runtime` grid written with `--scale 1` and `cols` columns (1-pixel borders).
fn tile(grid: &RgbImage, k: u32, cols: u32) -> RgbImage {
    let (x, y) = ((k % cols) * (SIDE + 1) + 1, (k / cols) * (SIDE + 1) + 1);
    grid.view(x, y, SIDE, SIDE).to_image()
}

/// Writes held-out patch `i` as `DIR/heldNNN.png`: the name the scores are matched by, whichever folder.
fn save_held(dir: &Path, i: usize, img: &RgbImage) -> Result<()> {
    Ok(img.save(dir.join(format!("held{i:03}.png")))?)
}

fn open_rgb(path: &Path) -> Result<RgbImage> {
    let img = image::open(path)?;
    anyhow::ensure!(
        img.color() == image::ColorType::Rgb8,
        "{} is {:?}, not 8-bit RGB",
        path.display(),
        img.color()
    );
    Ok(img.to_rgb8())
}

/// Pixels where the channels differ: a grey image, or one channel copied to three, has none.
fn coloured_pixels(img: &RgbImage) -> usize {
    img.pixels()
        .filter(|p| p[0] != p[1] || p[1] != p[2])
        .count()
}

fn max_level_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

fn scores(json: &str) -> Result<Vec<serde_json::Value>> {
    let v: serde_json::Value = serde_json::from_str(json)?;
    Ok(v.as_array()
        .ok_or_else(|| anyhow::anyhow!("score --format json is not an array: {json}"))?
        .clone())
}

/// `runtime --device cpu score --format json [FLAGS] --model MODEL PATHS...`, one JSON object per item.
fn score_json(
    runtime: &Path,
    model: &str,
    flags: &[&str],
    paths: &[&str],
) -> Result<Vec<serde_json::Value>> {
    let mut args = vec!["--device", "cpu", "score", "--format", "json"];
    args.extend(flags);
    args.extend(["--model", model]);
    args.extend(paths);
    scores(&run_ok(runtime, &args)?)
}

fn num(item: &serde_json::Value, key: &str) -> Result<f64> {
    item[key]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("{key} missing or not a number in {item}"))
}

#[test]
fn colour_pngs_fit_export_check_sample_score_interpolate_and_reconstruct() -> Result<()> {
    let (trainer, runtime) = binaries()?;
    let patches = workspace_root().join("data/colour-patches");
    let data = format!("images:{}", s(&patches));
    let work = tempfile::tempdir()?;
    let path = |name: &str| work.path().join(name);

    // A small 3×32×32 model: the cifar presets' topology with 8 s/t channels and one block.
    let config = FlowConfig::multi_scale_image((3, 32, 32), 2, 8, 1);
    std::fs::write(path("config.json"), serde_json::to_string(&config)?)?;
    let (run_dir, bundle) = (path("run"), path("bundle"));
    run_ok(
        &trainer,
        &[
            "fit",
            "--config",
            s(&path("config.json")),
            "--data",
            &data,
            "--out",
            s(&run_dir),
            "--steps",
            "30",
            "--batch-size",
            "16",
            "--eval-every",
            "30",
            "--sample-every",
            "0",
            "--checkpoint-every",
            "30",
            "--eval-examples",
            "0",
            "--device",
            "cpu",
        ],
    )?;
    run_ok(
        &trainer,
        &["export", "--run", s(&run_dir), "--out", s(&bundle)],
    )?;
    let model = s(&bundle);
    let check = run_ok(&runtime, &["--device", "cpu", "check", "--model", model])?;
    assert!(check.contains("ok: within tolerance"), "{check}");

    // The held-out split the trainer took, written back as real RGB PNG files.
    let loaded = run::load_run(&run_dir, &Device::Cpu)?;
    let dataset = run::load_data(&data, loaded.model.config(), 0)?;
    assert_eq!(dataset.shape(), [3, 32, 32]);
    let n_test = dataset.len_test();
    let files = realnvp_bundle::data::image_files(&patches)?;
    assert_eq!(
        n_test + dataset.len_train(),
        files.len(),
        "every patch is in one split"
    );
    let x = dataset.eval_batch(Split::Test, 0, n_test, EvalNoise::Midpoint, &Device::Cpu)?;
    let x = x.flatten_all()?.to_vec1::<f32>()?;
    let items: Vec<Vec<u8>> = x
        .chunks(3 * 32 * 32)
        .map(|c| c.iter().map(|&v| v.floor() as u8).collect())
        .collect();
    let (cal_dir, eval_dir) = (path("held-calibrate"), path("held-score"));
    std::fs::create_dir(&cal_dir)?;
    std::fs::create_dir(&eval_dir)?;
    let half = n_test / 2;
    for (i, item) in items.iter().enumerate() {
        let dir = if i < half { &cal_dir } else { &eval_dir };
        save_held(dir, i, &rgb_image(item))?;
    }
    let test_images: Vec<RgbImage> = items.iter().map(|i| rgb_image(i)).collect();
    assert!(
        test_images.iter().all(|i| coloured_pixels(i) > 0),
        "the held-out patches are colour photographs"
    );

    // runtime score on the PNG files gives what the trainer's candle evaluation gives on the same split.
    let all = score_json(&runtime, model, &[], &[s(&cal_dir), s(&eval_dir)])?;
    assert_eq!(all.len(), n_test);
    let bits: Vec<f64> = all
        .iter()
        .map(|i| num(i, "bits_per_dim"))
        .collect::<Result<_>>()?;
    assert!(bits.iter().all(|b| b.is_finite() && *b > 0.0), "{bits:?}");
    let mean = bits.iter().sum::<f64>() / bits.len() as f64;
    let candle = eval::score(&loaded.model, &dataset, Split::Test, 64, None, &Device::Cpu)?;
    assert!(
        (mean - candle.bits_per_dim).abs() < 1e-4 * candle.bits_per_dim,
        "runtime score of the held-out PNGs: {mean} bits/dim; candle on the test split: {}",
        candle.bits_per_dim
    );

    // The same images with red and blue swapped are other images to the model.
    let swapped_dir = path("swapped");
    std::fs::create_dir(&swapped_dir)?;
    for (i, img) in test_images.iter().enumerate().take(8) {
        let mut sw = img.clone();
        sw.pixels_mut().for_each(|p| p.0.swap(0, 2));
        save_held(&swapped_dir, i, &sw)?;
    }
    let swapped = score_json(&runtime, model, &[], &[s(&swapped_dir)])?;
    for (a, b) in swapped.iter().zip(&all) {
        assert!(
            (num(a, "bits_per_dim")? - num(b, "bits_per_dim")?).abs() > 1e-4,
            "swapping red and blue left the score unchanged: {a} / {b}"
        );
    }

    // calibrate on one half of the held-out patches, score --ood on the other.
    run_ok(
        &runtime,
        &[
            "--device",
            "cpu",
            "calibrate",
            "--model",
            model,
            "--false-positive-rate",
            "0.1",
            s(&cal_dir),
        ],
    )?;
    let calibration: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("calibration.json"))?)?;
    let threshold = calibration["threshold"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("no threshold in {calibration}"))?;
    let plain = score_json(&runtime, model, &[], &[s(&eval_dir)])?;
    let ood = score_json(&runtime, model, &["--ood"], &[s(&eval_dir)])?;
    assert_eq!(plain.len(), n_test - half);
    assert_eq!(ood.len(), plain.len());
    let shape = DataShape::Image {
        channels: 3,
        height: 32,
        width: 32,
    };
    let mut flagged = 0;
    for (p, o) in plain.iter().zip(&ood) {
        assert_eq!(p["path"], o["path"]);
        assert_eq!(p["bits_per_dim"], o["bits_per_dim"], "score vs score --ood");
        assert_eq!(p["log_prob"], o["log_prob"], "score vs score --ood");
        // The complexity is the PNG length of the file's own three channels.
        let file = open_rgb(Path::new(o["path"].as_str().unwrap_or_default()))?;
        let plane = (SIDE * SIDE) as usize;
        let planar: Vec<u8> = (0..3)
            .flat_map(|c| file.as_raw().iter().skip(c).step_by(3).copied())
            .collect();
        assert_eq!(planar.len(), 3 * plane);
        let complexity = png_complexity(&planar, shape)?;
        // JSON carries the f32 in its shortest decimal form: back to f32, it is the same number.
        assert_eq!(num(o, "complexity_bits_per_dim")? as f32, complexity);
        let (bpd, corrected) = (num(o, "bits_per_dim")?, num(o, "complexity_corrected")?);
        assert!((corrected - (bpd - f64::from(complexity))).abs() < 1e-5);
        // A 32×32 colour photograph patch compresses to between 1 and 8 bits per value.
        assert!((1.0..8.0).contains(&complexity), "{complexity}");
        let flag = o["ood"].as_bool().expect("ood flag");
        assert_eq!(flag, num(o, "ood_score")? > threshold, "{o}");
        flagged += usize::from(flag);
    }
    // Calibrated at 10% on exchangeable held-out items: far from flagging half of the others.
    assert!(
        flagged * 2 < ood.len(),
        "{flagged} of {} flagged",
        ood.len()
    );

    // runtime sample: a colour grid, and one PNG per sample equal to the grid's tiles.
    let (grid_png, samples_dir) = (path("grid.png"), path("samples"));
    std::fs::create_dir(&samples_dir)?;
    for extra in [
        vec!["--out", s(&grid_png)],
        vec!["--out-dir", s(&samples_dir)],
    ] {
        let mut args = vec![
            "--device", "cpu", "sample", "--model", model, "--n", "9", "--seed", "4", "--scale",
            "1",
        ];
        args.extend(extra);
        run_ok(&runtime, &args)?;
    }
    let grid = open_rgb(&grid_png)?;
    assert_eq!(grid.dimensions(), (3 * (SIDE + 1) + 1, 3 * (SIDE + 1) + 1));
    for k in 0..9 {
        let one = open_rgb(&samples_dir.join(format!("sample_{k:04}.png")))?;
        assert_eq!(one.dimensions(), (SIDE, SIDE));
        assert_eq!(tile(&grid, k, 3), one, "sample {k} vs its grid tile");
        assert!(
            coloured_pixels(&one) > (SIDE * SIDE / 2) as usize,
            "sample {k} is (nearly) grey"
        );
    }
    let rescored = score_json(&runtime, model, &[], &[s(&samples_dir)])?;
    assert_eq!(rescored.len(), 9);
    for r in &rescored {
        assert!(num(r, "bits_per_dim")?.is_finite(), "{r}");
    }

    // runtime reconstruct: originals in the first row, their reconstructions below, within a grey level.
    let picks: Vec<PathBuf> = (0..4)
        .map(|i| eval_dir.join(format!("held{:03}.png", half + i)))
        .collect();
    let rec_png = path("reconstruct.png");
    let mut args = vec![
        "--device",
        "cpu",
        "reconstruct",
        "--model",
        model,
        "--scale",
        "1",
        "--out",
        s(&rec_png),
    ];
    args.extend(picks.iter().map(|p| s(p)));
    run_ok(&runtime, &args)?;
    let rec = open_rgb(&rec_png)?;
    assert_eq!(rec.dimensions(), (4 * (SIDE + 1) + 1, 2 * (SIDE + 1) + 1));
    for (k, p) in picks.iter().enumerate() {
        let original = open_rgb(p)?;
        assert_eq!(
            tile(&rec, k as u32, 4),
            original,
            "row 1 holds the originals"
        );
        let back = tile(&rec, 4 + k as u32, 4);
        let d = max_level_diff(&back, &original);
        assert!(d <= 1, "reconstruction {k} is off by {d} grey levels");
    }

    // runtime interpolate: each row runs from the first image of its pair to the second, in colour.
    let int_png = path("interpolate.png");
    let (a, b, c, d) = (&picks[0], &picks[1], &picks[2], &picks[3]);
    run_ok(
        &runtime,
        &[
            "--device",
            "cpu",
            "interpolate",
            "--model",
            model,
            "--steps",
            "5",
            "--scale",
            "1",
            "--out",
            s(&int_png),
            s(a),
            s(b),
            s(c),
            s(d),
        ],
    )?;
    let int = open_rgb(&int_png)?;
    assert_eq!(int.dimensions(), (5 * (SIDE + 1) + 1, 2 * (SIDE + 1) + 1));
    for (row, (from, to)) in [(a, b), (c, d)].into_iter().enumerate() {
        let row = row as u32;
        let (first, last) = (tile(&int, 5 * row, 5), tile(&int, 5 * row + 4, 5));
        assert!(
            max_level_diff(&first, &open_rgb(from)?) <= 1,
            "row {row} start"
        );
        assert!(max_level_diff(&last, &open_rgb(to)?) <= 1, "row {row} end");
        let middle = tile(&int, 5 * row + 2, 5);
        assert!(coloured_pixels(&middle) > 0, "row {row}: grey midpoint");
        assert_ne!(middle, first);
        assert_ne!(middle, last);
    }
    Ok(())
}
