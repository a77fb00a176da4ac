//! Sites: the domains Candor collects for, each with its time zone, retention and allowed
//! origins. Kept in the store (shared by every collector) and cached in memory, refreshed in
//! the background, so the ingest path never waits on the store to look a site up.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::clock;
pub mod center;
pub mod scoring;

pub use crate::site_domain::{InvalidDomain, SiteDomain};
use crate::store::{fetch, insert_rows, InsertOptions, Params, Store, StoreError};
use center::CenterSettings;
use scoring::Scoring;

/// Default retention of a site's events, in days.
pub const DEFAULT_RETENTION_DAYS: u16 = 400;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Site {
    pub domain: SiteDomain,
    /// IANA time zone reports use for days and hours. Default `UTC`.
    pub timezone: String,
    /// Events older than this are deleted by TTL. Default 400.
    pub retention_days: u16,
    /// Origins allowed to send beacons besides the domain and its subdomains.
    pub allowed_origins: Vec<String>,
    /// Path patterns whose page views are not stored: `*` within a path segment, `**` across
    /// (`crate::path_pattern`).
    #[serde(default)]
    pub exclude_paths: Vec<String>,
    /// Client networks whose visits are not stored, e.g. the office. Parsed once, here.
    #[serde(default)]
    pub exclude_ips: Vec<ipnet::IpNet>,
    /// Unix seconds.
    pub created_at: u32,
    /// The version of the consent text the site shows; recorded with each lead's consent.
    #[serde(default = "default_consent_version")]
    pub consent_version: String,
    /// How leads are scored.
    #[serde(default)]
    pub lead_scoring: Scoring,
    /// The privacy center's settings (sender name, contact, preferences offered, notices).
    #[serde(default)]
    pub privacy_center: CenterSettings,
}

fn default_consent_version() -> String {
    "1".into()
}

/// What an admin sends to create or update a site.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteRequest {
    pub domain: SiteDomain,
    pub timezone: Option<String>,
    pub retention_days: Option<u16>,
    pub allowed_origins: Option<Vec<String>>,
    pub exclude_paths: Option<Vec<String>>,
    pub exclude_ips: Option<Vec<String>>,
    pub consent_version: Option<String>,
    pub lead_scoring: Option<Scoring>,
    pub privacy_center: Option<CenterSettings>,
}

impl SiteRequest {
    /// A request that changes nothing but names the site.
    pub fn new(domain: SiteDomain) -> SiteRequest {
        SiteRequest {
            domain,
            timezone: None,
            retention_days: None,
            allowed_origins: None,
            exclude_paths: None,
            exclude_ips: None,
            consent_version: None,
            lead_scoring: None,
            privacy_center: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize, Deserialize)]
struct SiteRow {
    domain: String,
    timezone: String,
    retention_days: u16,
    allowed_origins: Vec<String>,
    exclude_paths: Vec<String>,
    /// 0: patterns written when `*` crossed `/`; 1: the one path-pattern syntax
    /// (`crate::path_pattern`). Rows are always written with 1.
    #[serde(default)]
    exclude_paths_syntax: u8,
    exclude_ips: Vec<String>,
    created_at: u32,
    consent_version: String,
    /// JSON of `Scoring`; empty for the defaults.
    lead_scoring: String,
    /// JSON of `CenterSettings`; empty for the defaults.
    #[serde(default)]
    privacy_center: String,
    deleted: u8,
    version: u64,
}

/// The current `exclude_paths_syntax`.
const PATH_SYNTAX: u8 = 1;

pub struct Sites {
    store: Arc<dyn Store>,
    cache: RwLock<BTreeMap<SiteDomain, Arc<Site>>>,
}

impl Sites {
    pub async fn load(store: Arc<dyn Store>) -> Result<Sites, StoreError> {
        let sites = Sites {
            store,
            cache: RwLock::new(BTreeMap::new()),
        };
        sites.refresh().await?;
        Ok(sites)
    }

    /// Reloads the cache from the store (sites added through another collector appear here).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let rows: Vec<SiteRow> = fetch(
            self.store.as_ref(),
            "SELECT domain, timezone, retention_days, allowed_origins, exclude_paths, exclude_paths_syntax, exclude_ips, toUnixTimestamp(created_at) AS created_at, consent_version, lead_scoring, privacy_center, deleted, version
             FROM sites FINAL WHERE deleted = 0 ORDER BY domain",
            &Params::new(),
        )
        .await?;
        let map = rows
            .into_iter()
            .filter_map(|r| {
                let domain = SiteDomain::parse(&r.domain).ok()?;
                Some((
                    domain.clone(),
                    Arc::new(Site {
                        domain,
                        timezone: r.timezone,
                        retention_days: r.retention_days,
                        allowed_origins: r.allowed_origins,
                        // Older rows keep their meaning: their `*` crossed `/`.
                        exclude_paths: if r.exclude_paths_syntax < PATH_SYNTAX {
                            r.exclude_paths
                                .iter()
                                .map(|p| crate::path_pattern::from_crossing_glob(p))
                                .collect()
                        } else {
                            r.exclude_paths
                        },
                        // Stored values were validated on the way in.
                        exclude_ips: r
                            .exclude_ips
                            .iter()
                            .filter_map(|n| n.parse().ok())
                            .collect(),
                        created_at: r.created_at,
                        consent_version: r.consent_version,
                        lead_scoring: serde_json::from_str(&r.lead_scoring).unwrap_or_default(),
                        privacy_center: serde_json::from_str(&r.privacy_center).unwrap_or_default(),
                    }),
                ))
            })
            .collect();
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    pub fn get(&self, domain: &str) -> Option<Site> {
        let domain = SiteDomain::parse(domain).ok()?;
        self.get_shared(&domain).map(|s| (*s).clone())
    }

    /// The cached site itself, without copying it (the ingest path asks on every beacon).
    pub fn get_shared(&self, domain: &SiteDomain) -> Option<Arc<Site>> {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(domain)
            .cloned()
    }

    pub fn list(&self) -> Vec<Site> {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|s| (**s).clone())
            .collect()
    }

    /// Creates the site, or updates the fields given. Returns the site and whether it is new.
    pub async fn upsert(&self, req: SiteRequest) -> Result<(Site, bool), SiteError> {
        let existing = self.get(req.domain.as_str());
        let timezone = match req.timezone {
            Some(tz) => self.checked_timezone(tz).await?,
            None => existing
                .as_ref()
                .map(|s| s.timezone.clone())
                .unwrap_or_else(|| "UTC".into()),
        };
        let retention_days = match req.retention_days {
            Some(0) => {
                return Err(SiteError::Invalid {
                    field: "retention_days",
                    message: "retention_days must be at least 1".into(),
                })
            }
            Some(d) => d,
            None => existing
                .as_ref()
                .map(|s| s.retention_days)
                .unwrap_or(DEFAULT_RETENTION_DAYS),
        };
        let allowed_origins = match req.allowed_origins {
            Some(list) => checked_origins(list)?,
            None => existing
                .as_ref()
                .map(|s| s.allowed_origins.clone())
                .unwrap_or_default(),
        };
        let exclude_paths = match req.exclude_paths {
            Some(list) => checked_paths(list)?,
            None => existing
                .as_ref()
                .map(|s| s.exclude_paths.clone())
                .unwrap_or_default(),
        };
        let exclude_ips = match req.exclude_ips {
            Some(list) => checked_networks(list)?,
            None => existing
                .as_ref()
                .map(|s| s.exclude_ips.clone())
                .unwrap_or_default(),
        };
        let consent_version = match req.consent_version {
            Some(v) if v.trim().is_empty() || v.chars().count() > 64 => {
                return Err(SiteError::Invalid {
                    field: "consent_version",
                    message: "consent_version must be 1 to 64 characters".into(),
                })
            }
            Some(v) => v.trim().to_string(),
            None => existing
                .as_ref()
                .map(|s| s.consent_version.clone())
                .unwrap_or_else(default_consent_version),
        };
        let lead_scoring = match req.lead_scoring {
            Some(s) => {
                s.validate().map_err(|message| SiteError::Invalid {
                    field: "lead_scoring",
                    message,
                })?;
                s
            }
            None => existing
                .as_ref()
                .map(|s| s.lead_scoring.clone())
                .unwrap_or_default(),
        };
        let privacy_center = match req.privacy_center {
            Some(c) => {
                c.validate().map_err(|message| SiteError::Invalid {
                    field: "privacy_center",
                    message,
                })?;
                c
            }
            None => existing
                .as_ref()
                .map(|s| s.privacy_center.clone())
                .unwrap_or_default(),
        };
        let site = Site {
            consent_version,
            lead_scoring,
            privacy_center,
            domain: req.domain,
            timezone,
            retention_days,
            allowed_origins,
            exclude_paths,
            exclude_ips,
            created_at: existing
                .as_ref()
                .map(|s| s.created_at)
                .unwrap_or_else(clock::unix_seconds),
        };
        let row = SiteRow {
            domain: site.domain.to_string(),
            timezone: site.timezone.clone(),
            retention_days: site.retention_days,
            allowed_origins: site.allowed_origins.clone(),
            exclude_paths: site.exclude_paths.clone(),
            exclude_paths_syntax: PATH_SYNTAX,
            exclude_ips: site.exclude_ips.iter().map(|n| n.to_string()).collect(),
            created_at: site.created_at,
            consent_version: site.consent_version.clone(),
            lead_scoring: serde_json::to_string(&site.lead_scoring).unwrap_or_default(),
            privacy_center: serde_json::to_string(&site.privacy_center).unwrap_or_default(),
            deleted: 0,
            version: clock::version(),
        };
        insert_rows(
            self.store.as_ref(),
            "sites",
            &[row],
            &InsertOptions::default(),
        )
        .await?;
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(site.domain.clone(), Arc::new(site.clone()));
        Ok((site, existing.is_none()))
    }

    /// Registers domains from `CANDOR_SITES` that are not registered yet.
    pub async fn register_missing(&self, domains: &[SiteDomain]) -> Result<(), SiteError> {
        for d in domains {
            if self.get(d.as_str()).is_none() {
                self.upsert(SiteRequest::new(d.clone())).await?;
                tracing::info!(site = %d, "registered site from configuration");
            }
        }
        Ok(())
    }

    /// Asks the engine whether it knows the time zone, so reports never meet one it doesn't.
    async fn checked_timezone(&self, tz: String) -> Result<String, SiteError> {
        let invalid = || SiteError::Invalid {
            field: "timezone",
            message: format!(
                "unknown time zone \"{}\"",
                tz.chars().take(64).collect::<String>()
            ),
        };
        if tz.is_empty() || tz.len() > 64 {
            return Err(invalid());
        }
        match self
            .store
            .query(
                "SELECT toTimeZone(now(), {tz:String})",
                &Params::new().with("tz", &tz),
                "TabSeparated",
            )
            .await
        {
            Ok(_) => Ok(tz),
            Err(StoreError::Query { .. }) => Err(invalid()),
            Err(e) => Err(e.into()),
        }
    }
}

fn checked_paths(list: Vec<String>) -> Result<Vec<String>, SiteError> {
    if list.len() > 100 {
        return Err(SiteError::Invalid {
            field: "exclude_paths",
            message: "at most 100 path patterns".into(),
        });
    }
    list.into_iter()
        .map(|p| {
            let p = p.trim().to_string();
            if (p.starts_with('/') || p.starts_with('*')) && p.len() <= 512 {
                Ok(p)
            } else {
                Err(SiteError::Invalid {
                    field: "exclude_paths",
                    message: format!(
                        "invalid path pattern \"{}\": start with / or *",
                        p.chars().take(100).collect::<String>()
                    ),
                })
            }
        })
        .collect()
}

fn checked_networks(list: Vec<String>) -> Result<Vec<ipnet::IpNet>, SiteError> {
    if list.len() > 100 {
        return Err(SiteError::Invalid {
            field: "exclude_ips",
            message: "at most 100 networks".into(),
        });
    }
    list.into_iter()
        .map(|n| {
            crate::config::parse_cidr(n.trim()).map_err(|message| SiteError::Invalid {
                field: "exclude_ips",
                message: message.chars().take(120).collect(),
            })
        })
        .collect()
}

/// Allowed origins are `scheme://host[:port]`, or `*.domain` for any subdomain.
fn checked_origins(list: Vec<String>) -> Result<Vec<String>, SiteError> {
    if list.len() > 50 {
        return Err(SiteError::Invalid {
            field: "allowed_origins",
            message: "at most 50 allowed origins".into(),
        });
    }
    list.into_iter()
        .map(|o| {
            let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
            let host = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
                .map(|rest| rest.split(':').next().unwrap_or(""))
                .or_else(|| o.strip_prefix("*."));
            match host {
                Some(h) if SiteDomain::parse(h).is_ok() => Ok(o),
                _ => Err(SiteError::Invalid {
                    field: "allowed_origins",
                    message: format!(
                        "invalid origin \"{}\": expected https://host[:port] or *.domain",
                        o.chars().take(100).collect::<String>()
                    ),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_validated() {
        assert_eq!(
            SiteDomain::parse(" Example.COM. ").unwrap().as_str(),
            "example.com"
        );
        assert_eq!(
            SiteDomain::parse("localhost").unwrap().as_str(),
            "localhost"
        );
        for bad in [
            "",
            "http://x.com",
            "x.com/path",
            "x.com:80",
            "-a.com",
            "a..b",
            "a b.com",
        ] {
            assert!(SiteDomain::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_accept_urls_and_wildcards_only() {
        assert_eq!(
            checked_origins(vec![
                "https://Shop.example.com:8443/".into(),
                "*.example.org".into()
            ])
            .unwrap(),
            vec!["https://shop.example.com:8443", "*.example.org"]
        );
        assert!(checked_origins(vec!["javascript:alert(1)".into()]).is_err());
        assert!(checked_origins(vec!["*".into()]).is_err());
    }
}
