//! PNG/JPEG files, as the trainer reads them (`realnvp_trainer::data::parse_image`, converted and resized to a
//! shape) and as the runtime reads them (`realnvp_runtime::image_io::image_from_bytes`, exact shape only). The
//! first byte picks the shapes; the rest is the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use realnvp_runtime::DataShape;

const TRAINER_SHAPES: [Option<(usize, usize, usize)>; 3] = [None, Some((1, 4, 4)), Some((3, 5, 3))];
const RUNTIME_SHAPES: [(usize, usize, usize); 3] = [(1, 28, 28), (3, 4, 4), (1, 1, 1)];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let shape = TRAINER_SHAPES[usize::from(pick) % 3];
    if let Ok(((c, h, w), pixels)) =
        realnvp_trainer::data::parse_image(file, Path::new("fuzz.png"), shape)
    {
        assert!(c == 1 || c == 3);
        if let Some(s) = shape {
            assert_eq!((c, h, w), s);
        }
        assert_eq!(pixels.len(), c * h * w);
    }
    let (channels, height, width) = RUNTIME_SHAPES[usize::from(pick / 3) % 3];
    let shape = DataShape::Image {
        channels,
        height,
        width,
    };
    if let Ok(x) =
        realnvp_runtime::image_io::image_from_bytes(file, shape, Path::new("fuzz.png"))
    {
        assert_eq!(x.len(), shape.numel());
        assert!(x.iter().all(|v| (0.5..=255.5).contains(v)));
    }
});
