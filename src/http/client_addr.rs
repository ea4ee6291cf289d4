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

/// The proxies whose forwarding headers are believed: addresses and
/// networks (`10.0.0.0/8`, `::1`).
#[derive(Clone, Debug, Default)]
pub(crate) struct TrustedProxies(Arc<[(IpAddr, u8)]>);

impl TrustedProxies {
    /// From `server.trusted_proxies` (checked by [`check_proxy`]).
    pub(crate) fn new(entries: &[String]) -> Self {
        Self(entries.iter().filter_map(|e| parse(e).ok()).collect())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|&(net, bits)| within(ip, net, bits))
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

fn parse(entry: &str) -> Result<(IpAddr, u8), String> {
    let bad = || {
        format!("`{entry}` is not an address or a network (like 10.0.0.1, 10.0.0.0/8 or fd00::/8)")
    };
    let (ip, bits) = match entry.split_once('/') {
        Some((ip, bits)) => (ip, Some(bits.parse::<u8>().map_err(|_| bad())?)),
        None => (entry, None),
    };
    let ip: IpAddr = ip.trim().parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    if bits > max {
        return Err(bad());
    }
    Ok((ip, bits))
}

/// Checks one entry of `server.trusted_proxies`.
pub(crate) fn check_proxy(entry: &str) -> Result<(), String> {
    parse(entry).map(drop)
}

/// Whether `ip` is within `net`/`bits` (an IPv4 address mapped into IPv6
/// counts as IPv4).
fn within(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
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
        let trusted = TrustedProxies::new(&["10.0.0.0/8".into(), "127.0.0.1".into()]);
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

    #[test]
    fn proxies_are_addresses_or_networks() {
        for ok in ["10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "0.0.0.0/0"] {
            assert!(check_proxy(ok).is_ok(), "{ok}");
        }
        for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.1/x", ""] {
            assert!(check_proxy(bad).is_err(), "{bad}");
        }
    }
}
