//! Privacy: the DNT/GPC gate, the client address (trusting only configured proxies), daily
//! salts and identifier hashing, and the server's secret key.

pub mod client;
pub mod keys;
pub mod salts;
pub mod seal;
pub mod withdrawn;

use actix_web::http::header::HeaderMap;

/// Do-Not-Track (`DNT: 1`) on the beacon request.
pub fn do_not_track(headers: &HeaderMap) -> bool {
    headers
        .get("dnt")
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
}

/// Global Privacy Control (`Sec-GPC: 1`) on the beacon request.
pub fn global_privacy_control(headers: &HeaderMap) -> bool {
    headers
        .get("sec-gpc")
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD` of a day number.
pub fn date_string(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_become_dates() {
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(19_723), "2024-01-01");
        assert_eq!(date_string(19_782), "2024-02-29");
        assert_eq!(date_string(20_781), "2026-11-24");
    }
}
