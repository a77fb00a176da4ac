//! The `events` row, defined once: each column's name, ClickHouse type, default, the
//! migration that introduced it and the code that writes it. The migrations' `events` column
//! lists, the batcher's insert header (RowBinaryWithNamesAndTypes, so a column-order or type
//! mismatch is an engine error instead of shifted data), the spool record encoders and the
//! tests' fixtures all derive from `COLUMNS`.
//!
//! Adding a column: one entry here (`since` = the new migration's version, in the position
//! it should take in the row) plus a migration that calls `migrations::add_columns(&EVENTS,
//! &row::added_in(version), ..)`. Spooled records say which columns they hold (see
//! `record`), so records written before the column still replay; they get its default.
//! Never reorder or retag a shipped column: records on disk were written in this order.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::record::Record;
use super::sessions::Attribution;
use crate::store::rowbinary::RowBinary;

/// One row of `events`, as spooled and inserted (written column by column by `COLUMNS`).
/// `Default` is the row of a column's zero values, for fixtures that set only what they test.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventRow {
    pub event_id: uuid::Uuid,
    pub timestamp: u32,
    pub site: String,
    pub name: String,
    /// The event's own host; every other visit property comes from `attribution`.
    pub hostname: String,
    pub pathname: String,
    /// The visit's first-touch attributes (referrer, UTM, location, device), shared with the
    /// session: set by the session step.
    pub attribution: Arc<Attribution>,
    pub screen_width: u16,
    pub visitor_id: u64,
    pub session_id: u64,
    pub visitor_key: String,
    pub consent: &'static str,
    pub engaged_ms: u32,
    pub props: BTreeMap<String, String>,
    pub retention_days: u16,
}

/// Writes one column's value of a record.
pub type Writer = fn(&Record, &mut RowBinary<'_>);

/// One column of `events`.
pub struct Column {
    pub name: &'static str,
    /// The ClickHouse type, as `system.columns` names it.
    pub ty: &'static str,
    /// The DEFAULT expression of the DDL, if any.
    pub default: Option<&'static str>,
    /// The migration version that introduced the column.
    pub since: u32,
    /// A first-touch attribute of the visit: the session row carries it too (see
    /// `SESSIONS_FROM_EVENTS` in `migrations`).
    pub visit_attribute: bool,
    pub write: Writer,
}

impl Column {
    const fn new(name: &'static str, ty: &'static str, since: u32, write: Writer) -> Column {
        Column {
            name,
            ty,
            default: None,
            since,
            visit_attribute: false,
            write,
        }
    }

    const fn default(mut self, expr: &'static str) -> Column {
        self.default = Some(expr);
        self
    }

    const fn visit(mut self) -> Column {
        self.visit_attribute = true;
        self
    }

    /// The column as DDL writes it: `name Type [DEFAULT expr]`.
    pub fn ddl(&self) -> String {
        match self.default {
            Some(d) => format!("{} {} DEFAULT {d}", self.name, self.ty),
            None => format!("{} {}", self.name, self.ty),
        }
    }
}

const LC: &str = "LowCardinality(String)";

/// Every column of `events`, in the order records are written (never reorder: spooled
/// records of every version hold their columns in this order).
pub const COLUMNS: &[Column] = &[
    Column::new("event_id", "UUID", 1, |r, w| {
        w.uuid(&r.event.event_id);
    }),
    Column::new("timestamp", "DateTime('UTC')", 1, |r, w| {
        w.datetime(r.event.timestamp);
    }),
    Column::new("site", LC, 1, |r, w| {
        w.str(&r.event.site);
    }),
    Column::new("name", LC, 1, |r, w| {
        w.str(&r.event.name);
    }),
    Column::new("hostname", LC, 1, |r, w| {
        w.str(&r.event.hostname);
    }),
    Column::new("pathname", "String", 1, |r, w| {
        w.str(&r.event.pathname);
    }),
    Column::new("referrer", "String", 1, |r, w| {
        w.str(&r.event.attribution.referrer);
    })
    .visit(),
    Column::new("referrer_source", LC, 1, |r, w| {
        w.str(&r.event.attribution.referrer_source);
    })
    .visit(),
    Column::new("channel", LC, 1, |r, w| {
        w.str(&r.event.attribution.channel);
    })
    .visit(),
    Column::new("utm_source", "String", 1, |r, w| {
        w.str(&r.event.attribution.utm_source);
    })
    .visit(),
    Column::new("utm_medium", "String", 1, |r, w| {
        w.str(&r.event.attribution.utm_medium);
    })
    .visit(),
    Column::new("utm_campaign", "String", 1, |r, w| {
        w.str(&r.event.attribution.utm_campaign);
    })
    .visit(),
    Column::new("utm_content", "String", 1, |r, w| {
        w.str(&r.event.attribution.utm_content);
    })
    .visit(),
    Column::new("utm_term", "String", 1, |r, w| {
        w.str(&r.event.attribution.utm_term);
    })
    .visit(),
    Column::new("country_code", LC, 1, |r, w| {
        w.str(&r.event.attribution.country_code);
    })
    .visit(),
    Column::new("region", LC, 1, |r, w| {
        w.str(&r.event.attribution.region);
    })
    .visit(),
    Column::new("city", "String", 1, |r, w| {
        w.str(&r.event.attribution.city);
    })
    .visit(),
    Column::new("org", "String", 1, |r, w| {
        w.str(&r.event.attribution.org);
    })
    .visit(),
    Column::new("org_type", LC, 7, |r, w| {
        w.str(&r.event.attribution.org_type);
    })
    .default("''")
    .visit(),
    Column::new("browser", LC, 1, |r, w| {
        w.str(&r.event.attribution.browser);
    })
    .visit(),
    Column::new("browser_version", LC, 1, |r, w| {
        w.str(&r.event.attribution.browser_version);
    })
    .visit(),
    Column::new("os", LC, 1, |r, w| {
        w.str(&r.event.attribution.os);
    })
    .visit(),
    Column::new("os_version", LC, 1, |r, w| {
        w.str(&r.event.attribution.os_version);
    })
    .visit(),
    Column::new("device", LC, 1, |r, w| {
        w.str(&r.event.attribution.device);
    })
    .visit(),
    Column::new("screen_width", "UInt16", 1, |r, w| {
        w.u16(r.event.screen_width);
    }),
    Column::new("visitor_id", "UInt64", 1, |r, w| {
        w.u64(r.event.visitor_id);
    }),
    Column::new("session_id", "UInt64", 1, |r, w| {
        w.u64(r.event.session_id);
    }),
    Column::new("visitor_key", "String", 1, |r, w| {
        w.str(&r.event.visitor_key);
    }),
    Column::new("consent", LC, 1, |r, w| {
        w.str(r.event.consent);
    }),
    Column::new("engaged_ms", "UInt32", 1, |r, w| {
        w.u32(r.event.engaged_ms);
    }),
    Column::new("props", "Map(String, String)", 1, |r, w| {
        w.string_map(&r.event.props);
    }),
    Column::new("retention_days", "UInt16", 1, |r, w| {
        w.u16(r.event.retention_days);
    })
    .default("400"),
    // The visit columns: what the store derives the event's session delta row from.
    Column::new("session_start", "DateTime('UTC')", 9, |r, w| {
        w.datetime(r.session.start);
    })
    .default("0"),
    Column::new("session_seq", "UInt32", 9, |r, w| {
        w.u32(r.session.exit.0);
    })
    .default("0"),
    Column::new("session_hostname", LC, 9, |r, w| {
        w.str(&r.session.attribution.hostname);
    })
    .default("''"),
];

/// The newest migration version that added a column: what a record written now holds.
pub const VERSION: u32 = {
    let mut v = 0;
    let mut i = 0;
    while i < COLUMNS.len() {
        if COLUMNS[i].since > v {
            v = COLUMNS[i].since;
        }
        i += 1;
    }
    v
};

// Format 2 records (`record::RECORD_EVENT`) hold the columns through migration 9: the row
// never has fewer.
const _: () = assert!(VERSION >= super::record::RECORD_EVENT_THROUGH);

/// The columns that exist once migration `through` has run, in row order.
pub fn columns(through: u32) -> impl Iterator<Item = &'static Column> {
    COLUMNS.iter().filter(move |c| c.since <= through)
}

/// The columns introduced by migration `version`, as `ADD COLUMN` takes them.
pub fn added_in(version: u32) -> Vec<String> {
    COLUMNS
        .iter()
        .filter(|c| c.since == version)
        .map(Column::ddl)
        .collect()
}

/// The column list of `CREATE TABLE events` in migration `version`, one indented column a line.
pub fn created_in(version: u32) -> String {
    COLUMNS
        .iter()
        .filter(|c| c.since == version)
        .map(|c| format!("    {}", c.ddl()))
        .collect::<Vec<_>>()
        .join(",\n")
}

/// The names of the columns through a version, comma-separated (`{}` formats them), for
/// `SELECT` and `INSERT` column lists.
#[derive(Clone, Copy, Debug)]
pub struct Names {
    pub through: u32,
}

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in columns(self.through).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(c.name)?;
        }
        Ok(())
    }
}

/// The RowBinaryWithNamesAndTypes header for rows of the columns through a version: the
/// number of columns, their names, then their types.
pub fn header(through: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    let w = &mut RowBinary(&mut out);
    w.varint(columns(through).count() as u64);
    for c in columns(through) {
        w.str(c.name);
    }
    for c in columns(through) {
        w.str(c.ty);
    }
    out
}

/// The Native block of spooled `events` rows (RowBinary, columns through a version), as the
/// batcher inserts them; None when a row does not read as those columns (`store::native`).
pub fn native_block(through: u32, rows: &[&[u8]]) -> Option<Vec<u8>> {
    let columns: Vec<(&str, &str)> = columns(through).map(|c| (c.name, c.ty)).collect();
    crate::store::native::block(&columns, rows)
}

/// Appends a record's `events` row, columns through a version, in RowBinary.
pub fn write(record: &Record, w: &mut RowBinary<'_>, through: u32) {
    for c in columns(through) {
        (c.write)(record, w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique() {
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len());
    }

    #[test]
    fn the_header_names_and_types_every_column() {
        let h = header(VERSION);
        assert_eq!(h[0] as usize, COLUMNS.len());
        assert_eq!(&h[1..10], b"\x08event_id");
        // Ends with the last column's type, length-prefixed (one byte while it is short).
        let last = COLUMNS.last().unwrap().ty.as_bytes();
        assert!(h.ends_with(&[&[last.len() as u8][..], last].concat()));
    }
}
