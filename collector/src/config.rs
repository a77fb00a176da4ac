//! One typed configuration for `candor serve`: a TOML file (`--config`), then `CANDOR_*`
//! environment variables, then command-line flags, each layer overriding the one before.
//! Every value is validated here, at start, and a bad one is reported naming the exact setting
//! the user wrote (`CANDOR_LISTEN: invalid socket address "x"`).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::sites::SiteDomain;

/// The pinned libchdb version fetched by `make libchdb` (see `deploy/fetch-libchdb.sh`).
pub const LIBCHDB_VERSION: &str = "26.7.3-stable.1";

#[derive(Clone)]
pub struct Config {
    /// Address the HTTP server binds. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Directory for the embedded store, the spool and generated keys. Default `./data`.
    pub data_dir: PathBuf,
    pub clickhouse: ClickHouseConfig,
    /// Path of libchdb.so for the embedded engine. Default: the `make libchdb` cache.
    pub libchdb: PathBuf,
    /// Optional GeoIP (country/region/city) `.mmdb` database.
    pub geoip_db: Option<PathBuf>,
    /// Optional organisation (ASN/ISP) `.mmdb` database.
    pub org_db: Option<PathBuf>,
    /// A static admin token (≥ 32 characters). Default: none, a token is generated at first start.
    pub admin_token: Option<String>,
    /// Site domains registered at start.
    pub sites: Vec<SiteDomain>,
    /// Peers whose `X-Forwarded-For` is believed. Default: none.
    pub trusted_proxies: Vec<IpNet>,
    /// Requests per minute per client; 0 turns rate limiting off. Default 600.
    pub rate_limit: u32,
    /// Base64 of a 32-byte AEAD key for lead contact details. Default: generated in the data dir.
    pub pii_key: Option<String>,
    /// Limits of `POST /api/v1/sql`.
    pub sql: SqlLimits,
    /// Largest accepted beacon body in bytes. Default 8 KiB.
    pub max_event_bytes: usize,
    /// Beacons per minute per site; 0 turns the site limit off. Default 60,000.
    pub site_rate_limit: u32,
    /// The write-ahead spool and the batcher that drains it.
    pub spool: SpoolSettings,
    /// Always mark the dashboard session cookie `Secure`. Set it when a TLS-terminating proxy
    /// that is not listed in `trusted_proxies` forwards plain HTTP. Default false: `Secure`
    /// then follows the listener's TLS or a trusted proxy's `X-Forwarded-Proto: https`.
    pub secure_cookies: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct SpoolSettings {
    /// Beacons get 503 once the spool holds this many bytes (store down). Default 1 GiB.
    pub max_bytes: u64,
    /// Rows per insert. Default 10,000.
    pub batch_rows: usize,
    /// How long events wait in the spool before a batch is cut. Default 1 s.
    pub batch_interval: Duration,
}

impl Default for SpoolSettings {
    fn default() -> Self {
        SpoolSettings {
            max_bytes: 1 << 30,
            batch_rows: 10_000,
            batch_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ClickHouseConfig {
    /// `http(s)://host:8123` of a ClickHouse server; unset → embedded chDB.
    pub url: Option<String>,
    /// Default `default`.
    pub user: String,
    /// Default empty.
    pub password: String,
    /// Default `default`.
    pub database: String,
    /// Cluster name: migrations emit `ON CLUSTER`, Replicated engines and Distributed tables.
    pub cluster: Option<String>,
    /// A ClickHouse user for analysts' `/api/v1/sql` queries, granted `SELECT` on the analyst
    /// database only (README, "Ad-hoc SQL"). Default unset: the main user, still behind the
    /// allow-list and limits.
    pub analyst_user: Option<String>,
    /// Password of `analyst_user`. Default empty.
    pub analyst_password: String,
}

#[derive(Clone, Copy, Debug)]
pub struct SqlLimits {
    /// Most rows a query may return. Default 10,000.
    pub max_rows: u64,
    /// Longest a query may run. Default 10 s.
    pub timeout: Duration,
    /// Most memory one analyst query may use (engine `max_memory_usage`). Default 512 MiB.
    pub max_memory_bytes: u64,
    /// Largest result one query may produce, uncompressed (engine `max_result_bytes`; the
    /// query fails rather than being cut). Default 32 MiB.
    pub max_result_bytes: u64,
    /// Threads one analyst query may use (engine `max_threads`). Default 1, so an analyst
    /// never takes both cores of a small host from ingestion.
    pub max_threads: u64,
    /// Analyst queries running or waiting at once, over all tokens; more get 429. Default 2.
    pub max_concurrent: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        SqlLimits {
            max_rows: 10_000,
            timeout: Duration::from_secs(10),
            max_memory_bytes: 512 << 20,
            max_result_bytes: 32 << 20,
            max_threads: 1,
            max_concurrent: 2,
        }
    }
}

impl fmt::Debug for Config {
    // Hand-written so that secrets never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("clickhouse_url", &self.clickhouse.url)
            .field("clickhouse_database", &self.clickhouse.database)
            .field("clickhouse_cluster", &self.clickhouse.cluster)
            .field("libchdb", &self.libchdb)
            .field("geoip_db", &self.geoip_db)
            .field("org_db", &self.org_db)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("sites", &self.sites)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("rate_limit", &self.rate_limit)
            .finish_non_exhaustive()
    }
}

/// A configuration error: the setting as the user wrote it, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    pub setting: String,
    pub problem: String,
}

/// Where a raw value came from, so an error can name it the way the user wrote it.
#[derive(Clone, Debug)]
enum Origin {
    File { path: PathBuf, key: String },
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, key } => write!(f, "{key} (in {})", path.display()),
            Origin::Env(name) => f.write_str(name),
            Origin::Flag(name) => write!(f, "--{name}"),
        }
    }
}

/// One setting in its three spellings: dotted key in the file, environment variable, flag.
struct Setting {
    key: &'static str,
    env: &'static str,
    flag: &'static str,
}

macro_rules! settings {
    ($($ident:ident => $key:literal, $env:literal, $flag:literal;)*) => {
        $(const $ident: Setting = Setting { key: $key, env: $env, flag: $flag };)*
        /// Every setting, for `--help` style listings and unknown-key checks.
        const ALL: &[Setting] = &[$($ident),*];
    };
}

settings! {
    LISTEN => "listen", "CANDOR_LISTEN", "listen";
    DATA_DIR => "data_dir", "CANDOR_DATA_DIR", "data-dir";
    CH_URL => "clickhouse.url", "CANDOR_CLICKHOUSE_URL", "clickhouse-url";
    CH_USER => "clickhouse.user", "CANDOR_CLICKHOUSE_USER", "clickhouse-user";
    CH_PASSWORD => "clickhouse.password", "CANDOR_CLICKHOUSE_PASSWORD", "clickhouse-password";
    CH_DATABASE => "clickhouse.database", "CANDOR_CLICKHOUSE_DATABASE", "clickhouse-database";
    CH_CLUSTER => "clickhouse.cluster", "CANDOR_CLICKHOUSE_CLUSTER", "clickhouse-cluster";
    CH_ANALYST_USER => "clickhouse.analyst_user", "CANDOR_CLICKHOUSE_ANALYST_USER", "clickhouse-analyst-user";
    CH_ANALYST_PASSWORD => "clickhouse.analyst_password", "CANDOR_CLICKHOUSE_ANALYST_PASSWORD", "clickhouse-analyst-password";
    LIBCHDB => "libchdb", "CANDOR_LIBCHDB", "libchdb";
    GEOIP_DB => "geoip_db", "CANDOR_GEOIP_DB", "geoip-db";
    ORG_DB => "org_db", "CANDOR_ORG_DB", "org-db";
    ADMIN_TOKEN => "admin_token", "CANDOR_ADMIN_TOKEN", "admin-token";
    SITES => "sites", "CANDOR_SITES", "sites";
    TRUSTED_PROXIES => "trusted_proxies", "CANDOR_TRUSTED_PROXIES", "trusted-proxies";
    RATE_LIMIT => "rate_limit", "CANDOR_RATE_LIMIT", "rate-limit";
    PII_KEY => "pii_key", "CANDOR_PII_KEY", "pii-key";
    SQL_MAX_ROWS => "sql.max_rows", "CANDOR_SQL_MAX_ROWS", "sql-max-rows";
    SQL_TIMEOUT => "sql.timeout_seconds", "CANDOR_SQL_TIMEOUT_SECONDS", "sql-timeout-seconds";
    SQL_MAX_MEMORY => "sql.max_memory_mb", "CANDOR_SQL_MAX_MEMORY_MB", "sql-max-memory-mb";
    SQL_MAX_RESULT => "sql.max_result_mb", "CANDOR_SQL_MAX_RESULT_MB", "sql-max-result-mb";
    SQL_MAX_THREADS => "sql.max_threads", "CANDOR_SQL_MAX_THREADS", "sql-max-threads";
    SQL_MAX_CONCURRENT => "sql.max_concurrent", "CANDOR_SQL_MAX_CONCURRENT", "sql-max-concurrent";
    MAX_EVENT_BYTES => "max_event_bytes", "CANDOR_MAX_EVENT_BYTES", "max-event-bytes";
    SITE_RATE_LIMIT => "site_rate_limit", "CANDOR_SITE_RATE_LIMIT", "site-rate-limit";
    SPOOL_MAX_BYTES => "spool.max_bytes", "CANDOR_SPOOL_MAX_BYTES", "spool-max-bytes";
    BATCH_ROWS => "spool.batch_rows", "CANDOR_BATCH_ROWS", "batch-rows";
    BATCH_INTERVAL => "spool.batch_interval_ms", "CANDOR_BATCH_INTERVAL_MS", "batch-interval-ms";
    SECURE_COOKIES => "secure_cookies", "CANDOR_SECURE_COOKIES", "secure-cookies";
}

/// Raw values from the three layers, before validation.
#[derive(Default)]
pub struct Layers {
    file: Option<(PathBuf, HashMap<String, String>)>,
    env: HashMap<String, String>,
    /// Flags by their long name (without `--`).
    flags: HashMap<String, String>,
}

impl Layers {
    /// Reads the file (when given) and the process environment.
    pub fn load(config_file: Option<&Path>) -> Result<Layers, ConfigError> {
        let file = match config_file {
            Some(path) => Some((path.to_path_buf(), read_file(path)?)),
            None => None,
        };
        let env = std::env::vars()
            .filter(|(k, _)| k.starts_with("CANDOR_"))
            .collect();
        Ok(Layers {
            file,
            env,
            flags: HashMap::new(),
        })
    }

    /// Layers from explicit values, for tests and embedding.
    pub fn from_env_pairs<I, K, V>(pairs: I) -> Layers
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Layers {
            env: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..Layers::default()
        }
    }

    /// Adds a command-line flag value (long name without `--`).
    pub fn flag(&mut self, name: &str, value: Option<String>) {
        if let Some(v) = value {
            self.flags.insert(name.to_string(), v);
        }
    }

    fn get(&self, s: &Setting) -> Option<(String, Origin)> {
        if let Some(v) = self.flags.get(s.flag) {
            return Some((v.clone(), Origin::Flag(s.flag)));
        }
        if let Some(v) = self.env.get(s.env) {
            return Some((v.clone(), Origin::Env(s.env)));
        }
        let (path, values) = self.file.as_ref()?;
        values.get(s.key).map(|v| {
            (
                v.clone(),
                Origin::File {
                    path: path.clone(),
                    key: s.key.to_string(),
                },
            )
        })
    }
}

fn read_file(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let err = |problem: String| ConfigError {
        setting: format!("--config {}", path.display()),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| err(e.to_string()))?;
    let mut out = HashMap::new();
    flatten("", &table, &mut out).map_err(err)?;
    if let Some(unknown) = out
        .keys()
        .find(|k| !ALL.iter().any(|s| s.key == k.as_str()))
    {
        return Err(err(format!("unknown setting \"{unknown}\"")));
    }
    Ok(out)
}

/// Flattens TOML tables into dotted keys and values into the same text the env var would hold.
fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut HashMap<String, String>,
) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        let text = match v {
            toml::Value::Table(t) => {
                flatten(&key, t, out)?;
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(format!("{key}: expected a list of strings, found {other}")),
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            toml::Value::Datetime(d) => d.to_string(),
        };
        out.insert(key, text);
    }
    Ok(())
}

impl Config {
    /// Validates every setting. The first bad one is returned, named as the user wrote it.
    pub fn from_layers(layers: &Layers) -> Result<Config, ConfigError> {
        let p = Parser { layers };
        let data_dir = p
            .value(&DATA_DIR, |s| non_empty(s).map(PathBuf::from))?
            .unwrap_or_else(|| PathBuf::from("./data"));
        let clickhouse = ClickHouseConfig {
            url: p.value(&CH_URL, parse_http_url)?,
            user: p
                .value(&CH_USER, non_empty)?
                .unwrap_or_else(|| "default".into()),
            password: p
                .value(&CH_PASSWORD, |s| Ok(s.to_string()))?
                .unwrap_or_default(),
            database: p
                .value(&CH_DATABASE, parse_identifier)?
                .unwrap_or_else(|| "default".into()),
            cluster: p.value(&CH_CLUSTER, parse_identifier)?,
            analyst_user: p.value(&CH_ANALYST_USER, non_empty)?,
            analyst_password: p
                .value(&CH_ANALYST_PASSWORD, |s| Ok(s.to_string()))?
                .unwrap_or_default(),
        };
        Ok(Config {
            listen: p
                .value(&LISTEN, |s| {
                    s.parse::<SocketAddr>()
                        .map_err(|_| format!("invalid socket address \"{s}\""))
                })?
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            libchdb: p
                .value(&LIBCHDB, |s| non_empty(s).map(PathBuf::from))?
                .unwrap_or_else(default_libchdb_path),
            geoip_db: p.value(&GEOIP_DB, existing_file)?,
            org_db: p.value(&ORG_DB, existing_file)?,
            admin_token: p.value(&ADMIN_TOKEN, |s| {
                if s.chars().count() < 32 {
                    Err(format!(
                        "must be at least 32 characters, got {}",
                        s.chars().count()
                    ))
                } else {
                    Ok(s.to_string())
                }
            })?,
            sites: p
                .value(&SITES, |s| {
                    list(s, |d| SiteDomain::parse(d).map_err(|e| e.to_string()))
                })?
                .unwrap_or_default(),
            trusted_proxies: p
                .value(&TRUSTED_PROXIES, |s| list(s, parse_cidr))?
                .unwrap_or_default(),
            rate_limit: p
                .value(&RATE_LIMIT, |s| {
                    s.parse::<u32>().map_err(|_| {
                        format!("expected requests per minute (0 disables), got \"{s}\"")
                    })
                })?
                .unwrap_or(600),
            pii_key: p.value(&PII_KEY, parse_pii_key)?,
            sql: SqlLimits {
                max_rows: p
                    .value(&SQL_MAX_ROWS, positive::<u64>)?
                    .unwrap_or(SqlLimits::default().max_rows),
                timeout: p
                    .value(&SQL_TIMEOUT, |s| {
                        positive::<u64>(s).map(Duration::from_secs)
                    })?
                    .unwrap_or(SqlLimits::default().timeout),
                max_memory_bytes: p
                    .value(&SQL_MAX_MEMORY, positive::<u64>)?
                    .map(|mb| mb << 20)
                    .unwrap_or(SqlLimits::default().max_memory_bytes),
                max_result_bytes: p
                    .value(&SQL_MAX_RESULT, positive::<u64>)?
                    .map(|mb| mb << 20)
                    .unwrap_or(SqlLimits::default().max_result_bytes),
                max_threads: p
                    .value(&SQL_MAX_THREADS, positive::<u64>)?
                    .unwrap_or(SqlLimits::default().max_threads),
                max_concurrent: p
                    .value(&SQL_MAX_CONCURRENT, positive::<usize>)?
                    .unwrap_or(SqlLimits::default().max_concurrent),
            },
            max_event_bytes: p
                .value(&MAX_EVENT_BYTES, positive::<usize>)?
                .unwrap_or(8 * 1024),
            site_rate_limit: p
                .value(&SITE_RATE_LIMIT, |s| {
                    s.parse::<u32>().map_err(|_| {
                        format!("expected beacons per minute (0 disables), got \"{s}\"")
                    })
                })?
                .unwrap_or(60_000),
            spool: SpoolSettings {
                max_bytes: p
                    .value(&SPOOL_MAX_BYTES, positive::<u64>)?
                    .unwrap_or(SpoolSettings::default().max_bytes),
                batch_rows: p
                    .value(&BATCH_ROWS, positive::<usize>)?
                    .unwrap_or(SpoolSettings::default().batch_rows),
                batch_interval: p
                    .value(&BATCH_INTERVAL, |s| {
                        positive::<u64>(s).map(Duration::from_millis)
                    })?
                    .unwrap_or(SpoolSettings::default().batch_interval),
            },
            secure_cookies: p.value(&SECURE_COOKIES, parse_bool)?.unwrap_or(false),
            data_dir,
            clickhouse,
        })
    }

    /// Whether the embedded chDB engine is used (no ClickHouse server configured).
    pub fn embedded(&self) -> bool {
        self.clickhouse.url.is_none()
    }
}

struct Parser<'a> {
    layers: &'a Layers,
}

impl Parser<'_> {
    fn value<T>(
        &self,
        setting: &Setting,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some((raw, origin)) = self.layers.get(setting) else {
            return Ok(None);
        };
        parse(raw.trim()).map(Some).map_err(|problem| ConfigError {
            setting: origin.to_string(),
            problem,
        })
    }
}

/// Where `make libchdb` puts the library, relative to the working directory.
pub fn default_libchdb_path() -> PathBuf {
    PathBuf::from(format!(".cache/libchdb/{LIBCHDB_VERSION}/libchdb.so"))
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_string())
    }
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(s: &str) -> Result<T, String> {
    match s.parse::<T>() {
        Ok(v) if v > T::default() => Ok(v),
        _ => Err(format!("expected a positive integer, got \"{s}\"")),
    }
}

fn list<T>(s: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(item)
        .collect()
}

fn parse_http_url(s: &str) -> Result<String, String> {
    let ok = (s.starts_with("http://") || s.starts_with("https://"))
        && s.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(s.trim_end_matches('/').to_string())
    } else {
        Err(format!("expected an http:// or https:// URL, got \"{s}\""))
    }
}

fn parse_identifier(s: &str) -> Result<String, String> {
    let valid = !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(s.to_string())
    } else {
        Err(format!(
            "expected a name of letters, digits and _, got \"{s}\""
        ))
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got \"{s}\"")),
    }
}

/// A network in CIDR notation, or a single address (`/32`, `/128`).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("invalid CIDR \"{s}\""))
}

fn existing_file(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("no such file \"{s}\""))
    }
}

fn parse_pii_key(s: &str) -> Result<String, String> {
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(bytes) if bytes.len() == 32 => Ok(s.to_string()),
        _ => Err("expected the base64 encoding of exactly 32 bytes".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_layers(&Layers::from_env_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_listen_on_loopback_8080_with_data_dir() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(c.embedded());
        assert_eq!(c.rate_limit, 600);
    }

    #[test]
    fn bad_listen_names_the_env_var() {
        let err = config(&[("CANDOR_LISTEN", "x")]).err().unwrap();
        assert_eq!(
            err.to_string(),
            "CANDOR_LISTEN: invalid socket address \"x\""
        );
    }

    #[test]
    fn flags_override_env_and_env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("candor.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\nrate_limit = 5\n[clickhouse]\ndatabase = \"from_file\"\n",
        )
        .unwrap();
        let mut layers = Layers::load(Some(&file)).unwrap();
        layers
            .env
            .insert("CANDOR_LISTEN".into(), "127.0.0.1:2".into());
        layers.env.insert("CANDOR_RATE_LIMIT".into(), "7".into());
        layers.flag("listen", Some("127.0.0.1:3".into()));
        let c = Config::from_layers(&layers).unwrap();
        assert_eq!(c.listen.port(), 3);
        assert_eq!(c.rate_limit, 7);
        assert_eq!(c.clickhouse.database, "from_file");
    }

    #[test]
    fn bad_file_value_names_the_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[clickhouse]\nurl = \"ftp://x\"\n").unwrap();
        let layers = Layers {
            env: HashMap::new(),
            ..Layers::load(Some(&file)).unwrap()
        };
        let err = Config::from_layers(&layers).err().unwrap().to_string();
        assert!(err.starts_with("clickhouse.url (in "), "{err}");
        assert!(err.contains("http://"), "{err}");
    }

    #[test]
    fn unknown_file_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let err = Layers::load(Some(&file)).err().unwrap().to_string();
        assert!(err.contains("unknown setting \"lisen\""), "{err}");
    }

    #[test]
    fn short_admin_token_and_bad_lists_are_rejected() {
        let err = config(&[("CANDOR_ADMIN_TOKEN", "short")]).err().unwrap();
        assert_eq!(err.setting, "CANDOR_ADMIN_TOKEN");
        let err = config(&[("CANDOR_TRUSTED_PROXIES", "10.0.0.0/8, nonsense")])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "CANDOR_TRUSTED_PROXIES: invalid CIDR \"nonsense\""
        );
        let err = config(&[("CANDOR_SITES", "ok.com,http://bad")])
            .err()
            .unwrap();
        assert_eq!(err.setting, "CANDOR_SITES");
        let err = config(&[("CANDOR_RATE_LIMIT", "-1")]).err().unwrap();
        assert_eq!(err.setting, "CANDOR_RATE_LIMIT");
    }

    #[test]
    fn lists_and_cidrs_parse() {
        let c = config(&[
            ("CANDOR_SITES", "example.com, Shop.Example.org"),
            ("CANDOR_TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.1"),
            ("CANDOR_RATE_LIMIT", "0"),
        ])
        .unwrap();
        assert_eq!(c.sites.len(), 2);
        assert_eq!(c.sites[1].as_str(), "shop.example.org");
        assert_eq!(c.trusted_proxies[1].to_string(), "192.0.2.1/32");
        assert_eq!(c.rate_limit, 0);
    }
}
