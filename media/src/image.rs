//! Photos: decoded under limits (a small hostile file must not allocate gigabytes), turned
//! upright by their EXIF orientation, resized to a maximum dimension and re-encoded, which
//! drops every piece of metadata (EXIF with its GPS position, XMP, comments, ICC profiles),
//! plus a small JPEG thumbnail for message previews.
//!
//! Output formats: JPEG for opaque images, PNG for images with transparency, GIF (frames
//! re-encoded) for animated GIFs. WebP input is re-encoded as JPEG or PNG: the `image` crate
//! only writes lossless WebP, which is larger than the JPEG.

use std::io::Cursor;

use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{
    AnimationDecoder, DynamicImage, Frame, GenericImageView, ImageDecoder, ImageFormat,
    ImageReader, Limits, Rgb, RgbImage,
};

use crate::error::{Error, Result};

/// How images are processed.
#[derive(Clone, Copy, Debug)]
pub struct ImageOptions {
    /// Longest side of the stored image, pixels.
    pub max_dimension: u32,
    /// JPEG quality of the stored image, 1–100.
    pub quality: u8,
    /// Longest side of the thumbnail, pixels.
    pub thumbnail_max_dimension: u32,
    /// JPEG quality of the thumbnail, 1–100.
    pub thumbnail_quality: u8,
    /// Most pixels the input may decode to (all frames together for an animation).
    pub max_pixels: u64,
}

impl Default for ImageOptions {
    fn default() -> ImageOptions {
        ImageOptions {
            max_dimension: 2048,
            quality: 80,
            thumbnail_max_dimension: 96,
            thumbnail_quality: 60,
            max_pixels: 64_000_000,
        }
    }
}

/// A processed image.
#[derive(Clone, Debug)]
pub struct ProcessedImage {
    /// The re-encoded image.
    pub bytes: Vec<u8>,
    /// Its MIME type (`image/jpeg`, `image/png` or `image/gif`).
    pub mime: &'static str,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
    /// A JPEG thumbnail of a few KB; `None` when the image serves as its own thumbnail (it
    /// fits the thumbnail's size, or is no larger in bytes than the thumbnail would be).
    pub thumbnail: Option<Vec<u8>>,
}

/// Decodes `input` (JPEG, PNG, WebP or GIF), applies its EXIF orientation, resizes it to fit
/// `options.max_dimension` and re-encodes it without metadata, with a thumbnail.
///
/// # Errors
/// [`Error::Decode`] when the bytes are not a whole image of a supported type,
/// [`Error::TooManyPixels`] over the pixel limit, [`Error::Encode`] when encoding fails.
pub fn process_image(input: &[u8], options: &ImageOptions) -> Result<ProcessedImage> {
    let format = image::guess_format(input).map_err(Error::Decode)?;
    if format == ImageFormat::Gif {
        return process_gif(input, options);
    }
    if format == ImageFormat::Jpeg && !jpeg_is_complete(input) {
        // The JPEG decoder fills a truncated scan with grey; an upload cut short must fail.
        return Err(truncated(ImageFormat::Jpeg));
    }
    let image = decode(input, options)?;
    let image = fit(image, options.max_dimension);
    let thumbnail = thumbnail(&image, options)?;
    let (width, height) = image.dimensions();
    let (bytes, mime) = if has_transparency(&image) {
        let mut bytes = Vec::new();
        image
            .write_with_encoder(PngEncoder::new(&mut bytes))
            .map_err(Error::Encode)?;
        (bytes, "image/png")
    } else {
        (
            encode_jpeg(&image.to_rgb8(), options.quality)?,
            "image/jpeg",
        )
    };
    Ok(ProcessedImage {
        thumbnail: separate_thumbnail(thumbnail, &bytes, (width, height), options),
        bytes,
        mime,
        width,
        height,
    })
}

/// `thumbnail`, unless the image is its own thumbnail: when it already fits the thumbnail's
/// size, or is no larger in bytes.
fn separate_thumbnail(
    thumbnail: Vec<u8>,
    image: &[u8],
    (width, height): (u32, u32),
    options: &ImageOptions,
) -> Option<Vec<u8>> {
    let max = options.thumbnail_max_dimension;
    let fits = width <= max && height <= max;
    (!fits && thumbnail.len() < image.len()).then_some(thumbnail)
}

/// How many pixels decoding `input` would produce, read from its header alone (cheap): width
/// × height, or `max_pixels` for a GIF, whose frames (each a full canvas) are only known by
/// decoding them all. Lets callers budget memory before they decode.
///
/// # Errors
/// [`Error::Decode`] when the header is not that of a supported image.
pub fn pixels_to_decode(input: &[u8], options: &ImageOptions) -> Result<u64> {
    let reader = ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .map_err(|err| Error::Decode(image::ImageError::IoError(err)))?;
    if reader.format() == Some(ImageFormat::Gif) {
        return Ok(options.max_pixels);
    }
    let (width, height) = reader.into_dimensions().map_err(Error::Decode)?;
    Ok(u64::from(width) * u64::from(height))
}

/// A JPEG thumbnail of `input` (any supported image type), for video poster frames.
///
/// # Errors
/// As [`process_image`].
pub fn thumbnail_of(input: &[u8], options: &ImageOptions) -> Result<Vec<u8>> {
    let image = decode(input, options)?;
    thumbnail(&image, options)
}

/// Decodes a still image under the limits and turns it upright.
fn decode(input: &[u8], options: &ImageOptions) -> Result<DynamicImage> {
    let mut reader = ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .map_err(|err| Error::Decode(image::ImageError::IoError(err)))?;
    reader.limits(limits(options));
    let mut decoder = reader.into_decoder().map_err(Error::Decode)?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, 1, options)?;
    // A malformed EXIF block is not worth refusing the photo for: keep it as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(Error::Decode)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Whether a JPEG's main image has its end marker: walks the marker segments to the first
/// start of scan (skipping APP segments, whose EXIF thumbnail has markers of its own), then
/// looks for EOI. Entropy-coded data never holds `FF D9` (an `FF` there is stuffed as `FF 00`).
fn jpeg_is_complete(input: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= input.len() {
        if input[at] != 0xFF {
            return false;
        }
        let marker = input[at + 1];
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        let length = usize::from(u16::from_be_bytes([input[at + 2], input[at + 3]]));
        if marker == 0xDA {
            let scan = &input[(at + 2 + length).min(input.len())..];
            return scan.windows(2).any(|pair| pair == [0xFF, 0xD9]);
        }
        at += 2 + length;
    }
    false
}

fn truncated(format: ImageFormat) -> Error {
    Error::Decode(image::ImageError::Decoding(
        image::error::DecodingError::new(format.into(), "the file ends before the image does"),
    ))
}

fn limits(options: &ImageOptions) -> Limits {
    // No width or height limit: the decoders would refuse those before `check_pixels` could
    // say "too many pixels" (413); the pixel limit bounds both sides anyway.
    let mut limits = Limits::default();
    // RGBA at 16 bits per channel, plus room for the decoder's own buffers.
    limits.max_alloc = Some(
        options
            .max_pixels
            .saturating_mul(8)
            .saturating_add(64 << 20),
    );
    limits
}

fn check_pixels(width: u32, height: u32, frames: u64, options: &ImageOptions) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height) * frames.max(1);
    if pixels > options.max_pixels {
        return Err(Error::TooManyPixels {
            width,
            height,
            max_pixels: options.max_pixels,
        });
    }
    Ok(())
}

fn fit(image: DynamicImage, max_dimension: u32) -> DynamicImage {
    let (width, height) = image.dimensions();
    if width <= max_dimension && height <= max_dimension {
        return image;
    }
    if width.max(height) / 2 >= max_dimension {
        // Halving or more: area averaging, which writes the output directly. The filtered
        // resize keeps a 16-byte-per-pixel buffer of width × new height (260 MB for a
        // 7,900-pixel-wide photo scaled to 2,048), more than the decoded image itself.
        return image.thumbnail(max_dimension, max_dimension);
    }
    image.resize(max_dimension, max_dimension, FilterType::Triangle)
}

fn has_transparency(image: &DynamicImage) -> bool {
    image.color().has_alpha() && image.to_rgba8().pixels().any(|pixel| pixel.0[3] < 255)
}

fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .encode_image(image)
        .map_err(Error::Encode)?;
    Ok(bytes)
}

/// A JPEG of at most `thumbnail_max_dimension` pixels a side, transparency over white.
fn thumbnail(image: &DynamicImage, options: &ImageOptions) -> Result<Vec<u8>> {
    let max = options.thumbnail_max_dimension;
    // Never scaled up: a thumbnail larger than its image only costs bytes.
    let small = if image.width() <= max && image.height() <= max {
        image.to_rgba8()
    } else {
        image.thumbnail(max, max).to_rgba8()
    };
    let flattened = RgbImage::from_fn(small.width(), small.height(), |x, y| {
        let [r, g, b, a] = small.get_pixel(x, y).0;
        let over_white = |c: u8| {
            let blended = (u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a))) / 255;
            u8::try_from(blended).unwrap_or(u8::MAX)
        };
        Rgb([over_white(r), over_white(g), over_white(b)])
    });
    encode_jpeg(&flattened, options.thumbnail_quality)
}

/// Animated (or still) GIFs keep their frames and timing; each frame is re-encoded, which
/// drops comments and application extensions, and scaled down when over the limit.
fn process_gif(input: &[u8], options: &ImageOptions) -> Result<ProcessedImage> {
    let mut decoder = GifDecoder::new(Cursor::new(input)).map_err(Error::Decode)?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, 1, options)?;
    decoder.set_limits(limits(options)).map_err(Error::Decode)?;
    let mut frames = Vec::new();
    for frame in decoder.into_frames() {
        let frame = frame.map_err(Error::Decode)?;
        frames.push(frame);
        check_pixels(width, height, frames.len() as u64, options)?;
    }
    let Some(first) = frames.first() else {
        return Err(truncated(ImageFormat::Gif));
    };
    // A GIF ends with a trailer byte; without it the upload was cut short.
    if input.last() != Some(&0x3B) {
        return Err(truncated(ImageFormat::Gif));
    }
    let first = DynamicImage::ImageRgba8(first.buffer().clone());
    let thumbnail = thumbnail(&first, options)?;
    let scaled = fit(first, options.max_dimension);
    let (new_width, new_height) = scaled.dimensions();
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, 10);
        encoder
            .set_repeat(Repeat::Infinite)
            .map_err(Error::Encode)?;
        for frame in frames {
            let delay = frame.delay();
            let buffer = if (new_width, new_height) == (width, height) {
                frame.into_buffer()
            } else {
                image::imageops::resize(
                    &frame.into_buffer(),
                    new_width,
                    new_height,
                    FilterType::Triangle,
                )
            };
            encoder
                .encode_frame(Frame::from_parts(buffer, 0, 0, delay))
                .map_err(Error::Encode)?;
        }
    }
    Ok(ProcessedImage {
        thumbnail: separate_thumbnail(thumbnail, &bytes, (new_width, new_height), options),
        bytes,
        mime: "image/gif",
        width: new_width,
        height: new_height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgba, RgbaImage};

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        encode_jpeg(&image, 90).expect("invariant: encoding a buffer works")
    }

    #[test]
    fn a_large_photo_is_resized_and_stays_jpeg() {
        let options = ImageOptions {
            max_dimension: 256,
            ..ImageOptions::default()
        };
        let out = process_image(&jpeg(1024, 512), &options).expect("processes");
        assert_eq!((out.width, out.height, out.mime), (256, 128, "image/jpeg"));
        let thumbnail = out
            .thumbnail
            .expect("a large photo has a thumbnail of its own");
        assert!(thumbnail.len() < 8 * 1024, "{}", thumbnail.len());
    }

    #[test]
    fn a_thumbnail_is_never_larger_than_its_image() {
        for small in [
            jpeg(1, 1),
            jpeg(8, 8),
            jpeg(40, 30),
            jpeg(96, 96),
            jpeg(120, 90),
        ] {
            let out = process_image(&small, &ImageOptions::default()).expect("processes");
            let thumbnail = out.thumbnail.as_ref().map_or(out.bytes.len(), Vec::len);
            assert!(
                thumbnail <= out.bytes.len(),
                "{}x{}: thumbnail {thumbnail} bytes, image {} bytes",
                out.width,
                out.height,
                out.bytes.len()
            );
        }
        for small in [jpeg(1, 1), jpeg(96, 96)] {
            let out = process_image(&small, &ImageOptions::default()).expect("processes");
            assert!(
                out.thumbnail.is_none(),
                "{}x{} has a thumbnail",
                out.width,
                out.height
            );
        }
    }

    #[test]
    fn transparency_is_kept_as_png() {
        let image: RgbaImage =
            ImageBuffer::from_fn(64, 64, |x, _| Rgba([255, 0, 0, (x * 4) as u8]));
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(image)
            .write_with_encoder(PngEncoder::new(&mut png))
            .expect("encodes");
        let out = process_image(&png, &ImageOptions::default()).expect("processes");
        assert_eq!(out.mime, "image/png");
    }

    #[test]
    fn a_truncated_image_is_a_decode_error() {
        let whole = jpeg(200, 200);
        for cut in [whole.len() / 3, whole.len() - 2] {
            let err = process_image(&whole[..cut], &ImageOptions::default()).err();
            assert!(matches!(err, Some(Error::Decode(_))), "{err:?}");
        }
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(RgbImage::from_fn(300, 300, |x, y| {
            Rgb([x as u8, y as u8, 7])
        }))
        .write_with_encoder(PngEncoder::new(&mut png))
        .expect("encodes");
        let err = process_image(&png[..png.len() / 2], &ImageOptions::default()).err();
        assert!(matches!(err, Some(Error::Decode(_))), "{err:?}");
    }

    #[test]
    fn an_image_over_the_pixel_limit_is_refused_before_decoding() {
        let options = ImageOptions {
            max_pixels: 100 * 100,
            ..ImageOptions::default()
        };
        let err = process_image(&jpeg(200, 200), &options).err();
        assert!(matches!(err, Some(Error::TooManyPixels { .. })), "{err:?}");
    }

    #[test]
    fn webp_becomes_jpeg() {
        let mut webp = Vec::new();
        DynamicImage::ImageRgb8(RgbImage::from_fn(40, 30, |x, y| Rgb([x as u8, y as u8, 9])))
            .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
            .expect("encodes");
        let out = process_image(&webp, &ImageOptions::default()).expect("processes");
        assert_eq!((out.mime, out.width, out.height), ("image/jpeg", 40, 30));
    }

    #[test]
    fn an_animated_gif_keeps_its_frames_and_is_scaled() {
        let mut gif = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut gif);
            for shade in [0u8, 255] {
                let frame = RgbaImage::from_pixel(300, 100, Rgba([shade, 0, 0, 255]));
                encoder
                    .encode_frame(Frame::new(frame))
                    .expect("encodes a frame");
            }
        }
        let options = ImageOptions {
            max_dimension: 150,
            ..ImageOptions::default()
        };
        let out = process_image(&gif, &options).expect("processes");
        assert_eq!((out.mime, out.width, out.height), ("image/gif", 150, 50));
        let frames = GifDecoder::new(Cursor::new(&out.bytes))
            .expect("decodes")
            .into_frames()
            .count();
        assert_eq!(frames, 2);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(
            process_image(b"not an image at all", &ImageOptions::default()),
            Err(Error::Decode(_))
        ));
    }
}
