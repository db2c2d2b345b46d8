//! Voice notes and videos through ffmpeg, run as a child process: voice to Opus in Ogg at a
//! voice bitrate, video to H.264/AAC in MP4 at a mobile bitrate and size, and a poster frame
//! for video thumbnails. Metadata (tags, chapters, GPS atoms) is dropped on the way.
//!
//! ffmpeg is optional at run time: [`Transcoder::detect`] returns `None` when the program
//! does not run, and callers then store files as uploaded.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::error::{Error, Result};

/// How voice notes and videos are transcoded.
#[derive(Clone, Debug)]
pub struct TranscodeOptions {
    /// The ffmpeg program (a name on `PATH` or a path).
    pub program: PathBuf,
    /// Opus bitrate of voice notes, kbit/s.
    pub voice_bitrate_kbps: u32,
    /// H.264 bitrate of videos, kbit/s.
    pub video_bitrate_kbps: u32,
    /// Largest height (short side) of a transcoded video, pixels.
    pub video_max_height: u32,
    /// Longest one run may take.
    pub timeout: Duration,
}

/// Whether `program -version` runs and succeeds.
pub async fn is_available(program: &Path) -> bool {
    Command::new(program)
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .is_ok_and(|status| status.success())
}

/// A working ffmpeg.
#[derive(Clone, Debug)]
pub struct Transcoder {
    options: TranscodeOptions,
}

/// What a transcode produced besides the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transcoded {
    /// The input's duration, when ffmpeg reported one, in milliseconds.
    pub duration_ms: Option<i64>,
}

impl Transcoder {
    /// Runs `ffmpeg -version`; `None` when it cannot be started or fails.
    pub async fn detect(options: TranscodeOptions) -> Option<Transcoder> {
        is_available(&options.program)
            .await
            .then(|| Transcoder::new(options))
    }

    /// A transcoder with `options`, trusting that the program runs (see [`is_available`]).
    pub fn new(options: TranscodeOptions) -> Transcoder {
        Transcoder { options }
    }

    /// The program in use.
    pub fn program(&self) -> &Path {
        &self.options.program
    }

    /// Transcodes the first audio stream of `input` to mono Opus in Ogg at `output`.
    ///
    /// # Errors
    /// [`Error::Transcode`] when ffmpeg refuses the input, [`Error::TranscodeTimeout`],
    /// [`Error::Spawn`].
    pub async fn voice(&self, input: &Path, output: &Path) -> Result<Transcoded> {
        let bitrate = format!("{}k", self.options.voice_bitrate_kbps);
        let args: Vec<&std::ffi::OsStr> = vec![
            "-i".as_ref(),
            input.as_os_str(),
            "-map".as_ref(),
            "0:a:0".as_ref(),
            "-vn".as_ref(),
            "-sn".as_ref(),
            "-dn".as_ref(),
            "-map_metadata".as_ref(),
            "-1".as_ref(),
            "-map_chapters".as_ref(),
            "-1".as_ref(),
            "-c:a".as_ref(),
            "libopus".as_ref(),
            "-b:a".as_ref(),
            bitrate.as_ref(),
            "-ac".as_ref(),
            "1".as_ref(),
            "-application".as_ref(),
            "voip".as_ref(),
            "-f".as_ref(),
            "ogg".as_ref(),
            output.as_os_str(),
        ];
        self.run(&args).await
    }

    /// Transcodes `input` to H.264 (yuv420p, short side at most `video_max_height`) with AAC
    /// audio in an MP4 at `output`, moov atom first so that playback starts while loading.
    ///
    /// # Errors
    /// As [`Transcoder::voice`].
    pub async fn video(&self, input: &Path, output: &Path) -> Result<Transcoded> {
        let max = self.options.video_max_height;
        // Scale the short side down to `max` (never up), keeping both sides even for yuv420p.
        let scale = format!(
            "scale='if(gt(iw,ih),-2,min({max},trunc(iw/2)*2))':'if(gt(iw,ih),min({max},trunc(ih/2)*2),-2)'"
        );
        let bitrate = format!("{}k", self.options.video_bitrate_kbps);
        let maxrate = format!("{}k", self.options.video_bitrate_kbps * 5 / 4);
        let bufsize = format!("{}k", self.options.video_bitrate_kbps * 2);
        let args: Vec<&std::ffi::OsStr> = vec![
            "-i".as_ref(),
            input.as_os_str(),
            "-map".as_ref(),
            "0:v:0".as_ref(),
            "-map".as_ref(),
            "0:a:0?".as_ref(),
            "-sn".as_ref(),
            "-dn".as_ref(),
            "-map_metadata".as_ref(),
            "-1".as_ref(),
            "-map_chapters".as_ref(),
            "-1".as_ref(),
            "-vf".as_ref(),
            scale.as_ref(),
            "-c:v".as_ref(),
            "libx264".as_ref(),
            "-preset".as_ref(),
            "veryfast".as_ref(),
            "-pix_fmt".as_ref(),
            "yuv420p".as_ref(),
            "-b:v".as_ref(),
            bitrate.as_ref(),
            "-maxrate".as_ref(),
            maxrate.as_ref(),
            "-bufsize".as_ref(),
            bufsize.as_ref(),
            "-c:a".as_ref(),
            "aac".as_ref(),
            "-b:a".as_ref(),
            "96k".as_ref(),
            "-movflags".as_ref(),
            "+faststart".as_ref(),
            "-f".as_ref(),
            "mp4".as_ref(),
            output.as_os_str(),
        ];
        self.run(&args).await
    }

    /// Writes the first video frame of `input` as a PNG at `output`, for the thumbnail.
    ///
    /// # Errors
    /// As [`Transcoder::voice`].
    pub async fn poster(&self, input: &Path, output: &Path) -> Result<Transcoded> {
        let args: Vec<&std::ffi::OsStr> = vec![
            "-i".as_ref(),
            input.as_os_str(),
            "-map".as_ref(),
            "0:v:0".as_ref(),
            "-frames:v".as_ref(),
            "1".as_ref(),
            "-f".as_ref(),
            "image2".as_ref(),
            "-c:v".as_ref(),
            "png".as_ref(),
            output.as_os_str(),
        ];
        self.run(&args).await
    }

    async fn run(&self, args: &[&std::ffi::OsStr]) -> Result<Transcoded> {
        let program = &self.options.program;
        let child = Command::new(program)
            .args(["-nostdin", "-hide_banner", "-loglevel", "info", "-y"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let output = tokio::time::timeout(self.options.timeout, child.wait_with_output())
            .await
            .map_err(|_| Error::TranscodeTimeout {
                secs: self.options.timeout.as_secs(),
            })?
            .map_err(|source| Error::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(Error::Transcode {
                stderr: tail(&stderr, 400),
            });
        }
        Ok(Transcoded {
            duration_ms: duration_ms(&stderr),
        })
    }
}

/// The last `max` bytes of `text`, cut at a character boundary.
fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

/// Parses the input's `Duration: HH:MM:SS.cc` from ffmpeg's diagnostics.
fn duration_ms(stderr: &str) -> Option<i64> {
    let rest = stderr.split("Duration: ").nth(1)?;
    let stamp = rest.split(',').next()?.trim();
    let mut parts = stamp.split(':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    let total = (hours * 3600.0 + minutes * 60.0 + seconds) * 1000.0;
    (total.is_finite() && total >= 0.0).then_some(total.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duration_is_read_from_diagnostics() {
        let stderr = "Input #0, wav, from 'x.wav':\n  Duration: 00:01:02.50, bitrate: 705 kb/s";
        assert_eq!(duration_ms(stderr), Some(62_500));
        assert_eq!(duration_ms("Duration: N/A, start"), None);
    }

    #[test]
    fn tails_cut_at_char_boundaries() {
        assert_eq!(tail("ééé", 3), "é");
    }
}
