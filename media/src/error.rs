//! The crate's error type: why a file could not be processed.

/// Why processing failed. Every variant but [`Error::Encode`] and [`Error::Spawn`] is the
/// input's fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image is larger than the configured pixel limit.
    #[error("the image is {width}x{height}, more than the {max_pixels} pixels allowed")]
    TooManyPixels {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// The limit.
        max_pixels: u64,
    },
    /// The bytes do not decode as an image of their type (truncated, corrupt, hostile).
    #[error("the image cannot be decoded")]
    Decode(#[source] ::image::ImageError),
    /// Re-encoding failed (a bug or out of memory, not the input's fault).
    #[error("the image cannot be encoded")]
    Encode(#[source] ::image::ImageError),
    /// ffmpeg could not be started.
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// ffmpeg ran but refused the input.
    #[error("ffmpeg could not transcode the file: {stderr}")]
    Transcode {
        /// The end of ffmpeg's diagnostics.
        stderr: String,
    },
    /// ffmpeg took longer than allowed and was killed.
    #[error("transcoding took longer than {secs} s")]
    TranscodeTimeout {
        /// The limit in seconds.
        secs: u64,
    },
}

impl Error {
    /// Whether the input is at fault (the client should get a 4xx), rather than the server.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, Error::Encode(_) | Error::Spawn { .. })
    }
}

/// Result alias of the media crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
