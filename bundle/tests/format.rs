//! The format's conversions and atomic writes, each checked against what would go wrong.

use std::collections::BTreeMap;
use std::path::Path;

use realnvp_bundle::files::{replace_dir, write_atomic_with};
use realnvp_bundle::{BUNDLE_FILES, BundleError, BundleMetadata, DataShape, Direction, Key};
use serde_json::json;

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

fn image_meta() -> BundleMetadata {
    BundleMetadata::new(
        "00112233445566778899aabbccddeeff",
        DataShape::Image {
            channels: 1,
            height: 28,
            width: 28,
        },
        json!({"kind": "logit", "alpha": 0.05}),
        json!({"layout": 2, "s_scale_l2": 5e-5}),
        json!({"dataset": "fmnist", "steps": 10, "test_bits_per_dim": 3.25}),
        json!({"z_max_abs": 1e-6, "batch": 8}),
    )
}

fn props(meta: &BundleMetadata, d: Direction) -> BTreeMap<String, String> {
    meta.to_props(d).into_iter().collect()
}

#[test]
fn props_and_card_round_trip_for_both_kinds() -> Result {
    let mut vector = image_meta();
    vector.data_shape = DataShape::Vector { dim: 2 };
    for meta in [image_meta(), vector] {
        for d in Direction::BOTH {
            let back = BundleMetadata::from_props(Path::new(d.file()), d, &props(&meta, d))?;
            assert_eq!(back, meta);
        }
        let card = serde_json::to_string_pretty(&meta.to_card())?;
        assert_eq!(
            BundleMetadata::from_card(Path::new("model.json"), &card)?,
            meta
        );
    }
    Ok(())
}

#[test]
fn stored_forms_are_the_documented_ones() {
    let p = props(&image_meta(), Direction::Forward);
    assert_eq!(p.len(), Key::ALL.len());
    assert_eq!(p["realnvp.format_version"], "1");
    assert_eq!(p["realnvp.direction"], "forward");
    assert_eq!(p["realnvp.data_kind"], "image");
    assert_eq!(p["realnvp.data_shape"], "[1,28,28]");
    assert_eq!(p["realnvp.latent_dim"], "784");
    let card = image_meta().to_card();
    assert_eq!(card["format_version"], 1);
    assert_eq!(card["files"]["inverse"], "inverse.onnx");
    assert!(card.get("direction").is_none());
}

#[test]
fn every_missing_key_is_named_in_graphs_and_in_the_card() {
    let meta = image_meta();
    for key in Key::ALL {
        let mut p = props(&meta, Direction::Inverse);
        p.remove(&key.prop());
        match BundleMetadata::from_props(Path::new("inverse.onnx"), Direction::Inverse, &p) {
            Err(BundleError::MissingKey { key: k, file }) => {
                assert_eq!(k, key.prop());
                assert!(file.ends_with("inverse.onnx"));
            }
            other => panic!("{key}: {other:?}"),
        }
        if !key.in_card() {
            continue;
        }
        let mut card = meta.to_card();
        card.as_object_mut().unwrap().remove(key.name());
        match BundleMetadata::from_card(Path::new("model.json"), &card.to_string()) {
            Err(BundleError::MissingKey { key: k, .. }) => assert_eq!(k, key.name()),
            other => panic!("card without {key}: {other:?}"),
        }
    }
}

#[test]
fn a_newer_version_is_reported_before_missing_keys() {
    let p = BTreeMap::from([("realnvp.format_version".to_string(), "2".to_string())]);
    let e =
        BundleMetadata::from_props(Path::new("forward.onnx"), Direction::Forward, &p).unwrap_err();
    assert!(
        matches!(e, BundleError::UnsupportedFormatVersion { ref found, .. } if found == "2"),
        "{e}"
    );
}

#[test]
fn malformed_values_are_refused_by_key() {
    let cases: [(&str, &str); 7] = [
        ("realnvp.pair_id", "abc"),
        ("realnvp.data_kind", "audio"),
        ("realnvp.data_shape", "[1,28]"),
        ("realnvp.data_shape", "[0,28,28]"),
        ("realnvp.latent_dim", "783"),
        ("realnvp.opset", "seventeen"),
        ("realnvp.config", "{not json"),
    ];
    for (key, value) in cases {
        let mut p = props(&image_meta(), Direction::Forward);
        p.insert(key.into(), value.into());
        match BundleMetadata::from_props(Path::new("forward.onnx"), Direction::Forward, &p) {
            Err(BundleError::InvalidKey { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{key} = {value}: {other:?}"),
        }
    }
    let p = props(&image_meta(), Direction::Inverse);
    assert!(matches!(
        BundleMetadata::from_props(Path::new("forward.onnx"), Direction::Forward, &p),
        Err(BundleError::WrongDirection { .. })
    ));
}

#[test]
fn pairs_and_cards_that_disagree_are_refused() -> Result {
    let dir = Path::new("bundle");
    let a = image_meta();
    BundleMetadata::check_pair(dir, &a, &a.clone())?;
    let mut other_export = a.clone();
    other_export.pair_id = "ffffffffffffffffffffffffffffffff".into();
    assert!(matches!(
        BundleMetadata::check_pair(dir, &a, &other_export),
        Err(BundleError::PairMismatch { .. })
    ));
    a.check_card(dir, &a.clone())?;
    let mut card = a.clone();
    card.training = json!({"dataset": "mnist"});
    match a.check_card(dir, &card) {
        Err(BundleError::Inconsistent { reason, .. }) => {
            assert!(reason.contains("training"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let mut card = a.clone();
    card.data_shape = DataShape::Image {
        channels: 1,
        height: 14,
        width: 56,
    };
    assert!(a.check_card(dir, &card).is_err());
    Ok(())
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn replace_dir_swaps_whole_bundles_and_cleans_up_after_failure() -> Result {
    let root = tempfile::tempdir()?;
    let out = root.path().join("model");
    let files = |tag: &str| -> Vec<(&'static str, Vec<u8>)> {
        BUNDLE_FILES
            .iter()
            .map(|f| (*f, tag.as_bytes().to_vec()))
            .collect()
    };
    replace_dir(&out, &files("one"), &BUNDLE_FILES)?;
    replace_dir(&out, &files("two"), &BUNDLE_FILES)?;
    for f in BUNDLE_FILES {
        assert_eq!(std::fs::read(out.join(f))?, b"two");
    }
    // A failed write keeps the previous bundle and leaves no temporary directory.
    let bad = vec![("forward.onnx", b"three".to_vec()), ("no/such/dir", vec![])];
    assert!(replace_dir(&out, &bad, &BUNDLE_FILES).is_err());
    assert_eq!(std::fs::read(out.join("forward.onnx"))?, b"two");
    assert_eq!(leftovers(root.path()), Vec::<String>::new());
    // A directory with other files is never replaced.
    std::fs::write(out.join("notes.txt"), b"mine")?;
    assert!(matches!(
        replace_dir(&out, &files("four"), &BUNDLE_FILES),
        Err(BundleError::NotReplaceable { .. })
    ));
    assert_eq!(std::fs::read(out.join("notes.txt"))?, b"mine");
    assert_eq!(leftovers(root.path()), Vec::<String>::new());
    Ok(())
}

#[test]
fn a_failed_atomic_write_keeps_the_old_file_and_no_temporary() -> Result {
    let root = tempfile::tempdir()?;
    let path = root.path().join("metrics.csv");
    let io = |tmp: &Path, e| BundleError::io(tmp, e);
    write_atomic_with(&path, |tmp| {
        std::fs::write(tmp, b"old").map_err(|e| io(tmp, e))
    })?;
    let failed = write_atomic_with(&path, |tmp| {
        std::fs::write(tmp, b"half").map_err(|e| io(tmp, e))?;
        Err(io(tmp, std::io::Error::other("disk full")))
    });
    assert!(failed.is_err());
    assert_eq!(std::fs::read(&path)?, b"old");
    assert_eq!(leftovers(root.path()), Vec::<String>::new());
    Ok(())
}

/// Writers racing for the same bundle directory (8 threads, 25 swaps each): every write succeeds, the
/// directory afterwards is the complete bundle of one writer (all its files carry the same tag, never a
/// mix of two), and no temporary or moved-aside directory is left.
#[test]
fn racing_writers_leave_one_complete_bundle_and_no_temporaries() -> Result {
    let root = tempfile::tempdir()?;
    let out = root.path().join("model");
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let out = out.clone();
            std::thread::spawn(move || -> std::result::Result<(), String> {
                for k in 0..25 {
                    let tag = format!("writer {w} export {k}");
                    let files: Vec<(&str, Vec<u8>)> = BUNDLE_FILES
                        .iter()
                        .map(|f| (*f, tag.clone().into_bytes()))
                        .collect();
                    replace_dir(&out, &files, &BUNDLE_FILES).map_err(|e| format!("{tag}: {e}"))?;
                    // Whatever a reader sees at any moment is one writer's complete bundle.
                    if let Ok(first) = std::fs::read(out.join(BUNDLE_FILES[0])) {
                        for f in BUNDLE_FILES {
                            if let Ok(b) = std::fs::read(out.join(f)) {
                                // A file may belong to a newer bundle swapped in meanwhile; only check
                                // that it is some writer's whole content.
                                assert!(b.starts_with(b"writer "), "{f}: {b:?}");
                            }
                        }
                        assert!(first.starts_with(b"writer "));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for w in writers {
        w.join().map_err(|_| "writer panicked")??;
    }
    let tags: Vec<Vec<u8>> = BUNDLE_FILES
        .iter()
        .map(|f| std::fs::read(out.join(f)))
        .collect::<std::io::Result<_>>()?;
    assert!(
        tags.iter().all(|t| t == &tags[0]),
        "a mix of exports: {tags:?}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    let mut expected: Vec<String> = BUNDLE_FILES.iter().map(|f| f.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(leftovers(root.path()), Vec::<String>::new());
    Ok(())
}

/// Temporaries of killed writers are removed, those of running writers (this process) and files
/// that are not temporaries are kept.
#[test]
fn stale_temporaries_of_dead_writers_are_removed() -> Result {
    let root = tempfile::tempdir()?;
    // A process id that is not running: the largest possible one is never in use here.
    let dead = std::fs::read_to_string("/proc/sys/kernel/pid_max")?
        .trim()
        .parse::<u32>()?;
    assert!(!Path::new(&format!("/proc/{dead}")).exists());
    let me = std::process::id();
    let stale_file = root
        .path()
        .join(format!(".checkpoint.safetensors.tmp-{dead}-0"));
    let stale_dir = root.path().join(format!(".model.new-{dead}-3"));
    let live = root.path().join(format!(".metrics.csv.tmp-{me}-0"));
    let other = root.path().join(".notes.tmp-x-1");
    std::fs::write(&stale_file, b"half")?;
    std::fs::create_dir(&stale_dir)?;
    std::fs::write(stale_dir.join("forward.onnx"), b"half")?;
    std::fs::write(&live, b"being written")?;
    std::fs::write(&other, b"mine")?;
    let mut removed = realnvp_bundle::files::remove_stale(root.path())?;
    removed.sort();
    let mut expected = vec![stale_file.clone(), stale_dir.clone()];
    expected.sort();
    assert_eq!(removed, expected);
    assert!(!stale_file.exists() && !stale_dir.exists());
    assert!(live.exists() && other.exists());
    assert!(realnvp_bundle::files::remove_stale(&root.path().join("absent"))?.is_empty());
    Ok(())
}
