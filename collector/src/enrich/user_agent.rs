//! Browser, OS and device from uap-core's regexes (the `ua-parser` crate), and bots from
//! isbot's maintained pattern list. Results are cached by user-agent string in memory only;
//! the raw string never reaches storage or logs.

use std::sync::{Arc, LazyLock};

use quick_cache::sync::Cache;

static UAP_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/generated/uap.json"
));
static BOTS_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/generated/bots.json"
));

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Agent {
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    /// `Mobile`, `Tablet` or `Desktop` from the user agent (screen width refines it later).
    pub device: &'static str,
    pub is_bot: bool,
}

struct Parsers {
    uap: ua_parser::Extractor<'static>,
    /// isbot patterns without look-around, as one case-insensitive alternation.
    bots: regex::Regex,
    /// The few isbot patterns that need look-around.
    bots_fancy: Vec<fancy_regex::Regex>,
}

static PARSERS: LazyLock<Parsers> = LazyLock::new(|| {
    let regexes: ua_parser::Regexes<'static> =
        serde_json::from_str(UAP_JSON).expect("embedded uap-core regexes are valid JSON");
    let uap = ua_parser::Extractor::try_from(regexes).expect("uap-core regexes compile");
    let patterns: Vec<String> =
        serde_json::from_str(BOTS_JSON).expect("embedded bot patterns are valid JSON");
    // isbot's patterns are JavaScript regexes. Most compile as they are in the `regex` crate
    // and go into one fast alternation; the rest (look-around, JS-only class syntax) go to
    // `fancy-regex`, one by one.
    let (plain, other): (Vec<String>, Vec<String>) = patterns.into_iter().partition(|p| {
        regex::RegexBuilder::new(p)
            .case_insensitive(true)
            .build()
            .is_ok()
    });
    let bots = regex::RegexBuilder::new(&plain.join("|"))
        .case_insensitive(true)
        .size_limit(64 << 20)
        .build()
        .expect("isbot patterns compile");
    let bots_fancy = other
        .iter()
        .filter_map(|p| {
            let js = p
                .replace("[\\w-.]", "[\\w.-]")
                .replace("[\\w\\d-.]", "[\\w\\d.-]");
            let compiled = fancy_regex::RegexBuilder::new(&js)
                .case_insensitive(true)
                .build();
            if compiled.is_err() {
                tracing::warn!(pattern = %p, "bot pattern not supported, skipped");
            }
            compiled.ok()
        })
        .collect();
    Parsers {
        uap,
        bots,
        bots_fancy,
    }
});

/// Forces the parsers to compile now (at start-up) rather than on the first beacon.
pub fn warm_up() {
    LazyLock::force(&PARSERS);
}

pub fn is_bot(ua: &str) -> bool {
    let ua = ua.trim();
    if ua.is_empty() {
        return true;
    }
    let p = &*PARSERS;
    p.bots.is_match(ua) || p.bots_fancy.iter().any(|r| r.is_match(ua).unwrap_or(false))
}

pub fn parse(ua: &str) -> Agent {
    let p = &*PARSERS;
    let (browser, os, device) = p.uap.extract(ua);
    let version =
        |parts: [Option<&str>; 2]| parts.into_iter().flatten().collect::<Vec<_>>().join(".");
    // Unknown browsers and systems are empty: reports show them as "(not set)".
    let (browser, browser_version) = match browser {
        Some(b) if b.family != "Other" => (
            renamed(BROWSER_RENAMES, &b.family).to_string(),
            version([b.major, b.minor]),
        ),
        _ => (String::new(), String::new()),
    };
    let (os, os_version) = match os {
        Some(o) if o.os != "Other" => {
            let v = version([o.major.as_deref(), o.minor.as_deref()]);
            (renamed(OS_RENAMES, &o.os).to_string(), v)
        }
        _ => (String::new(), String::new()),
    };
    let device_family = device.map(|d| d.device.to_string()).unwrap_or_default();
    Agent {
        device: device_class(ua, &os, &device_family),
        browser: clean(browser),
        browser_version,
        os: clean(os),
        os_version,
        is_bot: is_bot(ua) || device_family == "Spider",
    }
}

fn clean(s: String) -> String {
    s.chars().take(64).collect()
}

/// uap-core's browser families that Plausible names otherwise (its tests and its users'
/// filters use these names): one name per browser whatever the form factor, apps' web views
/// as `Mobile App`. The store migration that renamed earlier rows uses the same table.
pub const BROWSER_RENAMES: &[(&str, &str)] = &[
    ("Mobile Safari", "Safari"),
    ("Mobile Safari UI/WKWebView", "Safari"),
    ("Chrome Mobile", "Chrome"),
    ("Chrome Mobile iOS", "Chrome"),
    ("Firefox Mobile", "Firefox"),
    ("Firefox iOS", "Firefox"),
    ("Edge", "Microsoft Edge"),
    ("Edge Mobile", "Microsoft Edge"),
    ("Samsung Internet", "Samsung Browser"),
    ("Opera Mobile", "Opera"),
    ("Opera Mini", "Opera"),
    ("Yandex Browser Lite", "Yandex Browser"),
    ("Chrome Mobile WebView", "Mobile App"),
    ("Facebook", "Mobile App"),
    ("Instagram", "Mobile App"),
    ("Other", ""),
];

/// uap-core's operating systems that Plausible names otherwise.
pub const OS_RENAMES: &[(&str, &str)] = &[
    ("Mac OS X", "Mac"),
    ("Mac OS", "Mac"),
    ("Linux", "GNU/Linux"),
    ("Other", ""),
];

fn renamed<'a>(table: &[(&'static str, &'static str)], name: &'a str) -> &'a str {
    table
        .iter()
        .find(|(from, _)| *from == name)
        .map_or(name, |(_, to)| to)
}

/// Device class from the parsed OS and device family, with the `Mobi`/`Tablet` tokens that
/// browsers use to announce their form factor.
fn device_class(ua: &str, os: &str, device: &str) -> &'static str {
    let tablet = device.contains("iPad")
        || device.contains("Tablet")
        || ua.contains("Tablet")
        || (os == "Android" && !ua.contains("Mobile"));
    if tablet {
        "Tablet"
    } else if ua.contains("Mobi") || matches!(os, "iOS" | "Android" | "Windows Phone") {
        "Mobile"
    } else {
        "Desktop"
    }
}

/// Parses with a bounded cache: real traffic repeats a few thousand user agents. Entries are
/// shared, so a hit copies nothing.
#[derive(Clone)]
pub struct AgentCache {
    cache: Arc<Cache<String, Arc<Agent>>>,
}

impl AgentCache {
    pub fn new(capacity: usize) -> AgentCache {
        AgentCache {
            cache: Arc::new(Cache::new(capacity)),
        }
    }

    pub fn get(&self, ua: &str) -> Arc<Agent> {
        // User agents over 512 characters are truncated before parsing (and caching).
        let ua = if ua.len() > 512 {
            ua.char_indices().nth(512).map_or(ua, |(i, _)| &ua[..i])
        } else {
            ua
        };
        if let Some(a) = self.cache.get(ua) {
            return a;
        }
        let agent = Arc::new(parse(ua));
        self.cache.insert(ua.to_string(), agent.clone());
        agent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    const HEADLESS: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36";

    #[test]
    fn real_browsers_are_parsed() {
        let a = parse(CHROME);
        assert_eq!(
            (a.browser.as_str(), a.os.as_str(), a.device, a.is_bot),
            ("Chrome", "Windows", "Desktop", false)
        );
        assert_eq!(a.browser_version, "131.0");
        let i = parse(IPHONE);
        assert_eq!(
            (i.browser.as_str(), i.os.as_str(), i.device),
            ("Safari", "iOS", "Mobile")
        );
    }

    #[test]
    fn bots_and_headless_browsers_are_detected() {
        assert!(is_bot(HEADLESS));
        assert!(is_bot(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
        ));
        assert!(is_bot("curl/8.5.0"));
        assert!(is_bot(""));
        assert!(!is_bot(CHROME));
        assert!(!is_bot(IPHONE));
    }

    #[test]
    fn cache_returns_the_same_answer() {
        let c = AgentCache::new(16);
        assert_eq!(c.get(CHROME), c.get(CHROME));
        assert_eq!(c.get(CHROME).browser, "Chrome");
    }
}
