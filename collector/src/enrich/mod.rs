//! Enrichment from maintained data: user agent and bots (uap-core, isbot), referrer source and
//! channel (Snowplow referer-parser), UTM parameters, and GeoIP/organisation (maxminddb).

pub mod geo;
pub mod referrer;
pub mod user_agent;

pub use geo::{Geo, Location};
pub use referrer::{Source, Utm};
pub use user_agent::{Agent, AgentCache};

/// Compiles every rule set now, so the first beacon does not pay for it.
pub fn warm_up() {
    user_agent::warm_up();
    referrer::warm_up();
}
