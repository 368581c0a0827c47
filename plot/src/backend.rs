//! plotters' bitmap backend with text set by ab_glyph from the embedded font.
//!
//! plotters 0.3.7 draws ab_glyph text itself, but places each glyph without its side bearing, so
//! letters sit unevenly ("ran dom", "im ages"). This backend forwards every drawing call to
//! [`BitMapBackend`] except text, which it lays out with the font's advances, kerning and bearings.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::prelude::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

use crate::chart::FONT;

/// The embedded font, parsed once; `None` if it does not parse (a broken build, caught by the tests).
pub(crate) fn font() -> Option<&'static FontRef<'static>> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| FontRef::try_from_slice(FONT).ok())
        .as_ref()
}

/// A [`BitMapBackend`] whose text is set by [`set_text`].
pub(crate) struct Backend<'a>(pub(crate) BitMapBackend<'a>);

type Error = DrawingErrorKind<BitMapError>;
type BitMapError = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

fn no_font() -> Error {
    DrawingErrorKind::FontError("the embedded font does not parse".into())
}

/// Text set in pixels: `(pixel offset, coverage)` relative to the top left of the text's box, and the
/// box's `(width, height)`.
struct SetText {
    ink: Vec<((i32, i32), f32)>,
    size: (f32, f32),
}

/// Sets `text` at `size` pixels (ascent to descent).
fn set_text(font: &FontRef<'_>, text: &str, size: f64) -> SetText {
    let scaled = font.as_scaled(PxScale::from(size as f32));
    let (mut pen, mut prev) = (0.0f32, None);
    let mut ink = Vec::new();
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(size as f32, point(pen, scaled.ascent()));
        if let Some(outline) = font.outline_glyph(glyph) {
            // px_bounds carry the glyph's bearing: draw's coordinates are relative to them.
            let min = outline.px_bounds().min;
            outline.draw(|x, y, coverage| {
                ink.push(((min.x as i32 + x as i32, min.y as i32 + y as i32), coverage));
            });
        }
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    SetText {
        ink,
        size: (pen, scaled.ascent() - scaled.descent()),
    }
}

impl DrawingBackend for Backend<'_> {
    type ErrorType = BitMapError;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Error> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Error> {
        self.0.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Error> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Error> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Error> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), Error> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), Error> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), Error> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), Error> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), Error> {
        let font = font().ok_or_else(no_font)?;
        let (w, h) = set_text(font, text, style.size()).size;
        Ok((w.ceil() as u32, h.ceil() as u32))
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), Error> {
        let colour = style.color();
        if colour.alpha == 0.0 {
            return Ok(());
        }
        let font = font().ok_or_else(no_font)?;
        let SetText { ink, size: (w, h) } = set_text(font, text, style.size());
        let (w, h) = (w.round() as i32, h.round() as i32);
        // The anchor is a point of the text's box, before rotation (as plotters' own text).
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -w,
            HPos::Center => -w / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let turn = style.transform();
        let (width, height) = self.get_size();
        for ((x, y), coverage) in ink {
            let (x, y) = turn.transform(x + dx, y + dy);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if (0..width as i32).contains(&x) && (0..height as i32).contains(&y) && coverage > 0.0 {
                let alpha = colour.alpha * f64::from(coverage.min(1.0));
                self.0
                    .draw_pixel((x, y), BackendColor { alpha, ..colour })?;
            }
        }
        Ok(())
    }
}
