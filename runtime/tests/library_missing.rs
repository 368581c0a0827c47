//! A missing or unusable ONNX Runtime library is an error with the fix in its message, never a panic.
//! (Own test binary: nothing here ever loads the library successfully, so process-wide state stays clean.)

mod common;

use realnvp_runtime::{Flow, LoadOptions, RuntimeError};

#[test]
fn missing_library_is_a_typed_error_saying_make_setup() {
    let dir = common::bundle(&[]);
    let options = LoadOptions {
        library_path: Some("/nonexistent/libonnxruntime.so".into()),
        ..common::cpu()
    };
    let err = Flow::load(&dir, &options).unwrap_err();
    assert!(matches!(err, RuntimeError::Library { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("make setup") && message.contains("ORT_DYLIB_PATH"),
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
        RuntimeError::Library { path, .. } => assert_eq!(path.file_name(), fake.file_name()),
        other => panic!("expected Library error, got {other:?}"),
    }
}
