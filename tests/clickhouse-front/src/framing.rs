//! Compression as ClickHouse's HTTP interface does it. Request bodies sent with
//! `decompress=1` use ClickHouse's native compressed framing: each block is a 16-byte
//! CityHash128 checksum of what follows, a 9-byte header (method, compressed size including
//! the header, decompressed size) and the compressed bytes (method 0x82 LZ4, 0x02 none).
//! Responses to `Accept-Encoding: lz4` are HTTP-compressed: the standard LZ4 frame format.

use bytes::{BufMut, Bytes, BytesMut};

const CHECKSUM: usize = 16;
const HEADER: usize = 9;
const LZ4: u8 = 0x82;
const NONE: u8 = 0x02;
#[cfg(test)]
const BLOCK: usize = 1 << 20;

fn checksum(header_and_data: &[u8]) -> u128 {
    cityhash_rs::cityhash_102_128(header_and_data).rotate_right(64)
}

/// An `Content-Encoding: lz4` response body (LZ4 frame format).
pub fn encode_response(data: &[u8]) -> Bytes {
    use std::io::Write;
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2 + 64));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// Native framing, as the `clickhouse` crate sends compressed INSERT bodies.
#[cfg(test)]
pub fn encode(data: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    for chunk in data.chunks(BLOCK) {
        let compressed = lz4_flex::block::compress(chunk);
        let mut frame = BytesMut::with_capacity(HEADER + compressed.len());
        frame.put_u8(LZ4);
        frame.put_u32_le((HEADER + compressed.len()) as u32);
        frame.put_u32_le(chunk.len() as u32);
        frame.put_slice(&compressed);
        out.put_u128_le(checksum(&frame));
        out.put_slice(&frame);
    }
    out.freeze()
}

pub fn decode(mut data: &[u8]) -> Result<Bytes, String> {
    let mut out = BytesMut::new();
    while !data.is_empty() {
        if data.len() < CHECKSUM + HEADER {
            return Err("truncated compressed block header".into());
        }
        let expected = u128::from_le_bytes(data[..CHECKSUM].try_into().map_err(|_| "checksum")?);
        let rest = &data[CHECKSUM..];
        let method = rest[0];
        let size = u32::from_le_bytes(rest[1..5].try_into().map_err(|_| "size")?) as usize;
        let raw = u32::from_le_bytes(rest[5..9].try_into().map_err(|_| "size")?) as usize;
        if size < HEADER || rest.len() < size {
            return Err("truncated compressed block".into());
        }
        let frame = &rest[..size];
        if checksum(frame) != expected {
            return Err("checksum mismatch in compressed block".into());
        }
        match method {
            LZ4 => {
                let block = lz4_flex::block::decompress(&frame[HEADER..], raw)
                    .map_err(|e| format!("bad LZ4 block: {e}"))?;
                out.put_slice(&block);
            }
            NONE => out.put_slice(&frame[HEADER..]),
            m => return Err(format!("unsupported compression method 0x{m:02x}")),
        }
        data = &rest[size..];
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_and_corruption_detected() {
        let data = b"hello hello hello hello".repeat(1000);
        let framed = super::encode(&data);
        assert_eq!(&super::decode(&framed).unwrap()[..], &data[..]);
        let mut bad = framed.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(super::decode(&bad).is_err());
    }
}
