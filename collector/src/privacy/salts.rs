//! Daily visitor-id salts. Each UTC day has one random 32-byte salt, created a day ahead and
//! shared by every collector through the store; salts older than yesterday are deleted (and
//! expire by TTL as a backstop), so an id can never be recomputed once its day has passed.
//! `visitor_id` = first 8 bytes of HMAC-SHA256(salt, site ‖ IP ‖ user agent).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;

use super::date_string;
use crate::store::{fetch, Params, Store, StoreError};

pub struct Salts {
    store: Arc<dyn Store>,
    by_day: RwLock<BTreeMap<i64, hmac::Key>>,
    rng: SystemRandom,
}

#[derive(Deserialize)]
struct SaltRow {
    day_number: i64,
    salt: String,
}

pub fn today() -> i64 {
    (crate::clock::unix_seconds() / 86_400) as i64
}

impl Salts {
    pub fn new(store: Arc<dyn Store>) -> Salts {
        Salts {
            store,
            by_day: RwLock::new(BTreeMap::new()),
            rng: SystemRandom::new(),
        }
    }

    /// Makes sure `today` and the next day have salts, deletes salts before yesterday, and
    /// reloads the cache. Run at start and every few minutes.
    pub async fn rotate(&self, today: i64) -> Result<(), StoreError> {
        let have = self.load(today - 1, today + 1).await?;
        for day in [today, today + 1] {
            if !have.contains_key(&day) {
                let mut salt = [0u8; 32];
                self.rng
                    .fill(&mut salt)
                    .map_err(|_| StoreError::Library("no random source".into()))?;
                self.store
                    .execute(
                        "INSERT INTO salts (day, salt, created_at) VALUES ({day:Date}, {salt:String}, now64(3))",
                        &Params::new().with("day", date_string(day)).with("salt", hex::encode(salt)),
                    )
                    .await?;
            }
        }
        self.store
            .execute(
                "DELETE FROM salts WHERE day < {keep:Date}",
                &Params::new().with("keep", date_string(today - 1)),
            )
            .await?;
        let fresh = self.load(today - 1, today + 1).await?;
        *self.by_day.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Salts per day in [from, to]. When collectors raced to create a day's salt, every one
    /// of them picks the same row: the earliest, ties broken by value.
    async fn load(&self, from: i64, to: i64) -> Result<BTreeMap<i64, hmac::Key>, StoreError> {
        let rows: Vec<SaltRow> = fetch(
            self.store.as_ref(),
            "SELECT toUInt32(day) AS day_number, argMin(salt, (created_at, salt)) AS salt FROM salts
             WHERE day BETWEEN {from:Date} AND {to:Date} GROUP BY day",
            &Params::new().with("from", date_string(from)).with("to", date_string(to)),
        )
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let bytes = hex::decode(&r.salt).ok()?;
                Some((r.day_number, hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
            })
            .collect())
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
