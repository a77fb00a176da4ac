//! Imports kept in the store: the rows of each import in `imported`, and one record per
//! import in `imports` (one version per change, like goals).
//!
//! All or nothing: the rows go in under the import's id first, and only then the record that
//! marks the import complete. Reports read rows of complete imports only, so a failed or
//! interrupted import is never seen, and its rows are removed before the id is used again.
//! The id is the export's content hash, so importing the same export twice stores it once.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{Export, ExportError};
use crate::clock;
use crate::store::{fetch, insert_rows, InsertOptions, Params, Store, StoreError};

/// Rows per insert statement.
const INSERT_CHUNK: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The export is malformed: nothing was stored.
    #[error(transparent)]
    Invalid(#[from] ExportError),
    /// The export overlaps an import the site already has.
    #[error("{0}")]
    Overlaps(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One import as the admin API lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImportSummary {
    pub id: String,
    pub source: String,
    pub start_date: String,
    pub end_date: String,
    pub files: Vec<String>,
    pub rows: u64,
    /// Unix seconds.
    pub created_at: u32,
}

#[derive(Clone, Serialize, Deserialize)]
struct ImportRecord {
    site: String,
    id: String,
    source: String,
    start_date: String,
    end_date: String,
    files: Vec<String>,
    rows: u64,
    created_at: u32,
    deleted: u8,
    version: u64,
}

impl ImportRecord {
    fn summary(self) -> ImportSummary {
        ImportSummary {
            id: self.id,
            source: self.source,
            start_date: self.start_date,
            end_date: self.end_date,
            files: self.files,
            rows: self.rows,
            created_at: self.created_at,
        }
    }
}

/// The complete imports of a site, as a report needs them: their ids and the days they cover.
#[derive(Clone, Debug, Default)]
pub struct ImportSet {
    pub ids: Vec<String>,
    /// (first, last) day of each import.
    pub spans: Vec<(NaiveDate, NaiveDate)>,
}

impl ImportSet {
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The first imported day, if there is one.
    pub fn first_day(&self) -> Option<NaiveDate> {
        self.spans.iter().map(|(a, _)| *a).min()
    }

    /// Whether any import covers a day of `from..=to`.
    pub fn overlaps(&self, from: NaiveDate, to: NaiveDate) -> bool {
        self.spans.iter().any(|(a, b)| *a <= to && *b >= from)
    }
}

/// What `save` did.
pub enum Saved {
    Created(ImportSummary),
    /// The same export was imported before: nothing changed.
    Unchanged(ImportSummary),
}

pub struct Imports {
    /// One import at a time per collector, so two uploads of one export cannot both store it.
    writing: Mutex<()>,
}

impl Default for Imports {
    fn default() -> Self {
        Imports::new()
    }
}

impl Imports {
    pub fn new() -> Imports {
        Imports {
            writing: Mutex::new(()),
        }
    }

    async fn records(store: &dyn Store, site: &str) -> Result<Vec<ImportRecord>, StoreError> {
        fetch(
            store,
            "SELECT site, id, source, toString(start_date) AS start_date, toString(end_date) AS end_date,
                    files, rows, toUnixTimestamp(created_at) AS created_at, deleted, version
             FROM imports FINAL WHERE site = {site:String} AND deleted = 0
             ORDER BY start_date, id",
            &Params::new().with("site", site),
        )
        .await
    }

    pub async fn list(store: &dyn Store, site: &str) -> Result<Vec<ImportSummary>, StoreError> {
        Ok(Self::records(store, site)
            .await?
            .into_iter()
            .map(ImportRecord::summary)
            .collect())
    }

    /// The site's complete imports, for reports.
    pub async fn set(store: &dyn Store, site: &str) -> Result<ImportSet, StoreError> {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
        let records = Self::records(store, site).await?;
        Ok(ImportSet {
            ids: records.iter().map(|r| r.id.clone()).collect(),
            spans: records
                .iter()
                .map(|r| (day(&r.start_date), day(&r.end_date)))
                .collect(),
        })
    }

    /// Stores a parsed export for `site`, unless the same export is there already. An export
    /// that overlaps another import of the site is refused (its days would count twice).
    pub async fn save(
        &self,
        store: &dyn Store,
        site: &str,
        export: Export,
    ) -> Result<Saved, ImportError> {
        let _one_at_a_time = self.writing.lock().await;
        let existing = Self::records(store, site).await?;
        if let Some(same) = existing.iter().find(|r| r.id == export.hash) {
            return Ok(Saved::Unchanged(same.clone().summary()));
        }
        let (start, end) = (export.start.to_string(), export.end.to_string());
        if let Some(r) = existing
            .iter()
            .find(|r| r.start_date <= end && r.end_date >= start)
        {
            return Err(ImportError::Overlaps(format!(
                "this export ({start} to {end}) overlaps import {} ({} to {}); delete that import first",
                r.id, r.start_date, r.end_date
            )));
        }
        // Rows of an earlier attempt that never completed (or of a deleted import of the same
        // export) must not count twice.
        remove_rows(store, site, &export.hash).await?;
        let stored = insert_all(store, site, &export).await;
        if let Err(e) = stored {
            // Invisible to reports either way; removed so they do not take space.
            let _ = remove_rows(store, site, &export.hash).await;
            return Err(e.into());
        }
        let record = ImportRecord {
            site: site.to_string(),
            id: export.hash.clone(),
            source: "plausible".into(),
            start_date: export.start.to_string(),
            end_date: export.end.to_string(),
            files: export.files.clone(),
            rows: export.rows.len() as u64,
            created_at: clock::unix_seconds(),
            deleted: 0,
            version: clock::version(),
        };
        insert_rows(store, "imports", &[&record], &InsertOptions::default()).await?;
        Ok(Saved::Created(record.summary()))
    }

    /// Deletes an import; false when the site has no import with that id.
    pub async fn delete(
        &self,
        store: &dyn Store,
        site: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let _one_at_a_time = self.writing.lock().await;
        let Some(mut record) = Self::records(store, site)
            .await?
            .into_iter()
            .find(|r| r.id == id)
        else {
            return Ok(false);
        };
        // The record first: from then on no report reads the rows.
        record.deleted = 1;
        record.version = clock::version();
        insert_rows(store, "imports", &[&record], &InsertOptions::default()).await?;
        remove_rows(store, site, id).await?;
        Ok(true)
    }
}

#[derive(Serialize)]
struct StoredRow<'a> {
    site: &'a str,
    import_id: &'a str,
    #[serde(flatten)]
    row: &'a super::Row,
}

async fn insert_all(store: &dyn Store, site: &str, export: &Export) -> Result<(), StoreError> {
    for chunk in export.rows.chunks(INSERT_CHUNK) {
        let rows: Vec<StoredRow> = chunk
            .iter()
            .map(|row| StoredRow {
                site,
                import_id: &export.hash,
                row,
            })
            .collect();
        insert_rows(store, "imported", &rows, &InsertOptions::default()).await?;
    }
    Ok(())
}

async fn remove_rows(store: &dyn Store, site: &str, id: &str) -> Result<(), StoreError> {
    store
        .execute(
            "DELETE FROM imported WHERE site = {site:String} AND import_id = {id:String}",
            &Params::new().with("site", site).with("id", id),
        )
        .await
}
