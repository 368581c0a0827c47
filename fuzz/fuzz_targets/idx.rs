//! IDX image files (MNIST / Fashion-MNIST), plain or gzip'd: `realnvp_trainer::data::parse_idx`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((n, h, w, pixels)) = realnvp_trainer::data::parse_idx(data, Path::new("fuzz.idx")) {
        assert!(n > 0 && h > 0 && w > 0);
        assert_eq!(pixels.len(), n * h * w, "the shape the header declares");
    }
});
