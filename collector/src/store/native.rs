//! Native, ClickHouse's column-wise binary format, for the batcher's inserts into `events`.
//! The spool holds each event as a RowBinary row (`rowbinary`); a batch of rows is turned into
//! one Native block, each column's values side by side, which the engine takes a column at a
//! time instead of parsing row by row: the same rows cost the embedded engine a quarter to a
//! third of the CPU as Native that they cost as RowBinaryWithNamesAndTypes, and a beacon's
//! share of the store's insert work fell from 6.4–7.5 to 2.1–3.1 µs (`docs/benchmarks.md`,
//! session 19).
//!
//! The transposition only copies bytes: for the types `events` uses, a RowBinary value and a
//! value in a Native column are encoded alike (little-endian numbers, a UUID's two halves,
//! strings with a LEB128 length), except `Map(String, String)`, whose Native form is the
//! running total of pairs after each row (UInt64), then every key, then every value.
//! `LowCardinality(String)` is sent as `String`, which the engine converts on insert. Like
//! RowBinaryWithNamesAndTypes, the block names and types every column, so rows that do not
//! match the table are refused by the engine instead of stored shifted.

use super::rowbinary::RowBinary;

/// How one column's RowBinary values are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// A fixed number of bytes (numbers, dates, UUIDs).
    Fixed(usize),
    /// A LEB128 length and that many bytes.
    Str,
    /// `Map(String, String)`: a LEB128 count of pairs, then each key and value as `Str`.
    StrMap,
}

/// The shape of a ClickHouse type's RowBinary values, and the type to declare in the Native
/// block; None for a type this module does not transpose.
fn shape(ty: &str) -> Option<(Shape, &str)> {
    Some(match ty {
        "UInt8" | "Int8" => (Shape::Fixed(1), ty),
        "UInt16" | "Int16" | "Date" => (Shape::Fixed(2), ty),
        "UInt32" | "Int32" | "Float32" | "DateTime" | "DateTime('UTC')" => (Shape::Fixed(4), ty),
        "UInt64" | "Int64" | "Float64" => (Shape::Fixed(8), ty),
        "UUID" => (Shape::Fixed(16), ty),
        "String" | "LowCardinality(String)" => (Shape::Str, "String"),
        "Map(String, String)" => (Shape::StrMap, ty),
        _ => return None,
    })
}

/// One column's values in Native order.
struct Values {
    data: Vec<u8>,
    /// `StrMap` only: every key, then every value, and the pairs so far.
    keys: Vec<u8>,
    values: Vec<u8>,
    pairs: u64,
}

/// Reads RowBinary values from one row.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.take(1)?.first()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// A string with its length prefix, as it is encoded.
    fn string(&mut self) -> Option<&'a [u8]> {
        let all = self.0;
        let len = usize::try_from(self.varint()?).ok()?;
        let prefix = all.len() - self.0.len();
        self.take(len)?;
        Some(&all[..prefix + len])
    }
}

/// The Native block of `rows`, each a RowBinary row of `columns` (name and ClickHouse type,
/// in the row's order). None when a type has no Native form here or a row does not read as
/// exactly those columns: the caller then sends the rows as they are, and the engine names
/// what is wrong with them.
pub fn block(columns: &[(&str, &str)], rows: &[&[u8]]) -> Option<Vec<u8>> {
    let shapes: Vec<(Shape, &str)> = columns
        .iter()
        .map(|(_, ty)| shape(ty))
        .collect::<Option<_>>()?;
    let bytes: usize = rows.iter().map(|r| r.len()).sum();
    let mut values: Vec<Values> = shapes
        .iter()
        .map(|(s, _)| Values {
            data: Vec::with_capacity(match s {
                Shape::Fixed(n) => n * rows.len(),
                Shape::StrMap => 8 * rows.len(),
                Shape::Str => bytes / columns.len().max(1),
            }),
            keys: Vec::new(),
            values: Vec::new(),
            pairs: 0,
        })
        .collect();
    for row in rows {
        let mut c = Cursor(row);
        for ((shape, _), v) in shapes.iter().zip(values.iter_mut()) {
            match shape {
                Shape::Fixed(n) => v.data.extend_from_slice(c.take(*n)?),
                Shape::Str => v.data.extend_from_slice(c.string()?),
                Shape::StrMap => {
                    let n = c.varint()?;
                    for _ in 0..n {
                        v.keys.extend_from_slice(c.string()?);
                        v.values.extend_from_slice(c.string()?);
                    }
                    v.pairs += n;
                    v.data.extend_from_slice(&v.pairs.to_le_bytes());
                }
            }
        }
        if !c.0.is_empty() {
            return None;
        }
    }
    let mut out = Vec::with_capacity(bytes + rows.len() * 8 + 4096);
    let w = &mut RowBinary(&mut out);
    w.varint(columns.len() as u64).varint(rows.len() as u64);
    for ((name, _), ((_, native_type), v)) in columns.iter().zip(shapes.iter().zip(&values)) {
        w.str(name).str(native_type);
        w.0.extend_from_slice(&v.data);
        w.0.extend_from_slice(&v.keys);
        w.0.extend_from_slice(&v.values);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn row(id: u64, name: &str, props: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        let map: BTreeMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RowBinary(&mut out)
            .u64(id)
            .str(name)
            .string_map(&map)
            .u16(7);
        out
    }

    const COLUMNS: &[(&str, &str)] = &[
        ("id", "UInt64"),
        ("name", "LowCardinality(String)"),
        ("props", "Map(String, String)"),
        ("width", "UInt16"),
    ];

    #[test]
    fn rows_become_columns_with_map_offsets_keys_and_values() {
        let a = row(1, "pageview", &[("author", "alice"), ("k", "v")]);
        let b = row(2, "", &[]);
        let c = row(300, "é", &[("x", "")]);
        let got = block(COLUMNS, &[&a, &b, &c]).unwrap();

        let mut want = Vec::new();
        let w = &mut RowBinary(&mut want);
        w.varint(4).varint(3);
        w.str("id").str("UInt64").u64(1).u64(2).u64(300);
        w.str("name").str("String").str("pageview").str("").str("é");
        w.str("props").str("Map(String, String)");
        w.u64(2).u64(2).u64(3); // pairs after each row
        w.str("author").str("k").str("x"); // every key
        w.str("alice").str("v").str(""); // every value
        w.str("width").str("UInt16").u16(7).u16(7).u16(7);
        assert_eq!(got, want);
    }

    #[test]
    fn a_row_that_does_not_read_as_the_columns_gives_no_block() {
        let good = row(1, "pageview", &[]);
        assert!(
            block(COLUMNS, &[&good[..good.len() - 1]]).is_none(),
            "short"
        );
        let mut long = good.clone();
        long.push(0);
        assert!(block(COLUMNS, &[&long]).is_none(), "trailing bytes");
        let mut huge = Vec::new();
        RowBinary(&mut huge).u64(1).varint(u64::MAX);
        assert!(block(COLUMNS, &[&huge]).is_none(), "a length past the row");
        assert!(
            block(&[("t", "Array(String)")], &[&[0u8][..]]).is_none(),
            "unknown type"
        );
    }

    #[test]
    fn no_rows_is_an_empty_block_of_the_columns() {
        let got = block(COLUMNS, &[]).unwrap();
        assert_eq!(&got[..2], &[4, 0]);
    }
}
