//! The notification-area icon: memory use in percent as two digits on a coloured square.
//!
//! The digits come from two pixel fonts (3×5 and 5×7), drawn at whole-pixel scales so that they
//! stay sharp: for each icon size (16, 20, 24, 32 px, or any other) the font and scale that give
//! the tallest digits within the square are chosen.

/// How full memory is, as the icon's colour says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// Below the warning level: green.
    Normal,
    /// From the warning level: amber.
    Warning,
    /// From the danger level: red.
    Danger,
}

impl Level {
    /// The level of `percent` use with these thresholds.
    pub fn of(percent: u8, warning: u8, danger: u8) -> Level {
        if percent >= danger {
            Level::Danger
        } else if percent >= warning {
            Level::Warning
        } else {
            Level::Normal
        }
    }

    /// The background colour (RGB).
    pub fn background(self) -> [u8; 3] {
        match self {
            Level::Normal => [0x2E, 0x7D, 0x32],
            Level::Warning => [0xF9, 0xA8, 0x25],
            Level::Danger => [0xC6, 0x28, 0x28],
        }
    }

    /// The digits' colour (RGB): the one that contrasts with the background.
    pub fn foreground(self) -> [u8; 3] {
        match self {
            Level::Warning => [0x10, 0x10, 0x10],
            Level::Normal | Level::Danger => [0xFF, 0xFF, 0xFF],
        }
    }
}

/// What the icon shows: redrawn only when this changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Face {
    /// Memory use, 0 to 99 (100 shows as 99: two digits fit at every size).
    pub percent: u8,
    /// Its colour.
    pub level: Level,
}

impl Face {
    /// The face for `used_percent` use with these thresholds.
    pub fn new(used_percent: f64, warning: u8, danger: u8) -> Face {
        let percent = used_percent.round().clamp(0.0, 99.0) as u8;
        Face {
            percent,
            level: Level::of(
                used_percent.round().clamp(0.0, 100.0) as u8,
                warning,
                danger,
            ),
        }
    }
}

/// A pixel font: glyph width and height, and one row bitmap (high bit first) per row per digit.
struct Font {
    width: usize,
    height: usize,
    digits: [&'static [u8]; 10],
}

const SMALL: Font = Font {
    width: 3,
    height: 5,
    digits: [
        &[0b111, 0b101, 0b101, 0b101, 0b111],
        &[0b010, 0b110, 0b010, 0b010, 0b111],
        &[0b111, 0b001, 0b111, 0b100, 0b111],
        &[0b111, 0b001, 0b111, 0b001, 0b111],
        &[0b101, 0b101, 0b111, 0b001, 0b001],
        &[0b111, 0b100, 0b111, 0b001, 0b111],
        &[0b111, 0b100, 0b111, 0b101, 0b111],
        &[0b111, 0b001, 0b010, 0b010, 0b010],
        &[0b111, 0b101, 0b111, 0b101, 0b111],
        &[0b111, 0b101, 0b111, 0b001, 0b111],
    ],
};

const LARGE: Font = Font {
    width: 5,
    height: 7,
    digits: [
        &[
            0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110,
        ],
        &[
            0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
        ],
        &[
            0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111,
        ],
        &[
            0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110,
        ],
        &[
            0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010,
        ],
        &[
            0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110,
        ],
        &[
            0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110,
        ],
        &[
            0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000,
        ],
        &[
            0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110,
        ],
        &[
            0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100,
        ],
    ],
};

/// The largest whole scale at which two digits of `font` (with a one-column gap) fit in `inner`
/// pixels.
fn fit(font: &Font, inner: usize) -> usize {
    (inner / (2 * font.width + 1)).min(inner / font.height)
}

/// The font and scale for a `size`-pixel icon: the tallest digits that fit within a one-pixel
/// margin; the 5×7 font (finer shapes) when its digits are at least nine tenths as tall.
fn layout(size: usize) -> (&'static Font, usize) {
    let inner = size.saturating_sub(2);
    let small = fit(&SMALL, inner).max(1);
    let large = fit(&LARGE, inner);
    if large > 0 && LARGE.height * large * 10 >= SMALL.height * small * 9 {
        (&LARGE, large)
    } else {
        (&SMALL, small)
    }
}

/// An icon image: `size`×`size` pixels, RGBA, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Width and height in pixels.
    pub size: usize,
    /// `size * size * 4` bytes: red, green, blue, alpha.
    pub rgba: Vec<u8>,
}

impl Image {
    /// The RGBA of the pixel at column `x`, row `y`.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 4] {
        let i = (y * self.size + x) * 4;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }
}

/// Draws `face` at `size` pixels: a square of the level's colour with rounded corners, and the
/// two digits centred on it.
pub fn draw(face: Face, size: usize) -> Image {
    let mut rgba = vec![0u8; size * size * 4];
    let [br, bg, bb] = face.level.background();
    let corner = (size / 8).max(1);
    for y in 0..size {
        for x in 0..size {
            // Cut the corners: a pixel is transparent if it lies outside the rounding.
            let dx = corner.saturating_sub(x.min(size - 1 - x));
            let dy = corner.saturating_sub(y.min(size - 1 - y));
            if dx > 0 && dy > 0 && dx * dx + dy * dy > corner * corner {
                continue;
            }
            let i = (y * size + x) * 4;
            rgba[i..i + 4].copy_from_slice(&[br, bg, bb, 0xFF]);
        }
    }
    let (font, scale) = layout(size);
    let text_width = (2 * font.width + 1) * scale;
    let text_height = font.height * scale;
    let left = (size - text_width) / 2;
    let top = (size - text_height) / 2;
    let [fr, fg, fb] = face.level.foreground();
    let digits = [face.percent / 10, face.percent % 10];
    for (n, digit) in digits.iter().enumerate() {
        let glyph = font.digits[usize::from(*digit)];
        let x0 = left + n * (font.width + 1) * scale;
        for (row, bits) in glyph.iter().enumerate() {
            for column in 0..font.width {
                if bits & (1 << (font.width - 1 - column)) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let x = x0 + column * scale + dx;
                        let y = top + row * scale + dy;
                        let i = (y * size + x) * 4;
                        rgba[i..i + 4].copy_from_slice(&[fr, fg, fb, 0xFF]);
                    }
                }
            }
        }
    }
    Image { size, rgba }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(image: &Image, colour: [u8; 3]) -> usize {
        (0..image.size)
            .flat_map(|y| (0..image.size).map(move |x| (x, y)))
            .filter(|&(x, y)| image.pixel(x, y)[..3] == colour && image.pixel(x, y)[3] == 0xFF)
            .count()
    }

    #[test]
    fn levels_follow_the_thresholds() {
        assert_eq!(Level::of(69, 70, 90), Level::Normal);
        assert_eq!(Level::of(70, 70, 90), Level::Warning);
        assert_eq!(Level::of(90, 70, 90), Level::Danger);
        assert_eq!(Face::new(89.6, 70, 90).level, Level::Danger);
        assert_eq!(Face::new(100.0, 70, 90).percent, 99);
        assert_eq!(Face::new(-3.0, 70, 90).percent, 0);
    }

    #[test]
    fn digits_fill_as_much_of_each_size_as_stays_sharp() {
        // (size, digit height in pixels): more than half the icon's height at every size.
        for (size, height) in [(16, 10), (20, 10), (24, 14), (32, 20)] {
            let (font, scale) = layout(size);
            assert_eq!(font.height * scale, height, "{size} px");
            assert!((2 * font.width + 1) * scale <= size - 2, "{size} px fits");
        }
    }

    #[test]
    fn every_digit_is_drawn_distinctly_at_every_size() {
        for size in [16, 20, 24, 32] {
            let mut seen = std::collections::HashSet::new();
            for percent in [0, 11, 22, 33, 44, 55, 66, 77, 88, 99] {
                let face = Face {
                    percent,
                    level: Level::Normal,
                };
                let image = draw(face, size);
                assert_eq!(image.rgba.len(), size * size * 4);
                assert!(
                    count(&image, Level::Normal.foreground()) > 0,
                    "{percent} at {size}"
                );
                assert!(
                    seen.insert(image.rgba),
                    "{percent} at {size} looks like another"
                );
            }
        }
    }

    #[test]
    fn the_background_carries_the_level_colour() {
        for level in [Level::Normal, Level::Warning, Level::Danger] {
            let image = draw(Face { percent: 42, level }, 16);
            let background = count(&image, level.background());
            let digits = count(&image, level.foreground());
            assert!(background > digits, "{level:?}: {background} vs {digits}");
            assert!(background + digits > 16 * 16 * 3 / 4, "mostly opaque");
            // The corners are cut.
            assert_eq!(image.pixel(0, 0)[3], 0);
        }
    }
}
