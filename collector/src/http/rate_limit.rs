//! Per-client and per-site beacon rate limits (`CANDOR_RATE_LIMIT`, `CANDOR_SITE_RATE_LIMIT`),
//! shared by every beacon route at the HTTP edge (`AppState::rate_limits`). Clients are keyed
//! by a keyed hash of their address, never the raw IP.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ring::hmac;

/// Over a limit: retry after this many seconds (429 with `Retry-After`).
#[derive(Debug, PartialEq, Eq)]
pub struct RateLimited {
    pub retry_after_secs: u64,
}

/// A limiter's refusal as whole seconds to wait, at least one.
fn retry(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> RateLimited {
    use governor::clock::{Clock, DefaultClock};
    RateLimited {
        retry_after_secs: not_until
            .wait_time_from(DefaultClock::default().now())
            .as_secs()
            .max(1),
    }
}

pub struct RateLimits {
    client: Option<DefaultKeyedRateLimiter<u64>>,
    site: Option<DefaultKeyedRateLimiter<String>>,
    /// Privacy-center link requests per client (always on: each may send a mail).
    link_client: DefaultKeyedRateLimiter<u64>,
    /// Privacy-center link requests per address (keyed by the address's keyed hash).
    link_address: DefaultKeyedRateLimiter<String>,
    /// Per-process key for client buckets.
    key: hmac::Key,
}

impl RateLimits {
    /// Limits per minute; 0 turns a limit off.
    pub fn new(per_client: u32, per_site: u32) -> RateLimits {
        let limiter = |per_minute: u32| {
            NonZeroU32::new(per_minute).map(|n| Quota::per_minute(n).allow_burst(n))
        };
        let mut key = [0u8; 32];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key);
        RateLimits {
            client: limiter(per_client).map(RateLimiter::keyed),
            site: limiter(per_site).map(RateLimiter::keyed),
            // 10 at once per client, then one every 6 minutes; 3 per address, then one every
            // 10 minutes: enough for a person who mistyped, too few to flood a mailbox.
            link_client: RateLimiter::keyed(
                Quota::with_period(std::time::Duration::from_secs(360))
                    .expect("non-zero period")
                    .allow_burst(NonZeroU32::new(10).expect("non-zero")),
            ),
            link_address: RateLimiter::keyed(
                Quota::with_period(std::time::Duration::from_secs(600))
                    .expect("non-zero period")
                    .allow_burst(NonZeroU32::new(3).expect("non-zero")),
            ),
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        }
    }

    /// Privacy-center link requests: per client and per address (`address` is already a
    /// keyed hash), the same for addresses that are leads and addresses that are not.
    pub fn check_link(&self, ip: IpAddr, address: &str) -> Result<(), RateLimited> {
        self.link_client
            .check_key(&self.client_key(ip))
            .map_err(retry)?;
        self.link_address
            .check_key(&address.to_string())
            .map_err(retry)
    }

    fn client_key(&self, ip: IpAddr) -> u64 {
        let tag = match ip {
            IpAddr::V4(v) => hmac::sign(&self.key, &v.octets()),
            IpAddr::V6(v) => hmac::sign(&self.key, &v.octets()),
        };
        u64::from_be_bytes(tag.as_ref()[..8].try_into().expect("8 bytes"))
    }

    /// Per-client and per-site limits.
    pub fn check(&self, site: &str, ip: IpAddr) -> Result<(), RateLimited> {
        if let Some(l) = &self.client {
            l.check_key(&self.client_key(ip)).map_err(retry)?;
        }
        if let Some(l) = &self.site {
            l.check_key(&site.to_string()).map_err(retry)?;
        }
        Ok(())
    }

    /// Drops the state of clients and sites that are back to a full allowance, so the
    /// limiters hold only recently active keys however many addresses have called.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.client {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.site {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.link_client.retain_recent();
        self.link_address.retain_recent();
    }

    /// The number of clients the per-client limiter remembers.
    pub fn remembered_clients(&self) -> usize {
        self.client.as_ref().map_or(0, |l| l.len())
    }
}
