//! CSV tables for vector data, plain or gzip'd: `realnvp_trainer::data::parse_csv`. The first byte also picks
//! the columns to drop, so the drop rules are fuzzed with the rest.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let drop: Vec<String> = match data.first().map(|b| b % 4) {
        Some(0) => vec!["1".into()],
        Some(1) => vec!["a".into(), "2".into()],
        Some(2) => vec!["0".into()],
        _ => vec![],
    };
    if let Ok((d, values)) = realnvp_trainer::data::parse_csv(data, Path::new("fuzz.csv"), &drop) {
        assert!(d > 0);
        assert_eq!(values.len() % d, 0, "whole rows");
        assert!(values.iter().all(|v| v.is_finite()));
    }
});
