//! Decodes latents from a file with [`Flow::decode`] and writes the images' `u8` pixels, as `runtime sample` would
//! write them (`image_io::to_u8`: the decoder's projection onto the domain, then `floor(clamp(x, 0, 255))`).
//!
//! ```text
//! cargo run --release -p realnvp-runtime --example decode_latent -- BUNDLE_DIR LATENTS.f32 PIXELS.u8
//! ```
//! `LATENTS.f32` holds `n × latent_dim` little-endian `f32` values; `PIXELS.u8` gets `n × C·H·W` bytes in the
//! bundle's planar layout. The web page's test decodes the same latents in the browser and compares.

use anyhow::{Result, bail};
use realnvp_runtime::{Flow, LoadOptions, image_io};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bundle, latents, out] = args.as_slice() else {
        bail!("usage: decode_latent BUNDLE_DIR LATENTS.f32 PIXELS.u8");
    };
    let flow = Flow::load(bundle, &LoadOptions::default())?;
    let bytes = std::fs::read(latents)?;
    let per_item = flow.latent_dim() * 4;
    if bytes.is_empty() || bytes.len() % per_item != 0 {
        bail!(
            "{latents}: {} bytes is not a whole number of latents of {per_item} bytes",
            bytes.len()
        );
    }
    let z: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let n = bytes.len() / per_item;
    let x = flow.decode(&z, n)?;
    std::fs::write(out, image_io::to_u8(&x))?;
    println!("decoded {n} latents into {out}");
    Ok(())
}
