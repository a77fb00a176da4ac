//! A validated report request (`Query`) and the one error type of the report boundary.
//! Parsing from the v2/v1 request shapes lives in `reports` and `reports::v1`; the checks
//! that need the whole query (`validate`) live here, before any SQL is built.

use std::collections::BTreeSet;

use chrono_tz::Tz;

use super::dates::Range;
use super::model::{Dimension, Filter, Metric};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn invalid(field: &str, message: impl Into<String>) -> ReportError {
    ReportError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// What to sort by.
#[derive(Clone, Debug, PartialEq)]
pub enum OrderKey {
    Metric(Metric),
    Dimension(usize),
}

/// A validated report request.
#[derive(Clone, Debug)]
pub struct Query {
    pub site: String,
    pub tz: Tz,
    pub range: Range,
    pub metrics: Vec<Metric>,
    pub dimensions: Vec<Dimension>,
    pub filters: Vec<Filter>,
    /// (key, descending)
    pub order_by: Vec<(OrderKey, bool)>,
    pub limit: usize,
    pub offset: usize,
    pub time_labels: bool,
    pub total_rows: bool,
    /// The range to compare with (`include.comparisons`), resolved when the query is parsed.
    pub comparison: Option<Range>,
}

/// The checks that need the whole query, run before anything is built or executed.
pub(crate) fn validate(q: &Query) -> Result<(), ReportError> {
    if q.metrics.is_empty() {
        return Err(invalid("metrics", "at least one metric is required"));
    }
    let times = q
        .dimensions
        .iter()
        .filter(|d| matches!(d, Dimension::Time(_)))
        .count();
    if times > 1 {
        return Err(invalid("dimensions", "at most one time dimension"));
    }
    let mut seen = BTreeSet::new();
    for d in &q.dimensions {
        if !seen.insert(d.name()) {
            return Err(invalid(
                "dimensions",
                format!("{} is listed twice", d.name()),
            ));
        }
    }
    for m in [Metric::ConversionRate, Metric::GroupConversionRate] {
        if q.metrics.contains(&m)
            && !q.dimensions.contains(&Dimension::Goal)
            && !q.filters.iter().any(Filter::mentions_goal)
        {
            return Err(invalid(
                "metrics",
                format!("Metric `{m}` can only be queried with event:goal filters or dimensions"),
            ));
        }
    }
    if q.comparison.is_some() && times > 0 && q.dimensions.len() > 1 {
        return Err(invalid(
            "include",
            "a time series is compared bucket by bucket: it takes no other dimension",
        ));
    }
    for f in &q.filters {
        f.kind().map_err(|m| invalid("filters", m))?;
    }
    Ok(())
}
