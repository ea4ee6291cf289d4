//! Where a request comes from: the address anonymous callers are limited
//! by (open demo mode has no identity to tell callers apart).
//!
//! The peer of the connection, unless it is one of `server.trusted_proxies`:
//! then the client a proxy names in `Forwarded: for=` (RFC 7239) or, without
//! it, `X-Forwarded-For`, walking from the right past every trusted proxy.
//! Headers from a peer that is not trusted are ignored: anyone can send them.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;

use crate::settings::Network;

/// The proxies whose forwarding headers are believed: addresses and
/// networks (`10.0.0.0/8`, `::1`).
#[derive(Clone, Debug, Default)]
pub(crate) struct TrustedProxies(Arc<[Network]>);

impl TrustedProxies {
    /// From `server.trusted_proxies`.
    pub(crate) fn new(networks: &[Network]) -> Self {
        Self(networks.into())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client's address: `peer`, or behind trusted proxies the first
    /// address from the right of their forwarding chain that is not one of
    /// them (a hop that is not an address ends the walk at the hop after it).
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_for(headers);
        let mut client = peer;
        for hop in chain.iter().rev() {
            match hop {
                Some(ip) => {
                    client = *ip;
                    if !self.trusts(*ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// The `for` addresses of `Forwarded`, else of `X-Forwarded-For`, left to
/// right (none where a hop is not an address: `unknown`, an obfuscated
/// name).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| node_address(value.trim().trim_matches('"')))
                })
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| node_address(hop.trim()))
        .collect()
}

/// The address of a forwarded node: `192.0.2.1`, `192.0.2.1:4711`,
/// `[2001:db8::1]:4711` or `2001:db8::1`.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        let none = TrustedProxies::new(&[]);
        let forged = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(none.client(ip("198.51.100.7"), &forged), ip("198.51.100.7"));
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client() {
        let trusted =
            TrustedProxies::new(&["10.0.0.0/8".parse().unwrap(), "127.0.0.1".parse().unwrap()]);
        let peer = ip("127.0.0.1");
        let xff = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.1.2.3")]);
        assert_eq!(trusted.client(peer, &xff), ip("198.51.100.7"));
        let forwarded = headers(&[(
            "forwarded",
            "for=203.0.113.9;proto=https, for=\"[2001:db8::1]:4711\"",
        )]);
        assert_eq!(trusted.client(peer, &forwarded), ip("2001:db8::1"));
        // Forwarded wins over X-Forwarded-For.
        let both = headers(&[
            ("forwarded", "for=192.0.2.1"),
            ("x-forwarded-for", "192.0.2.2"),
        ]);
        assert_eq!(trusted.client(peer, &both), ip("192.0.2.1"));
        // No header: the proxy itself.
        assert_eq!(trusted.client(peer, &HeaderMap::new()), peer);
        // A hop that is not an address stops the walk at the trusted one.
        let unknown = headers(&[("x-forwarded-for", "unknown, 10.0.0.2")]);
        assert_eq!(trusted.client(peer, &unknown), ip("10.0.0.2"));
        // IPv4 peers seen as mapped IPv6 addresses are still trusted.
        assert_eq!(
            trusted.client(ip("::ffff:10.9.9.9"), &xff),
            ip("198.51.100.7")
        );
    }
}
