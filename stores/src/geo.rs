//! GeoIP from a MaxMind DB (GeoLite2/GeoIP2 City or Country) held in memory: English names;
//! none when the address is not in the database or it names neither a city nor a country.
//! The native host loads the file once at start; the Spin adapter when a lookup first needs it.

use asm_contract::{Geo, Location};
use maxminddb::{Reader, geoip2};
use std::net::IpAddr;

pub struct MaxMind {
    reader: Reader<Vec<u8>>,
}

impl MaxMind {
    /// None when the bytes are not a MaxMind DB.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<MaxMind> {
        Reader::from_source(bytes).ok().map(|reader| MaxMind { reader })
    }
}

impl Geo for MaxMind {
    fn lookup(&self, ip: &str) -> Option<Location> {
        let ip: IpAddr = ip.parse().ok()?;
        let city: geoip2::City = self.reader.lookup(ip).ok()?.decode().ok()??;
        let place = Location {
            city: city.city.names.english.map(str::to_string),
            country: city.country.names.english.map(str::to_string),
            country_code: city.country.iso_code.map(str::to_string),
        };
        (place.city.is_some() || place.country.is_some()).then_some(place)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::mmdb;

    #[test]
    fn lookups_read_city_and_country() {
        let bytes = mmdb::build_city_db(&[
            ("81.2.69.0/24", "London", "United Kingdom", "GB"),
            ("2001:db8::/32", "Berlin", "Germany", "DE"),
            ("89.160.20.0/24", "", "Sweden", "SE"),
        ])
        .unwrap();
        let geo = MaxMind::from_bytes(bytes).unwrap();
        let london = geo.lookup("81.2.69.160").unwrap();
        assert_eq!(
            london,
            Location {
                city: Some("London".into()),
                country: Some("United Kingdom".into()),
                country_code: Some("GB".into())
            }
        );
        assert_eq!(geo.lookup("2001:db8::1").unwrap().city.as_deref(), Some("Berlin"));
        let sweden = geo.lookup("89.160.20.1").unwrap();
        assert_eq!((sweden.city, sweden.country.as_deref()), (None, Some("Sweden")));
        assert_eq!(geo.lookup("8.8.8.8"), None);
        assert_eq!(geo.lookup("not an ip"), None);
        assert!(MaxMind::from_bytes(b"not a database".to_vec()).is_none());
    }
}
