//! API tokens and scopes. A token is shown once, when created; only its SHA-256 is stored.
//! Presented tokens are hashed and compared against every active hash in constant time.

pub mod dashboard;

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::sites::SiteDomain;
use crate::store::{fetch, insert_rows, InsertOptions, Params, Store, StoreError};

/// What a token may do. `admin` may do everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "admin")]
    Admin,
    #[serde(rename = "stats:read")]
    StatsRead,
    #[serde(rename = "leads:read")]
    LeadsRead,
    #[serde(rename = "leads:write")]
    LeadsWrite,
    #[serde(rename = "sql:read")]
    SqlRead,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Admin,
        Scope::StatsRead,
        Scope::LeadsRead,
        Scope::LeadsWrite,
        Scope::SqlRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::StatsRead => "stats:read",
            Scope::LeadsRead => "leads:read",
            Scope::LeadsWrite => "leads:write",
            Scope::SqlRead => "sql:read",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown scope \"{s}\"; expected one of {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                )
            })
    }
}

/// Who is calling: the token's id, scopes and site limits.
#[derive(Clone, Debug)]
pub struct Principal {
    pub token_id: String,
    pub scopes: Vec<Scope>,
    /// Empty: every site.
    pub sites: Vec<String>,
}

impl Principal {
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    pub fn may_access_site(&self, site: &str) -> bool {
        self.sites.is_empty() || self.sites.iter().any(|s| s == site)
    }

    pub fn is_site_limited(&self) -> bool {
        !self.sites.is_empty()
    }
}

/// A token as listed to admins: never its value or hash.
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub sites: Vec<String>,
    pub created_at: u32,
}

#[derive(Serialize, Deserialize)]
struct TokenRow {
    id: String,
    name: String,
    token_hash: String,
    scopes: Vec<String>,
    sites: Vec<String>,
    created_at: u32,
    revoked: u8,
    version: u64,
}

struct ActiveToken {
    info: TokenInfo,
    hash: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Tokens {
    store: Arc<dyn Store>,
    active: RwLock<Vec<ActiveToken>>,
    /// SHA-256 of `CANDOR_ADMIN_TOKEN`, when configured. The plain value is not kept.
    static_admin: Option<[u8; 32]>,
    rng: SystemRandom,
}

const STATIC_ADMIN_ID: &str = "env-admin";
const TOKEN_PREFIX: &str = "cnd_";

pub fn sha256(token: &str) -> [u8; 32] {
    let d = digest(&SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Constant-time equality of two digests (`subtle`: no early exit on a differing byte).
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

impl Tokens {
    pub async fn load(
        store: Arc<dyn Store>,
        static_admin: Option<&str>,
    ) -> Result<Tokens, StoreError> {
        let tokens = Tokens {
            store,
            active: RwLock::new(Vec::new()),
            static_admin: static_admin.map(sha256),
            rng: SystemRandom::new(),
        };
        tokens.refresh().await?;
        Ok(tokens)
    }

    /// Reloads active tokens (so a revocation on another collector takes effect here).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let rows: Vec<TokenRow> = fetch(
            self.store.as_ref(),
            "SELECT id, name, token_hash, scopes, sites, toUnixTimestamp(created_at) AS created_at, revoked, version
             FROM api_tokens FINAL WHERE revoked = 0 ORDER BY created_at, id",
            &Params::new(),
        )
        .await?;
        let active = rows
            .into_iter()
            .filter_map(|r| {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&r.token_hash, &mut hash).ok()?;
                Some(ActiveToken {
                    info: TokenInfo {
                        id: r.id,
                        name: r.name,
                        scopes: r.scopes.iter().filter_map(|s| s.parse().ok()).collect(),
                        sites: r.sites,
                        created_at: r.created_at,
                    },
                    hash,
                })
            })
            .collect();
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = active;
        Ok(())
    }

    /// The principal for a presented bearer token, if it is valid.
    pub fn authenticate(&self, presented: &str) -> Option<Principal> {
        let hash = sha256(presented);
        let mut found = None;
        if let Some(admin) = &self.static_admin {
            if digests_equal(admin, &hash) {
                found = Some(Principal {
                    token_id: STATIC_ADMIN_ID.into(),
                    scopes: vec![Scope::Admin],
                    sites: vec![],
                });
            }
        }
        // Compare against every token, without stopping at a match.
        for t in self.active.read().unwrap_or_else(|e| e.into_inner()).iter() {
            if digests_equal(&t.hash, &hash) && found.is_none() {
                found = Some(Principal {
                    token_id: t.info.id.clone(),
                    scopes: t.info.scopes.clone(),
                    sites: t.info.sites.clone(),
                });
            }
        }
        found
    }

    /// The principal of an active token by its id (dashboard sessions refer to tokens so).
    pub fn by_id(&self, id: &str) -> Option<Principal> {
        if id == STATIC_ADMIN_ID {
            return self.static_admin.map(|_| Principal {
                token_id: STATIC_ADMIN_ID.into(),
                scopes: vec![Scope::Admin],
                sites: vec![],
            });
        }
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|t| t.info.id == id)
            .map(|t| Principal {
                token_id: t.info.id.clone(),
                scopes: t.info.scopes.clone(),
                sites: t.info.sites.clone(),
            })
    }

    pub fn list(&self) -> Vec<TokenInfo> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|t| t.info.clone())
            .collect()
    }

    fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut buf = [0u8; N];
        // SystemRandom only fails if the OS has no entropy source at all.
        self.rng
            .fill(&mut buf)
            .expect("operating system random source");
        buf
    }

    /// Creates a token; the returned string is the only copy of its value.
    pub async fn create(
        &self,
        name: &str,
        scopes: Vec<Scope>,
        sites: Vec<SiteDomain>,
    ) -> Result<(TokenInfo, String), TokenError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(TokenError::Invalid(
                "name must be 1 to 100 characters".into(),
            ));
        }
        if scopes.is_empty() {
            return Err(TokenError::Invalid("at least one scope is required".into()));
        }
        let mut scopes = scopes;
        scopes.dedup();
        let value = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.random_bytes::<32>())
        );
        let info = TokenInfo {
            id: hex::encode(self.random_bytes::<8>()),
            name: name.to_string(),
            scopes,
            sites: sites.iter().map(|s| s.to_string()).collect(),
            created_at: clock::unix_seconds(),
        };
        let hash = sha256(&value);
        self.write(&info, &hash, false).await?;
        self.active
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(ActiveToken {
                info: info.clone(),
                hash,
            });
        Ok((info, value))
    }

    /// Revokes a token. Returns false when no active token has that id.
    pub async fn revoke(&self, id: &str) -> Result<bool, TokenError> {
        let Some((info, hash)) = self
            .active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|t| t.info.id == id)
            .map(|t| (t.info.clone(), t.hash))
        else {
            return Ok(false);
        };
        self.write(&info, &hash, true).await?;
        self.active
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|t| t.info.id != id);
        Ok(true)
    }

    async fn write(
        &self,
        info: &TokenInfo,
        hash: &[u8; 32],
        revoked: bool,
    ) -> Result<(), StoreError> {
        let row = TokenRow {
            id: info.id.clone(),
            name: info.name.clone(),
            token_hash: hex::encode(hash),
            scopes: info.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            sites: info.sites.clone(),
            created_at: info.created_at,
            revoked: revoked as u8,
            version: clock::version(),
        };
        insert_rows(
            self.store.as_ref(),
            "api_tokens",
            &[row],
            &InsertOptions::default(),
        )
        .await
    }

    /// With no `CANDOR_ADMIN_TOKEN` and no admin token in the store, creates one and returns its
    /// value so the caller can print it once. Only its hash is kept.
    pub async fn bootstrap_admin(&self) -> Result<Option<String>, TokenError> {
        if self.static_admin.is_some() {
            return Ok(None);
        }
        let has_admin = self
            .active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|t| t.info.scopes.contains(&Scope::Admin));
        if has_admin {
            return Ok(None);
        }
        let (_, value) = self
            .create("bootstrap admin", vec![Scope::Admin], vec![])
            .await?;
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_their_names() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), s);
        }
        assert!("stats:write"
            .parse::<Scope>()
            .unwrap_err()
            .contains("unknown scope"));
    }

    #[test]
    fn admin_implies_every_scope_and_sites_limit_access() {
        let admin = Principal {
            token_id: "a".into(),
            scopes: vec![Scope::Admin],
            sites: vec![],
        };
        assert!(admin.has_scope(Scope::LeadsWrite));
        let stats = Principal {
            token_id: "b".into(),
            scopes: vec![Scope::StatsRead],
            sites: vec!["a.com".into()],
        };
        assert!(stats.has_scope(Scope::StatsRead));
        assert!(!stats.has_scope(Scope::SqlRead));
        assert!(stats.may_access_site("a.com"));
        assert!(!stats.may_access_site("b.com"));
    }

    #[test]
    fn digest_comparison_detects_any_difference() {
        let a = sha256("x");
        let mut b = a;
        assert!(digests_equal(&a, &b));
        b[31] ^= 1;
        assert!(!digests_equal(&a, &b));
    }
}
