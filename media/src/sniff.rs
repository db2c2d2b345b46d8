//! What a file is, from its first bytes (magic numbers, via the `infer` crate). The client's
//! content type is never consulted: a file that says it is a PNG but starts like an HTML page
//! is an HTML page.

use std::fmt;
use std::str::FromStr;

/// How many leading bytes [`sniff`] needs to recognise every supported type.
pub const SNIFF_LEN: usize = 8192;

/// The broad kind of a file, which decides its size limit and its processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// JPEG, PNG, WebP or GIF: decoded and re-encoded.
    Image,
    /// Audio (voice notes): transcoded to Opus when ffmpeg is available.
    Audio,
    /// Video: transcoded to H.264/AAC MP4 when ffmpeg is available.
    Video,
    /// Anything else (documents): stored as uploaded, served as an attachment.
    File,
}

impl Kind {
    /// The wire and stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Audio => "audio",
            Kind::Video => "video",
            Kind::File => "file",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The input was not one of `image`, `audio`, `video`, `file`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a media kind (image, audio, video or file)")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(input: &str) -> Result<Kind, UnknownKind> {
        match input {
            "image" => Ok(Kind::Image),
            "audio" | "voice" => Ok(Kind::Audio),
            "video" => Ok(Kind::Video),
            "file" | "document" => Ok(Kind::File),
            _ => Err(UnknownKind(input.to_owned())),
        }
    }
}

/// What [`sniff`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sniffed {
    /// The MIME type the bytes show (`application/octet-stream` when unknown).
    pub mime: &'static str,
    /// The kind it belongs to.
    pub kind: Kind,
}

/// The images natter decodes and re-encodes.
pub const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp", "image/gif"];

/// Recognises a file from its first bytes (pass at least [`SNIFF_LEN`] when the file is that
/// long). Images other than [`IMAGE_TYPES`] (HEIC, TIFF, BMP…) count as files, so that they
/// are stored untouched rather than half-understood.
pub fn sniff(head: &[u8]) -> Sniffed {
    let Some(found) = infer::get(head) else {
        return Sniffed {
            mime: "application/octet-stream",
            kind: Kind::File,
        };
    };
    let mime = found.mime_type();
    let kind = match found.matcher_type() {
        infer::MatcherType::Image if IMAGE_TYPES.contains(&mime) => Kind::Image,
        infer::MatcherType::Audio => Kind::Audio,
        infer::MatcherType::Video => Kind::Video,
        _ => Kind::File,
    };
    Sniffed { mime, kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_their_magic_numbers() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        assert_eq!(sniff(&jpeg).mime, "image/jpeg");
        assert_eq!(sniff(&jpeg).kind, Kind::Image);
        let png = [
            0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
        ];
        assert_eq!(sniff(&png).mime, "image/png");
        assert_eq!(sniff(b"GIF89a\x01\x00\x01\x00").mime, "image/gif");
        assert_eq!(sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 ").mime, "image/webp");
    }

    #[test]
    fn voice_notes_are_audio() {
        assert_eq!(sniff(b"OggS\x00\x02\x00\x00\x00\x00").kind, Kind::Audio);
        assert_eq!(sniff(b"RIFF\x24\x00\x00\x00WAVEfmt ").kind, Kind::Audio);
    }

    #[test]
    fn unknown_and_text_bytes_are_files() {
        let html = sniff(b"<html><script>alert(1)</script></html>");
        assert_eq!(html.kind, Kind::File);
        assert_eq!(sniff(b"").mime, "application/octet-stream");
        assert_eq!(sniff(b"%PDF-1.7\n").mime, "application/pdf");
    }

    #[test]
    fn kinds_parse_from_their_wire_names() {
        assert_eq!("voice".parse::<Kind>(), Ok(Kind::Audio));
        assert!("exe".parse::<Kind>().is_err());
    }
}
