//! Where a destination is: a prefix table (CSV `prefix,country,asn`) with longest-prefix
//! match, used to pick the egress relay closest to a destination when several could serve it.

use std::{
	net::IpAddr,
	path::{Path, PathBuf},
};

/// Country (ISO 3166-1 alpha-2) and autonomous system of an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
	/// Two-letter country code, upper case.
	pub country: String,
	/// Autonomous system number.
	pub asn: u32,
}

/// Why a prefix table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PrefixTableError {
	/// The file could not be read.
	#[error("cannot read prefix table {0}: {1}")]
	Read(PathBuf, std::io::Error),
	/// A line is malformed.
	#[error("{file}:{line}: {reason}")]
	Line {
		/// The file.
		file: PathBuf,
		/// 1-based line number.
		line: usize,
		/// What is wrong.
		reason: String,
	},
}

#[derive(Clone, Debug)]
struct Entry {
	network: u128,
	len: u8,
	v4: bool,
	location: Location,
}

/// A longest-prefix-match table of IPv4 and IPv6 prefixes.
#[derive(Clone, Debug, Default)]
pub struct PrefixTable {
	/// Sorted by prefix length, longest first, so the first match is the longest.
	entries: Vec<Entry>,
}

fn to_bits(ip: IpAddr) -> (u128, bool) {
	match ip {
		IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, true),
		IpAddr::V6(v6) => (u128::from(v6), false),
	}
}

fn mask(len: u8) -> u128 {
	if len == 0 {
		0
	} else {
		u128::MAX << (128 - u32::from(len))
	}
}

impl PrefixTable {
	/// Parses CSV text: `prefix,country,asn` per line; `#` starts a comment; blank lines skip.
	pub fn parse(text: &str, origin: &Path) -> Result<Self, PrefixTableError> {
		let mut entries = Vec::new();
		for (i, raw) in text.lines().enumerate() {
			let line = raw.split('#').next().unwrap_or("").trim();
			if line.is_empty() {
				continue;
			}
			let err = |reason: String| PrefixTableError::Line {
				file: origin.to_path_buf(),
				line: i + 1,
				reason,
			};
			let fields: Vec<&str> = line.split(',').map(str::trim).collect();
			let [prefix, country, asn] = fields[..] else {
				return Err(err(format!(
					"expected `prefix,country,asn`, got {} fields",
					fields.len()
				)));
			};
			let (addr, len) =
				prefix.split_once('/').ok_or_else(|| err(format!("{prefix:?} has no /length")))?;
			let ip: IpAddr =
				addr.parse().map_err(|_| err(format!("{addr:?} is not an IP address")))?;
			let len: u8 =
				len.parse().map_err(|_| err(format!("{len:?} is not a prefix length")))?;
			let max = if ip.is_ipv4() { 32 } else { 128 };
			if len > max {
				return Err(err(format!("/{len} is longer than {max} bits")));
			}
			if country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
				return Err(err(format!("{country:?} is not a two-letter country code")));
			}
			let asn: u32 = asn.parse().map_err(|_| err(format!("{asn:?} is not an AS number")))?;
			// IPv4 sits in the top 32 bits, so its prefix length counts from the top too.
			let (bits, v4) = to_bits(ip);
			entries.push(Entry {
				network: bits & mask(len),
				len,
				v4,
				location: Location { country: country.to_ascii_uppercase(), asn },
			});
		}
		entries.sort_by_key(|e| std::cmp::Reverse(e.len));
		Ok(Self { entries })
	}

	/// Loads a table from a file.
	pub fn load(path: &Path) -> Result<Self, PrefixTableError> {
		let text = std::fs::read_to_string(path)
			.map_err(|e| PrefixTableError::Read(path.to_path_buf(), e))?;
		Self::parse(&text, path)
	}

	/// The location of the longest prefix containing `ip`.
	pub fn lookup(&self, ip: IpAddr) -> Option<&Location> {
		let (bits, v4) = to_bits(ip);
		self.entries
			.iter()
			.find(|e| e.v4 == v4 && bits & mask(e.len) == e.network)
			.map(|e| &e.location)
	}
}

/// Picks, among candidate egress relays with known locations, the one closest to `dest`:
/// same AS first, then same country, then the first candidate. Returns its index in
/// `candidates`.
pub fn closest_egress(
	table: &PrefixTable,
	dest: IpAddr,
	candidates: &[Option<Location>],
) -> Option<usize> {
	if candidates.is_empty() {
		return None;
	}
	let Some(target) = table.lookup(dest) else { return Some(0) };
	let find = |same: &dyn Fn(&Location) -> bool| {
		candidates.iter().position(|c| c.as_ref().is_some_and(same))
	};
	find(&|l| l.asn == target.asn).or_else(|| find(&|l| l.country == target.country)).or(Some(0))
}

#[cfg(test)]
mod tests {
	use super::*;

	fn table() -> PrefixTable {
		let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/prefixes.csv");
		PrefixTable::load(&path).expect("the shipped table loads")
	}

	fn at(country: &str, asn: u32) -> Location {
		Location { country: country.into(), asn }
	}

	#[test]
	fn longest_prefix_wins() {
		let t = table();
		assert_eq!(t.lookup("198.51.100.7".parse().unwrap()), Some(&at("DE", 64501)));
		assert_eq!(t.lookup("198.51.100.200".parse().unwrap()), Some(&at("FR", 64502)));
		assert_eq!(t.lookup("198.51.7.1".parse().unwrap()), Some(&at("DE", 64500)));
		assert_eq!(t.lookup("2001:db8:1::1".parse().unwrap()), Some(&at("JP", 64510)));
		assert_eq!(t.lookup("2001:db8:ff::1".parse().unwrap()), Some(&at("US", 64511)));
		assert_eq!(t.lookup("203.0.113.1".parse().unwrap()), None);
	}

	#[test]
	fn v4_and_v6_do_not_mix() {
		let t = PrefixTable::parse("0.0.0.0/0,US,1\n", Path::new("t")).unwrap();
		assert!(t.lookup("::1".parse().unwrap()).is_none());
		assert!(t.lookup("10.1.2.3".parse().unwrap()).is_some());
	}

	#[test]
	fn errors_name_file_and_line() {
		for (text, fragment) in [
			("10.0.0.0/8,US\n", "expected `prefix,country,asn`"),
			("# c\n10.0.0.0,US,1\n", ":2: \"10.0.0.0\" has no /length"),
			("10.0.0.0/33,US,1\n", "longer than 32"),
			("10.0.0.0/8,USA,1\n", "two-letter"),
			("10.0.0.0/8,US,x\n", "AS number"),
		] {
			let err = PrefixTable::parse(text, Path::new("p.csv")).unwrap_err().to_string();
			assert!(err.contains("p.csv:") && err.contains(fragment), "{err}");
		}
	}

	#[test]
	fn egress_choice_prefers_same_as_then_country() {
		let t = table();
		let dest = "198.51.100.7".parse().unwrap(); // DE, AS64501
		let candidates = [Some(at("US", 1)), Some(at("DE", 2)), Some(at("DE", 64501))];
		assert_eq!(closest_egress(&t, dest, &candidates), Some(2));
		assert_eq!(closest_egress(&t, dest, &candidates[..2]), Some(1));
		assert_eq!(closest_egress(&t, dest, &candidates[..1]), Some(0));
		assert_eq!(closest_egress(&t, dest, &[]), None);
	}
}
