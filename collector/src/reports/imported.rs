//! Imported history in reports (`"include": {"imports": true}`), as Plausible merges it:
//! imported rows are daily sums per table of its export, so a question can use them only
//! when every dimension and filter it names is a column of one and the same table
//! (`tables`). Otherwise the answer is native data only, and the response says why
//! (`Skip`). Imported sums are added to the native sums of the same group.

use super::dates::Bucket;
use super::execute;
use super::goals::Goal;
use super::model::{Dimension, Filter, Metric, Op};
use super::query::{Query, ReportError};
use super::shape::{self, Raw};
use super::sql;
use crate::imports::ImportSet;
use crate::store::Store;

/// Why a report that asked for imports answers without them (Plausible's
/// `imports_skip_reason` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    NoImportedData,
    OutOfRange,
    UnsupportedInterval,
    UnsupportedQuery,
}

impl Skip {
    pub fn reason(self) -> &'static str {
        match self {
            Skip::NoImportedData => "no_imported_data",
            Skip::OutOfRange => "out_of_range",
            Skip::UnsupportedInterval => "unsupported_interval",
            Skip::UnsupportedQuery => "unsupported_query",
        }
    }

    /// The warning shown with the answer; none when there is nothing to miss.
    pub fn warning(self) -> Option<&'static str> {
        match self {
            Skip::UnsupportedQuery => Some(
                "Imported stats are not included in the results because query parameters are not supported. Imported data holds daily totals per dimension, so it can only be combined with a question whose dimensions and filters all come from one imported table (README: Importing from Plausible).",
            ),
            Skip::UnsupportedInterval => Some(
                "Imported stats are not included because the time dimension (i.e. the interval) is too short.",
            ),
            Skip::NoImportedData | Skip::OutOfRange => None,
        }
    }
}

/// Whether `q` can include the site's imports `set`, and why not.
pub fn decide(q: &Query, set: &ImportSet, goals: &[Goal]) -> Result<(), Skip> {
    if set.is_empty() {
        return Err(Skip::NoImportedData);
    }
    if !set.overlaps(q.range.from, q.range.to) {
        return Err(Skip::OutOfRange);
    }
    if q.dimensions.contains(&Dimension::Time(Bucket::Hour)) {
        return Err(Skip::UnsupportedInterval);
    }
    if q.range.live || tables(q, goals).is_none() {
        return Err(Skip::UnsupportedQuery);
    }
    Ok(())
}

/// The imported table a dimension is a column of; `None`: no imported table has it
/// (channels, regions and cities as Candor names them, organisations, custom properties).
fn table_of(d: &Dimension) -> Option<&'static str> {
    Some(match d {
        Dimension::Page | Dimension::Hostname => "pages",
        Dimension::Name => "custom_events",
        Dimension::EntryPage => "entry_pages",
        Dimension::ExitPage => "exit_pages",
        Dimension::Visit(
            "referrer_source" | "referrer" | "utm_source" | "utm_medium" | "utm_campaign"
            | "utm_content" | "utm_term",
        ) => "sources",
        Dimension::Visit("country_code") => "locations",
        Dimension::Visit("device") => "devices",
        Dimension::Visit("browser" | "browser_version") => "browsers",
        Dimension::Visit("os" | "os_version") => "operating_systems",
        _ => return None,
    })
}

/// The tables of the goals a top-level goal filter selects: `custom_events` for event goals,
/// `pages` for page goals.
fn goal_tables(
    op: Op,
    values: &[String],
    case_sensitive: bool,
    goals: &[Goal],
) -> Vec<&'static str> {
    let fold = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let patterns: Vec<regex::Regex> = values
        .iter()
        .filter_map(|v| regex::Regex::new(&fold(v)).ok())
        .collect();
    goals
        .iter()
        .filter(|g| {
            let name = fold(&g.display_name);
            match op {
                Op::Is | Op::IsNot => values.iter().any(|v| fold(v) == name),
                Op::Contains | Op::ContainsNot => values.iter().any(|v| name.contains(&fold(v))),
                Op::Matches | Op::MatchesNot => patterns.iter().any(|p| p.is_match(&name)),
            }
        })
        .map(|g| {
            if g.event_name.is_some() {
                "custom_events"
            } else {
                "pages"
            }
        })
        .collect()
}

/// The imported tables that answer `q`, or `None` when imported data cannot (Plausible's
/// choice of table, for the dimensions Candor shares with it).
pub(crate) fn tables(q: &Query, goals: &[Goal]) -> Option<Vec<&'static str>> {
    let filter_dims: Vec<&Dimension> = q.filters.iter().flat_map(|f| f.dimensions()).collect();
    if filter_dims
        .iter()
        .chain(q.dimensions.iter().collect::<Vec<_>>().iter())
        .any(|d| matches!(d, Dimension::Prop(_)))
    {
        return None;
    }
    // Only top-level, positive goal filters say which table; anything else with goals is
    // more than daily sums can answer.
    let mut goal_filter_tables = Vec::new();
    for f in &q.filters {
        match f {
            Filter::Cond {
                op,
                dim: Dimension::Goal,
                values,
                case_sensitive,
            } if !op.negated() => {
                goal_filter_tables.extend(goal_tables(*op, values, *case_sensitive, goals))
            }
            f if f.mentions_goal() => return None,
            _ => {}
        }
    }
    if q.dimensions == [Dimension::Goal] {
        if q.filters.is_empty() {
            return Some(vec!["pages", "custom_events"]);
        }
        if filter_dims
            .iter()
            .any(|d| !matches!(d, Dimension::Page | Dimension::Name | Dimension::Goal))
        {
            return None;
        }
        let events = filter_dims.contains(&&Dimension::Name)
            || goal_filter_tables.contains(&"custom_events");
        let pages =
            filter_dims.contains(&&Dimension::Page) || goal_filter_tables.contains(&"pages");
        return match (events, pages) {
            (true, false) => Some(vec!["custom_events"]),
            (false, true) => Some(vec!["pages"]),
            _ => None,
        };
    }
    let mut candidates: Vec<&'static str> = Vec::new();
    for d in filter_dims.into_iter().chain(q.dimensions.iter()) {
        if matches!(d, Dimension::Time(_) | Dimension::Goal) {
            continue;
        }
        candidates.push(table_of(d)?);
    }
    candidates.extend(goal_filter_tables);
    candidates.sort_unstable();
    candidates.dedup();
    match candidates.as_slice() {
        [] => Some(vec!["visitors"]),
        [one] => Some(vec![*one]),
        _ => None,
    }
}

/// The imported sums of `q` over `range` per group; none when `q` cannot use imports.
pub(crate) async fn groups(
    store: &dyn Store,
    set: &ImportSet,
    goals: &[Goal],
    q: &Query,
    range: &super::dates::Range,
    metrics: &[Metric],
) -> Result<Vec<Raw>, ReportError> {
    let Some(kinds) = tables(q, goals) else {
        return Ok(Vec::new());
    };
    if set.is_empty() || !set.overlaps(range.from, range.to) {
        return Ok(Vec::new());
    }
    let statement = sql::imported::imported_metrics(q, range, metrics, &set.ids, &kinds, goals)?;
    let rows = execute::rows(store, &statement).await?;
    Ok(
        shape::split(rows, q.dimensions.len(), sql::imported::IMPORTED_METRICS)
            .into_iter()
            .map(shape::imported_sums)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::reports::dates::Range;

    fn query(dimensions: &[&str], filters: Vec<Filter>) -> Query {
        let day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        Query {
            site: "shop.example".into(),
            tz: chrono_tz::UTC,
            range: Range::dates(&chrono_tz::UTC, day, day),
            metrics: vec![Metric::Visitors],
            dimensions: dimensions
                .iter()
                .map(|d| Dimension::parse(d).unwrap())
                .collect(),
            filters,
            order_by: Vec::new(),
            limit: 10,
            offset: 0,
            time_labels: false,
            total_rows: false,
            comparison: None,
        }
    }

    fn is(dim: &str, value: &str) -> Filter {
        Filter::Cond {
            op: Op::Is,
            dim: Dimension::parse(dim).unwrap(),
            values: vec![value.into()],
            case_sensitive: true,
        }
    }

    fn goal(name: &str, event: bool) -> Goal {
        Goal {
            id: name.into(),
            site: "shop.example".into(),
            goal_type: if event { "event" } else { "page" },
            event_name: event.then(|| name.to_string()),
            page_path: (!event).then(|| "/thanks".to_string()),
            display_name: if event {
                name.into()
            } else {
                "Visit /thanks".into()
            },
            created_at: 0,
        }
    }

    #[test]
    fn one_table_answers_or_none_does() {
        let goals = [goal("Signup", true), goal("Visit /thanks", false)];
        let t = |dims: &[&str], filters: Vec<Filter>| tables(&query(dims, filters), &goals);
        assert_eq!(t(&[], vec![]), Some(vec!["visitors"]));
        assert_eq!(t(&["time:week"], vec![]), Some(vec!["visitors"]));
        assert_eq!(
            t(&["visit:source"], vec![is("visit:utm_medium", "email")]),
            Some(vec!["sources"])
        );
        assert_eq!(
            t(&["time:day"], vec![is("event:page", "/")]),
            Some(vec!["pages"])
        );
        assert_eq!(
            t(&["visit:source"], vec![is("visit:device", "Mobile")]),
            None
        );
        assert_eq!(t(&["visit:city"], vec![]), None);
        assert_eq!(t(&["visit:channel"], vec![]), None);
        assert_eq!(t(&["event:props:plan"], vec![]), None);
        assert_eq!(
            t(&["event:goal"], vec![]),
            Some(vec!["pages", "custom_events"])
        );
        assert_eq!(
            t(&[], vec![is("event:goal", "Signup")]),
            Some(vec!["custom_events"])
        );
        assert_eq!(
            t(&["event:goal"], vec![is("event:goal", "Visit /thanks")]),
            Some(vec!["pages"])
        );
        assert_eq!(t(&["event:goal"], vec![is("visit:source", "Google")]), None);
        assert_eq!(
            t(&[], vec![Filter::Not(Box::new(is("event:goal", "Signup")))]),
            None
        );
    }

    #[test]
    fn skips_say_why_in_plausibles_order() {
        let day = |d| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
        let set = ImportSet {
            ids: vec!["a".into()],
            spans: vec![(day(1), day(2))],
        };
        assert_eq!(
            decide(&query(&[], vec![]), &ImportSet::default(), &[]),
            Err(Skip::NoImportedData)
        );
        assert_eq!(decide(&query(&[], vec![]), &set, &[]), Ok(()));
        let mut later = query(&["event:props:plan"], vec![]);
        later.range = Range::dates(&chrono_tz::UTC, day(5), day(6));
        assert_eq!(decide(&later, &set, &[]), Err(Skip::OutOfRange));
        assert_eq!(
            decide(&query(&["time:hour"], vec![]), &set, &[]),
            Err(Skip::UnsupportedInterval)
        );
        assert_eq!(
            decide(&query(&["event:props:plan"], vec![]), &set, &[]),
            Err(Skip::UnsupportedQuery)
        );
    }
}
