//! Properties of the metadata readers, the bundle's two loaders of outside input: a graph's `metadata_props`
//! ([`BundleMetadata::from_props`]) and `model.json` ([`BundleMetadata::from_card`]).
//!
//! Valid metadata round-trips through both forms; arbitrary and damaged input gives either a typed error or
//! metadata that keeps the format's invariants (known version, 32 hex digits of pair id, latent size = the
//! shape's element count), never a panic. `fuzz/` runs the same readers under cargo-fuzz.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use realnvp_bundle::{BundleError, BundleMetadata, DataShape, Direction, FORMAT_VERSION, Key};
use serde_json::{Value, json};

/// Any JSON value, nested a few levels: any integer, any finite float (the workspace enables serde_json's
/// `float_roundtrip`; its default parser read some doubles back one ulp off), short decimals, any text.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO)
            .prop_map(|f| json!(f)),
        (-1_000_000i32..1_000_000, 0u32..6)
            .prop_map(|(m, e)| json!(f64::from(m) / 10f64.powi(e as i32))),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn data_shape() -> impl Strategy<Value = DataShape> {
    prop_oneof![
        (1usize..5, 1usize..64, 1usize..64).prop_map(|(channels, height, width)| {
            DataShape::Image {
                channels,
                height,
                width,
            }
        }),
        (1usize..5000).prop_map(|dim| DataShape::Vector { dim }),
    ]
}

fn metadata() -> impl Strategy<Value = BundleMetadata> {
    (
        "[0-9a-fA-F]{32}",
        data_shape(),
        json_value(),
        json_value(),
        json_value(),
        json_value(),
    )
        .prop_map(|(pair_id, shape, pre, config, training, errors)| {
            BundleMetadata::new(pair_id, shape, pre, config, training, errors)
        })
}

fn props(meta: &BundleMetadata, direction: Direction) -> BTreeMap<String, String> {
    meta.to_props(direction).into_iter().collect()
}

/// What every accepted metadata must satisfy, whatever it was read from.
fn check_invariants(meta: &BundleMetadata) {
    assert_eq!(meta.format_version, FORMAT_VERSION);
    assert!(realnvp_bundle::names::is_pair_id(&meta.pair_id));
    let dims = meta.data_shape.dims();
    assert!(dims.iter().all(|&d| d > 0));
    let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    assert_eq!(count, Some(meta.latent_dim()), "latent size of {dims:?}");
    assert_eq!(
        DataShape::from_dims(meta.data_kind(), &dims),
        Some(meta.data_shape)
    );
}

/// Reading what was read, written again, gives the same metadata: nothing accepted is lost in a re-export.
fn check_rewrite(meta: &BundleMetadata) {
    let file = Path::new("forward.onnx");
    let again =
        BundleMetadata::from_props(file, Direction::Forward, &props(meta, Direction::Forward))
            .expect("re-reading accepted metadata");
    assert_eq!(&again, meta);
}

const FILE: &str = "forward.onnx";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn valid_metadata_round_trips_through_props_and_card(meta in metadata()) {
        for direction in Direction::BOTH {
            let file = Path::new(direction.file());
            let back = BundleMetadata::from_props(file, direction, &props(&meta, direction)).unwrap();
            prop_assert_eq!(&back, &meta);
        }
        let text = meta.to_card().to_string();
        let back = BundleMetadata::from_card(Path::new("model.json"), &text).unwrap();
        prop_assert_eq!(&back, &meta);
        meta.check_card(Path::new("."), &back).unwrap();
    }

    /// Arbitrary key/value maps (the real keys among made-up ones, with any text) never panic.
    #[test]
    fn arbitrary_props_give_valid_metadata_or_an_error(
        entries in prop::collection::vec(
            (prop_oneof![
                prop::sample::select(Key::ALL.to_vec()).prop_map(|k| k.prop()),
                ".{0,16}",
            ], prop_oneof![".{0,24}", json_value().prop_map(|v| v.to_string())]),
            0..16,
        )
    ) {
        let map: BTreeMap<String, String> = entries.into_iter().collect();
        if let Ok(meta) = BundleMetadata::from_props(Path::new(FILE), Direction::Forward, &map) {
            check_invariants(&meta);
            check_rewrite(&meta);
        }
    }

    /// One key of valid props replaced by any text (or JSON), or removed: a typed error that names that key
    /// (or the version / direction error), or metadata that still keeps the invariants.
    #[test]
    fn one_damaged_key_is_refused_or_harmless(
        meta in metadata(),
        key in prop::sample::select(Key::ALL.to_vec()),
        value in prop::option::of(prop_oneof![".{0,24}", json_value().prop_map(|v| v.to_string())]),
    ) {
        let mut map = props(&meta, Direction::Forward);
        match &value {
            Some(v) => map.insert(key.prop(), v.clone()),
            None => map.remove(&key.prop()),
        };
        match BundleMetadata::from_props(Path::new(FILE), Direction::Forward, &map) {
            Ok(read) => {
                prop_assert!(value.is_some(), "accepted props without {}", key.prop());
                check_invariants(&read);
                check_rewrite(&read);
            }
            Err(BundleError::MissingKey { key: k, .. }) => prop_assert_eq!(k, key.prop()),
            Err(BundleError::InvalidKey { key: k, .. }) => prop_assert_eq!(k, key.prop()),
            Err(BundleError::UnsupportedFormatVersion { .. }) => {
                prop_assert_eq!(key, Key::FormatVersion)
            }
            Err(BundleError::WrongDirection { .. }) => prop_assert_eq!(key, Key::Direction),
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    /// Any text as model.json never panics; what it accepts keeps the invariants.
    #[test]
    fn arbitrary_card_text_gives_valid_metadata_or_an_error(text in ".{0,200}") {
        if let Ok(meta) = BundleMetadata::from_card(Path::new("model.json"), &text) {
            check_invariants(&meta);
        }
    }

    /// A valid model.json cut short anywhere, or with one byte changed: an error, or metadata that keeps the
    /// invariants (a changed digit inside a number of the training summary is still a valid card).
    #[test]
    fn damaged_card_is_refused_or_valid(
        meta in metadata(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let text = serde_json::to_string_pretty(&meta.to_card()).unwrap();
        let mut truncated = text.clone();
        let at = cut.index(text.len());
        truncated.truncate((0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0));
        if truncated.len() < text.len() {
            prop_assert!(BundleMetadata::from_card(Path::new("model.json"), &truncated).is_err());
        }
        let mut bytes = text.into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(flipped) = String::from_utf8(bytes)
            && let Ok(read) = BundleMetadata::from_card(Path::new("model.json"), &flipped)
        {
            check_invariants(&read);
        }
    }
}

/// Regression (found by reading the readers for the fuzz targets): a data shape whose element count overflows
/// `usize` made `DataShape::numel` panic ("attempt to multiply with overflow") in builds with overflow checks,
/// and wrap in release builds, where a `latent_dim` equal to the wrapped count passed the check.
#[test]
fn data_shape_whose_size_overflows_is_refused() {
    let meta = BundleMetadata::new(
        "00112233445566778899aabbccddeeff",
        DataShape::Vector { dim: 2 },
        json!({}),
        json!({}),
        json!({}),
        json!({}),
    );
    let big = 1u64 << 32;
    // 2^32 · (2^32 + 1) = 2^64 + 2^32 elements, which wraps to 2^32 in 64 bits.
    let shape = json!([big, big + 1, 1]);
    let wrapped = big.wrapping_mul(big + 1);
    assert_eq!(wrapped, big);
    let mut map = props(&meta, Direction::Forward);
    map.insert(Key::DataKind.prop(), "image".into());
    map.insert(Key::DataShape.prop(), shape.to_string());
    map.insert(Key::LatentDim.prop(), wrapped.to_string());
    let err = BundleMetadata::from_props(Path::new(FILE), Direction::Forward, &map)
        .expect_err("a shape of 2^64 + 2^32 elements");
    assert!(
        matches!(&err, BundleError::InvalidKey { key, .. } if *key == Key::DataShape.prop()),
        "{err}"
    );
    // The same shape built by hand counts as "too large for any buffer", never as a small wrapped count.
    let by_hand = DataShape::Image {
        channels: big as usize,
        height: big as usize + 1,
        width: 1,
    };
    assert_eq!(by_hand.numel(), usize::MAX);
}

// ---- calibration.json and the test statistics (out-of-distribution scoring) ----

fn calibration() -> impl Strategy<Value = realnvp_bundle::Calibration> {
    (
        "[0-9a-f]{32}",
        prop::sample::select(realnvp_bundle::OodStatistic::ALL.to_vec()),
        0.001f64..0.999,
        prop::num::f64::NORMAL | prop::num::f64::ZERO,
        1usize..1_000_000,
        0.0f64..=1.0,
    )
        .prop_map(
            |(pair_id, statistic, false_positive_rate, threshold, items, fitted_rate)| {
                realnvp_bundle::Calibration {
                    pair_id,
                    statistic,
                    false_positive_rate,
                    threshold,
                    items,
                    fitted_rate,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// What `runtime calibrate` writes reads back exactly, and only the export it names accepts it.
    #[test]
    fn calibration_round_trips(cal in calibration(), other in "[0-9a-f]{32}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(realnvp_bundle::CALIBRATION_FILE);
        cal.write(&path).unwrap();
        let back = realnvp_bundle::Calibration::read(&path).unwrap();
        prop_assert_eq!(&back, &cal);
        prop_assert!(back.check_pair(&path, &cal.pair_id).is_ok());
        prop_assert_eq!(back.check_pair(&path, &other).is_ok(), other == cal.pair_id);
    }

    /// Any text, and a valid file with one field replaced by any JSON value (or removed), gives a typed error or
    /// a calibration that keeps the file's invariants.
    #[test]
    fn any_calibration_text_is_refused_or_valid(
        text in ".{0,200}",
        cal in calibration(),
        field in prop::sample::select(vec!["pair_id", "statistic", "false_positive_rate", "threshold", "items", "fitted_rate"]),
        value in prop_oneof![json_value(), (-2.0f64..2.0).prop_map(|v| json!(v)), Just(Value::Null)],
        remove in any::<bool>(),
    ) {
        let path = Path::new("calibration.json");
        let mut object = serde_json::to_value(&cal).unwrap();
        if remove {
            object.as_object_mut().unwrap().remove(field);
        } else {
            object[field] = value;
        }
        let object = object.to_string();
        for input in [text.as_str(), object.as_str()] {
            match realnvp_bundle::Calibration::parse(path, input) {
                Ok(cal) => {
                    prop_assert!(cal.false_positive_rate > 0.0 && cal.false_positive_rate < 1.0);
                    prop_assert!(cal.threshold.is_finite() && cal.items > 0);
                    prop_assert!((0.0..=1.0).contains(&cal.fitted_rate));
                    prop_assert!(realnvp_bundle::names::is_pair_id(&cal.pair_id));
                }
                Err(e) => prop_assert!(matches!(e, BundleError::InvalidCalibration { .. }), "{e:?}"),
            }
        }
    }

    /// A `test_scores` object of the right shape (the five fields of `ScoreStats`) whose values may be bad: a
    /// count of 0, negative or fractional, a negative std, or a non-finite mean, std, min or max (serde_json
    /// writes NaN and ±Inf as null, so that is how a non-finite summary reaches a card). It is accepted exactly
    /// when every value is good, and then read as written; otherwise refused with a typed error naming the
    /// field.
    #[test]
    fn score_stats_with_bad_values_are_refused(
        count in prop_oneof![
            1 => Just(json!(0)),
            4 => (1u64..1_000_000).prop_map(|c| json!(c)),
            1 => (-1_000_000i64..0).prop_map(|c| json!(c)),
            1 => Just(json!(2.5)),
        ],
        values in prop::collection::vec(
            prop_oneof![
                5 => -100.0f64..100.0,
                1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
            ],
            4,
        ),
    ) {
        let (mean, std, min, max) = (values[0], values[1], values[2], values[3]);
        // json! turns a non-finite f64 into null, as serde_json does when the exporter writes the card.
        let object = json!({ "count": count, "mean": mean, "std": std, "min": min, "max": max });
        // What a summary of at least one finite score is, worked out from the generated values.
        let count_ok = count.as_u64().is_some_and(|c| c > 0);
        let good = count_ok && values.iter().all(|v| v.is_finite()) && std >= 0.0;
        let training = json!({ realnvp_bundle::ood::TEST_SCORES_FIELD: object });
        match realnvp_bundle::ScoreStats::from_training(Path::new("model.json"), &training) {
            Ok(Some(s)) => {
                prop_assert!(good, "accepted {object}");
                prop_assert_eq!(Some(s.count as u64), count.as_u64());
                prop_assert_eq!((s.mean, s.std, s.min, s.max), (mean, std, min, max));
            }
            Ok(None) => prop_assert!(false, "{object} read as no summary"),
            Err(BundleError::InvalidKey { key, .. }) => {
                prop_assert!(!good, "refused {object}");
                prop_assert_eq!(key, format!("training.{}", realnvp_bundle::ood::TEST_SCORES_FIELD));
            }
            Err(e) => prop_assert!(false, "{object}: unexpected error {e:?}"),
        }
    }

    /// The training summary's `test_scores` is absent, valid, or a typed error, whatever the JSON.
    #[test]
    fn any_test_scores_value_is_refused_or_valid(value in json_value()) {
        let training = json!({ realnvp_bundle::ood::TEST_SCORES_FIELD: value });
        match realnvp_bundle::ScoreStats::from_training(Path::new("model.json"), &training) {
            Ok(None) => prop_assert!(training[realnvp_bundle::ood::TEST_SCORES_FIELD].is_null()),
            Ok(Some(s)) => prop_assert!(s.count > 0 && s.std >= 0.0 && s.mean.is_finite()),
            Err(e) => prop_assert!(matches!(e, BundleError::InvalidKey { .. }), "{e:?}"),
        }
    }
}
