//! `model.json`: `realnvp_bundle::BundleMetadata::from_card` on any text, then the card checks against the graphs.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use realnvp_bundle::{BundleMetadata, FORMAT_VERSION};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("model.json");
    if let Ok(meta) = BundleMetadata::from_card(file, text) {
        assert_eq!(meta.format_version, FORMAT_VERSION);
        assert!(realnvp_bundle::names::is_pair_id(&meta.pair_id));
        let dims = meta.data_shape.dims();
        let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        assert_eq!(count, Some(meta.latent_dim()));
        // What was accepted, written again, reads back the same and agrees with itself.
        let back =
            BundleMetadata::from_card(file, &meta.to_card().to_string()).expect("re-reading");
        assert_eq!(back, meta);
        meta.check_card(Path::new("."), &back)
            .expect("a card agrees with itself");
    }
});
