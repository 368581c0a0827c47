//! `ORT_DYLIB_PATH` is honoured when no explicit library path is given. (Own test binary with a single test,
//! because it sets a process-wide environment variable.)

mod common;

use realnvp_runtime::{Flow, RuntimeError, resolve_library_path};

#[test]
fn ort_dylib_path_is_used_and_named_in_the_error() {
    let bogus = std::path::PathBuf::from("/bogus/dir/libonnxruntime.so");
    // SAFETY: the only test in this binary, so no other thread reads the environment concurrently.
    unsafe { std::env::set_var("ORT_DYLIB_PATH", &bogus) };
    assert_eq!(resolve_library_path(None), bogus);
    assert_eq!(
        resolve_library_path(Some("/explicit.so".as_ref())),
        std::path::PathBuf::from("/explicit.so")
    );
    match Flow::load(common::bundle(&[]), &common::cpu()).unwrap_err() {
        RuntimeError::Library { path, .. } => assert_eq!(path, bogus),
        other => panic!("{other:?}"),
    }
}
