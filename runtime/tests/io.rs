//! Image and CSV helpers: pixel conventions, grids, atomic writes, CSV parsing.

mod common;

use image::{DynamicImage, GenericImageView, RgbImage};
use realnvp_runtime::{DataShape, Flow, RuntimeError, image_io, vector_io};

#[test]
fn png_pixels_load_planar_with_half_offset() {
    let flow = Flow::load(common::bundle(&["--shape", "3,2,3"]), &common::cpu()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let img = RgbImage::from_fn(3, 2, |x, y| {
        image::Rgb([(10 * x + y) as u8, 100 + x as u8, 200 + y as u8])
    });
    let path = tmp.path().join("rgb.png");
    DynamicImage::ImageRgb8(img).save(&path).unwrap();
    let x = flow.load_image(&path).unwrap();
    assert_eq!(x.len(), 18);
    // x[c, y, x] in C, H, W order, scored as p + 0.5.
    for (y, col) in [(0usize, 0usize), (1, 2), (0, 1)] {
        let i = y * 3 + col;
        assert_eq!(x[i], (10 * col + y) as f32 + 0.5);
        assert_eq!(x[6 + i], (100 + col) as f32 + 0.5);
        assert_eq!(x[12 + i], (200 + y) as f32 + 0.5);
    }
    // The image scores like the same data passed directly.
    let (_, lp) = common::closed_form(&x, true);
    let got = flow.log_prob(&x, 1).unwrap()[0];
    assert!((f64::from(got) - lp).abs() / lp.abs() < 1e-5);
}

#[test]
fn to_u8_floors_and_clamps() {
    assert_eq!(
        image_io::to_u8(&[-3.0, 0.0, 0.99, 1.5, 254.9, 255.0, 255.99, 300.0, f32::NAN]),
        vec![0, 0, 0, 1, 254, 255, 255, 255, 0]
    );
}

#[test]
fn grid_has_borders_and_places_items() {
    // 5 grey items of 2x3 (H=2, W=3), item k filled with 10k + 0.5.
    let shape = image(1, 2, 3);
    let x: Vec<f32> = (0..5)
        .flat_map(|k| std::iter::repeat_n(10.0 * k as f32 + 0.5, 6))
        .collect();
    let grid = image_io::grid_image(&x, 5, shape, None, 1).unwrap();
    // ceil(sqrt 5) = 3 columns, 2 rows; each cell is 3+1 wide, 2+1 high, plus the outer border.
    assert_eq!(grid.dimensions(), (3 * 4 + 1, 2 * 3 + 1));
    let px = |x, y| grid.get_pixel(x, y).0[0];
    assert_eq!(px(0, 0), 128, "border");
    assert_eq!(px(4, 1), 128, "border between cells");
    assert_eq!(px(1, 1), 0, "item 0");
    assert_eq!(px(5, 2), 10, "item 1");
    assert_eq!(px(1 + 4, 4), 40, "item 4 is row 1, column 1");
    assert_eq!(px(9, 4), 128, "the empty sixth cell stays border grey");
}

/// At scale 3 every pixel of the scale-1 grid becomes a 3×3 block: the same picture, larger.
#[test]
fn grid_scale_enlarges_every_pixel_into_a_block() {
    let shape = image(1, 2, 3);
    let x: Vec<f32> = (0..30).map(|i| (i * 8) as f32 + 0.5).collect();
    let one = image_io::grid_image(&x, 5, shape, None, 1).unwrap();
    let three = image_io::grid_image(&x, 5, shape, None, 3).unwrap();
    assert_eq!(three.dimensions(), (one.width() * 3, one.height() * 3));
    let one = one.to_luma8();
    for (px, py, p) in three.to_luma8().enumerate_pixels() {
        assert_eq!(p.0, one.get_pixel(px / 3, py / 3).0, "({px}, {py})");
    }
    for bad in [0, image_io::MAX_GRID_SCALE + 1] {
        let err = image_io::grid_image(&x, 5, shape, None, bad).unwrap_err();
        assert!(err.to_string().contains("grid scale"), "{err}");
    }
}

#[test]
fn grid_png_is_written_atomically_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sub/grid.png");
    let x: Vec<f32> = (0..4 * 12).map(|i| (i * 5) as f32 + 0.25).collect();
    image_io::write_grid_png(&out, &x, 4, image(3, 2, 2), Some(4), 1).unwrap();
    let back = image::open(&out).unwrap();
    assert_eq!(back.dimensions(), (4 * 3 + 1, 3 + 1));
    assert_eq!(back.color(), image::ColorType::Rgb8);
    // Item 0, pixel (0,0): channels at planar positions 0, 4, 8.
    assert_eq!(back.get_pixel(1, 1).0[..3], [0, 20, 40]);
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn grid_refuses_bad_lengths() {
    assert!(matches!(
        image_io::grid_image(&[1.0; 5], 1, image(1, 2, 3), None, 1).unwrap_err(),
        RuntimeError::InputLength { .. }
    ));
    assert!(matches!(
        image_io::grid_image(&[], 0, image(1, 2, 3), None, 1).unwrap_err(),
        RuntimeError::EmptyBatch
    ));
}

#[test]
fn csv_round_trips_and_names_bad_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.csv");
    let x = vec![1.5f32, -2.25, 0.125, 3.0];
    vector_io::write_csv(&path, &x, 2).unwrap();
    assert_eq!(vector_io::read_csv(&path, 2).unwrap(), (x, 2));

    std::fs::write(&path, "a,b\n1,2\n\n# comment\n3,oops\n").unwrap();
    match vector_io::read_csv(&path, 2).unwrap_err() {
        RuntimeError::Csv { line, .. } => assert_eq!(line, 5),
        other => panic!("{other:?}"),
    }
    std::fs::write(&path, "1,2\n3,\n").unwrap();
    let message = vector_io::read_csv(&path, 2).unwrap_err().to_string();
    assert!(message.contains("line 2: column 2: is empty"), "{message}");
    std::fs::write(&path, "1,2\n3,4,\n").unwrap();
    let message = vector_io::read_csv(&path, 2).unwrap_err().to_string();
    assert!(
        message.contains("line 2: 3 values, the model takes 2"),
        "{message}"
    );
    std::fs::write(&path, "1,2,3\n").unwrap();
    assert!(matches!(
        vector_io::read_csv(&path, 2).unwrap_err(),
        RuntimeError::Csv { line: 1, .. }
    ));
    std::fs::write(&path, "1,2\n3,NaN\n").unwrap();
    assert!(matches!(
        vector_io::read_csv(&path, 2).unwrap_err(),
        RuntimeError::Csv { line: 2, .. }
    ));
}

#[test]
fn scatter_png_draws_points() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.png");
    vector_io::write_scatter_png(&path, &[0.0, 0.0, 1.0, 1.0, -1.0, 0.5], 2, 64).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (64, 64));
    let blue = img
        .pixels()
        .filter(|p| p.0 == realnvp_plot::PALETTE[0])
        .count();
    assert!(blue >= 3 * 4, "three dots drawn, found {blue} dot pixels");
}

fn image(channels: usize, height: usize, width: usize) -> DataShape {
    DataShape::Image {
        channels,
        height,
        width,
    }
}

/// Where every input is needed (`read_all_inputs`): one unreadable file is its own error, and with several
/// the first is named and the others counted.
#[test]
fn reading_all_inputs_names_the_first_failure_and_counts_the_others() {
    let flow = Flow::load(common::bundle(&["--shape", "1,2,3"]), &common::cpu()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.png");
    DynamicImage::ImageLuma8(image::GrayImage::from_pixel(3, 2, image::Luma([7])))
        .save(&good)
        .unwrap();
    let (bad_a, bad_b) = (tmp.path().join("a.png"), tmp.path().join("b.png"));
    for bad in [&bad_a, &bad_b] {
        std::fs::write(bad, b"not a png").unwrap();
    }
    let all = flow.read_all_inputs(&[&good, &good]).unwrap();
    assert_eq!((all.len(), all.values.len()), (2, 12));
    let one = flow.read_all_inputs(&[&good, &bad_a]).unwrap_err();
    assert!(
        matches!(one, RuntimeError::ImageDecode { .. }),
        "one failure is returned as it is: {one:?}"
    );
    match flow.read_all_inputs(&[&bad_a, &good, &bad_b]).unwrap_err() {
        RuntimeError::UnreadableInputs { first, more } => {
            assert_eq!(more, 1);
            assert!(first.to_string().contains("a.png"), "{first}");
            assert!(!first.to_string().contains("b.png"), "{first}");
        }
        other => panic!("expected UnreadableInputs, got {other:?}"),
    }
}
