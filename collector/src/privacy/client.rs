//! The client's address: the TCP peer, or — only when the peer is a trusted proxy — the
//! right-most address in `X-Forwarded-For` that is not itself a trusted proxy. The address is
//! used for hashing, geo lookup and rate limiting, and is never stored or logged.

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
