//! Offline GeoIP from a MaxMind DB file (GeoLite2/GeoIP2 City or Country), loaded once at start.

use maxminddb::{Reader, geoip2};
use std::net::IpAddr;
use std::path::Path;

pub struct Geo {
    reader: Option<Reader<Vec<u8>>>,
}

/// What a lookup found; the component turns it into `City, Country`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub city: Option<String>,
    pub country: Option<String>,
    pub country_code: Option<String>,
}

impl Geo {
    /// No database: every lookup answers `None` and locations read `Unknown`.
    pub fn none() -> Self {
        Geo { reader: None }
    }

    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let reader = Reader::open_readfile(path)
            .map_err(|e| anyhow::anyhow!("cannot open GeoIP database {}: {e}", path.display()))?;
        Ok(Geo { reader: Some(reader) })
    }

    pub fn is_loaded(&self) -> bool {
        self.reader.is_some()
    }

    pub fn lookup(&self, ip: &str) -> Option<Place> {
        let reader = self.reader.as_ref()?;
        let ip: IpAddr = ip.parse().ok()?;
        let city: geoip2::City = reader.lookup(ip).ok()?.decode().ok()??;
        let place = Place {
            city: city.city.names.english.map(str::to_string),
            country: city.country.names.english.map(str::to_string),
            country_code: city.country.iso_code.map(str::to_string),
        };
        (place.city.is_some() || place.country.is_some()).then_some(place)
    }
}
