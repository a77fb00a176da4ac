//! Referrer → source name and channel, from Matomo's community-maintained list of search
//! engines, social networks and AI assistants (`data/sources/matomo.json`, refreshed with
//! `data/update-sources.mjs`), with Snowplow's referer-parser database for what it lacks; UTM
//! parameters from the page URL. Only the referrer's host and path are kept: its query string
//! never reaches storage.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde::Deserialize;
use url::Url;

static REFERERS_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/generated/referers.json"
));

static MATOMO_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/sources/matomo.json"
));

/// Matomo's lists: name → hosts (`google.{}`: any top-level domain; `x.com/i/grok`: a path).
#[derive(Deserialize)]
struct MatomoLists {
    search: BTreeMap<String, Vec<String>>,
    social: BTreeMap<String, Vec<String>>,
    ai: BTreeMap<String, Vec<String>>,
}

/// What kind of place a source is, for the channel grouping: from the list it comes from.
/// (GA4's shopping and video categories have no maintained list here: those channels come from
/// campaign parameters only.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    Search,
    Social,
    Video,
    Shopping,
    Email,
    AiAssistant,
}

/// The category of a source by its name (any case), for UTM sources that name a known place.
fn category_of_name(name: &str) -> Option<Category> {
    SOURCES
        .names
        .get(&name.to_ascii_lowercase())
        .copied()
        .flatten()
}

fn category_of_medium(medium: &str) -> Option<Category> {
    match medium {
        "search" => Some(Category::Search),
        "social" => Some(Category::Social),
        "email" => Some(Category::Email),
        "video" => Some(Category::Video),
        _ => None,
    }
}

/// UTM sources that always mean paid traffic, whatever the medium.
const PAID_SOURCES: &[&str] = &[
    "adwords",
    "google_ads",
    "googleads",
    "google-ads",
    "facebook_ad",
    "facebook_ads",
    "fb_ad",
    "fb_ads",
    "fb-ads",
    "ig_ad",
    "ig_ads",
    "yt-ads",
    "yt_ads",
    "youtube_ads",
    "bing_ads",
    "bingads",
    "linkedin_ads",
    "tiktok_ads",
    "twitter_ads",
    "reddit_ads",
];

/// The channel, by the default channel grouping (GA4's rules, as Plausible applies them):
/// `source` is the visit's source name, the rest its campaign parameters (any case) and
/// the kind of paid-click id in the page URL (`gclid`, `msclkid`, ...) if any.
fn channel(category: Option<Category>, source: &str, utm: &Utm) -> &'static str {
    let source = source.to_ascii_lowercase();
    let medium = utm.medium.to_ascii_lowercase();
    let campaign = utm.campaign.to_ascii_lowercase();
    let utm_source = utm.source.to_ascii_lowercase();
    let is = |c: Category| category == Some(c);
    let paid_medium = medium.contains("cp")
        || medium == "ppc"
        || medium == "retargeting"
        || medium.starts_with("paid");
    let paid_source = PAID_SOURCES.contains(&utm_source.as_str());
    let shopping_campaign = campaign.contains("shopping")
        || campaign.match_indices("shop").any(|(i, _)| {
            i == 0 || !matches!(campaign.as_bytes()[i - 1], b'a'..=b'd' | b'f'..=b'z')
        });
    let email_tag = |s: &str| {
        ["email", "e-mail", "e_mail", "e mail", "newsletter"]
            .iter()
            .any(|t| s.contains(t))
    };
    if campaign.contains("cross-network") {
        "Cross-network"
    } else if (is(Category::Shopping) || shopping_campaign) && paid_medium {
        "Paid Shopping"
    } else if (is(Category::Search) && (paid_medium || paid_source))
        || (source == "google" && utm.click_id == "gclid")
        || (source == "bing" && utm.click_id == "msclkid")
    {
        "Paid Search"
    } else if is(Category::Social) && (paid_medium || paid_source) {
        "Paid Social"
    } else if is(Category::Video) && (paid_medium || paid_source) {
        "Paid Video"
    } else if matches!(
        medium.as_str(),
        "display" | "banner" | "expandable" | "interstitial" | "cpm"
    ) {
        "Display"
    } else if paid_medium {
        "Paid Other"
    } else if is(Category::Shopping) || shopping_campaign {
        "Organic Shopping"
    } else if is(Category::Social)
        || matches!(
            medium.as_str(),
            "social" | "social-network" | "social-media" | "sm" | "social network" | "social media"
        )
    {
        "Organic Social"
    } else if is(Category::Video) || medium.contains("video") {
        "Organic Video"
    } else if is(Category::AiAssistant) {
        "AI Assistants"
    } else if is(Category::Search) {
        "Organic Search"
    } else if is(Category::Email) || email_tag(&utm_source) || email_tag(&medium) {
        "Email"
    } else if medium == "affiliate" {
        "Affiliates"
    } else if medium == "audio" {
        "Audio"
    } else if utm_source == "sms" || medium == "sms" {
        "SMS"
    } else if medium.ends_with("push")
        || medium.contains("mobile")
        || medium.contains("notification")
        || source == "firebase"
    {
        "Mobile Push Notifications"
    } else if matches!(medium.as_str(), "referral" | "app" | "link") || !source.is_empty() {
        "Referral"
    } else {
        "Direct"
    }
}

#[derive(Deserialize)]
struct Entry {
    domains: Vec<String>,
}

struct KnownSource {
    name: String,
    category: Option<Category>,
}

struct Sources {
    /// Host (or host/path) → source.
    hosts: HashMap<String, KnownSource>,
    /// The category of each source name (lower case), from the first list that names it in
    /// the order below: a name two lists know (Facebook is social in Matomo's list, another
    /// kind elsewhere) gets the same category on every start.
    names: HashMap<String, Option<Category>>,
    /// `name.` prefixes of Matomo's `name.{}` entries (any top-level domain), longest first.
    patterns: Vec<(String, KnownSource)>,
}

static SOURCES: LazyLock<Sources> = LazyLock::new(|| {
    let matomo: MatomoLists =
        serde_json::from_str(MATOMO_JSON).expect("embedded Matomo source lists are valid JSON");
    let mut hosts = HashMap::new();
    let mut names = HashMap::new();
    let mut patterns = Vec::new();
    // Matomo's lists first (AI assistants before search engines: gemini.google.com is the
    // assistant, not Google), then referer-parser for what they lack. Ordered maps, so the
    // same entry wins on every start.
    for (list, category) in [
        (&matomo.ai, Category::AiAssistant),
        (&matomo.social, Category::Social),
        (&matomo.search, Category::Search),
    ] {
        for (name, urls) in list {
            names
                .entry(name.to_ascii_lowercase())
                .or_insert(Some(category));
            for url in urls {
                let url = url.to_ascii_lowercase();
                let known = || KnownSource {
                    name: name.clone(),
                    category: Some(category),
                };
                match url.strip_suffix("{}") {
                    Some(prefix) => patterns.push((prefix.to_string(), known())),
                    None => {
                        hosts.entry(url).or_insert_with(known);
                    }
                }
            }
        }
    }
    patterns.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    let db: BTreeMap<String, BTreeMap<String, Entry>> =
        serde_json::from_str(REFERERS_JSON).expect("embedded referer database is valid JSON");
    for (medium, sources) in db {
        for (name, entry) in sources {
            names
                .entry(name.to_ascii_lowercase())
                .or_insert_with(|| category_of_medium(&medium));
            for domain in entry.domains {
                hosts
                    .entry(domain.to_ascii_lowercase())
                    .or_insert_with(|| KnownSource {
                        name: name.clone(),
                        category: category_of_medium(&medium),
                    });
            }
        }
    }
    Sources {
        hosts,
        names,
        patterns,
    }
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
    /// The ad-click id in the URL (`gclid` or `msclkid`), if any.
    pub click_id: &'static str,
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
            // Auto-tagged ads (Plausible's rule: only with Google or Bing as the source).
            "gclid" => u.click_id = "gclid",
            "msclkid" => u.click_id = "msclkid",
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
    let host = strip_www(host);
    // A path entry (`x.com/i/grok`): the longest that the referrer's path starts with.
    let full = format!("{host}{path}");
    let mut segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    while !segments.is_empty() {
        let key = format!("{host}/{}", segments.join("/"));
        if full.starts_with(&key) {
            if let Some(s) = SOURCES.hosts.get(&key) {
                return Some(s);
            }
        }
        segments.pop();
    }
    // Exact host (with or without www.), then parent domains (m.facebook.com → facebook.com),
    // then Matomo's any-top-level-domain entries (google.{} for google.de, google.co.uk).
    let mut h = host;
    loop {
        if let Some(s) = SOURCES
            .hosts
            .get(h)
            .or_else(|| SOURCES.hosts.get(&format!("www.{h}")))
        {
            return Some(s);
        }
        match h.split_once('.') {
            Some((_, rest)) if rest.contains('.') => h = rest,
            _ => break,
        }
    }
    SOURCES.patterns.iter().find_map(|(prefix, s)| {
        let tld = host.strip_prefix(prefix.as_str())?;
        let plain = !tld.is_empty()
            && tld.len() <= 6
            && tld
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphabetic()));
        plain.then_some(s)
    })
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
    let (referrer, ref_name, db_category) = match &external {
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
                k.map(|k| k.category),
            )
        }
        None => (String::new(), String::new(), None),
    };
    // A referrer the database knows names the source; otherwise the UTM source does.
    let (name, category) = match db_category {
        Some(category) => (ref_name, category),
        None if !utm.source.is_empty() => (utm.source.clone(), category_of_name(&utm.source)),
        None => (ref_name, None),
    };
    let channel = channel(category, &name, utm);
    Source {
        referrer,
        name,
        channel,
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
        assert_eq!((g.name.as_str(), g.channel), ("Google", "Organic Search"));
        assert_eq!(g.referrer, "google.com/search", "query string dropped");
        let f = classify(
            Some("https://m.facebook.com/story.php?id=1"),
            "example.com",
            &none,
        );
        assert_eq!((f.name.as_str(), f.channel), ("Facebook", "Organic Social"));
        let r = classify(
            Some("https://blog.someone.dev/post/1?utm=x"),
            "example.com",
            &none,
        );
        assert_eq!(
            (r.name.as_str(), r.channel, r.referrer.as_str()),
            ("blog.someone.dev", "Referral", "blog.someone.dev/post/1")
        );
        let d = classify(None, "example.com", &none);
        assert_eq!((d.name.as_str(), d.channel), ("", "Direct"));
        let internal = classify(
            Some("https://www.example.com/pricing"),
            "example.com",
            &none,
        );
        assert_eq!(internal.channel, "Direct");
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
        assert_eq!((s.name.as_str(), s.channel), ("newsletter", "Email"));
        let ads = utm(&page("?gclid=abc"));
        assert_eq!(
            classify(Some("https://www.google.com/"), "example.com", &ads).channel,
            "Paid Search"
        );
        let cpc = utm(&page("?utm_source=bing&utm_medium=cpc"));
        assert_eq!(classify(None, "example.com", &cpc).channel, "Paid Search");
        let other = utm(&page("?utm_source=partner&utm_medium=cpc"));
        assert_eq!(classify(None, "example.com", &other).channel, "Paid Other");
    }

    /// The default channel grouping's rules, in their order of precedence.
    #[test]
    fn channels_follow_the_default_channel_grouping() {
        let with = |q: &str, referrer: Option<&str>| {
            classify(referrer, "example.com", &utm(&page(q))).channel
        };
        assert_eq!(with("?utm_campaign=cross-network", None), "Cross-network");
        assert_eq!(
            with("?utm_campaign=shopping-week&utm_medium=paid", None),
            "Paid Shopping"
        );
        assert_eq!(with("?utm_campaign=eshop-sale", None), "Organic Shopping");
        assert_eq!(with("?utm_campaign=workshop", None), "Direct");
        assert_eq!(
            with("?utm_source=facebook&utm_medium=cpc", None),
            "Paid Social"
        );
        // YouTube is a social network in Matomo's list (there is no maintained video list).
        assert_eq!(
            with("?utm_source=youtube&utm_medium=cpv", None),
            "Paid Social"
        );
        assert_eq!(with("?utm_medium=video", None), "Organic Video");
        assert_eq!(with("?utm_medium=banner", None), "Display");
        assert_eq!(with("?utm_medium=social", None), "Organic Social");
        assert_eq!(
            with("", Some("https://www.youtube.com/watch?v=1")),
            "Organic Social"
        );
        assert_eq!(with("", Some("https://chatgpt.com/")), "AI Assistants");
        assert_eq!(with("", Some("https://duckduckgo.com/")), "Organic Search");
        assert_eq!(
            with("", Some("https://bsky.app/profile/x")),
            "Organic Social"
        );
        assert_eq!(with("?utm_medium=affiliate", None), "Affiliates");
        assert_eq!(with("?utm_medium=audio", None), "Audio");
        assert_eq!(with("?utm_source=sms", None), "SMS");
        assert_eq!(
            with("?utm_medium=web-push", None),
            "Mobile Push Notifications"
        );
        assert_eq!(with("?utm_medium=referral", None), "Referral");
        assert_eq!(
            with("?msclkid=1", Some("https://www.bing.com/")),
            "Paid Search"
        );
        // Facebook's click id marks every outbound link, not ads.
        assert_eq!(
            with("?fbclid=1", Some("https://m.facebook.com/")),
            "Organic Social"
        );
        let d = classify(
            Some("https://duckduckgo.com/"),
            "example.com",
            &Utm::default(),
        );
        assert_eq!(d.name, "DuckDuckGo");
        // Names and hosts from Matomo's list: modern sources, any top-level domain, paths.
        let name = |r: &str| classify(Some(r), "example.com", &Utm::default()).name;
        assert_eq!(name("https://www.instagram.com/p/1"), "Instagram");
        assert_eq!(name("https://bsky.app/profile/x"), "Bluesky");
        assert_eq!(name("https://www.tiktok.com/@x"), "TikTok");
        assert_eq!(name("https://chatgpt.com/"), "ChatGPT");
        assert_eq!(name("https://www.perplexity.ai/search"), "Perplexity");
        assert_eq!(name("https://www.google.co.uk/"), "Google");
        assert_eq!(name("https://x.com/i/grok"), "Grok");
        assert_eq!(name("https://gemini.google.com/app"), "Gemini");
    }
}
