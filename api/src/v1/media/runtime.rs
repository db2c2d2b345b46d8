//! Process-wide media helpers that the request context does not carry: the bound on
//! concurrent processing, the detected ffmpeg, and the staging directory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use natter_config::Settings;
use natter_media::ffmpeg::{TranscodeOptions, Transcoder};
use tokio::sync::Semaphore;

/// Bounds decoding and transcoding across every request of this process (they are CPU-heavy);
/// sized by the first settings that ask (`media.processing_concurrency`).
pub(super) fn processing_permits(settings: &Settings) -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let permits = usize::try_from(settings.media.processing_concurrency).unwrap_or(1);
        Semaphore::new(permits.max(1))
    })
}

/// Bounds the decoded pixels of images processed at once across this process
/// (`media.max_pixels_in_flight`, sized by the first settings that ask): decoding costs
/// memory by the pixel, and a 200 KB upload can decode to 250 MB.
pub(super) fn pixel_budget(settings: &Settings) -> &'static Semaphore {
    static BUDGET: OnceLock<Semaphore> = OnceLock::new();
    BUDGET.get_or_init(|| Semaphore::new(budget_permits(settings.media.max_pixels_in_flight)))
}

/// The permits one image of `pixels` takes from [`pixel_budget`]: all of them when it is
/// larger than the budget (it then runs alone, rather than never).
pub(super) fn pixel_permits(settings: &Settings, pixels: u64) -> u32 {
    let budget = budget_permits(settings.media.max_pixels_in_flight);
    let permits = usize::try_from(pixels)
        .unwrap_or(usize::MAX)
        .clamp(1, budget);
    u32::try_from(permits).unwrap_or(u32::MAX)
}

/// One permit per pixel; a semaphore (and `acquire_many`) holds at most `u32::MAX`.
fn budget_permits(max_pixels_in_flight: u64) -> usize {
    let capped = max_pixels_in_flight.clamp(1, u64::from(u32::MAX));
    usize::try_from(capped).unwrap_or(usize::MAX)
}

/// The ffmpeg to transcode with: `None` when transcoding is off or the program does not run.
/// Whether a program runs is checked once per program and remembered.
pub(super) async fn transcoder(settings: &Settings) -> Option<Transcoder> {
    static AVAILABLE: OnceLock<Mutex<HashMap<PathBuf, bool>>> = OnceLock::new();
    let media = &settings.media;
    if !media.transcode {
        return None;
    }
    let known = AVAILABLE.get_or_init(Default::default);
    let cached = known
        .lock()
        .ok()
        .and_then(|map| map.get(&media.ffmpeg_path).copied());
    let available = match cached {
        Some(available) => available,
        None => {
            let available = natter_media::ffmpeg::is_available(&media.ffmpeg_path).await;
            if !available {
                tracing::warn!(
                    program = %media.ffmpeg_path.display(),
                    "ffmpeg not found: voice notes and videos are stored as uploaded"
                );
            }
            if let Ok(mut map) = known.lock() {
                map.insert(media.ffmpeg_path.clone(), available);
            }
            available
        }
    };
    available.then(|| {
        Transcoder::new(TranscodeOptions {
            program: media.ffmpeg_path.clone(),
            voice_bitrate_kbps: media.voice_bitrate_kbps,
            video_bitrate_kbps: media.video_bitrate_kbps,
            video_max_height: media.video_max_height,
            timeout: media.transcode_timeout(),
        })
    })
}

/// Where uploads are staged on their way to processing: `{data_dir}/tmp/media`.
pub(super) fn staging_dir(settings: &Settings) -> PathBuf {
    settings.data_dir.join("tmp").join("media")
}
