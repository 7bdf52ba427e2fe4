//! GeoIP against a real MaxMind DB file that the test writes itself.

use asm_contract::Geo as _;
use asm_host::stores::geo;
use asm_stores::testing::mmdb;

#[test]
fn the_database_file_is_read_once_and_answers_lookups() {
    let dir = std::env::temp_dir().join(format!("asm-geo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("city.mmdb");
    mmdb::write_city_db(&path, &[("81.2.69.0/24", "London", "United Kingdom", "GB")]).unwrap();
    let db = geo::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(db.lookup("81.2.69.160").unwrap().city.as_deref(), Some("London"), "kept in memory");
    assert_eq!(db.lookup("8.8.8.8"), None);
    assert!(geo::open(&dir.join("missing.mmdb")).is_err());
    std::fs::write(&path, b"not a database").unwrap();
    assert!(geo::open(&path).err().unwrap().to_string().contains("not a MaxMind database"));
    std::fs::remove_dir_all(dir).unwrap();
}
