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
        let Some(reader) = &self.org else {
            return String::new();
        };
        match reader.lookup(ip).and_then(|r| r.decode::<geoip2::Asn>()) {
            Ok(Some(asn)) => asn
                .autonomous_system_organization
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        }
    }
}
