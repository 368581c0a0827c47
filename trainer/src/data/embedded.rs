//! The Fashion-MNIST slice compiled into the crate (see `trainer/data/README.md`): the default
//! source, so training works on a fresh machine without any download.

use std::path::Path;

use super::{DataError, ImageSplits, idx};

/// Training images 0..=2999 of Fashion-MNIST `train-images-idx3-ubyte`, as gzip'd IDX3.
const TRAIN: &[u8] =
    include_bytes!("../../data/fashion-mnist-train-first3000-images-idx3-ubyte.gz");
/// Test images 0..=999 of Fashion-MNIST `t10k-images-idx3-ubyte`, as gzip'd IDX3.
const TEST: &[u8] = include_bytes!("../../data/fashion-mnist-t10k-first1000-images-idx3-ubyte.gz");

/// Decodes the embedded slice: `((1, 28, 28), train [3000, 1, 28, 28], test [1000, 1, 28, 28])`.
pub(crate) fn load() -> Result<ImageSplits, DataError> {
    let (_, h, w, train) = idx::parse_idx(TRAIN, Path::new("<embedded train slice>"))?;
    let (_, _, _, test) = idx::parse_idx(TEST, Path::new("<embedded test slice>"))?;
    Ok(((1, h, w), train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_slice_is_the_first_images_of_fashion_mnist()
    -> Result<(), Box<dyn std::error::Error>> {
        let ((c, h, w), train, test) = load()?;
        assert_eq!((c, h, w), (1, 28, 28));
        assert_eq!((train.len() / 784, test.len() / 784), (3000, 1000));
        // Checksums of the slice, independent of the Debian package being installed.
        let sum = |v: &[u8]| v.iter().map(|&p| p as u64).sum::<u64>();
        assert_eq!((sum(&train), sum(&test)), (170_623_628, 58_034_149));
        let dir = Path::new(super::super::DEFAULT_FMNIST_DIR);
        let (_, full_train, full_test) = idx::load_dir(dir, idx::FMNIST_HINT).map_err(|e| {
            format!("Fashion-MNIST is needed to check the slice: {e} (apt-get install dataset-fashion-mnist)")
        })?;
        assert_eq!(train[..], full_train[..3000 * 784]);
        assert_eq!(test[..], full_test[..1000 * 784]);
        Ok(())
    }
}
