//! Lead scores: points for visits and page views (more for the pages a site names), decayed
//! by age so recent interest counts more. Configured per site (`lead_scoring`).

use serde::{Deserialize, Serialize};

use crate::path_pattern;

/// A site's scoring rules.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// Points per visit.
    #[serde(default = "per_visit")]
    pub per_visit: f64,
    /// Points per page view.
    #[serde(default = "per_pageview")]
    pub per_pageview: f64,
    /// Extra points for page views whose path matches (`*`, `**` wildcards).
    #[serde(default)]
    pub pages: Vec<PageRule>,
    /// Points halve every this many days; 0 turns decay off.
    #[serde(default = "half_life_days")]
    pub half_life_days: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PageRule {
    pub pattern: String,
    pub points: f64,
}

fn per_visit() -> f64 {
    5.0
}
fn per_pageview() -> f64 {
    1.0
}
fn half_life_days() -> f64 {
    30.0
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            per_visit: per_visit(),
            per_pageview: per_pageview(),
            pages: Vec::new(),
            half_life_days: half_life_days(),
        }
    }
}

impl Scoring {
    /// Rejects rules that cannot work (bad numbers, too many or malformed patterns).
    pub fn validate(&self) -> Result<(), String> {
        let finite = [self.per_visit, self.per_pageview, self.half_life_days]
            .iter()
            .chain(self.pages.iter().map(|p| &p.points))
            .all(|x| x.is_finite() && x.abs() <= 1e6);
        if !finite || self.half_life_days < 0.0 {
            return Err("lead_scoring numbers must be finite, half_life_days ≥ 0".into());
        }
        if self.pages.len() > 50 || self.pages.iter().any(|p| !p.pattern.starts_with('/')) {
            return Err("lead_scoring.pages: at most 50 rules, patterns start with /".into());
        }
        Ok(())
    }

    fn decay(&self, age_secs: i64) -> f64 {
        if self.half_life_days <= 0.0 {
            return 1.0;
        }
        0.5f64.powf(age_secs.max(0) as f64 / 86_400.0 / self.half_life_days)
    }

    /// The score of visits (start times) and page views (time, path) as of `now`.
    pub fn score(&self, now: u32, visits: &[u32], pageviews: &[(u32, String)]) -> f64 {
        let patterns: Vec<(&str, f64)> = self
            .pages
            .iter()
            .map(|p| (p.pattern.as_str(), p.points))
            .collect();
        let age = |t: u32| i64::from(now) - i64::from(t);
        let from_visits: f64 = visits
            .iter()
            .map(|t| self.per_visit * self.decay(age(*t)))
            .sum();
        let from_pages: f64 = pageviews
            .iter()
            .map(|(t, path)| {
                let extra: f64 = patterns
                    .iter()
                    .filter(|(pattern, _)| path_pattern::matches(pattern, path))
                    .map(|(_, p)| p)
                    .sum();
                (self.per_pageview + extra) * self.decay(age(*t))
            })
            .sum();
        ((from_visits + from_pages) * 10.0).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_add_up_and_halve_with_age() {
        let s = Scoring {
            pages: vec![PageRule {
                pattern: "/pricing*".into(),
                points: 10.0,
            }],
            ..Scoring::default()
        };
        let now = 100 * 86_400;
        // One visit today with /, /pricing: 5 + 1 + (1 + 10).
        assert_eq!(
            s.score(now, &[now], &[(now, "/".into()), (now, "/pricing".into())]),
            17.0
        );
        // The same visit 30 days ago counts half.
        let then = now - 30 * 86_400;
        assert_eq!(
            s.score(
                now,
                &[then],
                &[(then, "/".into()), (then, "/pricing".into())]
            ),
            8.5
        );
        let flat = Scoring {
            half_life_days: 0.0,
            ..s.clone()
        };
        assert_eq!(flat.score(now, &[then], &[]), 5.0);
        assert!(Scoring {
            half_life_days: -1.0,
            ..s.clone()
        }
        .validate()
        .is_err());
        assert!(Scoring {
            pages: vec![PageRule {
                pattern: "x".into(),
                points: 1.0
            }],
            ..s
        }
        .validate()
        .is_err());
    }
}
