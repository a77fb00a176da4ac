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

use crate::site_domain::SiteDomain;

/// The pinned libchdb version fetched by `make libchdb` (see `deploy/fetch-libchdb.sh`).
pub const LIBCHDB_VERSION: &str = "26.7.3-stable.1";

#[derive(Clone)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Directory for the embedded store, the spool and generated keys.
    pub data_dir: PathBuf,
    pub clickhouse: ClickHouseConfig,
    /// Path of libchdb.so for the embedded engine.
    pub libchdb: PathBuf,
    /// GeoIP (country/region/city) `.mmdb` databases, asked in order; the fetched DB-IP City
    /// Lite by default when present; empty: none.
    pub geoip_db: Vec<PathBuf>,
    /// Organisation (ASN/ISP) databases (`.mmdb`, or ip-location-db ASN `.csv`); the fetched
    /// ASN lists by default when present; empty: none.
    pub org_db: Vec<PathBuf>,
    /// A static admin token (≥ 32 characters); without one, a token is generated at first start.
    pub admin_token: Option<String>,
    /// Site domains registered at start.
    pub sites: Vec<SiteDomain>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Requests per minute per client; 0 turns rate limiting off.
    pub rate_limit: u32,
    /// Base64 of the 32-byte server key; unset, one is generated in the data dir.
    pub pii_key: Option<String>,
    /// Limits of `POST /api/v1/sql`.
    pub sql: SqlLimits,
    /// Memory of the embedded engine: its caches and its total (a ClickHouse server keeps its
    /// own configuration).
    pub store_memory: EngineMemory,
    /// Largest accepted beacon body in bytes.
    pub max_event_bytes: usize,
    /// Beacons per minute per site; 0 turns the site limit off.
    pub site_rate_limit: u32,
    /// The write-ahead spool and the batcher that drains it.
    pub spool: SpoolSettings,
    /// Connection limits and timeouts of the HTTP server (slow clients, many connections).
    pub http: HttpSettings,
    /// Always mark the dashboard session cookie `Secure`. Set it when a TLS-terminating proxy
    /// that is not listed in `trusted_proxies` forwards plain HTTP. Off, `Secure` follows the
    /// listener's TLS or a trusted proxy's `X-Forwarded-Proto: https`.
    pub secure_cookies: bool,
    /// How people reach this collector: the base of links in mails (`https://stats.example.com`).
    pub public_url: String,
    /// The SMTP relay of the privacy center's mails; unset, the center sends none.
    pub smtp: Option<SmtpConfig>,
}

/// The SMTP relay (`smtp.*` settings), validated at start.
#[derive(Clone, PartialEq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `address` or `Name <address>`.
    pub from: String,
    /// An extra certificate authority (PEM) for relays with a private CA.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for SmtpConfig {
    // Never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("from", &self.from)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SmtpTls {
    /// `smtps://`: TLS from the first byte.
    Wrapper,
    /// `smtp://…?tls=required`: STARTTLS or nothing.
    Required,
    /// `smtp://`: STARTTLS when the server offers it.
    Opportunistic,
    /// `smtp://…?tls=none`: plain (a local relay).
    None,
}

#[derive(Clone, Copy, Debug)]
pub struct SpoolSettings {
    /// Beacons get 503 once the spool holds this many bytes (store down).
    pub max_bytes: u64,
    /// Rows per insert.
    pub batch_rows: usize,
    /// How long events wait in the spool before a batch is cut.
    pub batch_interval: Duration,
}

#[derive(Clone, Copy, Debug)]
pub struct HttpSettings {
    /// Time a new connection has to send its first request's head (actix-web's
    /// `client_request_timeout`); a slower one gets 408 and is closed.
    pub request_timeout: Duration,
    /// Time a beacon's body may take to arrive once its head is in; a slower one gets 408.
    pub body_timeout: Duration,
    /// How long an idle kept-alive connection stays open; zero: closed after each response.
    pub keep_alive: Duration,
    /// Most open connections, over all worker threads; more wait in the listen queue.
    pub max_connections: usize,
}

impl Default for SpoolSettings {
    /// The built-in defaults of the settings table (`ALL`).
    fn default() -> Self {
        Config::built_in().spool
    }
}

#[derive(Clone, Debug, Default)]
pub struct ClickHouseConfig {
    /// `http(s)://host:8123` of a ClickHouse server; unset → embedded chDB.
    pub url: Option<String>,
    pub user: String,
    pub password: String,
    pub database: String,
    /// Cluster name: migrations emit `ON CLUSTER`, Replicated engines and Distributed tables.
    pub cluster: Option<String>,
    /// A ClickHouse user for analysts' `/api/v1/sql` queries, granted `SELECT` on the analyst
    /// database only (README, "Ad-hoc SQL"). Unset, analysts' queries run as the main user,
    /// still behind the allow-list and limits.
    pub analyst_user: Option<String>,
    /// Password of `analyst_user`.
    pub analyst_password: String,
}

#[derive(Clone, Copy, Debug)]
pub struct SqlLimits {
    /// Most rows a query may return.
    pub max_rows: u64,
    /// Longest a query may run.
    pub timeout: Duration,
    /// Most memory one analyst query may use (engine `max_memory_usage`).
    pub max_memory_bytes: u64,
    /// Largest result one query may produce, uncompressed (engine `max_result_bytes`; the
    /// query fails rather than being cut).
    pub max_result_bytes: u64,
    /// Threads one analyst query may use (engine `max_threads`). One by default, so an
    /// analyst never takes both cores of a small host from ingestion.
    pub max_threads: u64,
    /// Analyst queries running or waiting at once, over all tokens; more get 429.
    pub max_concurrent: usize,
}

/// The embedded engine's memory bound (`store.memory_mb`), given to chDB as server
/// settings when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineMemory {
    pub total_bytes: u64,
}

impl EngineMemory {
    /// The engine's cache sizes for this bound, as fixed shares of it: marks an eighth,
    /// primary indexes and skip-index marks a sixteenth each, the query condition cache a
    /// sixty-fourth, no uncompressed-block cache. (The engine's own total,
    /// `max_server_memory_usage`, is left alone: set, it slowed every report by about half in
    /// chDB 26.7 without lowering the process's size; see docs/benchmarks.md.)
    ///
    /// The engine's thread pools are sized for a server of many cores, and every idle thread
    /// keeps its stack and its allocator's cache: removing merged parts started up to 128
    /// threads at once after a few minutes of steady ingest, and the global pool kept them
    /// all (it keeps up to 1,000 idle). Parts are removed by at most `PARTS_CLEANING_THREADS`
    /// threads and at most `IDLE_THREADS` idle ones are kept.
    pub fn server_settings(&self) -> Vec<(String, String)> {
        let total = self.total_bytes;
        settings(&[
            ("mark_cache_size", total / 8),
            ("primary_index_cache_size", total / 16),
            ("index_mark_cache_size", total / 16),
            ("uncompressed_cache_size", 0),
            ("query_condition_cache_size", total / 64),
            (
                "max_parts_cleaning_thread_pool_size",
                PARTS_CLEANING_THREADS,
            ),
            ("max_thread_pool_free_size", IDLE_THREADS),
        ])
    }

    /// Query settings of Candor's own connection: one statement may use the whole bound, and
    /// its aggregations and sorts spill to disk past half of it instead of failing.
    pub fn query_settings(&self) -> Vec<(String, String)> {
        settings(&[
            ("max_memory_usage", self.total_bytes),
            ("max_bytes_before_external_group_by", self.total_bytes / 2),
            ("max_bytes_before_external_sort", self.total_bytes / 2),
        ])
    }
}

/// Threads the embedded engine may use to remove merged parts (its default is 128).
const PARTS_CLEANING_THREADS: u64 = 8;
/// Idle threads the embedded engine's global pool keeps for reuse (its default is 1,000).
const IDLE_THREADS: u64 = 32;

fn settings(pairs: &[(&str, u64)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Default for EngineMemory {
    /// The built-in default of `store.memory_mb`.
    fn default() -> Self {
        Config::built_in().store_memory
    }
}

impl Default for SqlLimits {
    /// The built-in defaults of the settings table (`ALL`).
    fn default() -> Self {
        Config::built_in().sql
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

/// One setting: its three spellings (dotted key in the file, environment variable, flag), its
/// built-in default (`None`: unset) and what it means. The table below is the only place a
/// setting is declared: parsing takes defaults from it, `candor serve` has one flag per entry
/// with the help from `flag_help` (`cli::SettingFlags`), and a test checks that the README's
/// settings table is generated from it.
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    /// The long flag of `candor serve`, without `--`.
    pub flag: &'static str,
    /// What the flag's value is called in help (`--listen <ADDR>`); `BOOL` flags may be given
    /// without a value, meaning `true`.
    pub value_name: &'static str,
    /// The value used when no layer sets it, in the same text a user would write; parsed by
    /// the same function as a user's value. `None`: unset.
    pub default: Option<&'static str>,
    /// How the default reads in help and the README, when it is not a plain value.
    pub default_note: Option<&'static str>,
    pub help: &'static str,
    /// A secret: accepted as a flag, but its help says to prefer the variable or the file,
    /// because other users of the host see a process's arguments.
    pub secret: bool,
}

/// One line per setting: `IDENT => key, variable, flag <VALUE>, default, default note, help`,
/// and `, secret` after the help of a secret.
macro_rules! settings {
    (@secret) => { false };
    (@secret secret) => { true };
    ($($ident:ident => $key:literal, $env:literal, $flag:literal <$value:ident>, $default:expr, $note:expr, $help:literal $(, $secret:ident)?;)*) => {
        $(const $ident: Setting = Setting {
            key: $key, env: $env, flag: $flag, value_name: stringify!($value), default: $default,
            default_note: $note, help: $help, secret: settings!(@secret $($secret)?),
        };)*
        /// Every setting, in the order the README lists them.
        pub const ALL: &[Setting] = &[$($ident),*];
    };
}

settings! {
    LISTEN => "listen", "CANDOR_LISTEN", "listen" <ADDR>, Some("127.0.0.1:8080"), None,
        "address to listen on";
    DATA_DIR => "data_dir", "CANDOR_DATA_DIR", "data-dir" <DIR>, Some("./data"), None,
        "embedded store, spool, generated keys (created 0700)";
    CH_URL => "clickhouse.url", "CANDOR_CLICKHOUSE_URL", "clickhouse-url" <URL>, None, Some("unset → embedded chDB"),
        "ClickHouse server, `http(s)://host:8123`";
    CH_USER => "clickhouse.user", "CANDOR_CLICKHOUSE_USER", "clickhouse-user" <USER>, Some("default"), None,
        "ClickHouse user";
    CH_PASSWORD => "clickhouse.password", "CANDOR_CLICKHOUSE_PASSWORD", "clickhouse-password" <PASSWORD>, Some(""), Some("empty"),
        "ClickHouse password", secret;
    CH_DATABASE => "clickhouse.database", "CANDOR_CLICKHOUSE_DATABASE", "clickhouse-database" <NAME>, Some("default"), None,
        "ClickHouse database (analysts' views go in `<database>_analyst`)";
    CH_CLUSTER => "clickhouse.cluster", "CANDOR_CLICKHOUSE_CLUSTER", "clickhouse-cluster" <NAME>, None, None,
        "cluster name: `ON CLUSTER` DDL, Replicated + Distributed tables";
    CH_ANALYST_USER => "clickhouse.analyst_user", "CANDOR_CLICKHOUSE_ANALYST_USER", "clickhouse-analyst-user" <USER>, None, None,
        "a ClickHouse user that may only read the analyst database (see Ad-hoc SQL)";
    CH_ANALYST_PASSWORD => "clickhouse.analyst_password", "CANDOR_CLICKHOUSE_ANALYST_PASSWORD", "clickhouse-analyst-password" <PASSWORD>, Some(""), Some("empty"),
        "password of `clickhouse.analyst_user`", secret;
    LIBCHDB => "libchdb", "CANDOR_LIBCHDB", "libchdb" <PATH>, None, Some("`.cache/libchdb/<version>/libchdb.so`"),
        "path of the embedded engine (`make libchdb`)";
    GEOIP_DB => "geoip_db", "CANDOR_GEOIP_DB", "geoip-db" <PATHS>, None, Some("DB-IP City Lite from `make geo`, if fetched"),
        "GeoIP `.mmdb` files, comma-separated (country, region, city); empty: none";
    ORG_DB => "org_db", "CANDOR_ORG_DB", "org-db" <PATHS>, None, Some("the ASN lists from `make geo`, if fetched"),
        "ASN/ISP `.mmdb` or ip-location-db ASN `.csv` files, comma-separated (visiting organisation); empty: none";
    ADMIN_TOKEN => "admin_token", "CANDOR_ADMIN_TOKEN", "admin-token" <TOKEN>, None, None,
        "static admin token, ≥ 32 characters", secret;
    SITES => "sites", "CANDOR_SITES", "sites" <DOMAINS>, Some(""), Some("none"),
        "comma-separated domains registered at start";
    TRUSTED_PROXIES => "trusted_proxies", "CANDOR_TRUSTED_PROXIES", "trusted-proxies" <CIDRS>, Some(""), Some("none"),
        "CIDRs whose `X-Forwarded-For` is believed";
    RATE_LIMIT => "rate_limit", "CANDOR_RATE_LIMIT", "rate-limit" <N>, Some("600"), None,
        "beacon requests per minute per client; `0` disables";
    PII_KEY => "pii_key", "CANDOR_PII_KEY", "pii-key" <BASE64>, None, Some("generated in the data dir"),
        "base64 of a 32-byte server key: seals lead details, salts, webhook bodies; shared by collectors of one store", secret;
    SQL_MAX_ROWS => "sql.max_rows", "CANDOR_SQL_MAX_ROWS", "sql-max-rows" <N>, Some("10000"), None,
        "most rows `/api/v1/sql` returns";
    SQL_TIMEOUT => "sql.timeout_seconds", "CANDOR_SQL_TIMEOUT_SECONDS", "sql-timeout-seconds" <SECONDS>, Some("10"), None,
        "longest an analyst query runs";
    SQL_MAX_MEMORY => "sql.max_memory_mb", "CANDOR_SQL_MAX_MEMORY_MB", "sql-max-memory-mb" <MB>, Some("512"), None,
        "most memory one analyst query may use";
    SQL_MAX_RESULT => "sql.max_result_mb", "CANDOR_SQL_MAX_RESULT_MB", "sql-max-result-mb" <MB>, Some("32"), None,
        "largest result (uncompressed) one analyst query may produce";
    SQL_MAX_THREADS => "sql.max_threads", "CANDOR_SQL_MAX_THREADS", "sql-max-threads" <N>, Some("1"), None,
        "threads one analyst query may use";
    SQL_MAX_CONCURRENT => "sql.max_concurrent", "CANDOR_SQL_MAX_CONCURRENT", "sql-max-concurrent" <N>, Some("2"), None,
        "analyst queries at once, over all tokens; more get 429";
    STORE_MEMORY => "store.memory_mb", "CANDOR_STORE_MEMORY_MB", "store-memory-mb" <MB>, Some("1024"), None,
        "embedded engine only: most memory one of Candor's own statements may use (aggregations and sorts spill to disk past half of it); the engine's caches are fixed shares of it (see Deployment)";
    MAX_EVENT_BYTES => "max_event_bytes", "CANDOR_MAX_EVENT_BYTES", "max-event-bytes" <BYTES>, Some("8192"), None,
        "largest beacon body";
    SITE_RATE_LIMIT => "site_rate_limit", "CANDOR_SITE_RATE_LIMIT", "site-rate-limit" <N>, Some("60000"), None,
        "beacons per minute per site; `0` disables";
    SPOOL_MAX_BYTES => "spool.max_bytes", "CANDOR_SPOOL_MAX_BYTES", "spool-max-bytes" <BYTES>, Some("1073741824"), None,
        "spool size at which beacons get 503 (store down)";
    BATCH_ROWS => "spool.batch_rows", "CANDOR_BATCH_ROWS", "batch-rows" <N>, Some("50000"), None,
        "rows per insert into the store at most (a spool segment also closes at 8 MiB or after `batch_interval_ms`)";
    BATCH_INTERVAL => "spool.batch_interval_ms", "CANDOR_BATCH_INTERVAL_MS", "batch-interval-ms" <MS>, Some("1000"), None,
        "how long events wait in the spool before a batch is cut";
    HTTP_REQUEST_TIMEOUT => "http.request_timeout_ms", "CANDOR_HTTP_REQUEST_TIMEOUT_MS", "http-request-timeout-ms" <MS>, Some("5000"), None,
        "time a new connection has to send its first request's headers; slower: 408, closed";
    HTTP_BODY_TIMEOUT => "http.body_timeout_ms", "CANDOR_HTTP_BODY_TIMEOUT_MS", "http-body-timeout-ms" <MS>, Some("5000"), None,
        "time a beacon's body may take to arrive; slower: 408, closed";
    HTTP_KEEP_ALIVE => "http.keep_alive_seconds", "CANDOR_HTTP_KEEP_ALIVE_SECONDS", "http-keep-alive-seconds" <SECONDS>, Some("5"), None,
        "how long an idle connection is kept open for the next request; `0`: closed after each response";
    HTTP_MAX_CONNECTIONS => "http.max_connections", "CANDOR_HTTP_MAX_CONNECTIONS", "http-max-connections" <N>, Some("25000"), None,
        "most open connections (more wait in the listen queue); the open-files limit is raised to fit at start";
    SECURE_COOKIES => "secure_cookies", "CANDOR_SECURE_COOKIES", "secure-cookies" <BOOL>, Some("false"), None,
        "always mark the dashboard cookie `Secure` (TLS ends at a proxy not in `trusted_proxies`)";
    PUBLIC_URL => "public_url", "CANDOR_PUBLIC_URL", "public-url" <URL>, None, Some("`http://` + `listen`"),
        "how people reach this collector: the base of links in the privacy center's mails";
    SMTP_URL => "smtp.url", "CANDOR_SMTP_URL", "smtp-url" <URL>, None, Some("unset → no mail"),
        "SMTP relay of the privacy center: `smtp://host:port` (STARTTLS when offered; `?tls=required`, `?tls=none`) or `smtps://host:port`", secret;
    SMTP_FROM => "smtp.from", "CANDOR_SMTP_FROM", "smtp-from" <ADDRESS>, None, None,
        "sender of the privacy center's mails, `address` or `Name <address>` (required with `smtp.url`)";
    SMTP_USERNAME => "smtp.username", "CANDOR_SMTP_USERNAME", "smtp-username" <USER>, None, Some("the URL's user, if any"),
        "SMTP user";
    SMTP_PASSWORD => "smtp.password", "CANDOR_SMTP_PASSWORD", "smtp-password" <PASSWORD>, None, Some("the URL's password, if any"),
        "SMTP password", secret;
    SMTP_CA_FILE => "smtp.ca_file", "CANDOR_SMTP_CA_FILE", "smtp-ca-file" <PATH>, None, Some("the system's roots"),
        "an extra certificate authority (PEM) the relay's certificate may chain to";
}

/// How a setting's default reads for people.
fn default_text(s: &Setting) -> String {
    match (s.default_note, s.default) {
        (Some(note), _) => note.to_string(),
        (None, Some(v)) => format!("`{v}`"),
        (None, None) => "unset".to_string(),
    }
}

/// The README's settings table, generated from `ALL` (a test keeps the README in step).
pub fn settings_markdown() -> String {
    let mut out = String::from(
        "| setting (file key) | environment | flag of `candor serve` | default | meaning |\n|---|---|---|---|---|\n",
    );
    for s in ALL {
        out.push_str(&format!(
            "| `{}` | `{}` | `--{}` | {} | {} |\n",
            s.key,
            s.env,
            s.flag,
            default_text(s),
            s.help
        ));
    }
    out
}

impl Setting {
    /// Whether the flag may be given without a value (meaning `true`).
    pub fn is_bool(&self) -> bool {
        self.value_name == "BOOL"
    }

    /// The help of the setting's `candor serve` flag: what it means, its file key, variable and
    /// default, and for a secret where it is better given.
    pub fn flag_help(&self) -> String {
        let mut out = format!(
            "{} [key: {}, env: {}, default: {}]",
            self.help.replace('`', ""),
            self.key,
            self.env,
            default_text(self).replace('`', "")
        );
        if self.secret {
            out.push_str(&format!(
                " Prefer {} or the config file: other users of the host can see a flag in the process list.",
                self.env
            ));
        }
        out
    }
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
    /// Whether locations come from the DB-IP City Lite `make geo` fetched (its licence asks
    /// for credit where they are shown).
    pub fn geoip_is_default(&self) -> bool {
        only_defaults(&self.geoip_db, default_geoip_paths())
    }

    /// Whether organisations come from the ASN lists `make geo` fetched.
    pub fn org_db_is_default(&self) -> bool {
        only_defaults(&self.org_db, default_org_paths())
    }

    /// Validates every setting. The first bad one is returned, named as the user wrote it.
    pub fn from_layers(layers: &Layers) -> Result<Config, ConfigError> {
        let p = Parser { layers };
        let data_dir = p.or_default(&DATA_DIR, |s| non_empty(s).map(PathBuf::from))?;
        let clickhouse = ClickHouseConfig {
            url: p.value(&CH_URL, parse_http_url)?,
            user: p.or_default(&CH_USER, non_empty)?,
            password: p.or_default(&CH_PASSWORD, |s| Ok(s.to_string()))?,
            database: p.or_default(&CH_DATABASE, parse_identifier)?,
            cluster: p.value(&CH_CLUSTER, parse_identifier)?,
            analyst_user: p.value(&CH_ANALYST_USER, non_empty)?,
            analyst_password: p.or_default(&CH_ANALYST_PASSWORD, |s| Ok(s.to_string()))?,
        };
        let listen = p.or_default(&LISTEN, |s| {
            s.parse::<SocketAddr>()
                .map_err(|_| format!("invalid socket address \"{s}\""))
        })?;
        Ok(Config {
            listen,
            libchdb: p
                .value(&LIBCHDB, |s| non_empty(s).map(PathBuf::from))?
                .unwrap_or_else(default_libchdb_path),
            geoip_db: p
                .value(&GEOIP_DB, |s| list(s, existing_file))?
                .unwrap_or_else(|| existing(default_geoip_paths())),
            org_db: p
                .value(&ORG_DB, |s| list(s, existing_file))?
                .unwrap_or_else(|| existing(default_org_paths())),
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
            sites: p.or_default(&SITES, |s| {
                list(s, |d| SiteDomain::parse(d).map_err(|e| e.to_string()))
            })?,
            trusted_proxies: p.or_default(&TRUSTED_PROXIES, |s| list(s, parse_cidr))?,
            rate_limit: p.or_default(&RATE_LIMIT, |s| {
                s.parse::<u32>()
                    .map_err(|_| format!("expected requests per minute (0 disables), got \"{s}\""))
            })?,
            pii_key: p.value(&PII_KEY, parse_pii_key)?,
            sql: SqlLimits {
                max_rows: p.or_default(&SQL_MAX_ROWS, positive::<u64>)?,
                timeout: p.or_default(&SQL_TIMEOUT, |s| {
                    positive::<u64>(s).map(Duration::from_secs)
                })?,
                max_memory_bytes: p
                    .or_default(&SQL_MAX_MEMORY, |s| positive::<u64>(s).map(|mb| mb << 20))?,
                max_result_bytes: p
                    .or_default(&SQL_MAX_RESULT, |s| positive::<u64>(s).map(|mb| mb << 20))?,
                max_threads: p.or_default(&SQL_MAX_THREADS, positive::<u64>)?,
                max_concurrent: p.or_default(&SQL_MAX_CONCURRENT, positive::<usize>)?,
            },
            store_memory: EngineMemory {
                total_bytes: p.or_default(&STORE_MEMORY, |s| {
                    positive::<u64>(s).and_then(|mb| {
                        if mb < 64 {
                            Err(format!("expected at least 64 (MB), got \"{s}\""))
                        } else {
                            Ok(mb << 20)
                        }
                    })
                })?,
            },
            max_event_bytes: p.or_default(&MAX_EVENT_BYTES, positive::<usize>)?,
            site_rate_limit: p.or_default(&SITE_RATE_LIMIT, |s| {
                s.parse::<u32>()
                    .map_err(|_| format!("expected beacons per minute (0 disables), got \"{s}\""))
            })?,
            spool: SpoolSettings {
                max_bytes: p.or_default(&SPOOL_MAX_BYTES, positive::<u64>)?,
                batch_rows: p.or_default(&BATCH_ROWS, positive::<usize>)?,
                batch_interval: p.or_default(&BATCH_INTERVAL, |s| {
                    positive::<u64>(s).map(Duration::from_millis)
                })?,
            },
            http: HttpSettings {
                request_timeout: p.or_default(&HTTP_REQUEST_TIMEOUT, |s| {
                    positive::<u64>(s).map(Duration::from_millis)
                })?,
                body_timeout: p.or_default(&HTTP_BODY_TIMEOUT, |s| {
                    positive::<u64>(s).map(Duration::from_millis)
                })?,
                keep_alive: p.or_default(&HTTP_KEEP_ALIVE, |s| {
                    s.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                        format!("expected seconds (0 turns keep-alive off), got \"{s}\"")
                    })
                })?,
                max_connections: p.or_default(&HTTP_MAX_CONNECTIONS, positive::<usize>)?,
            },
            secure_cookies: p.or_default(&SECURE_COOKIES, parse_bool)?,
            public_url: p
                .value(&PUBLIC_URL, parse_http_url)?
                .unwrap_or_else(|| format!("http://{listen}")),
            smtp: smtp_config(&p)?,
            data_dir,
            clickhouse,
        })
    }

    /// Every setting at its built-in default.
    pub fn built_in() -> Config {
        Config::from_layers(&Layers::default()).expect("the built-in defaults are valid")
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

    /// The setting's value, or its built-in default from `ALL` read by the same `parse`.
    fn or_default<T>(
        &self,
        setting: &Setting,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        if let Some(v) = self.value(setting, &parse)? {
            return Ok(v);
        }
        let default = setting.default.unwrap_or("");
        parse(default).map_err(|problem| ConfigError {
            setting: format!("the built-in default of {}", setting.key),
            problem,
        })
    }
}

/// The `smtp.*` settings: none without `smtp.url`; with it, `smtp.from` is required.
fn smtp_config(p: &Parser<'_>) -> Result<Option<SmtpConfig>, ConfigError> {
    let Some((host, port, tls, url_user, url_password)) = p.value(&SMTP_URL, parse_smtp_url)?
    else {
        return Ok(None);
    };
    let from = p
        .value(&SMTP_FROM, parse_mailbox)?
        .ok_or_else(|| ConfigError {
            setting: SMTP_FROM.env.to_string(),
            problem: "required with smtp.url: the address mails are sent from".into(),
        })?;
    Ok(Some(SmtpConfig {
        host,
        port,
        tls,
        username: p.value(&SMTP_USERNAME, non_empty)?.or(url_user),
        password: p
            .value(&SMTP_PASSWORD, |s| Ok(s.to_string()))?
            .or(url_password),
        from,
        ca_file: p.value(&SMTP_CA_FILE, existing_file)?,
    }))
}

type SmtpUrl = (String, u16, SmtpTls, Option<String>, Option<String>);

fn parse_smtp_url(s: &str) -> Result<SmtpUrl, String> {
    let u = url::Url::parse(s)
        .map_err(|_| "expected smtp://host[:port] or smtps://host[:port]".to_string())?;
    let (default_port, mut tls) = match u.scheme() {
        "smtp" => (25, SmtpTls::Opportunistic),
        "smtps" => (465, SmtpTls::Wrapper),
        other => return Err(format!("expected smtp:// or smtps://, got \"{other}://\"")),
    };
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("no host: expected smtp://host[:port]")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    for (k, v) in u.query_pairs() {
        tls = match (k.as_ref(), v.as_ref(), tls) {
            ("tls", "required", SmtpTls::Opportunistic) => SmtpTls::Required,
            ("tls", "opportunistic", SmtpTls::Opportunistic) => SmtpTls::Opportunistic,
            ("tls", "none", SmtpTls::Opportunistic) => SmtpTls::None,
            ("tls", v, _) => {
                return Err(format!(
                    "tls={v}: smtp:// takes tls=required, opportunistic or none; smtps:// is always TLS"
                ))
            }
            (k, _, _) => return Err(format!("unknown parameter \"{k}\"")),
        };
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = Some(decode(u.username())).filter(|s| !s.is_empty());
    let password = u.password().map(decode);
    Ok((host, u.port().unwrap_or(default_port), tls, user, password))
}

/// `address` or `Name <address>`, on one line.
fn parse_mailbox(s: &str) -> Result<String, String> {
    let address = match s.rsplit_once('<') {
        Some((_, rest)) => rest.strip_suffix('>').unwrap_or(""),
        None => s,
    };
    let ok = !s.chars().any(char::is_control)
        && address
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'))
        && !address.contains(char::is_whitespace);
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "expected an address or Name <address>, got \"{s}\""
        ))
    }
}

/// Where `make libchdb` puts the library, relative to the working directory.
pub fn default_libchdb_path() -> PathBuf {
    PathBuf::from(format!(".cache/libchdb/{LIBCHDB_VERSION}/libchdb.so"))
}

/// The pinned DB-IP City Lite build fetched by `make geo` (`deploy/fetch-geo.sh`).
pub const GEO_CITY_VERSION: &str = "2.3.2026060513";
/// The pinned ASN lists fetched by `make geo`.
pub const GEO_ASN_VERSION: &str = "2.3.2026061719";

/// Where `make geo` puts DB-IP City Lite (relative to the working directory, like libchdb).
pub fn default_geoip_paths() -> Vec<PathBuf> {
    ["ipv4", "ipv6"]
        .map(|f| {
            PathBuf::from(format!(
                ".cache/geo/dbip-city-mmdb-{GEO_CITY_VERSION}/dbip-city-{f}.mmdb"
            ))
        })
        .to_vec()
}

/// Where `make geo` puts the ASN lists.
pub fn default_org_paths() -> Vec<PathBuf> {
    ["ipv4", "ipv6"]
        .map(|f| PathBuf::from(format!(".cache/geo/asn-{GEO_ASN_VERSION}/asn-{f}.csv")))
        .to_vec()
}

/// Some files are configured, all of them defaults.
fn only_defaults(paths: &[PathBuf], defaults: Vec<PathBuf>) -> bool {
    !paths.is_empty() && paths.iter().all(|p| defaults.contains(p))
}

/// The default files that are there (none when `make geo` has not run).
fn existing(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths.into_iter().filter(|p| p.is_file()).collect()
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

    #[test]
    fn the_readme_settings_table_is_generated_from_the_settings() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("README.md beside the crate");
        let start = readme
            .find("<!-- settings table:")
            .and_then(|a| readme[a..].find('\n').map(|n| a + n + 1))
            .expect("the settings table's start marker");
        let end = readme
            .find("<!-- end of settings table -->")
            .expect("its end marker");
        let want = settings_markdown();
        assert!(
            readme[start..end] == want,
            "README.md's settings table is out of date; replace it with:\n{want}"
        );
    }

    #[test]
    fn every_built_in_default_is_valid_and_the_defaults_agree() {
        let c = Config::built_in();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.sql.max_rows, 10_000);
        assert_eq!(c.sql.max_memory_bytes, 512 << 20);
        assert_eq!(c.spool.batch_interval, Duration::from_secs(1));
        assert_eq!(c.rate_limit, 600);
        assert!(!c.secure_cookies && c.sites.is_empty() && c.clickhouse.url.is_none());
        assert_eq!(c.http.request_timeout, Duration::from_secs(5));
        assert_eq!(c.http.keep_alive, Duration::from_secs(5));
        assert_eq!(c.http.max_connections, 25_000);
        // Every key, variable and flag is unique, and every variable is CANDOR_ + the key.
        let (mut keys, mut envs, mut flags) = (
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
        );
        for s in ALL {
            assert!(
                keys.insert(s.key) && envs.insert(s.env) && flags.insert(s.flag),
                "{}",
                s.key
            );
            assert!(s.env.starts_with("CANDOR_"), "{}", s.env);
            assert!(!s.help.is_empty(), "{} needs help text", s.key);
        }
        let pii = ALL.iter().find(|s| s.flag == "pii-key").unwrap();
        assert!(pii.secret && pii.flag_help().contains("Prefer CANDOR_PII_KEY"));
        assert!(SQL_MAX_ROWS
            .flag_help()
            .contains("env: CANDOR_SQL_MAX_ROWS, default: 10000"));
    }

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
        let err = config(&[("CANDOR_STORE_MEMORY_MB", "32")]).err().unwrap();
        assert_eq!(
            err.to_string(),
            "CANDOR_STORE_MEMORY_MB: expected at least 64 (MB), got \"32\""
        );
    }

    #[test]
    fn the_store_memory_bound_sizes_the_engine() {
        let m = config(&[("CANDOR_STORE_MEMORY_MB", "512")])
            .unwrap()
            .store_memory;
        let server: HashMap<String, String> = m.server_settings().into_iter().collect();
        assert_eq!(server["mark_cache_size"], (64u64 << 20).to_string());
        assert_eq!(
            server["primary_index_cache_size"],
            (32u64 << 20).to_string()
        );
        assert_eq!(server["uncompressed_cache_size"], "0");
        assert_eq!(server["max_thread_pool_free_size"], "32");
        assert!(!server.contains_key("max_server_memory_usage"));
        let query: HashMap<String, String> = m.query_settings().into_iter().collect();
        assert_eq!(query["max_memory_usage"], (512u64 << 20).to_string());
        assert_eq!(
            query["max_bytes_before_external_group_by"],
            (256u64 << 20).to_string()
        );
        assert_eq!(Config::built_in().store_memory.total_bytes, 1024 << 20);
    }

    #[test]
    fn the_default_geo_paths_are_what_make_geo_fetches() {
        let script = include_str!("../../deploy/fetch-geo.sh");
        assert!(script.contains(&format!(
            "CITY_VERSION=\"${{GEO_CITY_VERSION:-{GEO_CITY_VERSION}}}\""
        )));
        assert!(script.contains(&format!(
            "ASN_VERSION=\"${{GEO_ASN_VERSION:-{GEO_ASN_VERSION}}}\""
        )));
        for p in default_geoip_paths().iter().chain(&default_org_paths()) {
            let file = p.file_name().unwrap().to_str().unwrap();
            assert!(script.contains(file), "{file}");
        }
        // An explicitly empty setting turns a default off.
        let c = config(&[("CANDOR_GEOIP_DB", ""), ("CANDOR_ORG_DB", "")]).unwrap();
        assert!(c.geoip_db.is_empty() && c.org_db.is_empty());
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
