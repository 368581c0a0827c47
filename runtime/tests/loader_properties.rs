//! Properties of the runtime's readers of outside input, through their byte-slice entry points: images
//! ([`image_io::image_from_bytes`], what `runtime score` and `Flow::load_image` run on each file) and CSV
//! ([`vector_io::parse_csv`]). The bundle's metadata readers have theirs in `bundle/tests/`.
//!
//! Valid files read back exactly; arbitrary, truncated or bit-flipped input gives a typed error or data of the
//! model's shape, never a panic. `fuzz/` runs the same entry points under cargo-fuzz (docs/fuzzing.md).

use std::path::Path;

#[path = "../../tests/support/images.rs"]
mod images;
use images::{encode, planar, small_image};
use proptest::prelude::*;
use proptest::sample::Index;
use realnvp_runtime::{DataShape, RuntimeError, image_io, vector_io};

fn image_shape(channels: usize, height: usize, width: usize) -> DataShape {
    DataShape::Image {
        channels,
        height,
        width,
    }
}

/// What an accepted image must be: exactly one item of `shape`, every value a bin centre `p + 0.5`.
fn check_image(bytes: &[u8], shape: DataShape) {
    match image_io::image_from_bytes(bytes, shape, Path::new("x.png")) {
        Ok(x) => {
            assert_eq!(x.len(), shape.numel());
            assert!(
                x.iter()
                    .all(|v| (0.5..=255.5).contains(v) && v.fract() == 0.5)
            );
        }
        Err(
            RuntimeError::ImageDecode { .. }
            | RuntimeError::ImageChannels { .. }
            | RuntimeError::ImageSize { .. },
        ) => {}
        Err(other) => panic!("unexpected error for a bad image: {other}"),
    }
}

const SHAPES: [(usize, usize, usize); 4] = [(1, 4, 4), (3, 5, 3), (1, 1, 1), (3, 9, 9)];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A PNG of the model's shape reads back exactly, planar, at bin centres; a JPEG keeps the shape; any other
    /// size or channel count is refused, never resized or converted.
    #[test]
    fn image_round_trips_and_other_shapes_are_refused((c, w, h, raw) in small_image(), other in 0usize..4) {
        let png = encode(c, w, h, &raw, image::ImageFormat::Png);
        let shape = image_shape(c, h as usize, w as usize);
        let x = image_io::image_from_bytes(&png, shape, Path::new("x.png")).unwrap();
        let hw = (w * h) as usize;
        let want: Vec<f32> = planar(c, &raw).into_iter().map(|p| f32::from(p) + 0.5).collect();
        prop_assert_eq!(x, want);
        let jpeg = encode(c, w, h, &raw, image::ImageFormat::Jpeg);
        let x = image_io::image_from_bytes(&jpeg, shape, Path::new("x.jpg")).unwrap();
        prop_assert_eq!(x.len(), c * hw);
        let (oc, oh, ow) = SHAPES[other];
        if (oc, oh, ow) != (c, h as usize, w as usize) {
            let err = image_io::image_from_bytes(&png, image_shape(oc, oh, ow), Path::new("x.png"));
            let refused = matches!(
                err,
                Err(RuntimeError::ImageChannels { .. } | RuntimeError::ImageSize { .. })
            );
            prop_assert!(refused, "{:?}", err);
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
        let truncated = file[..cut.index(file.len())].to_vec();
        let mut flipped = file.clone();
        flipped[flip.index(file.len())] ^= 1 << bit;
        let own = image_shape(c, h as usize, w as usize);
        for shape in SHAPES.iter().map(|&(c, h, w)| image_shape(c, h, w)).chain([own]) {
            check_image(&bytes, shape);
            check_image(&truncated, shape);
            check_image(&flipped, shape);
        }
    }

    /// Shapes an image file cannot hold are refused before any decoding, whatever the bytes.
    #[test]
    fn image_shapes_files_cannot_hold_are_refused(
        channels in prop_oneof![Just(0usize), Just(2), Just(4), 5usize..1000],
        big in prop_oneof![Just(1usize), Just(1usize << 32), Just(usize::MAX)],
        bytes in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        for shape in [image_shape(channels, 2, 2), image_shape(1, big, 1 << 32), DataShape::Vector { dim: 4 }] {
            let err = image_io::image_from_bytes(&bytes, shape, Path::new("x.png"));
            prop_assert!(matches!(err, Err(RuntimeError::ImageChannels { .. })), "{:?}", err);
        }
    }

    #[test]
    fn csv_round_trips(
        dim in 1usize..5,
        rows in prop::collection::vec(
            prop::collection::vec(prop::num::f32::NORMAL | prop::num::f32::ZERO | prop::num::f32::SUBNORMAL, 4),
            1..8,
        ),
        header in any::<bool>(),
        comments in any::<bool>(),
    ) {
        let values: Vec<f32> = rows.iter().flat_map(|r| r[..dim].to_vec()).collect();
        let mut text = if header { realnvp_bundle::data::vectors_csv(&values, dim) } else {
            let mut t = String::new();
            for r in values.chunks(dim) {
                t.push_str(&r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" , "));
                t.push('\n');
            }
            t
        };
        if comments {
            text = format!("# a comment\n\n{text}\n# the end\n");
        }
        let (x, n) = vector_io::parse_csv(&text, dim, Path::new("t.csv")).unwrap();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(n, rows.len());
        prop_assert_eq!(bits(&x), bits(&values));
    }

    /// One NaN or ±Inf anywhere in a valid table: refused, naming its line.
    #[test]
    fn csv_non_finite_value_is_refused_naming_its_line(
        dim in 1usize..4,
        rows in 1usize..6,
        at in any::<Index>(),
        bad in prop::sample::select(vec!["NaN", "inf", "-inf", "infinity", "1e39"]),
    ) {
        let mut cells: Vec<String> = (0..dim * rows).map(|i| format!("{}.25", i)).collect();
        let i = at.index(cells.len());
        cells[i] = bad.to_string();
        let mut text = String::from("a,b,c\n");
        for row in cells.chunks(dim) {
            text.push_str(&row.join(","));
            text.push('\n');
        }
        match vector_io::parse_csv(&text, dim, Path::new("t.csv")) {
            Err(RuntimeError::Csv { line, .. }) => prop_assert_eq!(line, 2 + i / dim),
            other => prop_assert!(false, "accepted {} at {}: {:?}", bad, i, other),
        }
    }

    /// Any text: `rows × dim` finite values or a typed error naming the line.
    #[test]
    fn csv_arbitrary_text_never_panics(
        text in prop::collection::vec(
            prop_oneof![
                Just(","), Just("\n"), Just(" "), Just("#"), Just("NaN"), Just("inf"), Just("-"), Just("e"),
                Just("1"), Just("2.5"), Just("x"), Just("\r\n"),
            ],
            0..40,
        ).prop_map(|p| p.concat()),
        any_text in ".{0,40}",
        dim in 0usize..4,
    ) {
        for t in [&text, &any_text] {
            match vector_io::parse_csv(t, dim, Path::new("t.csv")) {
                Ok((x, n)) => {
                    prop_assert!(n > 0);
                    prop_assert_eq!(x.len(), n * dim);
                    prop_assert!(x.iter().all(|v| v.is_finite()));
                }
                Err(RuntimeError::Csv { .. }) => {}
                Err(other) => prop_assert!(false, "unexpected error {}", other),
            }
        }
    }
}
