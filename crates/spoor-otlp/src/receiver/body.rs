//! Request body decompression with a hard output limit, so that a small compressed body cannot
//! expand into unbounded memory.

use std::io::Read;

/// The `Content-Encoding` values the collector's HTTP server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
    /// zlib-wrapped deflate (what HTTP calls `deflate`); raw deflate is accepted too.
    Zlib,
    /// Block snappy, or framed snappy when the body starts with the stream identifier, as
    /// the collector auto-detects for compatibility with its older clients.
    Snappy,
    SnappyFramed,
    /// The LZ4 frame format.
    Lz4,
}

impl Encoding {
    /// The collector's default `compression_algorithms`.
    pub const DEFAULT_NAMES: [&'static str; 8] =
        ["", "gzip", "zstd", "zlib", "snappy", "deflate", "lz4", "x-snappy-framed"];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "" | "identity" | "none" => Self::Identity,
            "gzip" | "x-gzip" => Self::Gzip,
            "zstd" => Self::Zstd,
            "zlib" | "deflate" => Self::Zlib,
            "snappy" => Self::Snappy,
            "x-snappy-framed" => Self::SnappyFramed,
            "lz4" => Self::Lz4,
            _ => return None,
        })
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body too large: more than {limit} bytes after decompression")]
    TooLarge { limit: usize },
    #[error("invalid {encoding} body: {message}")]
    Corrupt { encoding: &'static str, message: String },
}

const SNAPPY_STREAM_IDENTIFIER: &[u8] = b"\xff\x06\x00\x00sNaPpY";

/// Decompresses `body`, failing with [`BodyError::TooLarge`] as soon as the output would
/// pass `limit` bytes.
pub fn decompress(encoding: Encoding, body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    match encoding {
        Encoding::Identity => {
            if body.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            Ok(body.to_vec())
        }
        Encoding::Gzip => read_limited(flate2::read::MultiGzDecoder::new(body), "gzip", limit),
        Encoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(body)
                .map_err(|err| BodyError::Corrupt { encoding: "zstd", message: err.to_string() })?;
            read_limited(decoder, "zstd", limit)
        }
        Encoding::Zlib => {
            if looks_like_zlib(body) {
                read_limited(flate2::read::ZlibDecoder::new(body), "deflate", limit)
            } else {
                read_limited(flate2::read::DeflateDecoder::new(body), "deflate", limit)
            }
        }
        Encoding::Snappy if body.starts_with(SNAPPY_STREAM_IDENTIFIER) => {
            read_limited(snap::read::FrameDecoder::new(body), "snappy", limit)
        }
        Encoding::Snappy => decompress_snappy_block(body, limit),
        Encoding::SnappyFramed => read_limited(snap::read::FrameDecoder::new(body), "snappy", limit),
        Encoding::Lz4 => read_limited(lz4_flex::frame::FrameDecoder::new(body), "lz4", limit),
    }
}

/// A zlib stream starts with a CMF/FLG pair whose 16-bit value is a multiple of 31 and
/// whose method is deflate.
fn looks_like_zlib(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

fn decompress_snappy_block(body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let corrupt = |err: snap::Error| BodyError::Corrupt { encoding: "snappy", message: err.to_string() };
    // The block format declares its length up front, so the limit is checked before any
    // allocation.
    let declared = snap::raw::decompress_len(body).map_err(corrupt)?;
    if declared > limit {
        return Err(BodyError::TooLarge { limit });
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(corrupt)
}

fn read_limited(reader: impl Read, encoding: &'static str, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out).map_err(|err| BodyError::Corrupt { encoding, message: err.to_string() })?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const TEXT: &[u8] = b"hello hello hello hello otlp";

    #[test]
    fn round_trips_every_encoding() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(TEXT).unwrap();
        let gz = gz.finish().unwrap();
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zl.write_all(TEXT).unwrap();
        let zl = zl.finish().unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(TEXT).unwrap();
        let raw = raw.finish().unwrap();
        let zs = zstd::encode_all(TEXT, 3).unwrap();
        let block = snap::raw::Encoder::new().compress_vec(TEXT).unwrap();
        let mut framed = snap::write::FrameEncoder::new(Vec::new());
        framed.write_all(TEXT).unwrap();
        let framed = framed.into_inner().unwrap();
        let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz.write_all(TEXT).unwrap();
        let lz = lz.finish().unwrap();
        let cases = [
            (Encoding::Identity, TEXT.to_vec()),
            (Encoding::Gzip, gz),
            (Encoding::Zlib, zl),
            (Encoding::Zlib, raw),
            (Encoding::Zstd, zs),
            (Encoding::Snappy, block),
            (Encoding::Snappy, framed.clone()),
            (Encoding::SnappyFramed, framed),
            (Encoding::Lz4, lz),
        ];
        for (encoding, body) in cases {
            assert_eq!(decompress(encoding, &body, 1024).unwrap(), TEXT, "{encoding:?}");
        }
    }

    #[test]
    fn stops_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decompress(Encoding::Gzip, &gz, 1000), Err(BodyError::TooLarge { limit: 1000 }));
        let block = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        assert_eq!(decompress(Encoding::Snappy, &block, 1000), Err(BodyError::TooLarge { limit: 1000 }));
        assert_eq!(decompress(Encoding::Identity, &zeros, 1000), Err(BodyError::TooLarge { limit: 1000 }));
        assert_eq!(decompress(Encoding::Gzip, &gz, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        for encoding in
            [Encoding::Gzip, Encoding::Zstd, Encoding::Zlib, Encoding::Snappy, Encoding::SnappyFramed, Encoding::Lz4]
        {
            for body in [&b""[..], b"\x00", b"garbage garbage garbage", b"\xff\x06\x00\x00sNaPpY\x00\xff"] {
                // Empty input may legitimately decode to nothing for some formats.
                if let Err(err) = decompress(encoding, body, 1024) {
                    assert!(matches!(err, BodyError::Corrupt { .. }), "{encoding:?}: {err}");
                }
            }
        }
    }

    #[test]
    fn parses_names() {
        for name in Encoding::DEFAULT_NAMES {
            assert!(Encoding::parse(name).is_some(), "{name}");
        }
        assert_eq!(Encoding::parse("GZIP"), Some(Encoding::Gzip));
        assert_eq!(Encoding::parse("br"), None);
    }
}
