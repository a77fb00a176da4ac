//! Imported history: the CSV export Plausible CE/Cloud produces (a zip of `imported_*.csv`
//! files, one per aggregate table) parsed here into daily aggregate rows, kept per site and
//! import in the store (`saved`), and merged into reports that ask for
//! `"include": {"imports": true}` (`crate::reports::imported`).
//!
//! Parsing is all-or-nothing: every file and every line is checked before anything is
//! stored, and the first problem is reported with the file and line it is on.

pub mod saved;

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use chrono::NaiveDate;
use serde::Serialize;

pub use saved::{ImportSet, ImportSummary, Imports};

/// The largest export the admin API accepts (the zip as uploaded).
pub const MAX_UPLOAD_BYTES: usize = 256 * 1024 * 1024;
/// The most an export may unpack to (all files together): a guard against zip bombs.
pub const MAX_UNPACKED_BYTES: u64 = 1024 * 1024 * 1024;
/// The most rows one import may hold (all files together).
pub const MAX_ROWS: usize = 5_000_000;

/// One of Plausible's imported tables, named as in its export (`imported_<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Visitors,
    Sources,
    Pages,
    EntryPages,
    ExitPages,
    CustomEvents,
    Locations,
    Devices,
    Browsers,
    OperatingSystems,
}

impl Table {
    pub const ALL: [Table; 10] = [
        Table::Visitors,
        Table::Sources,
        Table::Pages,
        Table::EntryPages,
        Table::ExitPages,
        Table::CustomEvents,
        Table::Locations,
        Table::Devices,
        Table::Browsers,
        Table::OperatingSystems,
    ];

    /// The name without `imported_`; also the `kind` column of stored rows.
    pub fn name(self) -> &'static str {
        match self {
            Table::Visitors => "visitors",
            Table::Sources => "sources",
            Table::Pages => "pages",
            Table::EntryPages => "entry_pages",
            Table::ExitPages => "exit_pages",
            Table::CustomEvents => "custom_events",
            Table::Locations => "locations",
            Table::Devices => "devices",
            Table::Browsers => "browsers",
            Table::OperatingSystems => "operating_systems",
        }
    }

    /// Columns a file of this table must have besides `date` and `visitors`; the metric
    /// columns are optional (older exports lack some) and count as 0 when missing.
    fn required(self) -> &'static [&'static str] {
        match self {
            Table::Visitors => &[],
            Table::Sources => &["source"],
            Table::Pages => &["page"],
            Table::EntryPages => &["entry_page"],
            Table::ExitPages => &["exit_page"],
            Table::CustomEvents => &["name"],
            Table::Locations => &["country"],
            Table::Devices => &["device"],
            Table::Browsers => &["browser"],
            Table::OperatingSystems => &["operating_system"],
        }
    }
}

/// A file name of Plausible's export: `imported_<table>[_YYYYMMDD_YYYYMMDD].csv` (the
/// `imported_` prefix is optional, as Plausible's importer accepts). Rows outside the dates
/// in the name are left out, as Plausible's importer leaves them out.
pub fn parse_file_name(name: &str) -> Option<(Table, Option<(NaiveDate, NaiveDate)>)> {
    let stem = name.strip_suffix(".csv")?;
    let stem = stem.strip_prefix("imported_").unwrap_or(stem);
    let date = |s: &str| {
        (s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| NaiveDate::parse_from_str(s, "%Y%m%d").ok())
            .flatten()
    };
    for t in Table::ALL {
        let Some(rest) = stem.strip_prefix(t.name()) else {
            continue;
        };
        if rest.is_empty() {
            return Some((t, None));
        }
        // `_YYYYMMDD_YYYYMMDD`: 18 characters.
        if rest.len() == 18 && rest.starts_with('_') && rest.as_bytes()[9] == b'_' {
            if let (Some(a), Some(b)) = (date(&rest[1..9]), date(&rest[10..])) {
                return Some((t, Some((a, b))));
            }
        }
    }
    None
}

/// One stored row: a day's sums for one table's dimension values. Columns a table does not
/// have stay empty or 0. `visits` holds entrances (entry pages) and exits (exit pages), as
/// Plausible counts them as visits there.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Row {
    pub kind: &'static str,
    pub date: String,
    pub source: String,
    pub referrer: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_content: String,
    pub utm_term: String,
    pub hostname: String,
    pub page: String,
    pub entry_page: String,
    pub exit_page: String,
    pub event_name: String,
    pub link_url: String,
    pub path: String,
    pub country: String,
    pub region: String,
    pub city: u64,
    pub device: String,
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    pub visitors: u64,
    pub visits: u64,
    pub pageviews: u64,
    pub events: u64,
    pub bounces: u64,
    pub visit_duration: u64,
}

/// Why an export was refused; `file` and `line` say where (line 1 is the header).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{}", self.describe())]
pub struct ExportError {
    pub file: Option<String>,
    pub line: Option<u64>,
    pub message: String,
}

impl ExportError {
    fn describe(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{f} line {l}: {}", self.message),
            (Some(f), None) => format!("{f}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

fn refuse(file: &str, line: Option<u64>, message: impl Into<String>) -> ExportError {
    ExportError {
        file: Some(file.to_string()),
        line,
        message: message.into(),
    }
}

/// A parsed export: its rows, the files they came from, the days they cover and the content
/// hash that identifies it (the same files, zipped again or renamed, hash the same).
#[derive(Debug)]
pub struct Export {
    pub rows: Vec<Row>,
    pub files: Vec<String>,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub hash: String,
}

/// Reads an export zip (as Plausible's "Export data" produces it).
pub fn from_zip(bytes: &[u8]) -> Result<Export, ExportError> {
    let whole = |m: String| ExportError {
        file: None,
        line: None,
        message: m,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| whole(format!("not a zip archive: {e}")))?;
    let mut files = Vec::new();
    let mut budget = MAX_UNPACKED_BYTES;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| whole(format!("cannot read the zip archive: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let path = entry
            .name()
            .map_err(|e| whole(format!("a file name in the zip archive is unreadable: {e}")))?
            .to_string();
        let base = path.rsplit('/').next().unwrap_or(&path).to_string();
        // Archivers' own entries (macOS resource forks, dot files) are not part of the export.
        if path.starts_with("__MACOSX/") || base.starts_with('.') {
            continue;
        }
        let mut content = Vec::new();
        entry
            .take(budget + 1)
            .read_to_end(&mut content)
            .map_err(|e| refuse(&base, None, format!("cannot unpack: {e}")))?;
        budget = budget.checked_sub(content.len() as u64).ok_or_else(|| {
            whole(format!(
                "the export unpacks to more than {} MiB",
                MAX_UNPACKED_BYTES >> 20
            ))
        })?;
        files.push((base, content));
    }
    from_files(files)
}

/// Packs (file name, content) pairs into a zip, as an export is uploaded (the CLI packs a
/// directory of CSV files this way).
pub fn to_zip(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, zip::result::ZipError> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        writer.start_file(name.as_str(), options)?;
        writer.write_all(content)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// Reads an export given as (file name, content) pairs.
pub fn from_files(files: Vec<(String, Vec<u8>)>) -> Result<Export, ExportError> {
    let mut by_table: BTreeMap<(Table, String), Vec<u8>> = BTreeMap::new();
    for (name, content) in files {
        let Some((table, _)) = parse_file_name(&name) else {
            return Err(refuse(
                &name,
                None,
                "not a file of a Plausible export: expected imported_<table>[_YYYYMMDD_YYYYMMDD].csv, <table> one of visitors, sources, pages, entry_pages, exit_pages, custom_events, locations, devices, browsers, operating_systems",
            ));
        };
        if by_table.contains_key(&(table, name.clone())) {
            return Err(refuse(&name, None, "the file appears twice"));
        }
        by_table.insert((table, name), content);
    }
    if by_table.is_empty() {
        return Err(ExportError {
            file: None,
            line: None,
            message: "the export holds no imported_*.csv file".into(),
        });
    }
    let mut rows = Vec::new();
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    for ((table, name), content) in &by_table {
        let range = parse_file_name(name).and_then(|(_, r)| r);
        digest.update(table.name().as_bytes());
        if let Some((a, b)) = range {
            digest.update(format!("{a}..{b}").as_bytes());
        }
        digest.update(&(content.len() as u64).to_le_bytes());
        digest.update(content);
        parse_csv(*table, name, content, range, &mut rows)?;
    }
    let (Some(start), Some(end)) = (
        rows.iter().map(|r| r.date.as_str()).min(),
        rows.iter().map(|r| r.date.as_str()).max(),
    ) else {
        return Err(ExportError {
            file: None,
            line: None,
            message: "the export holds no rows".into(),
        });
    };
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
    Ok(Export {
        start: day(start),
        end: day(end),
        files: by_table.keys().map(|(_, n)| n.clone()).collect(),
        hash: hex::encode(&digest.finish().as_ref()[..16]),
        rows,
    })
}

/// Plausible's device classes as Candor has them (`Desktop`, `Mobile`, `Tablet`: older
/// exports' `Laptop` is a desktop).
fn device_name(v: &str) -> String {
    match v {
        "Laptop" => "Desktop".into(),
        other => other.into(),
    }
}

fn parse_csv(
    table: Table,
    file: &str,
    content: &[u8],
    range: Option<(NaiveDate, NaiveDate)>,
    out: &mut Vec<Row>,
) -> Result<(), ExportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(content);
    let headers = reader
        .headers()
        .map_err(|e| refuse(file, Some(1), format!("cannot read the header: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    for needed in ["date", "visitors"].iter().chain(table.required()) {
        if col(needed).is_none() {
            return Err(refuse(
                file,
                Some(1),
                format!(
                    "the header has no {needed} column (it has: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| p.line());
            refuse(file, line, format!("not valid CSV: {e}"))
        })?;
        if !more {
            break;
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let text = |name: &str| -> String {
            col(name)
                .and_then(|i| record.get(i))
                .map(str::to_string)
                .unwrap_or_default()
        };
        let number = |name: &str| -> Result<u64, ExportError> {
            let Some(v) = col(name).and_then(|i| record.get(i)) else {
                return Ok(0);
            };
            v.trim().parse::<u64>().map_err(|_| {
                refuse(
                    file,
                    Some(line),
                    format!("{name} must be a whole number of 0 or more, got {v:?}"),
                )
            })
        };
        let raw_date = text("date");
        let date = NaiveDate::parse_from_str(raw_date.trim(), "%Y-%m-%d").map_err(|_| {
            refuse(
                file,
                Some(line),
                format!("date must be YYYY-MM-DD, got {raw_date:?}"),
            )
        })?;
        if range.is_some_and(|(a, b)| date < a || date > b) {
            continue;
        }
        let pageviews = number("pageviews")?;
        let mut row = Row {
            kind: table.name(),
            date: date.to_string(),
            visitors: number("visitors")?,
            pageviews,
            events: pageviews,
            visits: number("visits")?,
            bounces: number("bounces")?,
            visit_duration: number("visit_duration")?,
            ..Row::default()
        };
        match table {
            Table::Visitors => {}
            Table::Sources => {
                row.source = text("source");
                row.referrer = text("referrer");
                row.utm_source = text("utm_source");
                row.utm_medium = text("utm_medium");
                row.utm_campaign = text("utm_campaign");
                row.utm_content = text("utm_content");
                row.utm_term = text("utm_term");
            }
            Table::Pages => {
                row.hostname = text("hostname");
                row.page = text("page");
                // Plausible's page rows carry no bounces or durations.
                row.bounces = 0;
                row.visit_duration = 0;
            }
            Table::EntryPages => {
                row.entry_page = text("entry_page");
                row.visits = number("entrances")?;
            }
            Table::ExitPages => {
                row.exit_page = text("exit_page");
                row.visits = number("exits")?;
            }
            Table::CustomEvents => {
                row.event_name = text("name");
                row.link_url = text("link_url");
                row.path = text("path");
                row.events = number("events")?;
                row.pageviews = 0;
                row.visits = 0;
                row.bounces = 0;
                row.visit_duration = 0;
            }
            Table::Locations => {
                row.country = text("country");
                row.region = text("region");
                let city = text("city");
                row.city = if city.trim().is_empty() {
                    0
                } else {
                    number("city")?
                };
            }
            Table::Devices => row.device = device_name(&text("device")),
            Table::Browsers => {
                row.browser = text("browser");
                row.browser_version = text("browser_version");
            }
            Table::OperatingSystems => {
                row.os = text("operating_system");
                row.os_version = text("operating_system_version");
            }
        }
        if row.kind == Table::CustomEvents.name() && row.event_name.is_empty() {
            return Err(refuse(file, Some(line), "name is empty"));
        }
        out.push(row);
        if out.len() > MAX_ROWS {
            return Err(refuse(
                file,
                Some(line),
                format!("the export has more than {MAX_ROWS} rows"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_plausibles_export() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            parse_file_name("imported_pages_20210101_20211231.csv"),
            Some((Table::Pages, Some((d("2021-01-01"), d("2021-12-31")))))
        );
        assert_eq!(
            parse_file_name("entry_pages_20210101_20211231.csv"),
            Some((Table::EntryPages, Some((d("2021-01-01"), d("2021-12-31")))))
        );
        assert_eq!(
            parse_file_name("imported_visitors.csv"),
            Some((Table::Visitors, None))
        );
        assert_eq!(parse_file_name("imported_pages_2021_2022.csv"), None);
        assert_eq!(parse_file_name("my_data.csv"), None);
        assert_eq!(parse_file_name("imported_pages.txt"), None);
    }

    #[test]
    fn a_bad_number_names_its_file_and_line() {
        let csv = "date,visitors,pageviews,bounces,visits,visit_duration\n2021-01-01,1,2,0,1,10\n2021-01-02,x,2,0,1,10\n";
        let err = from_files(vec![("imported_visitors.csv".into(), csv.into())]).unwrap_err();
        assert_eq!(err.file.as_deref(), Some("imported_visitors.csv"));
        assert_eq!(err.line, Some(3));
        assert!(err
            .to_string()
            .starts_with("imported_visitors.csv line 3: visitors"));
    }

    #[test]
    fn columns_are_read_by_name_and_dates_outside_the_file_range_left_out() {
        let csv = "\"date\",\"page\",\"hostname\",\"visits\",\"visitors\",\"pageviews\"\n\"2020-12-31\",\"/a\",\"x.com\",1,1,1\n\"2021-01-01\",\"/a\",\"x.com\",2,3,4\n";
        let export = from_files(vec![(
            "imported_pages_20210101_20210131.csv".into(),
            csv.into(),
        )])
        .unwrap();
        assert_eq!(export.rows.len(), 1);
        let r = &export.rows[0];
        assert_eq!(
            (r.page.as_str(), r.visits, r.visitors, r.pageviews),
            ("/a", 2, 3, 4)
        );
        assert_eq!(r.events, 4);
        assert_eq!(export.start.to_string(), "2021-01-01");
    }

    #[test]
    fn the_hash_follows_the_content_not_the_name_prefix() {
        let csv = b"date,visitors\n2021-01-01,1\n".to_vec();
        let a = from_files(vec![("imported_visitors.csv".into(), csv.clone())]).unwrap();
        let b = from_files(vec![("visitors.csv".into(), csv)]).unwrap();
        assert_eq!(a.hash, b.hash);
        let c = from_files(vec![(
            "visitors.csv".into(),
            b"date,visitors\n2021-01-01,2\n".to_vec(),
        )])
        .unwrap();
        assert_ne!(a.hash, c.hash);
    }

    #[test]
    fn a_missing_dimension_column_is_refused_at_the_header() {
        let err = from_files(vec![(
            "imported_sources.csv".into(),
            b"date,visitors\n2021-01-01,1\n".to_vec(),
        )])
        .unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.message.contains("no source column"), "{err}");
    }
}
