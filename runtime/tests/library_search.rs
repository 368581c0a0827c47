//! With neither an explicit path nor `ORT_DYLIB_PATH`, the system loader is asked for `libonnxruntime.so`, and
//! nothing baked in at compile time is tried. (Own test binary: it clears a process-wide environment variable.)

mod common;

use realnvp_runtime::{
    Flow, LibrarySource, LoadOptions, ORT_DYLIB_ENV, RuntimeError, SYSTEM_LIBRARY_NAMES,
    library_candidates, loaded_library_path,
};

#[test]
fn without_a_path_the_system_loader_searches_by_name() {
    // SAFETY: the only test in this binary, so no other thread reads the environment concurrently.
    unsafe { std::env::remove_var(ORT_DYLIB_ENV) };
    let candidates = library_candidates(None);
    assert_eq!(candidates.len(), SYSTEM_LIBRARY_NAMES.len());
    for ((source, path), name) in candidates.iter().zip(SYSTEM_LIBRARY_NAMES) {
        assert_eq!(*source, LibrarySource::SystemSearch);
        assert_eq!(
            path.as_os_str(),
            name,
            "a bare name, for the loader's search"
        );
    }
    let options = LoadOptions {
        library_path: None,
        ..common::cpu()
    };
    // Whether the loader finds one depends on the machine (the CLI test puts one on LD_LIBRARY_PATH); either
    // way the names are what was asked for, and a failure says what was tried and how to install it.
    match Flow::load(common::bundle(&[]), &options) {
        Ok(_) => {
            let loaded = loaded_library_path().expect("a library is loaded");
            assert!(SYSTEM_LIBRARY_NAMES.contains(&loaded.to_str().unwrap_or_default()));
        }
        Err(RuntimeError::Library { tried }) => {
            let names: Vec<_> = tried.iter().map(|t| t.path.to_string_lossy()).collect();
            assert_eq!(names, SYSTEM_LIBRARY_NAMES, "{tried:?}");
            let message = RuntimeError::Library { tried }.to_string();
            assert!(
                message.contains("pip install onnxruntime") && message.contains(ORT_DYLIB_ENV),
                "{message}"
            );
        }
        Err(other) => panic!("{other:?}"),
    }
}
