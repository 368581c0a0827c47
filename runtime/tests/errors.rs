//! Every bad input returns the right typed error (never a panic, never a silent answer).

mod common;

use std::path::Path;

use common::{bundle, cpu, make_bundle_in, pixels};
use image::{DynamicImage, GrayImage, RgbImage, RgbaImage};
use realnvp_bundle::Key;
use realnvp_runtime::{BundleError, Flow, LoadOptions, RuntimeError};

fn load_err(args: &[&str]) -> RuntimeError {
    Flow::load(bundle(args), &cpu()).expect_err("the bundle must be refused")
}

fn copy_bundle(args: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    make_bundle_in(tmp.path(), args);
    tmp
}

// ---- bundles ----

#[test]
fn missing_onnx_file_names_the_file() {
    let tmp = copy_bundle(&[]);
    std::fs::remove_file(tmp.path().join("inverse.onnx")).unwrap();
    match Flow::load(tmp.path(), &cpu()).unwrap_err() {
        RuntimeError::MissingFile { file } => assert!(file.ends_with("inverse.onnx")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Flow::load(tmp.path().join("no-such-dir"), &cpu()).unwrap_err(),
        RuntimeError::MissingFile { .. }
    ));
}

#[test]
fn corrupt_onnx_file_names_the_file() {
    let tmp = copy_bundle(&[]);
    std::fs::write(
        tmp.path().join("forward.onnx"),
        b"this is not protobuf at all \xff\xfe",
    )
    .unwrap();
    match Flow::load(tmp.path(), &cpu()).unwrap_err() {
        RuntimeError::InvalidGraph { file, .. } => assert!(file.ends_with("forward.onnx")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_onnx_file_names_the_file() {
    for which in ["forward", "inverse"] {
        match load_err(&["--truncate", which]) {
            RuntimeError::InvalidGraph { file, .. } => {
                assert!(file.ends_with(format!("{which}.onnx")))
            }
            other => panic!("{which}: {other:?}"),
        }
    }
}

#[test]
fn pair_from_different_exports_is_refused() {
    match load_err(&["--pair-mismatch"]) {
        RuntimeError::Bundle(BundleError::PairMismatch { forward, inverse }) => {
            assert_ne!(forward, inverse)
        }
        other => panic!("{other:?}"),
    }
    // Two real exports of the same shape mixed by hand.
    let (a, b) = (copy_bundle(&[]), copy_bundle(&[]));
    std::fs::copy(b.path().join("inverse.onnx"), a.path().join("inverse.onnx")).unwrap();
    std::fs::remove_file(a.path().join("model.json")).unwrap();
    assert!(matches!(
        Flow::load(a.path(), &cpu()).unwrap_err(),
        RuntimeError::Bundle(BundleError::PairMismatch { .. })
    ));
}

#[test]
fn missing_metadata_key_names_key_and_file() {
    for (key, from) in [
        (Key::PairId, "forward"),
        (Key::LatentDim, "inverse"),
        (Key::ExportErrors, "forward"),
    ] {
        match load_err(&["--drop-key", key.name(), "--drop-from", from]) {
            RuntimeError::Bundle(BundleError::MissingKey { key: k, file }) => {
                assert_eq!(k, key.prop());
                assert!(file.ends_with(format!("{from}.onnx")), "{file:?}");
            }
            other => panic!("{key}: {other:?}"),
        }
    }
}

#[test]
fn unknown_format_version_and_swapped_direction_are_refused() {
    assert!(matches!(
        load_err(&["--format-version", "2"]),
        RuntimeError::Bundle(BundleError::UnsupportedFormatVersion { .. })
    ));
    assert!(matches!(
        load_err(&["--direction-swap"]),
        RuntimeError::Bundle(BundleError::WrongDirection { .. })
    ));
}

#[test]
fn model_json_disagreeing_with_graphs_is_refused() {
    // A card that is self-consistent but says something else than the graphs.
    let other_id = format!("\"{}\"", "ab".repeat(16));
    let set_id = format!("pair_id={other_id}");
    match load_err(&["--model-json-set", &set_id]) {
        RuntimeError::Bundle(BundleError::Inconsistent { reason, .. }) => {
            assert!(reason.contains(Key::PairId.name()), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // A card that contradicts itself is refused when it is read, naming the key and the file.
    match load_err(&["--model-json-set", "latent_dim=17"]) {
        RuntimeError::Bundle(BundleError::InvalidKey { key, file, .. }) => {
            assert_eq!(key, Key::LatentDim.name());
            assert!(file.ends_with(realnvp_bundle::CARD_FILE), "{file:?}");
        }
        other => panic!("{other:?}"),
    }
    // Without model.json the graphs alone are enough.
    Flow::load(bundle(&["--no-model-json"]), &cpu()).unwrap();
}

#[test]
fn zero_batch_size_or_threads_is_refused() {
    let dir = bundle(&[]);
    for options in [
        LoadOptions {
            batch_size: 0,
            ..cpu()
        },
        LoadOptions {
            threads: Some(0),
            ..cpu()
        },
    ] {
        assert!(matches!(
            Flow::load(&dir, &options).unwrap_err(),
            RuntimeError::InvalidOption { .. }
        ));
    }
}

#[test]
fn another_library_after_the_first_is_a_conflict() {
    Flow::load(bundle(&[]), &cpu()).unwrap();
    let options = LoadOptions {
        library_path: Some("/elsewhere/libonnxruntime.so".into()),
        ..cpu()
    };
    assert!(matches!(
        Flow::load(bundle(&[]), &options).unwrap_err(),
        RuntimeError::LibraryConflict { .. }
    ));
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_is_a_clear_error() {
    let options = LoadOptions {
        device: realnvp_runtime::Device::Cuda(0),
        ..cpu()
    };
    match Flow::load(bundle(&[]), &options).unwrap_err() {
        RuntimeError::ExecutionProvider { provider, reason } => {
            assert_eq!(provider, "CUDA");
            assert!(reason.contains("--features cuda"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

// ---- data ----

#[test]
fn empty_batch_is_refused() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    assert!(matches!(
        flow.log_prob(&[], 0).unwrap_err(),
        RuntimeError::EmptyBatch
    ));
    assert!(matches!(
        flow.decode(&[], 0).unwrap_err(),
        RuntimeError::EmptyBatch
    ));
    assert!(matches!(
        flow.sample(0, 1.0, 0).unwrap_err(),
        RuntimeError::EmptyBatch
    ));
}

#[test]
fn wrong_length_is_refused() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    let x = pixels(2, 16, 1);
    match flow.log_prob(&x[..31], 2).unwrap_err() {
        RuntimeError::InputLength { got, expected, .. } => assert_eq!((got, expected), (31, 32)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        flow.log_prob(&x, 3).unwrap_err(),
        RuntimeError::InputLength { .. }
    ));
    assert!(matches!(
        flow.decode(&x[..20], 1).unwrap_err(),
        RuntimeError::InputLength { what: "z", .. }
    ));
}

#[test]
fn nan_and_inf_are_refused_with_position() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = pixels(3, 16, 2);
        x[16 + 5] = bad;
        match flow.log_prob(&x, 3).unwrap_err() {
            RuntimeError::NonFinite {
                what,
                item,
                position,
                ..
            } => assert_eq!((what, item, position), ("x", 1, 5)),
            other => panic!("{other:?}"),
        }
        let mut z = vec![0.0f32; 32];
        z[20] = bad;
        assert!(matches!(
            flow.decode(&z, 2).unwrap_err(),
            RuntimeError::NonFinite {
                what: "z",
                item: 1,
                ..
            }
        ));
    }
}

#[test]
fn pixels_outside_the_range_are_refused() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    for bad in [-0.5f32, 256.5, 1000.0] {
        let mut x = pixels(1, 16, 2);
        x[3] = bad;
        assert!(matches!(
            flow.log_prob(&x, 1).unwrap_err(),
            RuntimeError::OutOfRange { position: 3, .. }
        ));
    }
}

#[test]
fn bad_temperatures_are_refused() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    for t in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
        match flow.sample(4, t, 1).unwrap_err() {
            RuntimeError::InvalidTemperature { value } => assert!(value.is_nan() || value == t),
            other => panic!("{t}: {other:?}"),
        }
    }
}

// ---- image files ----

fn save(dir: &Path, name: &str, image: DynamicImage) -> std::path::PathBuf {
    let path = dir.join(name);
    image.save(&path).unwrap();
    path
}

#[test]
fn wrong_channels_are_refused() {
    let grey_model = Flow::load(bundle(&[]), &cpu()).unwrap();
    let rgb_model = Flow::load(bundle(&["--shape", "3,4,4"]), &cpu()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let rgb = save(
        tmp.path(),
        "rgb.png",
        DynamicImage::ImageRgb8(RgbImage::new(4, 4)),
    );
    let rgba = save(
        tmp.path(),
        "rgba.png",
        DynamicImage::ImageRgba8(RgbaImage::new(4, 4)),
    );
    let grey = save(
        tmp.path(),
        "grey.png",
        DynamicImage::ImageLuma8(GrayImage::new(4, 4)),
    );
    for (flow, path) in [
        (&grey_model, &rgb),
        (&grey_model, &rgba),
        (&rgb_model, &grey),
        (&rgb_model, &rgba),
    ] {
        match flow.load_image(path).unwrap_err() {
            RuntimeError::ImageChannels { path: p, .. } => assert_eq!(&p, path),
            other => panic!("{path:?}: {other:?}"),
        }
    }
    grey_model.load_image(&grey).unwrap();
    rgb_model.load_image(&rgb).unwrap();
}

#[test]
fn wrong_size_is_refused_not_resized() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = save(
        tmp.path(),
        "big.png",
        DynamicImage::ImageLuma8(GrayImage::new(8, 4)),
    );
    match flow.load_image(&path).unwrap_err() {
        RuntimeError::ImageSize {
            found_w,
            found_h,
            expected_w,
            expected_h,
            ..
        } => {
            assert_eq!((found_w, found_h, expected_w, expected_h), (8, 4, 4, 4))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_png_and_non_image_files_are_refused_by_name() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let good = save(
        tmp.path(),
        "good.png",
        DynamicImage::ImageLuma8(GrayImage::from_fn(4, 4, |x, y| {
            image::Luma([(x * 40 + y) as u8])
        })),
    );
    let bytes = std::fs::read(&good).unwrap();
    let truncated = tmp.path().join("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let text = tmp.path().join("notes.png");
    std::fs::write(&text, "just some text, not an image").unwrap();
    for path in [&truncated, &text] {
        match flow.load_image(path).unwrap_err() {
            RuntimeError::ImageDecode { path: p, .. } => assert_eq!(&p, path),
            other => panic!("{path:?}: {other:?}"),
        }
    }
    assert!(matches!(
        flow.load_image(tmp.path().join("absent.png")).unwrap_err(),
        RuntimeError::Io { .. }
    ));
}

#[test]
fn image_helpers_refuse_vector_models() {
    let flow = Flow::load(bundle(&["--kind", "vector"]), &cpu()).unwrap();
    assert!(matches!(
        flow.load_image("whatever.png").unwrap_err(),
        RuntimeError::WrongDataKind { .. }
    ));
}

/// With the `cuda` feature, an explicit CUDA device either works or is a clear `ExecutionProvider` error (the
/// CPU `onnxruntime` library from `make setup` has no CUDA provider).
#[cfg(feature = "cuda")]
#[test]
fn cuda_device_works_or_is_a_clear_error() {
    let options = LoadOptions {
        device: realnvp_runtime::Device::Cuda(0),
        ..cpu()
    };
    match Flow::load(bundle(&[]), &options) {
        Ok(flow) => assert_eq!(flow.provider(), realnvp_runtime::Provider::Cuda(0)),
        Err(RuntimeError::ExecutionProvider { provider, reason }) => {
            assert_eq!(provider, "CUDA");
            assert!(reason.contains("--device cpu"), "{reason}");
        }
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn too_many_samples_is_refused_before_allocating() {
    let flow = Flow::load(bundle(&[]), &cpu()).unwrap();
    let most = realnvp_runtime::MAX_SAMPLE_VALUES / flow.latent_dim();
    for n in [most + 1, usize::MAX] {
        match flow.sample(n, 1.0, 0).unwrap_err() {
            RuntimeError::InvalidOption { name, reason } => {
                assert_eq!(name, "n");
                assert!(reason.contains(&most.to_string()), "{reason}");
            }
            other => panic!("{n}: {other:?}"),
        }
    }
    assert!(matches!(
        flow.sample_latent(most + 1, 1.0, 0).unwrap_err(),
        RuntimeError::InvalidOption { name: "n", .. }
    ));
}
