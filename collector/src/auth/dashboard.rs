//! Dashboard sign-in: with an API token that may read stats, or with a per-site dashboard
//! password set by an admin. Passwords are stored as PBKDF2-HMAC-SHA256 hashes (ring) with a
//! random salt. A signed-in browser holds a session cookie: the principal's reference and an
//! expiry, signed with HMAC-SHA256 under a key derived from the server key, so every
//! collector sharing `CANDOR_PII_KEY` accepts it; revoking the token or changing the password
//! ends such sessions.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

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
    exp: u32,
}

pub struct Dashboard {
    store: Arc<dyn Store>,
    passwords: RwLock<BTreeMap<String, String>>,
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
            key,
            rng: SystemRandom::new(),
        };
        d.refresh().await?;
        Ok(d)
    }

    pub async fn refresh(&self) -> Result<(), StoreError> {
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
            exp: clock::unix_seconds() + SESSION_SECS,
        }))
    }

    /// The principal behind a cookie value, if it is authentic, unexpired and still valid.
    pub fn principal(&self, cookie: &str, tokens: &Tokens) -> Option<Principal> {
        let (body, tag) = cookie.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, body.as_bytes(), &tag).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        if claims.exp < clock::unix_seconds() {
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

#[cfg(test)]
mod tests {
    use super::*;

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
