//! Who is calling: the address the host reports and where it is.

use crate::store::GeoLocation;
use std::net::{IpAddr, SocketAddr};

/// The header in which the host passes the connection's peer address (Spin's name for it).
/// Hosts remove any copy the client sent before they set it.
pub const CLIENT_ADDR_HEADER: &str = "spin-client-addr";

/// Parses the host's client-address header: `ip:port`, `[v6]:port`, or a bare address.
pub fn parse_addr(value: &str) -> Option<IpAddr> {
    let v = value.trim();
    if let Ok(sa) = v.parse::<SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    v.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok().map(canonical)
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
pub fn location(ip: Option<IpAddr>, lookup: impl FnOnce(&str) -> Option<GeoLocation>) -> String {
    let Some(ip) = ip else { return "Unknown".into() };
    if is_local(ip) {
        return "Local".into();
    }
    match lookup(&ip.to_string()) {
        Some(GeoLocation { city: Some(city), country: Some(country), .. }) => format!("{city}, {country}"),
        Some(GeoLocation { city: None, country: Some(country), .. }) => country,
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
    fn local_addresses_are_local() {
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.0.9", "172.16.5.5", "::1", "fd00::1", "fe80::1"] {
            assert_eq!(location(ip.parse().ok(), |_| panic!("no lookup for {ip}")), "Local");
        }
    }

    #[test]
    fn public_addresses_use_the_lookup() {
        let london = GeoLocation {
            city: Some("London".into()),
            country: Some("United Kingdom".into()),
            country_code: Some("GB".into()),
        };
        assert_eq!(location("81.2.69.1".parse().ok(), |_| Some(london.clone())), "London, United Kingdom");
        let country_only = GeoLocation { city: None, ..london };
        assert_eq!(location("81.2.69.1".parse().ok(), |_| Some(country_only)), "United Kingdom");
        assert_eq!(location("8.8.8.8".parse().ok(), |_| None), "Unknown");
        assert_eq!(location(None, |_| None), "Unknown");
    }
}
