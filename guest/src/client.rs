//! Where a request comes from: the address the host reports, the device and the place.

use crate::config::Settings;
use crate::device;
use crate::http::Request;
use asm_contract::{Device, Geo, Location};
use std::net::{IpAddr, SocketAddr};

pub use asm_contract::http::CLIENT_ADDR_HEADER;

/// The client of a request, as recorded with a session or a login attempt.
pub struct Client<'r> {
    pub ip: Option<IpAddr>,
    pub user_agent: &'r str,
    pub device: Device,
    pub location: String,
}

impl<'r> Client<'r> {
    pub fn of(req: &'r Request, settings: &Settings, geo: &dyn Geo) -> Client<'r> {
        // The host appends its own value; on hosts that keep a client-sent copy (Spin), that
        // copy comes first, so only the last value is believed.
        let peer = req.header_values(CLIENT_ADDR_HEADER).last().and_then(parse_addr);
        let ip = client_ip(peer, req.header_values("x-forwarded-for"), &settings.trusted_proxies);
        let user_agent = device::truncate(req.header_str("user-agent").unwrap_or(""), device::MAX_USER_AGENT);
        Client { ip, user_agent, device: device::parse(user_agent), location: location(ip, |ip| geo.lookup(ip)) }
    }

    /// The address as text, empty when unknown.
    pub fn address(&self) -> String {
        self.ip.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

/// Parses the host's client-address header: `ip:port`, `[v6]:port`, or a bare address.
pub fn parse_addr(value: &str) -> Option<IpAddr> {
    let v = value.trim();
    if let Ok(sa) = v.parse::<SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    v.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok().map(canonical)
}

/// The client's address: the peer, unless the peer is a trusted proxy; then the right-most
/// address of `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|h| h.split(',')).map(str::trim).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_addr(hop) {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A hop no proxy of ours would write: believe nothing beyond it.
            None => break,
        }
    }
    Some(client)
}

/// IPv4-mapped IPv6 addresses are reported as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Loopback, private, link-local and unique-local addresses have no public location.
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// `City, Country` for public addresses when the host knows, `Local` for local ones, else `Unknown`.
pub fn location(ip: Option<IpAddr>, lookup: impl FnOnce(&str) -> Option<Location>) -> String {
    let Some(ip) = ip else { return "Unknown".into() };
    if is_local(ip) {
        return "Local".into();
    }
    match lookup(&ip.to_string()) {
        Some(Location { city: Some(city), country: Some(country), .. }) => format!("{city}, {country}"),
        Some(Location { city: None, country: Some(country), .. }) => country,
        _ => "Unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_forms() {
        assert_eq!(parse_addr("127.0.0.1:5000"), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(parse_addr("[2001:db8::1]:443"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(parse_addr("[::ffff:81.2.69.1]:1"), Some("81.2.69.1".parse().unwrap()));
        assert_eq!(parse_addr("81.2.69.1"), Some("81.2.69.1".parse().unwrap()));
        assert_eq!(parse_addr("not an ip"), None);
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        // An untrusted peer: its header is ignored.
        assert_eq!(client_ip(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &trusted), ip("203.0.113.9"));
        // A trusted peer: the right-most untrusted hop; a spoofed left part is ignored.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["6.6.6.6, 81.2.69.160, 10.0.0.7"].into_iter(), &trusted),
            ip("81.2.69.160")
        );
        // Several headers read as one list.
        assert_eq!(client_ip(ip("127.0.0.1"), ["6.6.6.6", "81.2.69.160"].into_iter(), &trusted), ip("81.2.69.160"));
        // Only trusted hops: the left-most.
        assert_eq!(client_ip(ip("10.0.0.2"), ["10.0.0.3"].into_iter(), &trusted), ip("10.0.0.3"));
        // Garbage stops the walk at the last believable hop.
        assert_eq!(client_ip(ip("10.0.0.2"), ["81.2.69.160, nonsense"].into_iter(), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), std::iter::empty(), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), ["81.2.69.160"].into_iter(), &[]), ip("10.0.0.2"));
    }

    #[test]
    fn local_addresses_are_local() {
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.0.9", "172.16.5.5", "::1", "fd00::1", "fe80::1"] {
            assert_eq!(location(ip.parse().ok(), |_| panic!("no lookup for {ip}")), "Local");
        }
    }

    #[test]
    fn public_addresses_use_the_lookup() {
        let london = Location {
            city: Some("London".into()),
            country: Some("United Kingdom".into()),
            country_code: Some("GB".into()),
        };
        assert_eq!(location("81.2.69.1".parse().ok(), |_| Some(london.clone())), "London, United Kingdom");
        let country_only = Location { city: None, ..london };
        assert_eq!(location("81.2.69.1".parse().ok(), |_| Some(country_only)), "United Kingdom");
        assert_eq!(location("8.8.8.8".parse().ok(), |_| None), "Unknown");
        assert_eq!(location(None, |_| None), "Unknown");
    }
}
