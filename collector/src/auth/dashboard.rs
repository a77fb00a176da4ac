//! Dashboard sign-in: with an API token that may read stats, or with a per-site dashboard
//! password set by an admin. Passwords are stored as PBKDF2-HMAC-SHA256 hashes (ring) with a
//! random salt. A signed-in browser holds a session cookie: a random session id, the
//! principal's reference and an expiry, signed with HMAC-SHA256 under a key derived from the
//! server key, so every collector sharing `CANDOR_PII_KEY` accepts it; revoking the token or
//! changing the password ends such sessions.
//!
//! Signing out ends the session server-side: the SHA-256 of its id goes into the store table
//! `dashboard_sessions_ended` (rows expire by TTL when the cookie would have) and into a
//! bounded in-memory set checked on every request. Other collectors sharing the store (and
//! this one after a restart) load the set on their periodic refresh, so a signed-out cookie
//! stops working everywhere within one refresh interval.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hmac, pbkdf2};
use serde::{Deserialize, Serialize};

use super::{Principal, Scope, Tokens};
use crate::clock;
use crate::store::{fetch, insert_rows, InsertOptions, Params, Store, StoreError};

pub const COOKIE: &str = "candor_dashboard";
/// How long a dashboard session lasts.
pub const SESSION_SECS: u32 = 7 * 24 * 3600;
const ITERATIONS: u32 = 100_000;
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Sign-in attempts per client address and minute (password guessing is slow, not free).
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 30;
/// Most client addresses the sign-in limiter tracks at once.
const LOGIN_CLIENTS: usize = 10_000;
/// Most ended sessions kept in memory. Only authentic, unexpired sessions are ever added, and
/// sign-ins are rate limited, so this is far above what a real deployment reaches in the
/// seven days a session lives; past it the entries closest to expiry go first.
const MAX_ENDED_SESSIONS: usize = 100_000;

#[derive(Serialize, Deserialize)]
struct PasswordRow {
    site: String,
    password_hash: String,
    deleted: u8,
    version: u64,
}

/// What the cookie carries (signed, not encrypted: nothing secret in it).
#[derive(Serialize, Deserialize)]
struct Claims {
    /// `t` token (`id` = token id) or `p` site password (`id` = site).
    k: String,
    id: String,
    /// Fingerprint of the password hash the session was opened with.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pw: String,
    /// Random session id (base64url of 16 bytes); signing out ends this id.
    #[serde(default)]
    sid: String,
    exp: u32,
}

#[derive(Serialize, Deserialize)]
struct EndedRow {
    id_hash: String,
    expires_at: u32,
}

pub struct Dashboard {
    store: Arc<dyn Store>,
    passwords: RwLock<BTreeMap<String, String>>,
    /// SHA-256 (hex) of ended session ids → when the session would have expired.
    ended: RwLock<HashMap<String, u32>>,
    login_limit: LoginLimiter,
    key: hmac::Key,
    rng: SystemRandom,
}

fn fingerprint(hash: &str) -> String {
    hex::encode(&super::sha256(hash)[..8])
}

impl Dashboard {
    pub async fn load(store: Arc<dyn Store>, key: hmac::Key) -> Result<Dashboard, StoreError> {
        let d = Dashboard {
            store,
            passwords: RwLock::new(BTreeMap::new()),
            ended: RwLock::new(HashMap::new()),
            login_limit: LoginLimiter::new(
                LOGIN_ATTEMPTS_PER_MINUTE,
                Duration::from_secs(60),
                LOGIN_CLIENTS,
            ),
            key,
            rng: SystemRandom::new(),
        };
        d.refresh().await?;
        Ok(d)
    }

    /// Reloads passwords and ended sessions (changes made through other collectors).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        self.refresh_passwords().await?;
        self.refresh_ended().await
    }

    async fn refresh_ended(&self) -> Result<(), StoreError> {
        let rows: Vec<EndedRow> = fetch(
            self.store.as_ref(),
            "SELECT id_hash, toUnixTimestamp(expires_at) AS expires_at
             FROM dashboard_sessions_ended WHERE expires_at > now()
             ORDER BY expires_at DESC LIMIT {limit:UInt32}",
            &Params::new().with("limit", MAX_ENDED_SESSIONS as u32),
        )
        .await?;
        let now = clock::unix_seconds();
        let mut ended = self.ended.write().unwrap_or_else(|e| e.into_inner());
        ended.retain(|_, exp| *exp >= now);
        for row in rows {
            remember_ended(&mut ended, row.id_hash, row.expires_at, now);
        }
        Ok(())
    }

    async fn refresh_passwords(&self) -> Result<(), StoreError> {
        let rows: Vec<PasswordRow> = fetch(
            self.store.as_ref(),
            "SELECT site, password_hash, deleted, version FROM dashboard_passwords FINAL WHERE deleted = 0",
            &Params::new(),
        )
        .await?;
        *self.passwords.write().unwrap_or_else(|e| e.into_inner()) = rows
            .into_iter()
            .map(|r| (r.site, r.password_hash))
            .collect();
        Ok(())
    }

    pub fn has_password(&self, site: &str) -> bool {
        self.passwords
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(site)
    }

    /// Sets (or with `None` removes) a site's dashboard password.
    pub async fn set_password(&self, site: &str, password: Option<&str>) -> Result<(), StoreError> {
        let hash = match password {
            Some(p) => {
                let mut salt = [0u8; 16];
                self.rng
                    .fill(&mut salt)
                    .map_err(|_| StoreError::Library("no random source".into()))?;
                let mut out = [0u8; 32];
                pbkdf2::derive(
                    pbkdf2::PBKDF2_HMAC_SHA256,
                    NonZeroU32::new(ITERATIONS).expect("non-zero"),
                    &salt,
                    p.as_bytes(),
                    &mut out,
                );
                format!(
                    "pbkdf2-sha256${ITERATIONS}${}${}",
                    hex::encode(salt),
                    hex::encode(out)
                )
            }
            None => String::new(),
        };
        let row = PasswordRow {
            site: site.to_string(),
            password_hash: hash.clone(),
            deleted: u8::from(password.is_none()),
            version: clock::version(),
        };
        insert_rows(
            self.store.as_ref(),
            "dashboard_passwords",
            &[row],
            &InsertOptions::default(),
        )
        .await?;
        let mut map = self.passwords.write().unwrap_or_else(|e| e.into_inner());
        match password {
            Some(_) => map.insert(site.to_string(), hash),
            None => map.remove(site),
        };
        Ok(())
    }

    /// Checks a site's password (constant time in the hash comparison).
    pub fn verify_password(&self, site: &str, password: &str) -> bool {
        let Some(stored) = self
            .passwords
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(site)
            .cloned()
        else {
            return false;
        };
        let parts: Vec<&str> = stored.split('$').collect();
        let [_, iterations, salt, hash] = parts.as_slice() else {
            return false;
        };
        let (Some(iterations), Ok(salt), Ok(hash)) = (
            iterations.parse::<u32>().ok().and_then(NonZeroU32::new),
            hex::decode(salt),
            hex::decode(hash),
        ) else {
            return false;
        };
        pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &salt,
            password.as_bytes(),
            &hash,
        )
        .is_ok()
    }

    /// A sign-in attempt from `client`: `Err(seconds)` to wait when it has tried too often.
    pub fn check_login(&self, client: IpAddr) -> Result<(), u64> {
        self.login_limit.check(client, Instant::now())
    }

    fn new_session_id(&self) -> String {
        let mut id = [0u8; 16];
        // SystemRandom only fails if the OS has no entropy source at all.
        self.rng
            .fill(&mut id)
            .expect("operating system random source");
        URL_SAFE_NO_PAD.encode(id)
    }

    fn sign(&self, claims: &Claims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let tag = hmac::sign(&self.key, body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// A cookie value for a token principal.
    pub fn session_for_token(&self, token_id: &str) -> String {
        self.sign(&Claims {
            k: "t".into(),
            id: token_id.into(),
            pw: String::new(),
            sid: self.new_session_id(),
            exp: clock::unix_seconds() + SESSION_SECS,
        })
    }

    /// A cookie value for a site-password sign-in.
    pub fn session_for_site(&self, site: &str) -> Option<String> {
        let hash = self
            .passwords
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(site)
            .cloned()?;
        Some(self.sign(&Claims {
            k: "p".into(),
            id: site.into(),
            pw: fingerprint(&hash),
            sid: self.new_session_id(),
            exp: clock::unix_seconds() + SESSION_SECS,
        }))
    }

    /// The claims of an authentic, unexpired cookie that carries a session id.
    fn claims(&self, cookie: &str) -> Option<Claims> {
        let (body, tag) = cookie.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, body.as_bytes(), &tag).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        // Cookies from before session ids existed cannot be ended, so they are not accepted:
        // their holders sign in once more.
        (claims.exp >= clock::unix_seconds() && !claims.sid.is_empty()).then_some(claims)
    }

    /// Ends the session of a cookie value for good, here and (through the store) on every
    /// collector. Anything that is not an authentic, live session is ignored.
    pub async fn end_session(&self, cookie: &str) -> Result<(), StoreError> {
        let Some(claims) = self.claims(cookie) else {
            return Ok(());
        };
        let id_hash = hex::encode(super::sha256(&claims.sid));
        // In memory first: this collector refuses the cookie even if the store write fails.
        remember_ended(
            &mut self.ended.write().unwrap_or_else(|e| e.into_inner()),
            id_hash.clone(),
            claims.exp,
            clock::unix_seconds(),
        );
        insert_rows(
            self.store.as_ref(),
            "dashboard_sessions_ended",
            &[EndedRow {
                id_hash,
                expires_at: claims.exp,
            }],
            &InsertOptions::default(),
        )
        .await
    }

    fn is_ended(&self, sid: &str) -> bool {
        self.ended
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&hex::encode(super::sha256(sid)))
    }

    /// The principal behind a cookie value, if it is authentic, unexpired and still valid.
    pub fn principal(&self, cookie: &str, tokens: &Tokens) -> Option<Principal> {
        let claims = self.claims(cookie)?;
        if self.is_ended(&claims.sid) {
            return None;
        }
        match claims.k.as_str() {
            "t" => tokens.by_id(&claims.id),
            "p" => {
                let current = self
                    .passwords
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&claims.id)
                    .map(|h| fingerprint(h))?;
                (current == claims.pw).then(|| Principal {
                    token_id: format!("dashboard:{}", claims.id),
                    scopes: vec![Scope::StatsRead],
                    sites: vec![claims.id],
                })
            }
            _ => None,
        }
    }
}

/// Adds an ended session to the bounded set: expired entries are dropped first, then, when
/// still full, the entry closest to expiry.
fn remember_ended(ended: &mut HashMap<String, u32>, id_hash: String, expires_at: u32, now: u32) {
    if expires_at < now || ended.contains_key(&id_hash) {
        return;
    }
    if ended.len() >= MAX_ENDED_SESSIONS {
        ended.retain(|_, exp| *exp >= now);
    }
    if ended.len() >= MAX_ENDED_SESSIONS {
        if let Some(soonest) = ended
            .iter()
            .min_by_key(|(_, exp)| **exp)
            .map(|(k, _)| k.clone())
        {
            ended.remove(&soonest);
        }
    }
    ended.insert(id_hash, expires_at);
}

/// Sign-in attempts per client in fixed windows, over a bounded number of clients: when full,
/// clients whose window has passed are dropped, then the one tracked longest. IPv6 clients
/// are counted per /64, the block one subscriber usually holds.
pub struct LoginLimiter {
    per_window: u32,
    window: Duration,
    capacity: usize,
    clients: Mutex<HashMap<IpAddr, Attempts>>,
}

struct Attempts {
    since: Instant,
    count: u32,
}

impl LoginLimiter {
    pub fn new(per_window: u32, window: Duration, capacity: usize) -> LoginLimiter {
        LoginLimiter {
            per_window,
            window,
            capacity: capacity.max(1),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt; `Err(seconds)` until the client's window ends when it is used up.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let key = match client {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        };
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if !clients.contains_key(&key) && clients.len() >= self.capacity {
            clients.retain(|_, a| now.saturating_duration_since(a.since) < self.window);
            if clients.len() >= self.capacity {
                if let Some(oldest) = clients.iter().min_by_key(|(_, a)| a.since).map(|(k, _)| *k) {
                    clients.remove(&oldest);
                }
            }
        }
        let attempts = clients.entry(key).or_insert(Attempts {
            since: now,
            count: 0,
        });
        let elapsed = now.saturating_duration_since(attempts.since);
        if elapsed >= self.window {
            *attempts = Attempts {
                since: now,
                count: 0,
            };
        }
        if attempts.count >= self.per_window {
            return Err(self.window.saturating_sub(elapsed).as_secs().max(1));
        }
        attempts.count += 1;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn login_limiter_counts_per_client_and_window() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60), 100);
        let t0 = Instant::now();
        assert!(limiter.check(ip("192.0.2.1"), t0).is_ok());
        assert!(limiter.check(ip("192.0.2.1"), t0).is_ok());
        assert_eq!(limiter.check(ip("192.0.2.1"), t0), Err(60));
        assert!(limiter.check(ip("192.0.2.2"), t0).is_ok(), "another client");
        // One IPv6 subscriber block (/64) is one client; a v4-mapped address is the v4 one.
        assert!(limiter.check(ip("2001:db8::1"), t0).is_ok());
        assert!(limiter.check(ip("2001:db8::2:3"), t0).is_ok());
        assert!(limiter.check(ip("2001:db8::ffff"), t0).is_err());
        assert!(limiter.check(ip("::ffff:192.0.2.1"), t0).is_err());
        let later = t0 + Duration::from_secs(61);
        assert!(
            limiter.check(ip("192.0.2.1"), later).is_ok(),
            "a new window"
        );
    }

    #[test]
    fn login_limiter_stays_within_its_capacity() {
        let limiter = LoginLimiter::new(1, Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for i in 0..50u8 {
            let _ = limiter.check(
                IpAddr::from([198, 51, 100, i]),
                t0 + Duration::from_millis(u64::from(i)),
            );
            assert!(limiter.len() <= 3);
        }
        // The oldest were evicted; the newest is still counted.
        assert!(limiter
            .check(
                IpAddr::from([198, 51, 100, 49]),
                t0 + Duration::from_millis(60)
            )
            .is_err());
    }

    #[test]
    fn ended_sessions_stay_bounded_and_drop_the_expired_first() {
        let mut ended = HashMap::new();
        remember_ended(&mut ended, "gone".into(), 5, 10);
        assert!(ended.is_empty(), "already expired: nothing to remember");
        for i in 0..MAX_ENDED_SESSIONS as u32 {
            ended.insert(format!("s{i}"), 100 + i);
        }
        remember_ended(&mut ended, "new".into(), 1_000_000, 50);
        assert_eq!(ended.len(), MAX_ENDED_SESSIONS);
        assert!(ended.contains_key("new") && !ended.contains_key("s0"));
    }

    #[test]
    fn claims_are_tamper_evident() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        let body = URL_SAFE_NO_PAD.encode(b"{\"k\":\"t\",\"id\":\"x\",\"exp\":4000000000}");
        let tag = hmac::sign(&key, body.as_bytes());
        assert!(hmac::verify(&key, body.as_bytes(), tag.as_ref()).is_ok());
        let forged = URL_SAFE_NO_PAD.encode(b"{\"k\":\"t\",\"id\":\"y\",\"exp\":4000000000}");
        assert!(hmac::verify(&key, forged.as_bytes(), tag.as_ref()).is_err());
    }
}
