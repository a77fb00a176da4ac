//! Country, region and city (GeoIP) and the visiting organisation (ASN/ISP), from `.mmdb`
//! databases read with `maxminddb`. Both are optional; lookups never fail a beacon.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{geoip2, Reader};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Location {
    pub country_code: String,
    pub region: String,
    pub city: String,
}

pub struct Geo {
    city: Option<Reader<Vec<u8>>>,
    org: Option<Reader<Vec<u8>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{setting}: cannot open {path}: {source}")]
pub struct GeoError {
    setting: &'static str,
    path: String,
    source: maxminddb::MaxMindDbError,
}

impl Geo {
    pub fn open(city: Option<&Path>, org: Option<&Path>) -> Result<Geo, GeoError> {
        let open = |setting: &'static str, p: &Path| {
            Reader::open_readfile(p).map_err(|source| GeoError {
                setting,
                path: p.display().to_string(),
                source,
            })
        };
        Ok(Geo {
            city: city.map(|p| open("CANDOR_GEOIP_DB", p)).transpose()?,
            org: org.map(|p| open("CANDOR_ORG_DB", p)).transpose()?,
        })
    }

    pub fn none() -> Geo {
        Geo {
            city: None,
            org: None,
        }
    }

    pub fn has_city(&self) -> bool {
        self.city.is_some()
    }

    pub fn has_org(&self) -> bool {
        self.org.is_some()
    }

    pub fn locate(&self, ip: IpAddr) -> Location {
        let Some(reader) = &self.city else {
            return Location::default();
        };
        let Ok(Some(city)) = reader.lookup(ip).and_then(|r| r.decode::<geoip2::City>()) else {
            return Location::default();
        };
        Location {
            country_code: city.country.iso_code.unwrap_or_default().to_string(),
            region: city
                .subdivisions
                .first()
                .and_then(|s| s.names.english)
                .unwrap_or_default()
                .to_string(),
            city: city.city.names.english.unwrap_or_default().to_string(),
        }
    }

    pub fn organisation(&self, ip: IpAddr) -> String {
        self.organisation_and_kind(ip).0
    }

    /// The organisation of an address and, where the database says, what kind of network it
    /// is (`isp`, `mobile`, `hosting`, `business`, `education`, `government`, `other`; empty
    /// when the database does not say). Reads ASN databases (`autonomous_system_organization`)
    /// and ISP/enterprise-style ones (`organization`, `isp`, `user_type`, `connection_type`,
    /// `type`, `traits.user_type`).
    pub fn organisation_and_kind(&self, ip: IpAddr) -> (String, String) {
        let Some(reader) = &self.org else {
            return (String::new(), String::new());
        };
        match reader.lookup(ip).and_then(|r| r.decode::<OrgRecord<'_>>()) {
            Ok(Some(r)) => {
                let name = r
                    .organization
                    .or(r.autonomous_system_organization)
                    .or(r.isp)
                    .unwrap_or_default()
                    .to_string();
                let kind = r
                    .user_type
                    .or(r.traits.and_then(|t| t.user_type))
                    .or(r.connection_type)
                    .or(r.kind)
                    .map(network_kind)
                    .unwrap_or_default();
                (name, kind.to_string())
            }
            _ => (String::new(), String::new()),
        }
    }
}

#[derive(serde::Deserialize)]
struct OrgRecord<'a> {
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
    #[serde(borrow)]
    organization: Option<&'a str>,
    #[serde(borrow)]
    isp: Option<&'a str>,
    #[serde(borrow)]
    user_type: Option<&'a str>,
    #[serde(borrow)]
    connection_type: Option<&'a str>,
    #[serde(borrow, rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow)]
    traits: Option<Traits<'a>>,
}

#[derive(serde::Deserialize)]
struct Traits<'a> {
    #[serde(borrow)]
    user_type: Option<&'a str>,
}

/// Network kinds that are not an account (a company or institution) in the accounts report.
pub const NOT_ACCOUNTS: [&str; 3] = ["isp", "mobile", "hosting"];

/// The many spellings databases use, folded to a few kinds.
fn network_kind(raw: &str) -> &'static str {
    match raw.trim().to_ascii_lowercase().as_str() {
        "isp" | "residential" | "cable/dsl" | "dsl" | "dialup" | "satellite"
        | "consumer_privacy" => "isp",
        "cellular" | "mobile" | "wireless" => "mobile",
        "hosting"
        | "content_delivery_network"
        | "cdn"
        | "data center"
        | "datacenter"
        | "search_engine_spider" => "hosting",
        "business" | "corporate" | "cafe" | "library" | "traveler" | "router" => "business",
        "college" | "school" | "education" | "university" => "education",
        "government" | "military" => "government",
        "" => "",
        _ => "other",
    }
}
