//! Photos a resident attaches to a report: what is accepted, and what is
//! taken out before the host stores one.
//!
//! A photo is accepted by what its bytes are, not by what the browser
//! calls it: a JPEG or a PNG that parses, at most [`MAX_PHOTO_BYTES`],
//! at most [`MAX_PHOTOS`] to a report. Before it is stored, everything but
//! the picture is removed: a JPEG keeps only its image segments (EXIF with
//! its GPS position, XMP, comments and every other `APPn` segment go), a
//! PNG only the chunks that draw it (`eXIf` and text chunks go). The
//! pixels are not decoded or changed.

use img_parts::Bytes;
use img_parts::jpeg::{Jpeg, markers};
use img_parts::png::Png;

/// Most photos one report may carry.
pub const MAX_PHOTOS: usize = 3;

/// The largest photo accepted, in bytes (5 MiB).
pub const MAX_PHOTO_BYTES: usize = 5 << 20;

/// A photo ready to store: its type and its cleaned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Photo {
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
    /// The picture, without its metadata.
    pub bytes: Vec<u8>,
}

/// The PNG chunks a picture needs to be drawn as it was; every other chunk
/// (`eXIf`, `tEXt`, `zTXt`, `iTXt`, `tIME`, private ones) is dropped.
const PNG_KEPT: [&[u8; 4]; 11] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"pHYs",
];

/// Check `bytes` as a photo and strip its metadata; the refusal says what
/// was wrong and what is allowed.
pub fn clean(bytes: &[u8]) -> Result<Photo, String> {
    if bytes.is_empty() {
        return Err("the photo is empty".into());
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(format!(
            "the photo is {} KiB; at most {} KiB are allowed",
            bytes.len().div_ceil(1024),
            MAX_PHOTO_BYTES / 1024
        ));
    }
    let not_a_photo = || "the photo is not a JPEG or PNG image; send a .jpg or .png".to_owned();
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        let mut jpeg =
            Jpeg::from_bytes(Bytes::copy_from_slice(bytes)).map_err(|_| not_a_photo())?;
        jpeg.segments_mut()
            .retain(|s| !matches!(s.marker(), markers::APP1..=markers::APP15 | markers::COM));
        return Ok(Photo {
            content_type: "image/jpeg",
            bytes: jpeg.encoder().bytes().to_vec(),
        });
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let mut png = Png::from_bytes(Bytes::copy_from_slice(bytes)).map_err(|_| not_a_photo())?;
        png.chunks_mut().retain(|c| PNG_KEPT.contains(&&c.kind()));
        return Ok(Photo {
            content_type: "image/png",
            bytes: png.encoder().bytes().to_vec(),
        });
    }
    Err(not_a_photo())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal JPEG: SOI, an APP0 (JFIF), an APP1 holding EXIF with a
    /// GPS tag's name in it, a comment, a tiny quantisation table, a scan,
    /// EOI.
    fn jpeg_with_exif() -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        let segment = |b: &mut Vec<u8>, marker: u8, body: &[u8]| {
            b.extend([0xFF, marker]);
            b.extend(((body.len() + 2) as u16).to_be_bytes());
            b.extend(body);
        };
        segment(&mut b, 0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        segment(&mut b, 0xE1, b"Exif\0\0GPSLatitude 31.2304");
        segment(&mut b, 0xFE, b"taken at home");
        segment(&mut b, 0xDB, &[0u8; 65]);
        segment(&mut b, 0xDA, &[0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
        b.extend([0x12, 0x34, 0xFF, 0xD9]);
        b
    }

    #[test]
    fn a_jpeg_loses_its_exif_and_comments_and_keeps_its_image_segments() {
        let photo = clean(&jpeg_with_exif()).expect("a JPEG");
        assert_eq!(photo.content_type, "image/jpeg");
        let text = String::from_utf8_lossy(&photo.bytes);
        assert!(!text.contains("GPSLatitude"), "{text}");
        assert!(!text.contains("taken at home"), "{text}");
        assert!(text.contains("JFIF"), "APP0 is kept: {text}");
        assert!(photo.bytes.starts_with(&[0xFF, 0xD8]) && photo.bytes.ends_with(&[0xFF, 0xD9]));
    }

    #[test]
    fn a_png_loses_its_text_and_exif_chunks() {
        let chunk = |b: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]| {
            b.extend((body.len() as u32).to_be_bytes());
            b.extend(kind);
            b.extend(body);
            let mut crc = crc32(kind);
            crc = crc32_more(crc, body);
            b.extend((!crc).to_be_bytes());
        };
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut b, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
        chunk(&mut b, b"tEXt", b"Location\0home");
        chunk(&mut b, b"eXIf", b"MM\0*GPS");
        chunk(&mut b, b"IDAT", &[0x78, 0x9C, 0x63, 0, 0, 0, 1, 0, 1]);
        chunk(&mut b, b"IEND", &[]);
        let photo = clean(&b).expect("a PNG");
        assert_eq!(photo.content_type, "image/png");
        let text = String::from_utf8_lossy(&photo.bytes);
        assert!(
            !text.contains("Location") && !text.contains("GPS"),
            "{text}"
        );
        assert!(text.contains("IDAT") && text.contains("IHDR"));
    }

    fn crc32(bytes: &[u8]) -> u32 {
        crc32_more(0xFFFF_FFFF, bytes)
    }

    fn crc32_more(mut crc: u32, bytes: &[u8]) -> u32 {
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn anything_else_or_too_big_is_refused_with_what_is_allowed() {
        let err = clean(b"<svg onload=alert(1)>").unwrap_err();
        assert!(err.contains("JPEG or PNG"), "{err}");
        assert!(clean(&[]).is_err());
        let mut big = jpeg_with_exif();
        big.resize(MAX_PHOTO_BYTES + 1, 0);
        let err = clean(&big).unwrap_err();
        assert!(err.contains("at most 5120 KiB"), "{err}");
    }
}
