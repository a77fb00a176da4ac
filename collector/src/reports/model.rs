//! What a report asks for: metrics, dimensions and filters, with Plausible's names.

use std::fmt;

/// A metric, named as in Plausible's Stats API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Visitors,
    Visits,
    Pageviews,
    ViewsPerVisit,
    BounceRate,
    VisitDuration,
    Events,
    /// Converting visitors ÷ all visitors (no dimensions, no goal or property filters).
    ConversionRate,
    /// Converting visitors ÷ the group's visitors (without goal or property filters).
    GroupConversionRate,
    Percentage,
    /// Leads identified (first marketing-consented identification) in the range, each
    /// attributed to the visit, page and time of its identification.
    Leads,
    /// Leads ÷ visitors × 100 in the same group.
    LeadConversionRate,
}

impl Metric {
    pub const ALL: [Metric; 12] = [
        Metric::Visitors,
        Metric::Visits,
        Metric::Pageviews,
        Metric::ViewsPerVisit,
        Metric::BounceRate,
        Metric::VisitDuration,
        Metric::Events,
        Metric::ConversionRate,
        Metric::GroupConversionRate,
        Metric::Percentage,
        Metric::Leads,
        Metric::LeadConversionRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Visitors => "visitors",
            Metric::Visits => "visits",
            Metric::Pageviews => "pageviews",
            Metric::ViewsPerVisit => "views_per_visit",
            Metric::BounceRate => "bounce_rate",
            Metric::VisitDuration => "visit_duration",
            Metric::Events => "events",
            Metric::ConversionRate => "conversion_rate",
            Metric::GroupConversionRate => "group_conversion_rate",
            Metric::Percentage => "percentage",
            Metric::Leads => "leads",
            Metric::LeadConversionRate => "lead_conversion_rate",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Needs the lead count: read from the identification events (`sql::lead_metrics`).
    pub fn needs_leads(self) -> bool {
        matches!(self, Metric::Leads | Metric::LeadConversionRate)
    }

    /// Computed from the per-session table (visits, bounces, durations) rather than events.
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Metric::Visits | Metric::ViewsPerVisit | Metric::BounceRate | Metric::VisitDuration
        )
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A property to group or filter by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    Page,
    Name,
    Goal,
    Hostname,
    Prop(String),
    EntryPage,
    ExitPage,
    /// A first-touch attribute of the visit, stored on every event and session row. The
    /// string is the column name.
    Visit(&'static str),
    /// The visit's country by name (`visit:country_name`), from its code.
    CountryName,
    Time(crate::reports::dates::Bucket),
}

/// `visit:<name>` properties that are columns of both `events` and `sessions`.
pub const VISIT_COLUMNS: [(&str, &str); 18] = [
    ("source", "referrer_source"),
    ("referrer", "referrer"),
    ("channel", "channel"),
    ("utm_source", "utm_source"),
    ("utm_medium", "utm_medium"),
    ("utm_campaign", "utm_campaign"),
    ("utm_content", "utm_content"),
    ("utm_term", "utm_term"),
    ("device", "device"),
    ("browser", "browser"),
    ("browser_version", "browser_version"),
    ("os", "os"),
    ("os_version", "os_version"),
    ("country", "country_code"),
    ("region", "region"),
    ("city", "city"),
    ("org", "org"),
    ("org_type", "org_type"),
];

/// Where a dimension can be evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Per event: only the `events` table has it.
    Event,
    /// The same value on every event and on the session: either table.
    Visit,
    /// Only known once a session is folded (entry and exit page).
    Session,
    Time,
}

impl Dimension {
    pub fn parse(s: &str) -> Option<Dimension> {
        use crate::reports::dates::Bucket;
        Some(match s {
            "event:page" => Dimension::Page,
            "event:name" => Dimension::Name,
            "event:goal" => Dimension::Goal,
            "event:hostname" => Dimension::Hostname,
            "visit:entry_page" => Dimension::EntryPage,
            "visit:exit_page" => Dimension::ExitPage,
            "visit:country_name" => Dimension::CountryName,
            "time" | "time:day" => Dimension::Time(Bucket::Day),
            "time:hour" => Dimension::Time(Bucket::Hour),
            "time:week" => Dimension::Time(Bucket::Week),
            "time:month" => Dimension::Time(Bucket::Month),
            _ => {
                if let Some(key) = s.strip_prefix("event:props:") {
                    if key.is_empty() || key.chars().count() > 300 {
                        return None;
                    }
                    return Some(Dimension::Prop(key.to_string()));
                }
                let name = s.strip_prefix("visit:")?;
                // Candor's regions and cities are names already (its databases have no
                // subdivision codes or GeoNames ids): `*_name` is the same column.
                let name = match name {
                    "region_name" => "region",
                    "city_name" => "city",
                    other => other,
                };
                let (_, column) = VISIT_COLUMNS.iter().find(|(n, _)| *n == name)?;
                Dimension::Visit(column)
            }
        })
    }

    pub fn name(&self) -> String {
        use crate::reports::dates::Bucket;
        match self {
            Dimension::Page => "event:page".into(),
            Dimension::Name => "event:name".into(),
            Dimension::Goal => "event:goal".into(),
            Dimension::Hostname => "event:hostname".into(),
            Dimension::Prop(k) => format!("event:props:{k}"),
            Dimension::EntryPage => "visit:entry_page".into(),
            Dimension::ExitPage => "visit:exit_page".into(),
            Dimension::CountryName => "visit:country_name".into(),
            Dimension::Visit(column) => {
                let (name, _) = VISIT_COLUMNS
                    .iter()
                    .find(|(_, c)| c == column)
                    .expect("visit columns come from the table");
                format!("visit:{name}")
            }
            Dimension::Time(Bucket::Hour) => "time:hour".into(),
            Dimension::Time(Bucket::Day) => "time:day".into(),
            Dimension::Time(Bucket::Week) => "time:week".into(),
            Dimension::Time(Bucket::Month) => "time:month".into(),
        }
    }

    /// The last segment of the name (`event:page` → `page`): v1 breakdown keys.
    pub fn short_name(&self) -> String {
        let n = self.name();
        match self {
            Dimension::Prop(k) => k.clone(),
            _ => n.rsplit(':').next().unwrap_or(&n).to_string(),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Dimension::Page
            | Dimension::Name
            | Dimension::Goal
            | Dimension::Hostname
            | Dimension::Prop(_) => Kind::Event,
            Dimension::EntryPage | Dimension::ExitPage => Kind::Session,
            Dimension::Visit(_) | Dimension::CountryName => Kind::Visit,
            Dimension::Time(_) => Kind::Time,
        }
    }

    /// What Plausible shows for an empty value of a visit property (breakdowns show it and
    /// filters match it): `Direct / None` for sources and referrers, `Direct` for channels,
    /// `(not set)` for campaign parameters and the browser, system and device.
    pub fn blank_label(&self) -> Option<&'static str> {
        match self {
            Dimension::Visit("referrer_source" | "referrer") => Some("Direct / None"),
            Dimension::Visit("channel") => Some("Direct"),
            Dimension::Visit(
                "utm_source" | "utm_medium" | "utm_campaign" | "utm_content" | "utm_term"
                | "device" | "browser" | "browser_version" | "os" | "os_version",
            ) => Some("(not set)"),
            _ => None,
        }
    }

    /// Empty values are left out of breakdowns, except where Plausible names them
    /// (`blank_label`) and for time buckets.
    pub fn skips_empty(&self) -> bool {
        self.blank_label().is_none() && !matches!(self, Dimension::Time(_))
    }
}

/// A filter operator (v2 names; v1's `==`, `!=`, `~` map onto them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Is,
    IsNot,
    Contains,
    ContainsNot,
    Matches,
    MatchesNot,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "is" => Op::Is,
            "is_not" => Op::IsNot,
            "contains" => Op::Contains,
            "contains_not" => Op::ContainsNot,
            "matches" | "matches_wildcard" => Op::Matches,
            "matches_not" | "matches_wildcard_not" => Op::MatchesNot,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Is => "is",
            Op::IsNot => "is_not",
            Op::Contains => "contains",
            Op::ContainsNot => "contains_not",
            Op::Matches => "matches",
            Op::MatchesNot => "matches_not",
        }
    }

    pub fn negated(self) -> bool {
        matches!(self, Op::IsNot | Op::ContainsNot | Op::MatchesNot)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Cond {
        op: Op,
        dim: Dimension,
        values: Vec<String>,
        case_sensitive: bool,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    /// Every dimension the filter refers to.
    pub fn dimensions(&self) -> Vec<&Dimension> {
        match self {
            Filter::Cond { dim, .. } => vec![dim],
            Filter::And(fs) | Filter::Or(fs) => fs.iter().flat_map(|f| f.dimensions()).collect(),
            Filter::Not(f) => f.dimensions(),
        }
    }

    /// Whether it filters on event properties (a page, a goal, an event name, a property).
    pub fn is_event(&self) -> bool {
        matches!(self.kind(), Ok(Kind::Event))
    }

    /// Where the filter can be evaluated: `Event` if it refers to any event property,
    /// `Session` for entry or exit pages, else `Visit`.
    pub fn kind(&self) -> Result<Kind, String> {
        let kinds: Vec<Kind> = self.dimensions().iter().map(|d| d.kind()).collect();
        if kinds.contains(&Kind::Time) {
            return Err("time dimensions cannot be filtered; use date_range".into());
        }
        let event = kinds.contains(&Kind::Event);
        let session = kinds.contains(&Kind::Session);
        match (event, session) {
            (true, true) => Err(
                "one filter cannot mix event properties with entry or exit pages; use two filters"
                    .into(),
            ),
            (true, false) => Ok(Kind::Event),
            (false, true) => Ok(Kind::Session),
            (false, false) => Ok(Kind::Visit),
        }
    }

    /// True if this is (or contains) a goal condition.
    /// A top-level filter on one custom property (left out of conversion rates' denominators,
    /// as Plausible leaves them out).
    pub fn is_property(&self) -> bool {
        matches!(
            self,
            Filter::Cond {
                dim: Dimension::Prop(_),
                ..
            }
        )
    }

    /// The regular expressions of its `matches` conditions (goal names excluded: those are
    /// matched here, not by the engine).
    pub fn patterns(&self) -> Vec<&str> {
        match self {
            Filter::Cond {
                op: Op::Matches | Op::MatchesNot,
                dim,
                values,
                ..
            } if *dim != Dimension::Goal => values.iter().map(String::as_str).collect(),
            Filter::Cond { .. } => Vec::new(),
            Filter::And(fs) | Filter::Or(fs) => fs.iter().flat_map(Filter::patterns).collect(),
            Filter::Not(f) => f.patterns(),
        }
    }

    pub fn mentions_goal(&self) -> bool {
        self.dimensions().iter().any(|d| **d == Dimension::Goal)
    }
}

/// `/blog/**` style patterns (v1 and page goals) as an anchored regular expression: the one
/// path-pattern semantics (`crate::path_pattern`), `**` anything, `*` anything but `/`.
pub use crate::path_pattern::to_regex as wildcard_regex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "event:page",
            "event:goal",
            "event:props:author",
            "visit:source",
            "visit:utm_campaign",
            "visit:country",
            "visit:org",
            "visit:entry_page",
            "time:hour",
        ] {
            assert_eq!(Dimension::parse(name).unwrap().name(), name);
        }
        assert_eq!(Dimension::parse("visit:nope"), None);
        assert_eq!(
            Dimension::parse("visit:source").unwrap().short_name(),
            "source"
        );
        assert_eq!(
            Dimension::parse("event:props:plan").unwrap().short_name(),
            "plan"
        );
    }

    #[test]
    fn wildcards_become_anchored_regexes() {
        let re = regex::Regex::new(&wildcard_regex("/blog/**")).unwrap();
        assert!(re.is_match("/blog/a/b"));
        assert!(!re.is_match("/blogs"));
        let one = regex::Regex::new(&wildcard_regex("/docs/*/intro")).unwrap();
        assert!(one.is_match("/docs/v1/intro"));
        assert!(!one.is_match("/docs/v1/x/intro"));
        assert!(regex::Regex::new(&wildcard_regex("/a.b"))
            .unwrap()
            .is_match("/a.b"));
        assert!(!regex::Regex::new(&wildcard_regex("/a.b"))
            .unwrap()
            .is_match("/axb"));
    }
}
