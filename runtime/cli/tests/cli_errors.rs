//! The `runtime` rows of the error catalogue (docs/errors.md): every bad input is refused with a
//! non-zero exit and a message that names the problem, never a panic, and leaves no output file,
//! directory or temporary behind. Each case's message must also be the one docs/errors.md lists for
//! its id, so the catalogue cannot drift from the program.

#[path = "../../../tests/support/catalogue.rs"]
mod catalogue;
mod common;
use catalogue::Case;

use std::path::{Path, PathBuf};
use std::process::Command;

use image::{DynamicImage, GrayImage, ImageBuffer, Luma, RgbImage, RgbaImage};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn runtime_error_catalogue() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let p = |name: &str| dir.join(name);
    let grey = s(&common::bundle(&[]));
    let vector = s(&common::bundle(&["--kind", "vector"]));
    let bundle = |args: &[&str]| s(&common::bundle(args));
    // A bundle whose forward graph is not ONNX at all.
    let corrupt = p("corrupt");
    common::make_bundle_in(&corrupt, &[]);
    std::fs::write(
        corrupt.join("forward.onnx"),
        b"\x08\x07garbage, not protobuf \xff",
    )?;
    // Inputs (the fixture image model takes 4x4 8-bit grey images; the vector model 2 values).
    let save = |name: &str, img: DynamicImage| -> Result<PathBuf, image::ImageError> {
        let path = p(name);
        img.save(&path)?;
        Ok(path)
    };
    let rgb = save("rgb.png", DynamicImage::ImageRgb8(RgbImage::new(4, 4)))?;
    let rgba = save("rgba.png", DynamicImage::ImageRgba8(RgbaImage::new(4, 4)))?;
    let sixteen = save(
        "sixteen.png",
        DynamicImage::ImageLuma16(ImageBuffer::<Luma<u16>, _>::new(4, 4)),
    )?;
    let big = save("big.png", DynamicImage::ImageLuma8(GrayImage::new(8, 4)))?;
    let good = save("good.png", DynamicImage::ImageLuma8(GrayImage::new(4, 4)))?;
    let bytes = std::fs::read(&good)?;
    let truncated = p("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2])?;
    std::fs::create_dir(p("no-images"))?;
    std::fs::write(p("no-images/notes.txt"), "no pictures")?;
    for (name, text) in [
        ("nan.csv", "x0,x1\n0.5,1\nnan,2\n"),
        ("inf.csv", "x0,x1\n0.5,1\n3,inf\n"),
        ("empty.csv", ""),
    ] {
        std::fs::write(p(name), text)?;
    }
    let a_file = p("a-file");
    std::fs::write(&a_file, "a plain file")?;
    let out = p("out.png");

    let args = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    let sample = |model: &str, extra: &[&str]| {
        let mut a = args(&["sample", "--model", model, "--out", &s(&out)]);
        a.extend(args(extra));
        a
    };
    let score = |model: &str, inputs: &[&Path]| {
        let mut a = args(&["score", "--model", model]);
        a.extend(inputs.iter().map(|i| s(i)));
        a
    };
    let info = |model: &str| args(&["info", "--model", model]);
    // Out-of-distribution scoring: the fixture bundles record no test statistics and have no calibration.
    let grey_calibration = Path::new(&grey).join(realnvp_bundle::CALIBRATION_FILE);
    let calibrate = |model: &str, extra: &[&str], inputs: &[&Path]| {
        let mut a = args(&["calibrate", "--model", model]);
        a.extend(args(extra));
        a.extend(inputs.iter().map(|i| s(i)));
        a
    };
    let foreign = p("foreign-calibration.json");
    std::fs::write(
        &foreign,
        r#"{"pair_id": "0123456789abcdef0123456789abcdef", "statistic": "bits_per_dim",
            "false_positive_rate": 0.05, "threshold": 1.0, "items": 100, "fitted_rate": 0.05}"#,
    )?;
    let ood_score = |extra: &[&str]| {
        let mut a = args(&["score", "--model", &grey]);
        a.extend(args(extra));
        a.push(s(&good));
        a
    };
    let cases = vec![
        Case {
            id: "R01",
            args: info(&s(&p("absent"))),
            message: "does not exist; is this a bundle directory written by `trainer export`?",
            absent: vec![p("absent")],
        },
        Case {
            id: "R02",
            args: info(&s(&corrupt)),
            message: "the file is corrupt or truncated, re-export the bundle",
            absent: vec![],
        },
        Case {
            id: "R03",
            args: info(&bundle(&["--truncate", "inverse"])),
            message: "inverse.onnx: ",
            absent: vec![],
        },
        Case {
            id: "R04",
            args: info(&bundle(&["--pair-mismatch"])),
            message: "come from different exports; copy both files from the same `trainer export` output",
            absent: vec![],
        },
        Case {
            id: "R05",
            args: info(&bundle(&[
                "--drop-key",
                "pair_id",
                "--drop-from",
                "inverse",
            ])),
            message: "has no metadata key `realnvp.pair_id`",
            absent: vec![],
        },
        Case {
            id: "R06",
            args: info(&bundle(&["--format-version", "2"])),
            message: "bundle format version 2 is not supported (this build reads version 1)",
            absent: vec![],
        },
        Case {
            id: "R07",
            args: info(&bundle(&["--direction-swap"])),
            message: "the files were swapped or renamed",
            absent: vec![],
        },
        Case {
            id: "R08",
            args: info(&bundle(&["--model-json-set", "latent_dim=17"])),
            message: "model.json: metadata `latent_dim` is invalid",
            absent: vec![],
        },
        Case {
            id: "R09",
            args: sample(&grey, &["--temperature", "0"]),
            message: "temperature must be a finite number > 0, got 0",
            absent: vec![out.clone()],
        },
        Case {
            id: "R10",
            args: sample(&grey, &["--temperature", "-0.7"]),
            message: "temperature must be a finite number > 0, got -0.7",
            absent: vec![out.clone()],
        },
        Case {
            id: "R11",
            args: sample(&grey, &["--temperature", "NaN"]),
            message: "temperature must be a finite number > 0, got NaN",
            absent: vec![out.clone()],
        },
        Case {
            id: "R12",
            args: sample(&grey, &["--n", "0"]),
            message: "empty batch: pass at least one item",
            absent: vec![out.clone()],
        },
        Case {
            id: "R13",
            args: sample(&grey, &["--n", "100000000000"]),
            message: "invalid option `n`: 100000000000 samples: at most 16777216 per call",
            absent: vec![out.clone()],
        },
        Case {
            id: "R14",
            args: args(&[
                "sample",
                "--model",
                &grey,
                "--out",
                &s(&a_file.join("g.png")),
            ]),
            message: "cannot create the output directory",
            absent: vec![],
        },
        Case {
            id: "R15",
            // `--n 0` too: the file is refused before sampling, which would refuse the 0 samples.
            args: args(&[
                "sample",
                "--model",
                &grey,
                "--n",
                "0",
                "--out",
                &s(&p("grid.jpg")),
            ]),
            message: "must end in .png for an image model",
            absent: vec![p("grid.jpg")],
        },
        Case {
            id: "R16",
            args: sample(&grey, &["--scale", "0"]),
            message: "grid scale 0: use 1 (one screen pixel per image pixel) to 16",
            absent: vec![out.clone()],
        },
        Case {
            id: "R17",
            args: args(&["--batch-size", "0", "info", "--model", &grey]),
            message: "invalid option `batch_size`",
            absent: vec![],
        },
        Case {
            id: "R18",
            args: args(&["--threads", "0", "info", "--model", &grey]),
            message: "invalid option `threads`",
            absent: vec![],
        },
        Case {
            id: "R19",
            args: args(&["--device", "cuda", "info", "--model", &grey]),
            message: "realnvp-runtime was built without the `cuda` feature; rebuild with `--features cuda`",
            absent: vec![],
        },
        Case {
            id: "R20",
            args: args(&[
                "--ort-lib",
                &s(&p("absent/libonnxruntime.so")),
                "info",
                "--model",
                &grey,
            ]),
            message: "cannot load the ONNX Runtime library",
            absent: vec![],
        },
        Case {
            id: "R21",
            args: score(&grey, &[&rgb]),
            message: "has 3 channels (8-bit RGB); the model expects 1 channel (8-bit grey); convert the image first",
            absent: vec![],
        },
        Case {
            id: "R22",
            args: score(&grey, &[&rgba]),
            message: "has 4 channels (RGBA); the model expects 1 channel (8-bit grey)",
            absent: vec![],
        },
        Case {
            id: "R23",
            args: score(&grey, &[&sixteen]),
            message: "has 16-bit grey; the model expects 1 channel (8-bit grey)",
            absent: vec![],
        },
        Case {
            id: "R24",
            args: score(&grey, &[&big]),
            message: "is 8×4 pixels; the model expects 4×4; resize it first",
            absent: vec![],
        },
        Case {
            id: "R25",
            args: score(&grey, &[&truncated]),
            message: "(truncated or corrupt file?)",
            absent: vec![],
        },
        Case {
            id: "R26",
            args: score(&grey, &[&p("no-images")]),
            message: "directory holds no .png/.jpg/.jpeg files",
            absent: vec![],
        },
        Case {
            id: "R27",
            args: score(&vector, &[&p("nan.csv")]),
            message: "nan.csv: line 3: non-finite value NaN",
            absent: vec![],
        },
        Case {
            id: "R28",
            args: score(&vector, &[&p("inf.csv")]),
            message: "inf.csv: line 3: non-finite value inf",
            absent: vec![],
        },
        Case {
            id: "R29",
            args: score(&vector, &[&p("empty.csv")]),
            message: "empty.csv: no data rows; write one item per line as 2 comma-separated numbers",
            absent: vec![],
        },
        Case {
            id: "R30",
            args: args(&[
                "reconstruct",
                "--model",
                &vector,
                &s(&good),
                "--out",
                &s(&out),
            ]),
            message: "reading images needs an image model, but this bundle is a vector model",
            absent: vec![out.clone()],
        },
        Case {
            id: "R31",
            args: args(&[
                "interpolate",
                "--model",
                &grey,
                &s(&good),
                &s(&good),
                &s(&good),
                "--out",
                &s(&out),
            ]),
            message: "give pairs of images (A B [C D ...]); got 3 files",
            absent: vec![out.clone()],
        },
        Case {
            id: "R32",
            args: args(&["check", "--model", &grey, "--tolerance", "-1"]),
            message: "--tolerance must be a positive number, got -1",
            absent: vec![],
        },
        Case {
            id: "R33",
            args: ood_score(&["--ood"]),
            message: "no out-of-distribution calibration at",
            absent: vec![],
        },
        Case {
            id: "R34",
            args: calibrate(&grey, &[], &[&good]),
            message: "1 items cannot set a threshold at a 0.05 false-positive rate: pass at least 19",
            absent: vec![grey_calibration.clone()],
        },
        Case {
            id: "R35",
            args: calibrate(&grey, &["--false-positive-rate", "0"], &[&good]),
            message: "invalid option `false_positive_rate`: 0 is not in (0, 1)",
            absent: vec![grey_calibration.clone()],
        },
        Case {
            id: "R36",
            args: calibrate(&grey, &["--statistic", "typicality"], &[&good]),
            message: "the typicality statistic is not available: the bundle records no test bits/dim statistics",
            absent: vec![grey_calibration.clone()],
        },
        Case {
            id: "R37",
            args: calibrate(&grey, &["--statistic", "nll"], &[&good]),
            message: "--statistic nll: use one of bits_per_dim, complexity_corrected, typicality",
            absent: vec![grey_calibration.clone()],
        },
        Case {
            id: "R38",
            args: calibrate(
                &grey,
                &[
                    "--false-positive-rate",
                    "0.5",
                    "--statistic",
                    "bits_per_dim",
                ],
                &[&good, &good, &truncated],
            ),
            message: "calibration uses every item given, so nothing was written",
            absent: vec![grey_calibration.clone()],
        },
        Case {
            id: "R39",
            args: calibrate(
                &vector,
                &["--statistic", "complexity_corrected"],
                &[&p("nan.csv")],
            ),
            message: "the PNG complexity exists for image models only",
            absent: vec![Path::new(&vector).join(realnvp_bundle::CALIBRATION_FILE)],
        },
        Case {
            id: "R40",
            args: ood_score(&["--ood", "--calibration", &s(&foreign)]),
            message: "it was fitted for the export with pair id 0123456789abcdef0123456789abcdef",
            absent: vec![],
        },
        Case {
            id: "R41",
            args: ood_score(&["--calibration", &s(&foreign)]),
            message: "is only used with --ood; add --ood",
            absent: vec![],
        },
    ];
    let failures = catalogue::failures(
        "runtime",
        || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_runtime"));
            command.env(realnvp_runtime::ORT_DYLIB_ENV, common::ort_library());
            command
        },
        &cases,
        dir,
    )?;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
