//! Settings of the media part (`[media]`, `NATTER__MEDIA__*`): upload limits, the quota,
//! image and transcoding parameters, signed-URL lifetime and garbage collection. Where media
//! are stored is `[storage]`.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fields::{empty_as_none, lossy_path, redact_secret};
use crate::settings::at_least_one;

/// The media part (`[media]`, `NATTER__MEDIA__*`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {
    /// Largest accepted image upload, bytes (`media.image_max_bytes`).
    pub image_max_bytes: u64,
    /// Largest accepted audio (voice note) upload, bytes (`media.audio_max_bytes`).
    pub audio_max_bytes: u64,
    /// Largest accepted video upload, bytes (`media.video_max_bytes`).
    pub video_max_bytes: u64,
    /// Largest accepted document (any other type) upload, bytes (`media.file_max_bytes`).
    pub file_max_bytes: u64,
    /// Bytes of stored media one user may hold (`media.quota_bytes`).
    pub quota_bytes: u64,
    /// Largest chunk of a resumable upload, bytes (`media.chunk_max_bytes`).
    pub chunk_max_bytes: u64,
    /// Longest side of a stored image, pixels (`media.image_max_dimension`).
    pub image_max_dimension: u32,
    /// JPEG quality of stored images, 1–100 (`media.image_quality`).
    pub image_quality: u8,
    /// Most pixels an uploaded image may decode to (`media.image_max_pixels`); larger ones are
    /// refused before decoding, so a small hostile file cannot allocate gigabytes.
    pub image_max_pixels: u64,
    /// Longest side of a thumbnail, pixels (`media.thumbnail_max_dimension`).
    pub thumbnail_max_dimension: u32,
    /// JPEG quality of thumbnails, 1–100 (`media.thumbnail_quality`).
    pub thumbnail_quality: u8,
    /// Whether voice notes and videos are transcoded with ffmpeg when it is found
    /// (`media.transcode`).
    pub transcode: bool,
    /// The ffmpeg program: a name looked up on `PATH` or a path (`media.ffmpeg_path`).
    #[serde(serialize_with = "lossy_path")]
    pub ffmpeg_path: PathBuf,
    /// Opus bitrate of voice notes, kbit/s (`media.voice_bitrate_kbps`).
    pub voice_bitrate_kbps: u32,
    /// H.264 bitrate of videos, kbit/s (`media.video_bitrate_kbps`).
    pub video_bitrate_kbps: u32,
    /// Largest video height after transcoding, pixels (`media.video_max_height`).
    pub video_max_height: u32,
    /// Longest a transcode may run, seconds (`media.transcode_timeout_secs`).
    pub transcode_timeout_secs: u64,
    /// Uploads processed at once per process (`media.processing_concurrency`).
    pub processing_concurrency: u32,
    /// Decoded pixels all images being processed at once may hold, per process
    /// (`media.max_pixels_in_flight`, default 64000000: memory grows with pixels, not with
    /// uploads). An image waits until its pixels fit; one larger than the budget runs alone.
    pub max_pixels_in_flight: u64,
    /// Lifetime of signed download and upload URLs, seconds (`media.url_ttl_secs`).
    pub url_ttl_secs: u64,
    /// Key that signs local download URLs; `None`: generated once into
    /// `{data_dir}/media-signing-key` (`media.signing_key`).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "redact_secret"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SecretString>,
    /// Base URL of natter-signed links (`https://chat.example.com`); `None`: taken from the
    /// request's `Host` header over http (`media.public_url`).
    #[serde(default, deserialize_with = "empty_as_none")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// How long an upload that no message refers to is kept, seconds (`media.gc_grace_secs`).
    pub gc_grace_secs: u64,
    /// How long an unfinished resumable upload is kept, seconds (`media.upload_ttl_secs`).
    pub upload_ttl_secs: u64,
}

impl Default for MediaSettings {
    fn default() -> MediaSettings {
        const MIB: u64 = 1024 * 1024;
        MediaSettings {
            image_max_bytes: 16 * MIB,
            audio_max_bytes: 16 * MIB,
            video_max_bytes: 100 * MIB,
            file_max_bytes: 100 * MIB,
            quota_bytes: 1024 * MIB,
            chunk_max_bytes: 8 * MIB,
            image_max_dimension: 2048,
            image_quality: 80,
            image_max_pixels: 64_000_000,
            thumbnail_max_dimension: 96,
            thumbnail_quality: 60,
            transcode: true,
            ffmpeg_path: PathBuf::from("ffmpeg"),
            voice_bitrate_kbps: 24,
            video_bitrate_kbps: 1200,
            video_max_height: 720,
            transcode_timeout_secs: 300,
            processing_concurrency: 2,
            max_pixels_in_flight: 64_000_000,
            url_ttl_secs: 300,
            signing_key: None,
            public_url: None,
            gc_grace_secs: 24 * 60 * 60,
            upload_ttl_secs: 24 * 60 * 60,
        }
    }
}

impl MediaSettings {
    /// Lifetime of signed URLs.
    pub fn url_ttl(&self) -> Duration {
        Duration::from_secs(self.url_ttl_secs)
    }

    /// How long unreferenced uploads are kept.
    pub fn gc_grace(&self) -> Duration {
        Duration::from_secs(self.gc_grace_secs)
    }

    /// How long unfinished resumable uploads are kept.
    pub fn upload_ttl(&self) -> Duration {
        Duration::from_secs(self.upload_ttl_secs)
    }

    /// Longest a transcode may run.
    pub fn transcode_timeout(&self) -> Duration {
        Duration::from_secs(self.transcode_timeout_secs)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        at_least_one("media.image_max_bytes", self.image_max_bytes)?;
        at_least_one("media.audio_max_bytes", self.audio_max_bytes)?;
        at_least_one("media.video_max_bytes", self.video_max_bytes)?;
        at_least_one("media.file_max_bytes", self.file_max_bytes)?;
        at_least_one("media.chunk_max_bytes", self.chunk_max_bytes)?;
        at_least_one("media.image_max_pixels", self.image_max_pixels)?;
        at_least_one("media.voice_bitrate_kbps", self.voice_bitrate_kbps)?;
        at_least_one("media.video_bitrate_kbps", self.video_bitrate_kbps)?;
        at_least_one("media.transcode_timeout_secs", self.transcode_timeout_secs)?;
        at_least_one("media.processing_concurrency", self.processing_concurrency)?;
        at_least_one("media.max_pixels_in_flight", self.max_pixels_in_flight)?;
        at_least_one("media.url_ttl_secs", self.url_ttl_secs)?;
        at_least_one("media.upload_ttl_secs", self.upload_ttl_secs)?;
        for (key, value) in [
            ("media.image_max_dimension", self.image_max_dimension),
            (
                "media.thumbnail_max_dimension",
                self.thumbnail_max_dimension,
            ),
            ("media.video_max_height", self.video_max_height),
        ] {
            if !(16..=16384).contains(&value) {
                return Err(Error::invalid(
                    key,
                    format!("{value} is not from 16 to 16384"),
                ));
            }
        }
        if self.thumbnail_max_dimension > self.image_max_dimension {
            return Err(Error::invalid(
                "media.thumbnail_max_dimension",
                "must not exceed media.image_max_dimension",
            ));
        }
        for (key, value) in [
            ("media.image_quality", self.image_quality),
            ("media.thumbnail_quality", self.thumbnail_quality),
        ] {
            if !(1..=100).contains(&value) {
                return Err(Error::invalid(key, format!("{value} is not from 1 to 100")));
            }
        }
        if self.ffmpeg_path.as_os_str().is_empty() {
            return Err(Error::invalid(
                "media.ffmpeg_path",
                "must not be empty (set media.transcode = false to turn transcoding off)",
            ));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Error::invalid(
                "media.public_url",
                format!("{url:?} is not an http(s) URL like https://chat.example.com"),
            ));
        }
        if let Some(key) = &self.signing_key
            && secrecy::ExposeSecret::expose_secret(key).len() < 32
        {
            return Err(Error::invalid(
                "media.signing_key",
                "must be at least 32 characters",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(MediaSettings::default().validate().is_ok());
    }

    #[test]
    fn a_thumbnail_larger_than_images_is_refused() {
        let settings = MediaSettings {
            thumbnail_max_dimension: 4096,
            ..MediaSettings::default()
        };
        assert!(settings.validate().is_err());
    }

    #[test]
    fn a_quality_over_100_is_refused() {
        let settings = MediaSettings {
            image_quality: 101,
            ..MediaSettings::default()
        };
        assert!(settings.validate().is_err());
    }
}
