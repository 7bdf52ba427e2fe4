//! GeoIP against a real MaxMind DB file that the test writes itself.

use crate::support::*;
use asm_contract::Geo as _;
use asm_host::stores::geo;
use asm_stores::testing::mmdb;
use serde_json::json;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_trusted_proxies_and_locates_the_client() {
    let dir = std::env::temp_dir().join(unique("asm-geo-"));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("city.mmdb");
    mmdb::write_city_db(&db, &[("81.2.69.0/24", "London", "United Kingdom", "GB")]).unwrap();

    let untrusted = spawn_with(Options::default().arg("--geoip-db", db.to_str().unwrap())).await;
    let creds = untrusted.new_user().await;
    let spoofed = untrusted.client.post(untrusted.url("/auth/login")).header("x-forwarded-for", "81.2.69.160");
    let r = spoofed.json(&json!({ "email": creds.email, "password": creds.password })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let s = &untrusted.get("/auth/user/sessions").await.body["data"]["sessions"][0];
    assert_eq!((s["ip_address"].as_str(), s["location"].as_str()), (Some("127.0.0.1"), Some("Local")));

    let trusted =
        spawn_with(Options::default().arg("--geoip-db", db.to_str().unwrap()).env("TRUSTED_PROXIES", "127.0.0.1/32"))
            .await;
    let forwarded = trusted.client.post(trusted.url("/auth/login")).header("x-forwarded-for", "6.6.6.6, 81.2.69.160");
    let r = forwarded.json(&json!({ "email": creds.email, "password": creds.password })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let s = &trusted.get("/auth/user/sessions").await.body["data"]["sessions"][0];
    assert_eq!(s["ip_address"], "81.2.69.160", "the right-most untrusted hop");
    assert_eq!(s["location"], "London, United Kingdom");
    std::fs::remove_dir_all(dir).unwrap();
}
