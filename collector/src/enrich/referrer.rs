//! Referrer → source name and channel, from Snowplow's maintained referer-parser database;
//! UTM parameters from the page URL. Only the referrer's host and path are kept: its query
//! string never reaches storage.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde::Deserialize;
use url::Url;

static REFERERS_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/generated/referers.json"
));

/// Where a visit came from, as a marketing channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Direct,
    Search,
    Social,
    Email,
    Paid,
    Referral,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Direct => "direct",
            Channel::Search => "search",
            Channel::Social => "social",
            Channel::Email => "email",
            Channel::Paid => "paid",
            Channel::Referral => "referral",
        }
    }
}

#[derive(Deserialize)]
struct Entry {
    domains: Vec<String>,
}

struct KnownSource {
    name: String,
    medium: String,
}

static SOURCES: LazyLock<HashMap<String, KnownSource>> = LazyLock::new(|| {
    // Ordered maps: when two entries list the same domain, the first by medium and then by
    // name wins, the same on every start.
    let db: BTreeMap<String, BTreeMap<String, Entry>> =
        serde_json::from_str(REFERERS_JSON).expect("embedded referer database is valid JSON");
    let mut map = HashMap::new();
    for (medium, sources) in db {
        for (name, entry) in sources {
            for domain in entry.domains {
                map.entry(domain.to_ascii_lowercase())
                    .or_insert_with(|| KnownSource {
                        name: name.clone(),
                        medium: medium.clone(),
                    });
            }
        }
    }
    map
});

pub fn warm_up() {
    LazyLock::force(&SOURCES);
}

/// Campaign parameters of the page URL.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Utm {
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub content: String,
    pub term: String,
    /// A paid-click id (`gclid`, `msclkid`, ...) was present.
    pub paid_click: bool,
}

pub fn utm(page: &Url) -> Utm {
    let mut u = Utm::default();
    for (k, v) in page.query_pairs() {
        let v: String = v.chars().take(200).collect();
        match k.as_ref() {
            "utm_source" => u.source = v,
            "utm_medium" => u.medium = v,
            "utm_campaign" => u.campaign = v,
            "utm_content" => u.content = v,
            "utm_term" => u.term = v,
            // Plausible and GA accept `ref`/`source` as a source when UTM is absent.
            "ref" | "source" if u.source.is_empty() => u.source = v,
            "gclid" | "gbraid" | "wbraid" | "msclkid" | "dclid" | "twclid" | "li_fat_id"
            | "ttclid" => u.paid_click = true,
            _ => {}
        }
    }
    u
}

/// The result of classifying a referrer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Source {
    /// Host and path of an external referrer; empty for direct and internal traffic.
    pub referrer: String,
    /// Human name (`Google`, `Facebook`), the UTM source, or the referrer's host.
    pub name: String,
    pub channel: &'static str,
}

fn strip_www(host: &str) -> &str {
    host.strip_prefix("www.").unwrap_or(host)
}

fn known(host: &str, path: &str) -> Option<&'static KnownSource> {
    let first_segment = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if !first_segment.is_empty() {
        if let Some(s) = SOURCES.get(&format!("{host}/{first_segment}")) {
            return Some(s);
        }
    }
    // Exact host, then without www., then parent domains (m.facebook.com → facebook.com).
    let mut h = host;
    loop {
        if let Some(s) = SOURCES.get(h).or_else(|| SOURCES.get(&format!("www.{h}"))) {
            return Some(s);
        }
        match h.split_once('.') {
            Some((_, rest)) if rest.contains('.') => h = rest,
            _ => return None,
        }
    }
}

/// Classifies the referrer of a page view on `page_host`.
pub fn classify(referrer: Option<&str>, page_host: &str, utm: &Utm) -> Source {
    let parsed = referrer
        .filter(|r| !r.is_empty())
        .and_then(|r| Url::parse(r).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https" | "android-app"));
    let external = parsed.filter(|u| {
        let host = u.host_str().unwrap_or("");
        // A referral from the site itself (or a subdomain) is navigation, not a source.
        strip_www(host) != strip_www(page_host)
            && !host.ends_with(&format!(".{}", strip_www(page_host)))
    });
    let medium = utm.medium.to_ascii_lowercase();
    let paid = utm.paid_click
        || matches!(
            medium.as_str(),
            "cpc"
                | "ppc"
                | "paid"
                | "paidsearch"
                | "paid_search"
                | "paid-social"
                | "paid_social"
                | "paidsocial"
                | "display"
                | "cpm"
                | "cpv"
                | "banner"
                | "retargeting"
        );
    let (referrer, ref_name, db_medium) = match &external {
        Some(u) => {
            let host = u.host_str().unwrap_or("").to_ascii_lowercase();
            let path = u.path();
            let k = known(&host, path);
            let shown = format!(
                "{}{}",
                strip_www(&host),
                if path == "/" { "" } else { path }
            );
            (
                shown.chars().take(512).collect::<String>(),
                k.map(|k| k.name.clone())
                    .unwrap_or_else(|| strip_www(&host).to_string()),
                k.map(|k| k.medium.as_str()),
            )
        }
        None => (String::new(), String::new(), None),
    };
    let name = if db_medium.is_some() || utm.source.is_empty() {
        ref_name
    } else {
        utm.source.clone()
    };
    let channel = if paid {
        Channel::Paid
    } else if medium == "email"
        || medium == "e-mail"
        || medium == "newsletter"
        || db_medium == Some("email")
    {
        Channel::Email
    } else if db_medium == Some("search") || medium == "organic" {
        Channel::Search
    } else if db_medium == Some("social") || medium == "social" {
        Channel::Social
    } else if external.is_some() || !utm.source.is_empty() {
        Channel::Referral
    } else {
        Channel::Direct
    };
    Source {
        referrer,
        name,
        channel: channel.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(q: &str) -> Url {
        Url::parse(&format!("https://example.com/landing{q}")).unwrap()
    }

    #[test]
    fn search_social_email_and_referral_are_told_apart() {
        let none = Utm::default();
        let g = classify(
            Some("https://www.google.com/search?q=secret+terms"),
            "example.com",
            &none,
        );
        assert_eq!((g.name.as_str(), g.channel), ("Google", "search"));
        assert_eq!(g.referrer, "google.com/search", "query string dropped");
        let f = classify(
            Some("https://m.facebook.com/story.php?id=1"),
            "example.com",
            &none,
        );
        assert_eq!((f.name.as_str(), f.channel), ("Facebook", "social"));
        let r = classify(
            Some("https://blog.someone.dev/post/1?utm=x"),
            "example.com",
            &none,
        );
        assert_eq!(
            (r.name.as_str(), r.channel, r.referrer.as_str()),
            ("blog.someone.dev", "referral", "blog.someone.dev/post/1")
        );
        let d = classify(None, "example.com", &none);
        assert_eq!((d.name.as_str(), d.channel), ("", "direct"));
        let internal = classify(
            Some("https://www.example.com/pricing"),
            "example.com",
            &none,
        );
        assert_eq!(internal.channel, "direct");
    }

    #[test]
    fn utm_parameters_set_source_and_paid_or_email_channel() {
        let u = utm(&page(
            "?utm_source=newsletter&utm_medium=email&utm_campaign=launch&x=1",
        ));
        assert_eq!(
            (u.source.as_str(), u.medium.as_str(), u.campaign.as_str()),
            ("newsletter", "email", "launch")
        );
        let s = classify(None, "example.com", &u);
        assert_eq!((s.name.as_str(), s.channel), ("newsletter", "email"));
        let ads = utm(&page("?gclid=abc"));
        assert_eq!(
            classify(Some("https://www.google.com/"), "example.com", &ads).channel,
            "paid"
        );
        let cpc = utm(&page("?utm_source=bing&utm_medium=cpc"));
        assert_eq!(classify(None, "example.com", &cpc).channel, "paid");
    }
}
