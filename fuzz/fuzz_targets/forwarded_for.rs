//! The client address: the host's peer-address header (`parse_addr`) and `X-Forwarded-For`
//! behind trusted proxies (`client_ip`). Input: one byte choosing which of a fixed set of CIDRs
//! are trusted, then text separated by 0xff: the peer, then `X-Forwarded-For` header values.
#![no_main]

use asm_guest::client::{self, client_ip, parse_addr};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use std::sync::OnceLock;

const CIDRS: [&str; 8] = [
    "10.0.0.0/8",
    "127.0.0.1/32",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::1/128",
    "fd00::/8",
    "2001:db8::/32",
    "0.0.0.0/0",
];

fn cidrs() -> &'static [IpNet] {
    static NETS: OnceLock<Vec<IpNet>> = OnceLock::new();
    NETS.get_or_init(|| CIDRS.iter().map(|c| c.parse().expect("a valid CIDR")).collect())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mask, rest)) = data.split_first() else { return };
    let trusted: Vec<IpNet> = cidrs().iter().enumerate().filter(|(i, _)| mask >> i & 1 == 1).map(|(_, n)| *n).collect();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));

    let mut parts = rest.split(|&b| b == 0xff).map(String::from_utf8_lossy);
    let peer_text = parts.next().unwrap_or_default();
    let hops: Vec<String> = parts.take(16).map(|p| p.into_owned()).collect();

    let peer = parse_addr(&peer_text);
    for hop in std::iter::once(&*peer_text).chain(hops.iter().flat_map(|h| h.split(','))) {
        if let Some(ip) = parse_addr(hop) {
            // Canonical (no IPv4-mapped IPv6) and stable through its own text.
            if let IpAddr::V6(v6) = ip {
                assert!(v6.to_ipv4_mapped().is_none(), "IPv4-mapped address not unwrapped: {hop:?}");
            }
            assert_eq!(parse_addr(&ip.to_string()), Some(ip), "{hop:?}");
        }
    }

    let headers = || hops.iter().map(String::as_str);
    assert_eq!(client_ip(None, headers(), &trusted), None, "no peer, no client");
    let Some(peer) = peer else { return };
    let found = client_ip(Some(peer), headers(), &trusted).expect("a peer gives a client");
    assert!(!client::location(Some(found), |_| None).is_empty());

    // Without trusted proxies, or from an untrusted peer, the header is ignored.
    assert_eq!(client_ip(Some(peer), headers(), &[]), Some(peer));
    if !is_trusted(&peer) {
        assert_eq!(found, peer, "X-Forwarded-For believed from an untrusted peer");
        return;
    }
    // The answer is the peer or one of the hops the header names.
    let named = hops.iter().flat_map(|h| h.split(',')).filter_map(|h| parse_addr(h.trim()));
    assert!(found == peer || named.clone().any(|ip| ip == found), "{found} is neither the peer nor a hop");
    // Once an untrusted hop is found, whatever a client puts to its left changes nothing.
    if !is_trusted(&found) {
        let spoofed = std::iter::once("6.6.6.6, 203.0.113.7").chain(headers());
        assert_eq!(client_ip(Some(peer), spoofed, &trusted), Some(found), "a spoofed left part was believed");
    }
});
