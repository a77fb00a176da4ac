//! Pure SQL builders: a validated `Query` and a time range in, statement text and its
//! `{name:Type}` parameters out. Nothing here touches a store, so every statement a report
//! runs can be checked as text (see `tests.rs`); values from a request only ever travel as
//! parameters.

mod expr;
pub mod imported;
mod report;
pub mod rollups;
pub mod sets;
#[cfg(test)]
mod tests;

pub use report::{
    event_metrics, lead_metrics, raw_statements, session_metrics, RawStatements, EVENT_METRICS,
    LEAD_METRICS, SESSION_METRICS,
};

use super::dates::Range;
use super::query::Query;
use crate::store::{ParamValue, Params};

/// One statement: its text and the parameters it names.
#[derive(Clone, Debug)]
pub struct Statement {
    pub text: String,
    pub params: Params,
}

/// Collects the parameters of a statement being built, with fresh names (`p0`, `p1`, ...)
/// for each bound value. Every report statement also has `site`, `start`, `end`, `tz` and
/// `from_date` (the range's first local day).
pub(crate) struct Binder {
    params: Params,
    next: usize,
}

impl Binder {
    pub(crate) fn new(q: &Query, range: &Range) -> Binder {
        let params = Params::new()
            .with("site", q.site.as_str())
            .with("start", range.start)
            .with("end", range.end)
            .with("tz", q.tz.name())
            .with("from_date", range.from.to_string());
        Binder { params, next: 0 }
    }

    /// Adds `value` as a fresh parameter and returns its `{name:Type}` placeholder.
    pub(crate) fn bind(&mut self, ty: &str, value: impl ParamValue) -> String {
        let name = format!("p{}", self.next);
        self.next += 1;
        self.params.push(&name, value);
        format!("{{{name}:{ty}}}")
    }

    pub(crate) fn finish(self, text: String) -> Statement {
        Statement {
            text,
            params: self.params,
        }
    }
}
