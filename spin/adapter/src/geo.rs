//! GeoIP lookups in a MaxMind DB (GeoLite2/GeoIP2 City or Country), answered exactly as the
//! native host's `host/src/stores/geo.rs` answers them: English names, None when the address is
//! not in the database or names neither a city nor a country.
//!
//! On Spin the database is a file mounted with `files` and named by the `geoip_db` variable.
//! An instance serves one request, so the file is read when a lookup first needs it and kept
//! for the rest of the instance's life (see README, "Deploying on Spin", for what that costs).

use crate::bindings::exports::asm::auth::geo::Location;
use maxminddb::{Reader, geoip2};
use std::net::IpAddr;

/// Opens a database held in memory; None when the bytes are not a MaxMind DB.
pub fn open(bytes: Vec<u8>) -> Option<Reader<Vec<u8>>> {
    Reader::from_source(bytes).ok()
}

pub fn lookup(reader: &Reader<Vec<u8>>, ip: &str) -> Option<Location> {
    let ip: IpAddr = ip.parse().ok()?;
    let city: geoip2::City = reader.lookup(ip).ok()?.decode().ok()??;
    let place = Location {
        city: city.city.names.english.map(str::to_string),
        country: city.country.names.english.map(str::to_string),
        country_code: city.country.iso_code.map(str::to_string),
    };
    (place.city.is_some() || place.country.is_some()).then_some(place)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mmdb_fixture as mmdb;

    #[test]
    fn lookups_answer_like_the_native_host() {
        let bytes = mmdb::build_city_db(&[
            ("81.2.69.0/24", "London", "United Kingdom", "GB"),
            ("2001:db8::/32", "", "Germany", "DE"),
        ])
        .unwrap();
        let reader = open(bytes).unwrap();
        let london = lookup(&reader, "81.2.69.160").unwrap();
        assert_eq!(
            london,
            Location {
                city: Some("London".into()),
                country: Some("United Kingdom".into()),
                country_code: Some("GB".into())
            }
        );
        let de = lookup(&reader, "2001:db8::1").unwrap();
        assert_eq!((de.city, de.country.as_deref()), (None, Some("Germany")));
        assert_eq!(lookup(&reader, "8.8.8.8"), None);
        assert_eq!(lookup(&reader, "not an ip"), None);
        assert!(open(b"not a database".to_vec()).is_none());
    }
}
