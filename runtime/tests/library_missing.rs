//! A missing or unusable ONNX Runtime library is an error with the fix in its message, never a panic.
//! (Own test binary: nothing here ever loads the library successfully, so process-wide state stays clean.)

mod common;

use realnvp_runtime::{Flow, LoadOptions, RuntimeError};

#[test]
fn missing_library_is_a_typed_error_saying_how_to_install_it() {
    let dir = common::bundle(&[]);
    let options = LoadOptions {
        library_path: Some("/nonexistent/libonnxruntime.so".into()),
        ..common::cpu()
    };
    let err = Flow::load(&dir, &options).unwrap_err();
    match &err {
        RuntimeError::Library { tried } => {
            assert_eq!(
                tried.len(),
                1,
                "an explicit path never falls back: {tried:?}"
            );
            assert_eq!(tried[0].path, options.library_path.clone().unwrap());
            assert_eq!(tried[0].reason, "no such file");
        }
        other => panic!("{other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("/nonexistent/libonnxruntime.so")
            && message.contains("pip install onnxruntime==1.31.1")
            && message.contains("ORT_DYLIB_PATH"),
        "{message}"
    );
}

#[test]
fn a_file_that_is_not_a_library_is_a_typed_error() {
    let dir = common::bundle(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"not a shared object").unwrap();
    let options = LoadOptions {
        library_path: Some(fake.clone()),
        ..common::cpu()
    };
    let err = Flow::load(&dir, &options).unwrap_err();
    match err {
        RuntimeError::Library { tried } => assert_eq!(tried[0].path.file_name(), fake.file_name()),
        other => panic!("expected Library error, got {other:?}"),
    }
}
