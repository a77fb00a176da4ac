//! Page-path patterns, one semantics everywhere a path is matched (report filters and page
//! goals, site exclusions, lead-scoring pages): `**` matches anything, `*` anything but `/`,
//! every other character itself — Plausible's wildcards. Depends on nothing else in the crate.

use std::fmt;

/// A parsed pattern: matched in Rust (`matches`) or handed to ClickHouse's `match()` as an
/// anchored regular expression (`regex`), the two always agreeing.
#[derive(Clone)]
pub struct PathPattern {
    source: String,
    regex: regex::Regex,
}

impl PathPattern {
    pub fn new(pattern: &str) -> PathPattern {
        let source = pattern.to_string();
        let regex = regex::Regex::new(&to_regex(pattern))
            .expect("an escaped pattern is always a valid regular expression");
        PathPattern { source, regex }
    }

    pub fn matches(&self, path: &str) -> bool {
        self.regex.is_match(path)
    }

    /// The anchored regular expression (RE2 syntax, which ClickHouse's `match()` speaks).
    pub fn regex(&self) -> &str {
        self.regex.as_str()
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern has wildcards at all (a plain path compares by equality).
    pub fn is_wildcard(pattern: &str) -> bool {
        pattern.contains('*')
    }
}

impl fmt::Debug for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PathPattern({:?})", self.source)
    }
}

impl PartialEq for PathPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// `pattern` as an anchored regular expression.
pub fn to_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '*' {
            if chars.peek() == Some(&'*') {
                chars.next();
                out.push_str(".*");
            } else {
                out.push_str("[^/]*");
            }
        } else {
            out.push_str(&regex::escape(&c.to_string()));
        }
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::PathPattern;

    #[test]
    fn one_star_stays_in_a_segment_two_cross_them() {
        let m = |p: &str, path: &str| PathPattern::new(p).matches(path);
        assert!(m("/blog/**", "/blog/a/b"));
        assert!(m("/blog/**", "/blog/"));
        assert!(!m("/blog/**", "/blo"));
        assert!(m("/docs/*/intro", "/docs/v1/intro"));
        assert!(!m("/docs/*/intro", "/docs/v1/x/intro"));
        assert!(m("/admin/*", "/admin/users"));
        assert!(!m("/admin/*", "/admin/users/1"));
        assert!(m("/admin*", "/admin"));
        assert!(m("/admin*", "/administration"));
        assert!(m("**/preview", "/posts/1/preview"));
        assert!(!m("*/preview", "/posts/1/preview"));
        assert!(m("/a.b", "/a.b"));
        assert!(!m("/a.b", "/axb"), "regex characters are literal");
        assert!(m("/exact", "/exact"));
        assert!(!m("/exact", "/exact/more"));
        assert!(!m("/(x|y)", "/x"));
    }
}
