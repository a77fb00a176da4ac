//! A site's domain, parsed once at the edge: the one type every layer (configuration, store,
//! reports, leads) uses to name a site. Depends on nothing else in the crate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A site's domain: a lowercase host name without scheme, port or path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SiteDomain(String);

#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "invalid site domain \"{0}\": expected a host name like example.com (no scheme, port or path)"
)]
pub struct InvalidDomain(pub String);

impl SiteDomain {
    pub fn parse(raw: &str) -> Result<SiteDomain, InvalidDomain> {
        let d = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels_ok = d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if d.is_empty() || d.len() > 253 || !labels_ok {
            return Err(InvalidDomain(raw.chars().take(100).collect()));
        }
        Ok(SiteDomain(d))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SiteDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SiteDomain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SiteDomain::parse(&s).map_err(serde::de::Error::custom)
    }
}
