//! Small real PNG/JPEG files for the loaders' property tests (trainer and runtime), made with the
//! `image` crate as an independent encoder. Included with `#[path]` (this folder is no crate).

use proptest::prelude::*;

/// `(channels, w, h, interleaved pixels)` of a small 8-bit grey or RGB image.
pub fn small_image() -> impl Strategy<Value = (usize, u32, u32, Vec<u8>)> {
    (prop_oneof![Just(1usize), Just(3)], 1u32..10, 1u32..10).prop_flat_map(|(c, w, h)| {
        (
            Just(c),
            Just(w),
            Just(h),
            prop::collection::vec(any::<u8>(), c * (w * h) as usize),
        )
    })
}

/// The image `raw` (`c` interleaved channels of `w × h`) as a file of `format`.
pub fn encode(c: usize, w: u32, h: u32, raw: &[u8], format: image::ImageFormat) -> Vec<u8> {
    let img = if c == 1 {
        image::DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, raw.to_vec()).unwrap())
    } else {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, raw.to_vec()).unwrap())
    };
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Interleaved `[H, W, C]` to planar `[C, H, W]`.
pub fn planar(c: usize, raw: &[u8]) -> Vec<u8> {
    let hw = raw.len() / c;
    (0..c)
        .flat_map(|ch| (0..hw).map(move |i| raw[i * c + ch]))
        .collect()
}
