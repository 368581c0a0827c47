//! A graph's `metadata_props`: `realnvp_bundle::BundleMetadata::from_props`. The input edits the props of a
//! valid forward graph, one edit per line, so that most inputs get past the first keys: a line's first
//! character picks a key (its code modulo 13: 0-10 the format's keys in order, to set to the rest of the line;
//! 11 removes the key the next character picks; 12 sets the key before `=` in the rest to the text after it).
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use realnvp_bundle::{BundleMetadata, DataShape, Direction, FORMAT_VERSION, Key};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let valid = BundleMetadata::new(
        "00112233445566778899aabbccddeeff",
        DataShape::Image {
            channels: 1,
            height: 28,
            width: 28,
        },
        json!({"kind": "logit", "alpha": 0.05}),
        json!({"layout": 2}),
        json!({"dataset": "fmnist", "steps": 10, "test_bits_per_dim": 3.25}),
        json!({"z_max_abs": 1e-6, "batch": 8}),
    );
    let mut props: BTreeMap<String, String> =
        valid.to_props(Direction::Forward).into_iter().collect();
    let key = |c: Option<char>| Key::ALL[c.map_or(0, |c| c as usize) % Key::ALL.len()];
    for line in text.split('\n') {
        let mut chars = line.chars();
        let Some(first) = chars.next() else { continue };
        let rest = chars.as_str();
        // Each key, then a removal, then garbage: the cases grow with Key::ALL.
        match first as usize % (Key::ALL.len() + 2) {
            i if i < Key::ALL.len() => {
                props.insert(Key::ALL[i].prop(), rest.to_string());
            }
            i if i == Key::ALL.len() => {
                props.remove(&key(rest.chars().next()).prop());
            }
            _ => {
                let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
                props.insert(k.to_string(), v.to_string());
            }
        }
    }
    for direction in Direction::BOTH {
        let file = Path::new(direction.file());
        if let Ok(meta) = BundleMetadata::from_props(file, direction, &props) {
            assert_eq!(
                direction,
                Direction::Forward,
                "read a forward graph as inverse"
            );
            assert_eq!(meta.format_version, FORMAT_VERSION);
            assert!(
                realnvp_bundle::names::is_pair_id(&meta.pair_id)
            );
            let dims = meta.data_shape.dims();
            let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            assert_eq!(count, Some(meta.latent_dim()));
            // What was accepted, written again, reads back the same.
            let again: BTreeMap<String, String> = meta.to_props(direction).into_iter().collect();
            let back = BundleMetadata::from_props(file, direction, &again).expect("re-reading");
            assert_eq!(back, meta);
        }
    }
});
