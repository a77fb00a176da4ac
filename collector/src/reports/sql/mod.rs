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
    /// The bound parameters' names are `{prefix}0`, `{prefix}1`, ...: statements built to be
    /// parts of one (`sets::Shared`) each have their own prefix.
    prefix: &'static str,
    /// The CTE with the session ids of the visits that have a matching event, when the
    /// statement is a part of one that defines it (`sets::Shared`); `None`: the statement
    /// selects them itself.
    matching: Option<&'static str>,
}

impl Binder {
    pub(crate) fn new(q: &Query, range: &Range) -> Binder {
        let params = Params::new()
            .with("site", q.site.as_str())
            .with("start", range.start)
            .with("end", range.end)
            .with("tz", q.tz.name())
            .with("from_date", range.from.to_string());
        Binder {
            params,
            next: 0,
            prefix: "p",
            matching: None,
        }
    }

    /// A binder for one part of a statement made of several: parameters named after
    /// `prefix`, and the visits with a matching event read from the CTE `matching`.
    pub(crate) fn part(
        q: &Query,
        range: &Range,
        prefix: &'static str,
        matching: &'static str,
    ) -> Binder {
        Binder {
            prefix,
            matching: Some(matching),
            ..Binder::new(q, range)
        }
    }

    /// The CTE the statement reads the visits with a matching event from, if any.
    pub(crate) fn matching(&self) -> Option<&'static str> {
        self.matching
    }

    /// Adds `value` as a fresh parameter and returns its `{name:Type}` placeholder.
    pub(crate) fn bind(&mut self, ty: &str, value: impl ParamValue) -> String {
        let name = format!("{}{}", self.prefix, self.next);
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
