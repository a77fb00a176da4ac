//! Page-path patterns, one semantics everywhere a path is matched (report filters and page
//! goals, site exclusions, lead-scoring pages): `**` matches anything, `*` anything but `/`,
//! every other character itself — Plausible's wildcards. Depends on nothing else in the crate.
//!
//! Matched in Rust by `matches` (no regex: it runs on every beacon of a site with exclusions)
//! or in ClickHouse through `to_regex`; an exhaustive test keeps the two in agreement.

/// Whether `path` matches `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    if !p.contains(&b'*') {
        return p == s;
    }
    // Memoised over (pattern index, path index): linear in their product however the
    // wildcards mix, never exponential.
    let mut memo = vec![0u8; (p.len() + 1) * (s.len() + 1)];
    match_from(p, s, 0, 0, &mut memo)
}

fn match_from(p: &[u8], s: &[u8], i: usize, j: usize, memo: &mut [u8]) -> bool {
    let at = i * (s.len() + 1) + j;
    if memo[at] != 0 {
        return memo[at] == 2;
    }
    let result = if i == p.len() {
        j == s.len()
    } else if p[i] == b'*' {
        let crosses = p.get(i + 1) == Some(&b'*');
        let mut next = i + 1;
        while next < p.len() && p[next] == b'*' {
            next += 1; // `***` is `**`
        }
        // The wildcard takes s[j..k] for the smallest k that lets the rest match.
        let mut k = j;
        loop {
            if match_from(p, s, next, k, memo) {
                break true;
            }
            if k == s.len() || (!crosses && s[k] == b'/') {
                break false;
            }
            k += 1;
        }
    } else {
        j < s.len() && p[i] == s[j] && match_from(p, s, i + 1, j + 1, memo)
    };
    memo[at] = if result { 2 } else { 1 };
    result
}

/// `pattern` as an anchored regular expression (RE2 syntax, which ClickHouse's `match()`
/// speaks), meaning the same as `matches`.
pub fn to_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '*' {
            if chars.peek() == Some(&'*') {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
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

/// A pattern written for the first `exclude_paths` syntax, where `*` crossed `/`, in this
/// syntax with the same meaning: every run of `*` becomes `**`.
pub fn from_crossing_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 2);
    let mut in_run = false;
    for c in pattern.chars() {
        if c == '*' {
            if !in_run {
                out.push_str("**");
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{from_crossing_glob, matches, to_regex};

    #[test]
    fn one_star_stays_in_a_segment_two_cross_them() {
        assert!(matches("/blog/**", "/blog/a/b"));
        assert!(matches("/blog/**", "/blog/"));
        assert!(!matches("/blog/**", "/blo"));
        assert!(matches("/docs/*/intro", "/docs/v1/intro"));
        assert!(!matches("/docs/*/intro", "/docs/v1/x/intro"));
        assert!(matches("/admin/*", "/admin/users"));
        assert!(!matches("/admin/*", "/admin/users/1"));
        assert!(matches("/admin*", "/admin"));
        assert!(matches("/admin*", "/administration"));
        assert!(matches("**/preview", "/posts/1/preview"));
        assert!(!matches("*/preview", "/posts/1/preview"));
        assert!(matches("/a.b", "/a.b"));
        assert!(!matches("/a.b", "/axb"), "regex characters are literal");
        assert!(matches("/exact", "/exact"));
        assert!(!matches("/exact", "/exact/more"));
        assert!(!matches("/(x|y)", "/x"));
    }

    /// Every pattern and path over a small alphabet, up to length 5 and 4: the Rust matcher
    /// and the regex ClickHouse gets agree.
    #[test]
    fn the_matcher_and_the_regex_agree_everywhere() {
        fn words(alphabet: &[char], max: usize) -> Vec<String> {
            let mut all = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                    .collect();
                all.extend(last.iter().cloned());
            }
            all
        }
        let patterns = words(&['a', '/', '*'], 5);
        let paths = words(&['a', 'b', '/'], 4);
        for p in &patterns {
            let re = regex::Regex::new(&to_regex(p)).unwrap();
            for s in &paths {
                assert_eq!(matches(p, s), re.is_match(s), "pattern {p:?} on {s:?}");
            }
        }
    }

    #[test]
    fn crossing_globs_keep_their_meaning() {
        assert_eq!(from_crossing_glob("/admin*"), "/admin**");
        assert_eq!(from_crossing_glob("*/preview"), "**/preview");
        assert_eq!(from_crossing_glob("/a/**/b"), "/a/**/b");
        assert_eq!(from_crossing_glob("/plain"), "/plain");
        assert!(matches(&from_crossing_glob("/admin/*"), "/admin/users/1"));
    }
}
