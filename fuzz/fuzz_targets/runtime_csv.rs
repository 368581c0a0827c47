//! CSV rows for vector models, as `runtime score` reads them: `realnvp_runtime::vector_io::parse_csv`. The
//! first byte picks the model's dimension.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let dim = usize::from(pick % 5);
    if let Ok((x, n)) = realnvp_runtime::vector_io::parse_csv(text, dim, Path::new("fuzz.csv")) {
        assert!(n > 0);
        assert_eq!(x.len(), n * dim);
        assert!(x.iter().all(|v| v.is_finite()));
    }
});
