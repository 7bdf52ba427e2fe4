//! Offline GeoIP from a MaxMind DB file (GeoLite2/GeoIP2 City or Country), read once at start.

use asm_stores::geo::MaxMind;
use std::path::Path;

pub fn open(path: &Path) -> anyhow::Result<MaxMind> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read the GeoIP database {}: {e}", path.display()))?;
    MaxMind::from_bytes(bytes).ok_or_else(|| anyhow::anyhow!("{} is not a MaxMind database", path.display()))
}
