//! Spool record formats: what the spool holds per accepted event, in every version a
//! collector has written, so segments left on disk by an older collector still replay. The
//! first byte names the format:
//!
//! - `{` (version 0): two JSONEachRow lines, the `events` row and the `sessions` delta row.
//! - `RECORD_ROWBINARY` (1): the length of the `events` row, the `events` row (columns
//!   through migration 7) and the `sessions` delta row (`SESSION_COLUMNS`), in RowBinary.
//! - `RECORD_EVENT` (2): the `events` row alone (columns through migration 9) in RowBinary;
//!   the store derives the session delta (`SESSIONS_FROM_EVENTS` in `migrations`).
//! - `RECORD_VERSIONED` (3): the newest migration whose columns the row holds (u32 LE), then
//!   the `events` row (those columns) in RowBinary. Written once `row::COLUMNS` has a column
//!   newer than format 2's, so adding a column needs no new format.
//!
//! The batcher inserts each as it was written, under the column header its format implies.

use super::row::{self, EventRow, Names};
use super::sessions::SessionDelta;
use crate::store::rowbinary::RowBinary;

/// What the spool holds per accepted event: its row and its session delta.
#[derive(Clone, Debug)]
pub struct Record {
    pub event: EventRow,
    pub session: SessionDelta,
}

/// The first byte of a record of format 3: a column version, then the `events` row.
pub const RECORD_VERSIONED: u8 = 3;

/// The first byte of a record of format 2: the `events` row alone (`EVENT_COLUMNS`).
pub const RECORD_EVENT: u8 = 2;

/// The first byte of a record of format 1: the `events` row (`EVENT_COLUMNS_V1`) and the
/// `sessions` delta row (`SESSION_COLUMNS`) in RowBinary.
pub const RECORD_ROWBINARY: u8 = 1;

/// The columns a record of format 2 holds: those of migrations up to 9.
pub const RECORD_EVENT_THROUGH: u32 = 9;

/// The columns a record of format 1 holds: those of migrations up to 7.
pub const RECORD_ROWBINARY_THROUGH: u32 = 7;

/// The `events` columns of a spooled record of format 2, in order: the event, then its
/// visit's start, the page view's sequence in the visit (0 for other events) and the visit's
/// hostname. Formats (`{}`) as a comma-separated list.
pub const EVENT_COLUMNS: Names = Names {
    through: RECORD_EVENT_THROUGH,
};

/// The `events` columns of a spooled record of format 1, in order.
pub const EVENT_COLUMNS_V1: Names = Names {
    through: RECORD_ROWBINARY_THROUGH,
};

/// The `sessions` columns of a spooled record of format 1, in order. Frozen: collectors no
/// longer write `sessions` rows.
pub const SESSION_COLUMNS: &str = "site, day, session_id, visitor_id, start, end, pageviews, \
events, engaged_ms, entry_page, exit, visitor_key, hostname, referrer, referrer_source, \
channel, utm_source, utm_medium, utm_campaign, utm_content, utm_term, country_code, region, \
city, org, org_type, browser, browser_version, os, os_version, device, retention_days";

impl Record {
    /// The spooled form: the `events` row in RowBinary, so the batcher only concatenates
    /// bytes and the store reads them without parsing text. The store derives the session
    /// delta from the row, so one insert per batch feeds both tables. Format 2 while the row
    /// has format 2's columns, format 3 (which names its columns' version) after that.
    pub fn encode(&self) -> Vec<u8> {
        if row::VERSION == RECORD_EVENT_THROUGH {
            self.encode_event()
        } else {
            self.encode_versioned(row::VERSION)
        }
    }

    /// Format 2 (`RECORD_EVENT`): the columns through migration 9. What `encode` writes until
    /// a column is added; kept after that so the upgrade path stays tested.
    pub fn encode_event(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(384);
        out.push(RECORD_EVENT);
        row::write(self, &mut RowBinary(&mut out), RECORD_EVENT_THROUGH);
        out
    }

    /// Format 3 with the columns through migration `through`.
    pub fn encode_versioned(&self, through: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(384);
        out.push(RECORD_VERSIONED);
        out.extend_from_slice(&through.to_le_bytes());
        row::write(self, &mut RowBinary(&mut out), through);
        out
    }

    /// Format 1 (`RECORD_ROWBINARY`): the version byte, the length of the `events` row, then
    /// the `events` row (`EVENT_COLUMNS_V1`) and the `sessions` delta row
    /// (`SESSION_COLUMNS`). Candor no longer writes it; it is kept so the upgrade path (a
    /// spool of this format left on disk) stays tested.
    pub fn encode_v1(&self) -> Vec<u8> {
        let (e, s) = (&self.event, &self.session);
        let mut out = Vec::with_capacity(640);
        out.push(RECORD_ROWBINARY);
        out.extend_from_slice(&[0; 4]);
        let w = &mut RowBinary(&mut out);
        row::write(self, w, RECORD_ROWBINARY_THROUGH);
        let event_len = (w.0.len() - 5) as u32;
        let a = &s.attribution;
        w.str(&e.site)
            .date((s.start / 86_400) as u16)
            .u64(s.session_id)
            .u64(e.visitor_id)
            .datetime(s.start)
            .datetime(s.end)
            .u64(s.pageviews)
            .u64(s.events)
            .u64(s.engaged_ms)
            .str(&s.entry_page)
            .u32(s.exit.0)
            .str(&s.exit.1)
            .str(&e.visitor_key)
            .str(&a.hostname)
            .str(&a.referrer)
            .str(&a.referrer_source)
            .str(&a.channel)
            .str(&a.utm_source)
            .str(&a.utm_medium)
            .str(&a.utm_campaign)
            .str(&a.utm_content)
            .str(&a.utm_term)
            .str(&a.country_code)
            .str(&a.region)
            .str(&a.city)
            .str(&a.org)
            .str(&a.org_type)
            .str(&a.browser)
            .str(&a.browser_version)
            .str(&a.os)
            .str(&a.os_version)
            .str(&a.device)
            .u16(e.retention_days);
        out[1..5].copy_from_slice(&event_len.to_le_bytes());
        out
    }
}

/// A spooled record, by format.
#[derive(Debug, PartialEq)]
pub enum SpooledRows<'a> {
    /// Format 3: the `events` row of the columns through a migration version.
    Versioned { through: u32, row: &'a [u8] },
    /// Format 2: the `events` row alone (`EVENT_COLUMNS`); the store derives the session
    /// delta.
    Event(&'a [u8]),
    /// Format 1: the `events` row (`EVENT_COLUMNS_V1`) and the `sessions` row
    /// (`SESSION_COLUMNS`), in RowBinary.
    RowBinary(&'a [u8], &'a [u8]),
    /// The first format: two JSONEachRow lines, each ending in `\n`.
    Json(&'a [u8], &'a [u8]),
}

/// Splits a spooled record of any version; `None` for bytes no version wrote.
pub fn split_record(payload: &[u8]) -> Option<SpooledRows<'_>> {
    match payload.first()? {
        &RECORD_VERSIONED => {
            let through = u32::from_le_bytes(payload.get(1..5)?.try_into().ok()?);
            // Format 3 exists only for columns newer than format 2's.
            // A record of a newer collector (columns this one does not know) is refused.
            (through >= RECORD_EVENT_THROUGH && through <= row::VERSION && payload.len() > 5).then(
                || SpooledRows::Versioned {
                    through,
                    row: &payload[5..],
                },
            )
        }
        &RECORD_EVENT => (payload.len() > 1).then(|| SpooledRows::Event(&payload[1..])),
        &RECORD_ROWBINARY => {
            let len = u32::from_le_bytes(payload.get(1..5)?.try_into().ok()?) as usize;
            let rows = &payload[5..];
            (len > 0 && len < rows.len()).then(|| {
                let (event, session) = rows.split_at(len);
                SpooledRows::RowBinary(event, session)
            })
        }
        b'{' => {
            let at = payload.iter().position(|b| *b == b'\n')?;
            let (event, session) = payload.split_at(at + 1);
            (session.len() > 1 && session.ends_with(b"\n"))
                .then_some(SpooledRows::Json(event, session))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::pipeline::sessions::Attribution;

    fn record() -> Record {
        let attribution = Arc::new(Attribution {
            hostname: "example.com".into(),
            referrer_source: "Google".into(),
            ..Default::default()
        });
        Record {
            event: EventRow {
                event_id: uuid::Uuid::new_v4(),
                timestamp: 86_400 * 3 + 5,
                site: "example.com".into(),
                name: "pageview".into(),
                hostname: "shop.example.com".into(),
                pathname: "/p".into(),
                attribution: attribution.clone(),
                screen_width: 1280,
                visitor_id: 7,
                session_id: 9,
                visitor_key: String::new(),
                consent: "none",
                engaged_ms: 0,
                props: BTreeMap::from([("plan".to_string(), "pro".to_string())]),
                retention_days: 400,
            },
            session: SessionDelta {
                session_id: 9,
                start: 86_400 * 3,
                end: 86_400 * 3 + 5,
                pageviews: 1,
                events: 1,
                engaged_ms: 0,
                entry_page: Arc::from("/"),
                exit: (2, "/p".into()),
                attribution,
            },
        }
    }

    #[test]
    fn a_record_is_its_event_row_with_the_visit_columns_at_the_end() {
        let r = record();
        let bytes = r.encode_event();
        let Some(SpooledRows::Event(event)) = split_record(&bytes) else {
            panic!("not an event record");
        };
        assert_eq!(&event[..16], &RowBinaryBytes::uuid(&r.event.event_id)[..]);
        // session_start (DateTime), session_seq (UInt32), session_hostname (String).
        let tail = [
            &(86_400u32 * 3).to_le_bytes()[..],
            &2u32.to_le_bytes(),
            b"\x0bexample.com",
        ]
        .concat();
        assert!(event.ends_with(&tail));
        assert_eq!(event.len() + 1, bytes.len());
    }

    #[test]
    fn a_record_of_the_previous_format_splits_into_its_two_rowbinary_rows() {
        let r = record();
        let bytes = r.encode_v1();
        let Some(SpooledRows::RowBinary(event, session)) = split_record(&bytes) else {
            panic!("not a RowBinary record");
        };
        assert_eq!(&event[..16], &RowBinaryBytes::uuid(&r.event.event_id)[..]);
        assert_eq!(event.len() + session.len() + 5, bytes.len());
        // The event rows of both formats agree on the columns they share.
        let encoded = r.encode_event();
        let Some(SpooledRows::Event(current)) = split_record(&encoded) else {
            panic!("not an event record");
        };
        assert!(current.starts_with(event));
        // The sessions row starts with the site, then the day of the visit's start.
        assert_eq!(&session[..12], b"\x0bexample.com");
        assert_eq!(&session[12..14], &3u16.to_le_bytes());
    }

    #[test]
    fn records_of_the_json_format_still_split_and_garbage_does_not() {
        let legacy = b"{\"event_id\":\"x\"}\n{\"site\":\"a\"}\n";
        assert_eq!(
            split_record(legacy),
            Some(SpooledRows::Json(
                &b"{\"event_id\":\"x\"}\n"[..],
                &b"{\"site\":\"a\"}\n"[..]
            ))
        );
        assert_eq!(split_record(b"{\"no\":\"second line\"}\n"), None);
        assert_eq!(split_record(&[RECORD_ROWBINARY, 200, 0, 0, 0, 1, 2]), None);
        assert_eq!(split_record(&[9, 9, 9]), None);
        assert_eq!(split_record(&[RECORD_EVENT]), None);
        assert_eq!(split_record(b""), None);
    }

    /// Encodes a value alone, to compare with a slice of a row.
    struct RowBinaryBytes;
    impl RowBinaryBytes {
        fn uuid(id: &uuid::Uuid) -> Vec<u8> {
            let mut out = Vec::new();
            RowBinary(&mut out).uuid(id);
            out
        }
    }

    #[test]
    fn a_record_of_format_3_names_its_columns_and_holds_the_same_row() {
        let r = record();
        let current = r.encode_event();
        let Some(SpooledRows::Event(event)) = split_record(&current) else {
            panic!("not an event record");
        };
        let versioned = r.encode_versioned(RECORD_EVENT_THROUGH);
        assert_eq!(
            split_record(&versioned),
            Some(SpooledRows::Versioned {
                through: RECORD_EVENT_THROUGH,
                row: event
            })
        );
        // A record naming columns this collector does not know, or fewer than format 2's.
        assert_eq!(split_record(&r.encode_versioned(row::VERSION + 1)), None);
        assert_eq!(split_record(&r.encode_versioned(8)), None);
    }

    #[test]
    fn the_record_column_lists_are_the_shipped_ones() {
        // As `pipeline` spelled them before they were derived from `row::COLUMNS`.
        let v1 = "event_id, timestamp, site, name, hostname, pathname, referrer, referrer_source, \
channel, utm_source, utm_medium, utm_campaign, utm_content, utm_term, country_code, region, \
city, org, org_type, browser, browser_version, os, os_version, device, screen_width, \
visitor_id, session_id, visitor_key, consent, engaged_ms, props, retention_days";
        assert_eq!(EVENT_COLUMNS_V1.to_string(), v1);
        assert_eq!(
            EVENT_COLUMNS.to_string(),
            format!("{v1}, session_start, session_seq, session_hostname")
        );
    }
}
