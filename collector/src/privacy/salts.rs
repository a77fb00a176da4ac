//! Daily visitor-id salts. Each UTC day has one random 32-byte salt, created a day ahead and
//! shared by every collector through the store; salts older than yesterday are deleted (and
//! expire by TTL as a backstop), so an id can never be recomputed once its day has passed.
//! `visitor_id` = first 8 bytes of HMAC-SHA256(salt, site ‖ IP ‖ user agent).
//!
//! Salts are stored sealed (AES-256-GCM, `privacy::seal`) with a key derived from the server key
//! (`CANDOR_PII_KEY`), so a reader of the store alone cannot recompute visitor ids. Every
//! collector sharing a store must therefore share one server key: a collector with another
//! key cannot open the shared salts: it logs an error at each rotation and answers beacons 503
//! (salt not loaded) until it runs with the shared key, rather than counting visitors apart.
//! It makes no salt of its own meanwhile (the others could not open it). A store whose key is
//! lost for good: `TRUNCATE TABLE salts`, and the next rotation makes new ones.
//!
//! Upgrade from stores that held salts in the clear (64 hex characters): both forms are read
//! for the transition, and every rotation (at start, then every few minutes) seals any plain
//! row in place — same day, same `created_at`, same salt, so ids do not change mid-day — and
//! deletes the plain rows. Done here rather than as a SQL migration because sealing needs the
//! key; it is forward-only and idempotent (a crash between the two steps only leaves a sealed
//! copy to be made again). Salts live two days, so after that nothing plain can be left.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::date_string;
use super::keys::Keys;
use crate::privacy::seal::Sealer;
use crate::store::{fetch, insert_rows, InsertOptions, Params, Store, StoreError};

pub struct Salts {
    store: Arc<dyn Store>,
    by_day: RwLock<BTreeMap<i64, hmac::Key>>,
    rng: SystemRandom,
    sealer: Sealer,
}

#[derive(Deserialize)]
struct SaltRow {
    day_number: i64,
    salt: String,
}

/// A salt row as stored, for re-sealing rows written in the clear.
#[derive(Serialize, Deserialize)]
struct StoredSalt {
    day: String,
    salt: String,
    created_at: String,
}

/// A salt written in the clear by an earlier version: 32 bytes as 64 hex characters. A sealed
/// salt is base64 of 60 bytes (80 characters), never 64.
fn plain_salt(stored: &str) -> Option<Vec<u8>> {
    if stored.len() != 64 {
        return None;
    }
    hex::decode(stored).ok()
}

impl Salts {
    /// Salts shared through `store`, sealed with a key derived from the server key.
    pub fn new(store: Arc<dyn Store>, keys: &Keys) -> Salts {
        Salts {
            store,
            by_day: RwLock::new(BTreeMap::new()),
            rng: SystemRandom::new(),
            sealer: Sealer::new(&keys.aead_key("visitor-salt")),
        }
    }

    /// Makes sure `today` and the next day have salts, deletes salts before yesterday, and
    /// reloads the cache. Run at start and every few minutes.
    pub async fn rotate(&self, today: i64) -> Result<(), StoreError> {
        self.seal_plain_rows().await?;
        let (have, unreadable) = self.load(today - 1, today + 1).await?;
        if !unreadable.is_empty() {
            // Salts sealed with another server key: a collector runs with the wrong key. A
            // salt made here would be unreadable to the others (every collector takes the
            // earliest row), so make none: say so and wait for the configuration to be fixed.
            let days: Vec<String> = unreadable.iter().map(|d| date_string(*d)).collect();
            tracing::error!(days = ?days, "stored visitor-id salts cannot be opened with this collector's server key; every collector sharing a store must use the same CANDOR_PII_KEY");
        } else {
            for day in [today, today + 1] {
                if !have.contains_key(&day) {
                    let mut salt = [0u8; 32];
                    self.rng
                        .fill(&mut salt)
                        .map_err(|_| StoreError::Library("no random source".into()))?;
                    self.store
                        .execute(
                            "INSERT INTO salts (day, salt, created_at) VALUES ({day:Date}, {salt:String}, now64(3))",
                            &Params::new().with("day", date_string(day)).with("salt", self.sealer.seal(&salt)),
                        )
                        .await?;
                }
            }
        }
        self.store
            .execute(
                "DELETE FROM salts WHERE day < {keep:Date}",
                &Params::new().with("keep", date_string(today - 1)),
            )
            .await?;
        let (fresh, _) = self.load(today - 1, today + 1).await?;
        *self.by_day.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Seals salts an earlier version stored in the clear (see the module comment): a sealed
    /// copy of each plain row first, then the plain rows are deleted.
    async fn seal_plain_rows(&self) -> Result<(), StoreError> {
        let plain: Vec<StoredSalt> = fetch(
            self.store.as_ref(),
            "SELECT toString(day) AS day, salt, toString(created_at) AS created_at FROM salts
             WHERE length(salt) = 64 AND match(salt, '^[0-9a-f]+$')",
            &Params::new(),
        )
        .await?;
        if plain.is_empty() {
            return Ok(());
        }
        let sealed: Vec<StoredSalt> = plain
            .into_iter()
            .filter_map(|row| {
                let salt = plain_salt(&row.salt)?;
                Some(StoredSalt {
                    salt: self.sealer.seal(&salt),
                    ..row
                })
            })
            .collect();
        insert_rows(
            self.store.as_ref(),
            "salts",
            &sealed,
            &InsertOptions::default(),
        )
        .await?;
        self.store
            .execute(
                "DELETE FROM salts WHERE length(salt) = 64 AND match(salt, '^[0-9a-f]+$')",
                &Params::new(),
            )
            .await?;
        tracing::info!(
            salts = sealed.len(),
            "sealed visitor-id salts stored in the clear by an earlier version"
        );
        Ok(())
    }

    /// Salts per day in [from, to], and the days whose salt this collector cannot open. When
    /// collectors raced to create a day's salt, every one of them picks the same row: the
    /// earliest, ties broken by value.
    async fn load(
        &self,
        from: i64,
        to: i64,
    ) -> Result<(BTreeMap<i64, hmac::Key>, Vec<i64>), StoreError> {
        let rows: Vec<SaltRow> = fetch(
            self.store.as_ref(),
            "SELECT toUInt32(day) AS day_number, argMin(salt, (created_at, salt)) AS salt FROM salts
             WHERE day BETWEEN {from:Date} AND {to:Date} GROUP BY day",
            &Params::new().with("from", date_string(from)).with("to", date_string(to)),
        )
        .await?;
        let mut keys = BTreeMap::new();
        let mut unreadable = Vec::new();
        for r in rows {
            match self
                .sealer
                .open(&r.salt)
                .filter(|b| b.len() == 32)
                .or_else(|| plain_salt(&r.salt))
            {
                Some(bytes) => {
                    keys.insert(r.day_number, hmac::Key::new(hmac::HMAC_SHA256, &bytes));
                }
                None => unreadable.push(r.day_number),
            }
        }
        Ok((keys, unreadable))
    }

    /// The visitor id for a request on `day`, or None when that day's salt is not loaded.
    pub fn visitor_id(&self, day: i64, site: &str, ip: IpAddr, user_agent: &str) -> Option<u64> {
        let map = self.by_day.read().unwrap_or_else(|e| e.into_inner());
        let key = map.get(&day)?;
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(site.as_bytes());
        ctx.update(&[0]);
        match ip {
            IpAddr::V4(v4) => ctx.update(&v4.octets()),
            IpAddr::V6(v6) => ctx.update(&v6.octets()),
        }
        ctx.update(&[0]);
        ctx.update(user_agent.as_bytes());
        let tag = ctx.sign();
        let mut id = [0u8; 8];
        id.copy_from_slice(&tag.as_ref()[..8]);
        Some(u64::from_be_bytes(id))
    }

    /// Gives `day` a random salt held in memory only, never stored. Past days cannot have a
    /// stored salt (the table's TTL drops it on insert), so tests and tools that replay
    /// history with chosen timestamps use this; the next rotation forgets it.
    pub fn ephemeral(&self, day: i64) {
        let mut salt = [0u8; 32];
        if self.rng.fill(&mut salt).is_ok() {
            self.by_day
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .entry(day)
                .or_insert_with(|| hmac::Key::new(hmac::HMAC_SHA256, &salt));
        }
    }

    /// Days whose salts are loaded (for tests and readiness).
    pub fn loaded_days(&self) -> Vec<i64> {
        self.by_day
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }
}
