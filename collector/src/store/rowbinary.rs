//! RowBinary, ClickHouse's row-wise binary input format, written by hand for the two tables
//! the batcher fills. The engine reads it without parsing text: inserting JSONEachRow spent
//! most of its time parsing JSON. Numbers are little-endian, strings a LEB128 length and the
//! bytes, `LowCardinality(String)` and `SimpleAggregateFunction(f, T)` are written as `String`
//! and `T`. The column order is the one named in the INSERT, never the table's.

use std::collections::BTreeMap;

/// Appends RowBinary values to a buffer.
pub struct RowBinary<'a>(pub &'a mut Vec<u8>);

impl RowBinary<'_> {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// `DateTime`: seconds since the epoch as UInt32.
    pub fn datetime(&mut self, unix_seconds: u32) -> &mut Self {
        self.u32(unix_seconds)
    }

    /// `Date`: days since the epoch as UInt16.
    pub fn date(&mut self, days: u16) -> &mut Self {
        self.u16(days)
    }

    /// `UUID`: its two 64-bit halves, high half first, each little-endian.
    pub fn uuid(&mut self, v: &uuid::Uuid) -> &mut Self {
        let (high, low) = v.as_u64_pair();
        self.u64(high).u64(low)
    }

    pub fn varint(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.varint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    /// `Map(String, String)`: the number of pairs, then each key and value.
    pub fn string_map(&mut self, map: &BTreeMap<String, String>) -> &mut Self {
        self.varint(map.len() as u64);
        for (k, v) in map {
            self.str(k).str(v);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_carry_a_leb128_length() {
        let mut buf = Vec::new();
        RowBinary(&mut buf).str("ab").str(&"x".repeat(300));
        assert_eq!(&buf[..3], &[2, b'a', b'b']);
        assert_eq!(&buf[3..5], &[0xac, 0x02], "300 = 0b10_0101100");
        assert_eq!(buf.len(), 5 + 300);
    }

    #[test]
    fn uuids_are_two_little_endian_halves() {
        let id = uuid::Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").unwrap();
        let mut buf = Vec::new();
        RowBinary(&mut buf).uuid(&id);
        assert_eq!(
            buf,
            [
                0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00, 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa,
                0x99, 0x88
            ]
        );
    }
}
