//! The value ranges of the contract (docs/bundle.md, "Values"): which values the graphs take and
//! give for image models, and where pixels are rounded and clamped.
//!
//! - The data domain is pixel units `[0, 256]`: a `u8` pixel `p` with dequantization noise `u ∈ [0, 1)`
//!   is `x = p + u`; 256 itself is allowed (an `f32` sigmoid that saturates decodes to exactly 256).
//! - `forward.onnx` scores any `x` in the domain; the runtime refuses values outside it.
//! - `inverse.onnx` is the exact inverse of the forward graph. With logit preprocessing it maps the
//!   latent space onto `(-256α/(1-2α), 256(1-α)/(1-2α))`, about `(-14.2, 270.2)` for α = 0.05, a range
//!   wider than the domain: a decoder projects its output onto the domain with [`to_domain`].
//! - A data value becomes a `u8` pixel by [`quantize`] (`floor(clamp(x, 0, 255))`), and a `u8` pixel
//!   is scored at its bin centre, [`dequantize`] (`p + 0.5`).

/// The smallest value of the image data domain.
pub const DOMAIN_MIN: f32 = 0.0;

/// The largest value of the image data domain (`u8` levels).
pub const DOMAIN_MAX: f32 = 256.0;

/// Whether `x` lies in the image data domain `[0, 256]` (false for NaN).
pub fn in_domain(x: f32) -> bool {
    (DOMAIN_MIN..=DOMAIN_MAX).contains(&x)
}

/// The nearest point of the domain: `clamp(x, 0, 256)` (NaN stays NaN, for the caller to refuse).
pub fn to_domain(x: f32) -> f32 {
    x.clamp(DOMAIN_MIN, DOMAIN_MAX)
}

/// The `u8` pixel whose bin holds `x`: `floor(clamp(x, 0, 255))`; NaN becomes 0.
pub fn quantize(x: f32) -> u8 {
    // `as` saturates and maps NaN to 0.
    x.clamp(DOMAIN_MIN, 255.0).floor() as u8
}

/// The bin centre of pixel `p`, `p + 0.5`: how a `u8` image is scored.
pub fn dequantize(p: u8) -> f32 {
    f32::from(p) + 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_inverts_dequantize_and_clamps() {
        for p in 0..=255u8 {
            assert_eq!(quantize(dequantize(p)), p);
            assert_eq!(quantize(f32::from(p) + 0.999), p);
        }
        assert_eq!(quantize(-14.2), 0);
        assert_eq!(quantize(256.0), 255);
        assert_eq!(quantize(270.2), 255);
        assert_eq!(quantize(f32::NAN), 0);
    }

    #[test]
    fn the_domain_is_closed_and_projection_lands_in_it() {
        assert!(in_domain(0.0) && in_domain(256.0) && !in_domain(-0.01) && !in_domain(256.01));
        assert!(!in_domain(f32::NAN));
        for x in [-14.2f32, -0.0, 3.5, 255.9, 256.0, 270.2] {
            assert!(in_domain(to_domain(x)), "{x}");
        }
        assert_eq!(to_domain(3.5), 3.5);
    }
}
