//! `ORT_DYLIB_PATH` is honoured when no explicit library path is given, and only it is tried. (Own test binary
//! with a single test, because it sets a process-wide environment variable.)

mod common;

use realnvp_runtime::{
    Flow, LibrarySource, LoadOptions, ORT_DYLIB_ENV, RuntimeError, library_candidates,
};

#[test]
fn ort_dylib_path_is_used_and_named_in_the_error() {
    let bogus = std::path::PathBuf::from("/bogus/dir/libonnxruntime.so");
    // SAFETY: the only test in this binary, so no other thread reads the environment concurrently.
    unsafe { std::env::set_var(ORT_DYLIB_ENV, &bogus) };
    assert_eq!(
        library_candidates(None),
        [(LibrarySource::Environment, bogus.clone())]
    );
    let explicit = std::path::PathBuf::from("/explicit.so");
    assert_eq!(
        library_candidates(Some(&explicit)),
        [(LibrarySource::Explicit, explicit)]
    );
    let options = LoadOptions {
        library_path: None,
        ..common::cpu()
    };
    match Flow::load(common::bundle(&[]), &options).unwrap_err() {
        RuntimeError::Library { tried } => {
            assert_eq!(tried.len(), 1, "{tried:?}");
            assert_eq!(tried[0].source, LibrarySource::Environment);
            assert_eq!(tried[0].path, bogus);
        }
        other => panic!("{other:?}"),
    }
}
