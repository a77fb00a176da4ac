//! The client's address: the TCP peer, or — only when the peer is a trusted proxy — the
//! right-most address in `X-Forwarded-For` that is not itself a trusted proxy. The address is
//! used for hashing, geo lookup and rate limiting, and is never stored or logged. Likewise
//! whether the client used HTTPS: `X-Forwarded-Proto` counts only from a trusted proxy.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    resolve(
        peer,
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok()),
        trusted,
    )
}

/// Whether the client reached us over TLS: our own listener's TLS, or `X-Forwarded-Proto:
/// https` from a trusted proxy (the value its nearest hop wrote, the right-most one). From any
/// other peer the header is ignored, so a client cannot choose the answer.
pub fn is_https(req: &HttpRequest, trusted: &[IpNet]) -> bool {
    if req.app_config().secure() {
        return true;
    }
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return false;
    };
    forwarded_https(
        peer,
        req.headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok()),
        trusted,
    )
}

fn forwarded_https(peer: IpAddr, proto: Option<&str>, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|n| n.contains(&peer))
        && proto
            .and_then(|p| p.rsplit(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

fn resolve(peer: IpAddr, forwarded: Option<&str>, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let Some(chain) = forwarded else {
        return Some(peer);
    };
    let mut client = peer;
    for hop in chain.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_proto_is_believed_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(forwarded_https(ip("10.0.0.2"), Some("https"), &trusted));
        assert!(forwarded_https(
            ip("10.0.0.2"),
            Some("http, HTTPS"),
            &trusted
        ));
        assert!(!forwarded_https(
            ip("10.0.0.2"),
            Some("https, http"),
            &trusted
        ));
        assert!(!forwarded_https(ip("10.0.0.2"), None, &trusted));
        assert!(!forwarded_https(
            ip("198.51.100.9"),
            Some("https"),
            &trusted
        ));
        assert!(!forwarded_https(ip("198.51.100.9"), Some("https"), &[]));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            resolve(ip("198.51.100.9"), Some("203.0.113.77"), &trusted),
            Some(ip("198.51.100.9"))
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), Some("203.0.113.77"), &trusted),
            Some(ip("203.0.113.77"))
        );
        // A client cannot spoof by prepending: the right-most untrusted hop wins.
        assert_eq!(
            resolve(
                ip("10.0.0.2"),
                Some("1.2.3.4, 203.0.113.77, 10.0.0.5"),
                &trusted
            ),
            Some(ip("203.0.113.77"))
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), None, &trusted),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), Some("garbage"), &trusted),
            Some(ip("10.0.0.2"))
        );
    }
}
