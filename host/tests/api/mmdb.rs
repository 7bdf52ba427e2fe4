//! Minimal MaxMind DB (.mmdb) writer for tests.
//!
//! Builds a small, valid MaxMind DB file in the GeoIP2-City layout so that
//! integration tests can exercise a real `maxminddb::Reader` without any
//! downloaded or checked-in binary fixture. No dependencies beyond `std`.
//!
//! Format written (MaxMind DB spec, binary format 2.0):
//! * search tree: `ip_version` 6, `record_size` 32, one node per trie node,
//!   root is node 0. IPv4 networks live under `::/96` (where readers look up
//!   IPv4 addresses in an IPv6 tree) and `::ffff:0:0/96` is aliased to the
//!   same subtree, so IPv4-mapped IPv6 addresses resolve as well, as in
//!   MaxMind's own databases.
//! * 16 zero bytes separating the tree from the data section.
//! * data section: one map per distinct (city, country, iso_code) triple:
//!   `{ city: { names: { en } }, country: { iso_code, names: { en } },
//!      registered_country: { iso_code, names: { en } } }`.
//!   An empty city (or country name, or iso code) leaves that field out.
//! * `"\xAB\xCD\xEFMaxMind.com"` followed by the metadata map.
//!
//! Usage from an integration test (e.g. `tests/common/mmdb_fixture.rs`):
//! ```ignore
//! mod mmdb_fixture;
//! mmdb_fixture::write_city_db(&path, &[
//!     ("81.2.69.0/24", "London", "United Kingdom", "GB"),
//!     ("2001:db8::/32", "Berlin", "Germany", "DE"),
//! ])?;
//! ```
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::Path;

/// Write a GeoIP2-City-shaped MaxMind DB to `path`.
///
/// `entries` are `(cidr, city, country_name, iso_code)`. `cidr` is an IPv4 or
/// IPv6 network such as `"81.2.69.0/24"` or `"2001:db8::/32"`; a bare address
/// is taken as a single host (/32 or /128), and host bits are ignored.
/// Overlapping networks are allowed: the most specific one wins for addresses
/// it covers (longest-prefix match); for identical networks the later entry
/// wins. Errors with `InvalidInput` on a malformed CIDR or on `::/0`.
pub fn write_city_db(path: &Path, entries: &[(&str, &str, &str, &str)]) -> io::Result<()> {
    let bytes = build_city_db(entries)?;
    std::fs::write(path, bytes)
}

/// Same as [`write_city_db`] but returns the file contents, e.g. for
/// `maxminddb::Reader::from_source(bytes)`.
pub fn build_city_db(entries: &[(&str, &str, &str, &str)]) -> io::Result<Vec<u8>> {
    // Parse all networks first so a bad CIDR fails before anything is built.
    let mut nets: Vec<(u128, u8, usize)> = Vec::with_capacity(entries.len());
    for (i, (cidr, _, _, _)) in entries.iter().enumerate() {
        let (bits, len) = parse_cidr(cidr)?;
        nets.push((bits, len, i));
    }

    // Data section: one record per distinct (city, country, iso) triple.
    let mut data = Encoder::default();
    let mut offsets: HashMap<(&str, &str, &str), u32> = HashMap::new();
    let mut entry_data: Vec<u32> = Vec::with_capacity(entries.len());
    for &(_, city, country, iso) in entries {
        let off = *offsets.entry((city, country, iso)).or_insert_with(|| {
            let off = data.buf.len() as u32;
            encode_city_record(&mut data, city, country, iso);
            off
        });
        entry_data.push(off);
    }

    // Search tree. Less specific networks first so that more specific ones
    // are carved out of them afterwards; the sort is stable, so for equal
    // networks the later entry is inserted last and wins.
    nets.sort_by_key(|&(_, len, _)| len);
    let mut tree = Tree::new();
    for &(bits, len, i) in &nets {
        tree.insert(bits, len, Rec::Data(entry_data[i]));
    }
    tree.alias_ipv4_mapped();

    let node_count = tree.nodes.len() as u64;
    let max_record = node_count + 16 + data.buf.len() as u64;
    if max_record > u32::MAX as u64 {
        return Err(invalid("database too large for a 32-bit record size"));
    }
    let node_count = node_count as u32;
    let record_value = |r: Rec| -> u32 {
        match r {
            Rec::Empty => node_count,
            Rec::Node(n) => n,
            Rec::Data(off) => node_count + 16 + off,
        }
    };

    let mut out = Vec::with_capacity(tree.nodes.len() * 8 + 16 + data.buf.len() + 512);
    for node in &tree.nodes {
        out.extend_from_slice(&record_value(node[0]).to_be_bytes());
        out.extend_from_slice(&record_value(node[1]).to_be_bytes());
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data.buf);

    // Metadata.
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    let build_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut meta = Encoder::default();
    meta.map(9);
    meta.string("binary_format_major_version");
    meta.uint(TYPE_UINT16, 2);
    meta.string("binary_format_minor_version");
    meta.uint(TYPE_UINT16, 0);
    meta.string("build_epoch");
    meta.uint(TYPE_UINT64, build_epoch);
    meta.string("database_type");
    meta.string("GeoIP2-City");
    meta.string("description");
    meta.map(1);
    meta.string("en");
    meta.string("Test GeoIP2-City database generated by mmdb_fixture");
    meta.string("ip_version");
    meta.uint(TYPE_UINT16, 6);
    meta.string("languages");
    meta.array(1);
    meta.string("en");
    meta.string("node_count");
    meta.uint(TYPE_UINT32, node_count as u64);
    meta.string("record_size");
    meta.uint(TYPE_UINT16, 32);
    out.extend_from_slice(&meta.buf);
    Ok(out)
}

fn encode_city_record(e: &mut Encoder, city: &str, country: &str, iso: &str) {
    let has_city = !city.is_empty();
    let has_country = !country.is_empty() || !iso.is_empty();
    e.map(has_city as usize + 2 * has_country as usize);
    if has_city {
        e.string("city");
        e.map(1);
        e.string("names");
        e.map(1);
        e.string("en");
        e.string(city);
    }
    if has_country {
        for key in ["country", "registered_country"] {
            e.string(key);
            e.map(!iso.is_empty() as usize + !country.is_empty() as usize);
            if !iso.is_empty() {
                e.string("iso_code");
                e.string(iso);
            }
            if !country.is_empty() {
                e.string("names");
                e.map(1);
                e.string("en");
                e.string(country);
            }
        }
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

/// Parse a CIDR into (128-bit address in the IPv6 tree, prefix length in
/// that tree). IPv4 `a.b.c.d/n` maps to `::a.b.c.d/(96+n)`.
fn parse_cidr(cidr: &str) -> io::Result<(u128, u8)> {
    let cidr = cidr.trim();
    let (addr, len) = match cidr.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (cidr, None),
    };
    let addr: IpAddr = addr.parse().map_err(|e| invalid(format!("bad address in CIDR {cidr:?}: {e}")))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u8 = match len {
        Some(l) => l.parse().map_err(|e| invalid(format!("bad prefix length in CIDR {cidr:?}: {e}")))?,
        None => max,
    };
    if len > max {
        return Err(invalid(format!("prefix length out of range in CIDR {cidr:?}")));
    }
    let (bits, len) = match addr {
        IpAddr::V4(a) => (u32::from(a) as u128, len + 96),
        IpAddr::V6(a) => (u128::from(a), len),
    };
    if len == 0 {
        return Err(invalid("::/0 cannot be stored (the root node has no record for it)"));
    }
    let mask = if len == 128 { u128::MAX } else { !(u128::MAX >> len) };
    Ok((bits & mask, len))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rec {
    Empty,
    Node(u32),
    Data(u32),
}

/// Binary trie over 128-bit keys; `nodes[i] = [left(0), right(1)]`.
struct Tree {
    nodes: Vec<[Rec; 2]>,
}

impl Tree {
    fn new() -> Self {
        Tree { nodes: vec![[Rec::Empty; 2]] }
    }

    fn bit(bits: u128, depth: u8) -> usize {
        ((bits >> (127 - depth as u32)) & 1) as usize
    }

    fn new_node(&mut self, fill: Rec) -> u32 {
        self.nodes.push([fill; 2]);
        (self.nodes.len() - 1) as u32
    }

    /// Set the record for network `bits/len` to `rec`, replacing whatever
    /// was there (including any more specific networks below it). A data
    /// record met on the way (a less specific network) is split into a node
    /// whose children inherit it, so the rest of that network keeps its data.
    fn insert(&mut self, bits: u128, len: u8, rec: Rec) {
        let mut node = 0u32;
        for depth in 0..len - 1 {
            let b = Self::bit(bits, depth);
            node = match self.nodes[node as usize][b] {
                Rec::Node(n) => n,
                inherited => {
                    let n = self.new_node(inherited);
                    self.nodes[node as usize][b] = Rec::Node(n);
                    n
                }
            };
        }
        let b = Self::bit(bits, len - 1);
        self.nodes[node as usize][b] = rec;
    }

    /// Record that `bits/len` resolves to, following nodes only; `None` if a
    /// data record or an empty record is met before depth `len`.
    fn record_at(&self, bits: u128, len: u8) -> Option<Rec> {
        let mut node = 0u32;
        for depth in 0..len {
            let r = self.nodes[node as usize][Self::bit(bits, depth)];
            if depth == len - 1 {
                return Some(r);
            }
            match r {
                Rec::Node(n) => node = n,
                Rec::Empty => return Some(Rec::Empty),
                Rec::Data(_) => return None,
            }
        }
        None
    }

    /// Point `::ffff:0:0/96` at the IPv4 subtree under `::/96`, unless there
    /// is no IPv4 data or the caller already put IPv6 data there.
    fn alias_ipv4_mapped(&mut self) {
        const MAPPED: u128 = 0xffff_u128 << 32;
        let v4 = match self.record_at(0, 96) {
            Some(r @ (Rec::Node(_) | Rec::Data(_))) => r,
            _ => return,
        };
        if self.record_at(MAPPED, 96) == Some(Rec::Empty) {
            self.insert(MAPPED, 96, v4);
        }
    }
}

// MaxMind DB data types (extended types are > 7).
const TYPE_STRING: u8 = 2;
const TYPE_UINT16: u8 = 5;
const TYPE_UINT32: u8 = 6;
const TYPE_MAP: u8 = 7;
const TYPE_UINT64: u8 = 9;
const TYPE_ARRAY: u8 = 11;

#[derive(Default)]
struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// Control byte(s): type in the top 3 bits (0 + extension byte for
    /// extended types), then the size/length with its 29/30/31 escapes.
    fn control(&mut self, ty: u8, size: usize) {
        let (ty_bits, ext) = if ty <= 7 { (ty << 5, None) } else { (0, Some(ty - 7)) };
        let (size_bits, extra): (u8, Vec<u8>) = if size < 29 {
            (size as u8, vec![])
        } else if size < 29 + 256 {
            (29, vec![(size - 29) as u8])
        } else if size < 285 + 65_536 {
            (30, ((size - 285) as u16).to_be_bytes().to_vec())
        } else {
            let s = (size - 65_821) as u32;
            assert!(s < 1 << 24, "value too large for MaxMind DB");
            (31, s.to_be_bytes()[1..].to_vec())
        };
        self.buf.push(ty_bits | size_bits);
        if let Some(e) = ext {
            self.buf.push(e);
        }
        self.buf.extend_from_slice(&extra);
    }

    fn string(&mut self, s: &str) {
        self.control(TYPE_STRING, s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn map(&mut self, pairs: usize) {
        self.control(TYPE_MAP, pairs);
    }

    fn array(&mut self, items: usize) {
        self.control(TYPE_ARRAY, items);
    }

    /// Unsigned integer, big-endian with leading zero bytes dropped.
    fn uint(&mut self, ty: u8, v: u64) {
        let bytes = v.to_be_bytes();
        let skip = (v.leading_zeros() / 8) as usize;
        self.control(ty, 8 - skip);
        self.buf.extend_from_slice(&bytes[skip..]);
    }
}
