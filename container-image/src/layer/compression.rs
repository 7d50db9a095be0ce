//! Detecting and undoing layer compression (gzip, zstd, none).

use std::io::{self, BufRead, BufReader, Read};

/// A layer's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (the default for layers).
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The OCI layer media type for this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => crate::image::media::OCI_LAYER,
            Compression::Gzip => crate::image::media::OCI_LAYER_GZIP,
            Compression::Zstd => crate::image::media::OCI_LAYER_ZSTD,
        }
    }
}

/// Judge the compression from the first bytes.
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wrap `reader` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::with_capacity(256 * 1024, reader);
    let head = buf.fill_buf()?;
    Ok(match detect(head) {
        Compression::Gzip => Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(buf),
        )),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buf)?),
        Compression::None => Box::new(buf),
    })
}
