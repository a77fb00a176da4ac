//! Country, region and city (GeoIP) and the visiting organisation (ASN/ISP). Both are
//! optional; lookups never fail a beacon.
//!
//! Locations come from `.mmdb` files read with `maxminddb`: MaxMind's GeoIP2/GeoLite2 City
//! layout, or the flat layout of the ip-location-db builds (`country_code`, `state1`, `city`)
//! that Candor fetches by default (DB-IP City Lite, one file per address family). The
//! organisation comes from an ASN/ISP `.mmdb`, or from ip-location-db's ASN CSV files
//! (`first address,last address,AS number,organisation`, sorted ranges), searched in memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use maxminddb::{geoip2, Mmap, Reader};

static COUNTRIES_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/generated/countries.json"
));

/// English country names by ISO 3166-1 alpha-2 code (the npm package i18n-iso-countries,
/// converted by `make data`), sorted by code.
pub fn country_names() -> &'static [(String, String)] {
    static NAMES: std::sync::LazyLock<Vec<(String, String)>> = std::sync::LazyLock::new(|| {
        let map: std::collections::BTreeMap<String, String> =
            serde_json::from_str(COUNTRIES_JSON).expect("embedded country names are valid JSON");
        map.into_iter().collect()
    });
    &NAMES
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Location {
    pub country_code: String,
    pub region: String,
    pub city: String,
}

pub struct Geo {
    /// City databases, asked in order (the default comes as one file per address family).
    city: Vec<Reader<Mmap>>,
    org: Vec<OrgDb>,
}

enum OrgDb {
    Mmdb(Reader<Mmap>),
    Ranges(AsnRanges),
}

#[derive(Debug, thiserror::Error)]
#[error("{setting}: cannot open {path}: {reason}")]
pub struct GeoError {
    setting: &'static str,
    path: String,
    reason: String,
}

impl Geo {
    /// Opens the city databases and the organisation databases (`.mmdb`, or ip-location-db
    /// ASN `.csv`).
    pub fn open(city: &[PathBuf], org: &[PathBuf]) -> Result<Geo, GeoError> {
        let fail = |setting: &'static str, p: &Path, reason: String| GeoError {
            setting,
            path: p.display().to_string(),
            reason,
        };
        // Mapped rather than read: the pages a lookup touches are the page cache's, shared
        // and reclaimable, instead of a private copy of every database on the heap (DB-IP's
        // city database alone is 130 MB).
        let mmdb = |setting: &'static str, p: &Path| {
            // SAFETY: the mapping stays valid while the file is not changed in place. Candor
            // never writes these files, and the README asks operators to replace a database
            // by moving a new file over it (which leaves the mapped old one intact), as
            // `make geo` and geoipupdate do, then restart.
            unsafe { Reader::open_mmap(p) }.map_err(|e| fail(setting, p, e.to_string()))
        };
        let city = city
            .iter()
            .map(|p| mmdb("CANDOR_GEOIP_DB", p))
            .collect::<Result<Vec<_>, _>>()?;
        let org = org
            .iter()
            .map(|p| {
                if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
                    AsnRanges::load(p)
                        .map(OrgDb::Ranges)
                        .map_err(|e| fail("CANDOR_ORG_DB", p, e))
                } else {
                    mmdb("CANDOR_ORG_DB", p).map(OrgDb::Mmdb)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Geo { city, org })
    }

    pub fn none() -> Geo {
        Geo {
            city: Vec::new(),
            org: Vec::new(),
        }
    }

    pub fn has_city(&self) -> bool {
        !self.city.is_empty()
    }

    pub fn has_org(&self) -> bool {
        !self.org.is_empty()
    }

    pub fn locate(&self, ip: IpAddr) -> Location {
        self.city
            .iter()
            .find_map(|reader| locate_in(reader, ip))
            .unwrap_or_default()
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
        self.org
            .iter()
            .find_map(|db| match db {
                OrgDb::Mmdb(reader) => org_in(reader, ip),
                OrgDb::Ranges(ranges) => {
                    ranges.get(ip).map(|name| (name.to_string(), String::new()))
                }
            })
            .unwrap_or_default()
    }
}

/// A location from one city database: the GeoIP2 layout, or ip-location-db's flat one.
fn locate_in(reader: &Reader<Mmap>, ip: IpAddr) -> Option<Location> {
    let found = reader.lookup(ip).ok()?;
    if let Ok(Some(city)) = found.decode::<geoip2::City>() {
        if let Some(country) = city.country.iso_code {
            return Some(Location {
                country_code: country.to_string(),
                region: city
                    .subdivisions
                    .first()
                    .and_then(|s| s.names.english)
                    .unwrap_or_default()
                    .to_string(),
                city: city.city.names.english.unwrap_or_default().to_string(),
            });
        }
    }
    let flat = found.decode::<FlatCity<'_>>().ok()??;
    Some(Location {
        country_code: flat.country_code?.to_string(),
        region: flat.state1.unwrap_or_default().to_string(),
        city: flat.city.unwrap_or_default().to_string(),
    })
}

/// ip-location-db's city record.
#[derive(serde::Deserialize)]
struct FlatCity<'a> {
    #[serde(borrow)]
    country_code: Option<&'a str>,
    #[serde(borrow)]
    state1: Option<&'a str>,
    #[serde(borrow)]
    city: Option<&'a str>,
}

/// The organisation and network kind from one ASN/ISP `.mmdb`.
fn org_in(reader: &Reader<Mmap>, ip: IpAddr) -> Option<(String, String)> {
    let r = reader
        .lookup(ip)
        .and_then(|r| r.decode::<OrgRecord<'_>>())
        .ok()??;
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
    Some((name, kind.to_string()))
}

/// Organisations by address range, from ip-location-db's ASN CSV files: sorted, disjoint
/// ranges, found by binary search. Names are shared between the ranges of one organisation.
struct AsnRanges {
    v4: Vec<(u32, u32, u32)>,
    v6: Vec<(u128, u128, u32)>,
    names: Vec<Arc<str>>,
}

impl AsnRanges {
    fn load(path: &Path) -> Result<AsnRanges, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(path)
            .map_err(|e| e.to_string())?;
        let mut ranges = AsnRanges {
            v4: Vec::new(),
            v6: Vec::new(),
            names: Vec::new(),
        };
        let mut ids: HashMap<String, u32> = HashMap::new();
        for (line, record) in reader.records().enumerate() {
            let record = record.map_err(|e| e.to_string())?;
            let bad = || {
                format!(
                    "line {}: expected first address,last address,AS number,organisation",
                    line + 1
                )
            };
            let (Some(first), Some(last), Some(name)) =
                (record.get(0), record.get(1), record.get(3))
            else {
                return Err(bad());
            };
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let next = ranges.names.len() as u32;
            let id = *ids.entry(name.to_string()).or_insert_with(|| {
                ranges.names.push(Arc::from(name));
                next
            });
            match (first.parse::<IpAddr>(), last.parse::<IpAddr>()) {
                (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b))) => ranges.v4.push((a.into(), b.into(), id)),
                (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(b))) => ranges.v6.push((a.into(), b.into(), id)),
                _ => return Err(bad()),
            }
        }
        ranges.v4.sort_unstable();
        ranges.v6.sort_unstable();
        // Half a million ranges grown by doubling: give back the spare capacity.
        ranges.v4.shrink_to_fit();
        ranges.v6.shrink_to_fit();
        ranges.names.shrink_to_fit();
        Ok(ranges)
    }

    fn get(&self, ip: IpAddr) -> Option<&str> {
        fn find<T: Ord + Copy>(ranges: &[(T, T, u32)], x: T) -> Option<u32> {
            let i = ranges.partition_point(|r| r.0 <= x).checked_sub(1)?;
            let (_, last, id) = ranges[i];
            (x <= last).then_some(id)
        }
        let id = match ip {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => find(&self.v4, u32::from(v4)),
                None => find(&self.v6, u128::from(a)),
            },
        }?;
        Some(&self.names[id as usize])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn_ranges_find_the_range_holding_an_address() {
        let dir = tempfile::tempdir().unwrap();
        let v4 = dir.path().join("asn-ipv4.csv");
        std::fs::write(
            &v4,
            "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n8.8.8.0,8.8.8.255,15169,Google LLC\n8.8.4.0,8.8.4.255,15169,Google LLC\n",
        )
        .unwrap();
        let v6 = dir.path().join("asn-ipv6.csv");
        std::fs::write(
            &v6,
            "2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n",
        )
        .unwrap();
        let geo = Geo::open(&[], &[v4, v6]).unwrap();
        let org = |ip: &str| geo.organisation(ip.parse().unwrap());
        assert_eq!(org("1.0.0.1"), "Cloudflare, Inc.");
        assert_eq!(org("8.8.8.8"), "Google LLC");
        assert_eq!(org("8.8.4.255"), "Google LLC");
        assert_eq!(org("8.8.5.0"), "", "between ranges");
        assert_eq!(org("0.0.0.1"), "", "before the first");
        assert_eq!(org("9.0.0.0"), "", "after the last");
        assert_eq!(org("2001:4860:4860::8888"), "Google LLC");
        assert_eq!(org("::ffff:8.8.8.8"), "Google LLC", "IPv4-mapped");
        // The network kind is unknown in these files.
        assert_eq!(geo.organisation_and_kind("8.8.8.8".parse().unwrap()).1, "");

        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "1.0.0.0,not an address,1,X\n").unwrap();
        let err = Geo::open(&[], &[bad]).err().unwrap().to_string();
        assert!(
            err.contains("CANDOR_ORG_DB") && err.contains("line 1"),
            "{err}"
        );
    }
}
