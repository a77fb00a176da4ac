//! Raw beacon → validated `Beacon`: parsing, limits, Plausible's short field names. Nothing
//! here touches the network or the store; every rule is a type that cannot hold a bad value.

use std::collections::BTreeMap;

use std::borrow::Cow;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::sites::SiteDomain;

/// A consent level the visitor chose (contract: `none` default, `analytics`, `marketing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Consent {
    #[default]
    None,
    Analytics,
    Marketing,
}

impl Consent {
    pub fn as_str(self) -> &'static str {
        match self {
            Consent::None => "none",
            Consent::Analytics => "analytics",
            Consent::Marketing => "marketing",
        }
    }

    pub fn parse(s: &str) -> Option<Consent> {
        match s {
            "none" => Some(Consent::None),
            "analytics" => Some(Consent::Analytics),
            "marketing" => Some(Consent::Marketing),
            _ => None,
        }
    }
}

/// The event name of a lead's identification: stored as an event of the visit in which the
/// lead identified, so the `leads` metric has that visit's attributes, page and time. Only
/// the collector writes it (a beacon with this name is refused); it is not a page view, not
/// counted in `events`, and not part of the visit's own activity (see `pipeline`).
pub const LEAD_EVENT: &str = "candor:lead";

/// A validated beacon, before enrichment.
#[derive(Clone, Debug, PartialEq)]
pub struct Beacon {
    pub site: SiteDomain,
    pub name: String,
    pub url: Url,
    pub referrer: Option<String>,
    pub screen_width: Option<u16>,
    pub props: BTreeMap<String, String>,
    pub consent: Consent,
    /// The snippet's first-party id; kept only with marketing consent.
    pub vid: Option<String>,
    pub engaged_ms: Option<u32>,
    /// Plausible's hash-based routing flag: keep the URL fragment as part of the path.
    pub hash_mode: bool,
}

impl Beacon {
    /// The event that records a lead's identification on `url`, with the visitor's
    /// first-party id and marketing consent (identification requires both).
    pub fn lead(site: SiteDomain, url: Url, vid: &str) -> Beacon {
        Beacon {
            site,
            name: LEAD_EVENT.to_string(),
            url,
            referrer: None,
            screen_width: None,
            props: BTreeMap::new(),
            consent: Consent::Marketing,
            vid: Some(vid.to_string()),
            engaged_ms: None,
            hash_mode: false,
        }
    }
}

/// A field that failed validation: the contract's 400 with `field`.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// The wire format, with Plausible's aliases so a Plausible script pointed at Candor works.
#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow, alias = "d", alias = "domain")]
    site: Option<Field<'a>>,
    #[serde(borrow, alias = "n")]
    name: Option<Field<'a>>,
    #[serde(borrow, alias = "u")]
    url: Option<Field<'a>>,
    #[serde(borrow, alias = "r")]
    referrer: Option<Field<'a>>,
    #[serde(borrow, alias = "w")]
    screen_width: Option<Field<'a>>,
    #[serde(borrow, alias = "p", alias = "m")]
    props: Option<Field<'a>>,
    #[serde(borrow)]
    consent: Option<Field<'a>>,
    #[serde(borrow)]
    vid: Option<Field<'a>>,
    /// Plausible's tracker sends engagement time as `e` (with `n: "engagement"`).
    #[serde(borrow, alias = "e")]
    engaged_ms: Option<Field<'a>>,
    #[serde(borrow, alias = "h")]
    hash: Option<Field<'a>>,
}

/// One field's value as sent, of any JSON type (each field's type is checked below, so the
/// 400 can name it). Strings without escapes are borrowed from the body, not copied.
enum Field<'a> {
    Null,
    Str(Cow<'a, str>),
    Num(serde_json::Number),
    Bool(bool),
    /// An array or an object.
    Other(Value),
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field<'a>, D::Error> {
        struct AnyValue<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for AnyValue<'a> {
            type Value = Field<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Field<'a>, E> {
                Ok(Field::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Field<'a>, E> {
                Ok(Field::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Field<'a>, E> {
                Ok(Field::Num(n.into()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Field<'a>, E> {
                Ok(Field::Num(n.into()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Field<'a>, E> {
                serde_json::Number::from_f64(n)
                    .map(Field::Num)
                    .ok_or_else(|| E::custom("a number that is not finite"))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(s)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Field<'a>, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Field::Other)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Field<'a>, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Field::Other)
            }
        }
        d.deserialize_any(AnyValue(std::marker::PhantomData))
    }
}

pub const MAX_PROPS: usize = 30;
pub const MAX_PROP_KEY: usize = 300;
pub const MAX_PROP_VALUE: usize = 2000;

/// Parses and validates one beacon body.
pub fn parse(body: &[u8]) -> Result<Beacon, Invalid> {
    // Straight into the field slots (no intermediate map); each field is checked below.
    let raw: Raw = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data if !is_object(body) => {
            invalid("body", "expected one JSON object")
        }
        serde_json::error::Category::Data => invalid("body", format!("invalid event: {e}")),
        _ => invalid("body", format!("malformed JSON: {e}")),
    })?;
    let site = match raw.site {
        Some(Field::Str(s)) => SiteDomain::parse(&s).map_err(|e| invalid("site", e.to_string()))?,
        Some(_) => return Err(invalid("site", "site must be a string")),
        None => {
            return Err(invalid(
                "site",
                "site is required (or Plausible's d / domain)",
            ))
        }
    };
    let name = match raw.name {
        None | Some(Field::Null) => "pageview".to_string(),
        Some(Field::Str(s)) if s.trim().is_empty() => {
            return Err(invalid("name", "name must not be empty"))
        }
        Some(Field::Str(s)) if s.chars().count() > 120 => {
            return Err(invalid("name", "name is longer than 120 characters"))
        }
        Some(Field::Str(s)) if s.trim() == LEAD_EVENT => {
            return Err(invalid(
                "name",
                format!("the event name {LEAD_EVENT:?} is reserved for lead identification"),
            ))
        }
        Some(Field::Str(s)) => s.trim().to_string(),
        Some(_) => return Err(invalid("name", "name must be a string")),
    };
    let url = match raw.url {
        Some(Field::Str(s)) => parse_page_url(&s)?,
        Some(_) => return Err(invalid("url", "url must be a string")),
        None => return Err(invalid("url", "url is required")),
    };
    let referrer = match raw.referrer {
        None | Some(Field::Null) => None,
        Some(Field::Str(s)) if s.is_empty() => None,
        Some(Field::Str(s)) if s.len() > 2048 => {
            return Err(invalid(
                "referrer",
                "referrer is longer than 2048 characters",
            ))
        }
        Some(Field::Str(s)) => Some(s.into_owned()),
        Some(_) => return Err(invalid("referrer", "referrer must be a string or null")),
    };
    let screen_width = match raw.screen_width {
        None | Some(Field::Null) => None,
        Some(Field::Num(n)) => match n.as_u64() {
            Some(w) if w <= 20_000 => Some(w as u16),
            _ => {
                return Err(invalid(
                    "screen_width",
                    "screen_width must be an integer from 0 to 20000",
                ))
            }
        },
        Some(_) => {
            return Err(invalid(
                "screen_width",
                "screen_width must be an integer from 0 to 20000",
            ))
        }
    };
    let props = parse_props(raw.props)?;
    let consent = match raw.consent {
        None | Some(Field::Null) => Consent::None,
        Some(Field::Str(s)) => Consent::parse(&s).ok_or_else(|| {
            invalid(
                "consent",
                "consent must be \"none\", \"analytics\" or \"marketing\"",
            )
        })?,
        Some(_) => return Err(invalid("consent", "consent must be a string")),
    };
    let vid = match raw.vid {
        None | Some(Field::Null) => None,
        Some(Field::Str(s)) if s.is_empty() || s.len() > 64 => {
            return Err(invalid("vid", "vid must be 1 to 64 characters"))
        }
        Some(Field::Str(s)) => Some(s.into_owned()),
        Some(_) => return Err(invalid("vid", "vid must be a string")),
    };
    let engaged_ms = match raw.engaged_ms {
        None | Some(Field::Null) => None,
        // Capped at a day: a tab left open for a week is not a week of engagement.
        Some(Field::Num(n)) => match n.as_u64() {
            Some(ms) => Some(ms.min(86_400_000) as u32),
            None => {
                return Err(invalid(
                    "engaged_ms",
                    "engaged_ms must be a non-negative integer",
                ))
            }
        },
        Some(_) => {
            return Err(invalid(
                "engaged_ms",
                "engaged_ms must be a non-negative integer",
            ))
        }
    };
    let hash_mode = matches!(raw.hash, Some(Field::Bool(true)) | Some(Field::Num(_)));
    Ok(Beacon {
        site,
        name,
        url,
        referrer,
        screen_width,
        props,
        consent,
        // The first-party id means something only with marketing consent; otherwise it is
        // dropped here, before anything else can see it.
        vid: if consent == Consent::Marketing {
            vid
        } else {
            None
        },
        engaged_ms,
        hash_mode,
    })
}

/// Whether a body that is valid JSON holds an object (rather than an array or a scalar).
fn is_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn parse_page_url(s: &str) -> Result<Url, Invalid> {
    if s.len() > 2048 {
        return Err(invalid("url", "url is longer than 2048 characters"));
    }
    let url =
        Url::parse(s).map_err(|e| invalid("url", format!("url is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("url", "url must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url", "url has no host"));
    }
    Ok(url)
}

fn parse_props(raw: Option<Field>) -> Result<BTreeMap<String, String>, Invalid> {
    let obj = match raw {
        None | Some(Field::Null) => return Ok(BTreeMap::new()),
        Some(Field::Other(Value::Object(o))) => o,
        // Plausible's script sends props as a JSON string.
        Some(Field::Str(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(o)) => o,
            _ => return Err(invalid("props", "props must be an object of scalar values")),
        },
        Some(_) => return Err(invalid("props", "props must be an object of scalar values")),
    };
    if obj.len() > MAX_PROPS {
        return Err(invalid("props", format!("at most {MAX_PROPS} props")));
    }
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if k.is_empty() || k.chars().count() > MAX_PROP_KEY {
            return Err(invalid(
                "props",
                format!("prop keys must be 1 to {MAX_PROP_KEY} characters"),
            ));
        }
        let v = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            _ => {
                return Err(invalid(
                    "props",
                    format!(
                        "prop \"{}\" must be a scalar",
                        k.chars().take(50).collect::<String>()
                    ),
                ))
            }
        };
        if v.chars().count() > MAX_PROP_VALUE {
            return Err(invalid(
                "props",
                format!("prop values must be at most {MAX_PROP_VALUE} characters"),
            ));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// The stored hostname: lowercase, without `www.`.
pub fn hostname(url: &Url) -> String {
    let h = url.host_str().unwrap_or("").to_ascii_lowercase();
    h.strip_prefix("www.").map(str::to_string).unwrap_or(h)
}

/// The stored path: percent-decoded, no query string; with the fragment in hash mode.
pub fn pathname(url: &Url, hash_mode: bool) -> String {
    let decoded = percent_encoding::percent_decode_str(url.path())
        .decode_utf8_lossy()
        .into_owned();
    let mut path = if decoded.is_empty() {
        "/".to_string()
    } else {
        decoded
    };
    if hash_mode {
        if let Some(f) = url.fragment().filter(|f| !f.is_empty()) {
            path.push('#');
            path.push_str(f);
        }
    }
    if path.len() > 2048 {
        path = path.chars().take(2048).collect();
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_short_payload_is_accepted() {
        let b = parse(br#"{"n":"pageview","u":"https://www.example.com/docs?utm_source=hn","d":"example.com","r":"https://news.ycombinator.com/","w":1280,"p":"{\"plan\":\"pro\",\"n\":3}"}"#).unwrap();
        assert_eq!(b.site.as_str(), "example.com");
        assert_eq!(b.name, "pageview");
        assert_eq!(b.screen_width, Some(1280));
        assert_eq!(b.props.get("n").map(String::as_str), Some("3"));
        assert_eq!(hostname(&b.url), "example.com");
        assert_eq!(pathname(&b.url, false), "/docs");
    }

    #[test]
    fn bodies_that_are_not_one_object_say_so() {
        let message = |body: &str| parse(body.as_bytes()).unwrap_err().message;
        assert_eq!(message("[1]"), "expected one JSON object");
        assert_eq!(message(" null"), "expected one JSON object");
        assert!(message(r#"{"site":"#).starts_with("malformed JSON"));
        assert!(message(r#"{"site":"a.com"} x"#).starts_with("malformed JSON"));
        assert!(
            message(r#"{"site":"a.com","d":"b.com","url":"https://a.com/"}"#)
                .starts_with("invalid event")
        );
    }

    #[test]
    fn fields_are_validated_with_their_name() {
        let field = |body: &str| parse(body.as_bytes()).unwrap_err().field;
        assert_eq!(field("{"), "body");
        assert_eq!(field("[1]"), "body");
        assert_eq!(field(r#"{"site":"example.com"}"#), "url");
        assert_eq!(
            field(r#"{"site":"example.com","url":"javascript:alert(1)"}"#),
            "url"
        );
        assert_eq!(field(r#"{"site":"example.com","url":"/relative"}"#), "url");
        assert_eq!(field(r#"{"url":"https://x.com/"}"#), "site");
        assert_eq!(
            field(r#"{"site":"example.com","url":"https://x.com/","screen_width":-1}"#),
            "screen_width"
        );
        assert_eq!(
            field(r#"{"site":"example.com","url":"https://x.com/","screen_width":20001}"#),
            "screen_width"
        );
        assert_eq!(
            field(r#"{"site":"example.com","url":"https://x.com/","consent":"all"}"#),
            "consent"
        );
        assert_eq!(
            field(r#"{"site":"example.com","url":"https://x.com/","props":{"a":{"b":1}}}"#),
            "props"
        );
        assert_eq!(
            field(r#"{"site":"example.com","url":"https://x.com/","name":""}"#),
            "name"
        );
        assert_eq!(
            field(r#"{"site":"example.com","url":"https://x.com/","name":" candor:lead"}"#),
            "name"
        );
        let many: String = (0..31)
            .map(|i| format!("\"k{i}\":1"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            field(&format!(
                r#"{{"site":"example.com","url":"https://x.com/","props":{{{many}}}}}"#
            )),
            "props"
        );
    }

    #[test]
    fn escaped_strings_and_every_json_type_are_read_as_before() {
        let b = parse(
            br#"{"site":"example.com","url":"https:\/\/x.com\/a\u00fc","name":"sign\u0075p","r":null,"w":1280.0,"h":1,"p":{"n":3,"ok":true,"none":null}}"#,
        );
        assert!(b.is_err(), "a fractional width is refused");
        let b = parse(
            br#"{"site":"example.com","url":"https:\/\/x.com\/a\u00fc","name":"sign\u0075p","r":null,"w":1280,"h":1,"p":{"n":3,"ok":true,"none":null}}"#,
        )
        .unwrap();
        assert_eq!(b.name, "signup");
        assert_eq!(pathname(&b.url, false), "/aü");
        assert!(b.hash_mode);
        assert_eq!(b.referrer, None);
        assert_eq!(b.props.get("n").map(String::as_str), Some("3"));
        assert_eq!(b.props.get("ok").map(String::as_str), Some("true"));
        assert!(!b.props.contains_key("none"));
        let error = |body: &str| {
            let e = parse(body.as_bytes()).unwrap_err();
            (e.field, e.message)
        };
        assert_eq!(
            error(r#"{"site":1,"url":"https://x.com/"}"#),
            ("site", "site must be a string".to_string())
        );
        assert_eq!(
            error(r#"{"site":"x.com","url":["https://x.com/"]}"#),
            ("url", "url must be a string".to_string())
        );
        assert_eq!(
            error(r#"{"site":"x.com","url":"https://x.com/","props":[1]}"#).0,
            "props"
        );
        assert_eq!(
            error(r#"{"site":"x.com","url":"https://x.com/","vid":{"a":1}}"#),
            ("vid", "vid must be a string".to_string())
        );
    }

    #[test]
    fn vid_is_dropped_without_marketing_consent() {
        let b = parse(
            br#"{"site":"example.com","url":"https://x.com/","vid":"abc","consent":"analytics"}"#,
        )
        .unwrap();
        assert_eq!(b.vid, None);
        let b = parse(
            br#"{"site":"example.com","url":"https://x.com/","vid":"abc","consent":"marketing"}"#,
        )
        .unwrap();
        assert_eq!(b.vid.as_deref(), Some("abc"));
    }

    #[test]
    fn hash_mode_keeps_the_fragment() {
        let u = Url::parse("https://x.com/app/%C3%BC?q=1#/settings").unwrap();
        assert_eq!(pathname(&u, false), "/app/ü");
        assert_eq!(pathname(&u, true), "/app/ü#/settings");
    }
}
