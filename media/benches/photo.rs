//! Figures for docs/BENCHMARKS.md: a synthetic 12-megapixel photo (4000×3000, noisy like a
//! camera's) through [`natter_media::image::process_image`] with the default settings.
//!
//! `cargo bench -p natter-media --bench photo`

#![allow(missing_docs)]

use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use natter_media::image::{ImageOptions, process_image};

fn main() {
    let (width, height) = (4000u32, 3000u32);
    // Smooth gradients plus per-pixel noise: compresses like a photo, not like a flat fill.
    let mut seed: u32 = 0x9E37_79B9;
    let photo = RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 24) as i32 - 12;
        let channel = |base: u32| (base as i32 + noise).clamp(0, 255) as u8;
        Rgb([
            channel(x * 255 / width),
            channel(y * 255 / height),
            channel(((x + y) / 16) % 256),
        ])
    });
    let mut original = Vec::new();
    JpegEncoder::new_with_quality(&mut original, 92)
        .encode_image(&photo)
        .expect("invariant: encoding a buffer works");
    let options = ImageOptions::default();
    let runs = 5;
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let processed = process_image(&original, &options).expect("invariant: the photo decodes");
        best = best.min(start.elapsed().as_secs_f64());
        last = Some(processed);
    }
    let processed = last.expect("invariant: at least one run");
    println!("input: {width}x{height} JPEG q92, {} bytes", original.len());
    println!(
        "output: {}x{} {}, {} bytes (ratio {:.1}:1)",
        processed.width,
        processed.height,
        processed.mime,
        processed.bytes.len(),
        original.len() as f64 / processed.bytes.len() as f64
    );
    match &processed.thumbnail {
        Some(thumbnail) => println!("thumbnail: {} bytes", thumbnail.len()),
        None => println!("thumbnail: the image itself"),
    }
    println!("time: best of {runs}: {:.0} ms", best * 1000.0);
}
