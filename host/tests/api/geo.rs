//! GeoIP against a real MaxMind DB file that the test writes itself.

use crate::mmdb;
use asm_host::stores::geo::Geo;

#[test]
fn lookups_read_city_and_country_from_the_database() {
    let dir = std::env::temp_dir().join(format!("asm-geo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("city.mmdb");
    mmdb::write_city_db(
        &path,
        &[
            ("81.2.69.0/24", "London", "United Kingdom", "GB"),
            ("2001:db8::/32", "Berlin", "Germany", "DE"),
            ("89.160.20.0/24", "", "Sweden", "SE"),
        ],
    )
    .unwrap();
    let geo = Geo::open(&path).unwrap();
    assert!(geo.is_loaded());
    let london = geo.lookup("81.2.69.160").unwrap();
    assert_eq!(london.city.as_deref(), Some("London"));
    assert_eq!(london.country.as_deref(), Some("United Kingdom"));
    assert_eq!(london.country_code.as_deref(), Some("GB"));
    assert_eq!(geo.lookup("2001:db8::1").unwrap().city.as_deref(), Some("Berlin"));
    let sweden = geo.lookup("89.160.20.1").unwrap();
    assert_eq!((sweden.city, sweden.country.as_deref()), (None, Some("Sweden")));
    assert_eq!(geo.lookup("8.8.8.8"), None);
    assert_eq!(geo.lookup("not an ip"), None);
    assert_eq!(Geo::none().lookup("81.2.69.160"), None);
    assert!(Geo::open(&dir.join("missing.mmdb")).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}
