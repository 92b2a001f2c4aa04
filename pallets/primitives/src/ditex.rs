//! The DITEX's public vocabulary: how a router is reached (endpoint), where it is (geo), what
//! it measured (rows), and what it charges (listings with premium windows). The runtime stores
//! these, the node's RPC shows them and the relay agent builds them, so they live here in SCALE
//! form. Validation is here too, as pure functions with one error per distinct bad input.

use crate::currency::Balance;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// A group of routers that measure each other (v1 paths stay inside one group).
pub type GroupId = u32;
/// A metering epoch (`EpochLength` blocks).
pub type EpochIndex = u32;
/// A report period (`ReportPeriod` blocks).
pub type PeriodIndex = u32;

/// Where a router receives pulses and data: an IPv4 or IPv6 socket address.
#[derive(
	Clone,
	Copy,
	Debug,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub enum Endpoint {
	/// IPv4 address (network order) and UDP port.
	V4 {
		/// Address octets.
		ip: [u8; 4],
		/// UDP port.
		port: u16,
	},
	/// IPv6 address (network order) and UDP port.
	V6 {
		/// Address octets.
		ip: [u8; 16],
		/// UDP port.
		port: u16,
	},
}

/// Why an endpoint cannot be used to reach a router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointError {
	/// `0.0.0.0` or `::`: nobody can send to it.
	Unspecified,
	/// A multicast (or the IPv4 broadcast) address: not one router.
	Multicast,
	/// Port 0 cannot be sent to.
	ZeroPort,
}

impl Endpoint {
	/// Checks that peers can send datagrams to this address.
	pub fn validate(&self) -> Result<(), EndpointError> {
		let (unspecified, multicast, port) = match self {
			Endpoint::V4 { ip, port } => {
				(*ip == [0; 4], (224..=239).contains(&ip[0]) || *ip == [255; 4], *port)
			}
			Endpoint::V6 { ip, port } => (*ip == [0; 16], ip[0] == 0xff, *port),
		};
		if unspecified {
			return Err(EndpointError::Unspecified);
		}
		if multicast {
			return Err(EndpointError::Multicast);
		}
		if port == 0 {
			return Err(EndpointError::ZeroPort);
		}
		Ok(())
	}
}

#[cfg(feature = "std")]
impl From<std::net::SocketAddr> for Endpoint {
	fn from(addr: std::net::SocketAddr) -> Self {
		match addr {
			std::net::SocketAddr::V4(a) => Endpoint::V4 { ip: a.ip().octets(), port: a.port() },
			std::net::SocketAddr::V6(a) => Endpoint::V6 { ip: a.ip().octets(), port: a.port() },
		}
	}
}

#[cfg(feature = "std")]
impl From<Endpoint> for std::net::SocketAddr {
	fn from(endpoint: Endpoint) -> Self {
		match endpoint {
			Endpoint::V4 { ip, port } => (std::net::Ipv4Addr::from(ip), port).into(),
			Endpoint::V6 { ip, port } => (std::net::Ipv6Addr::from(ip), port).into(),
		}
	}
}

/// Latitude bound in 1e-4 degrees.
pub const MAX_LATITUDE: i32 = 90_0000;
/// Longitude bound in 1e-4 degrees.
pub const MAX_LONGITUDE: i32 = 180_0000;

/// Where a router is: what groups spread across and what path choice reads.
#[derive(
	Clone,
	Copy,
	Debug,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct Geo {
	/// ISO 3166-1 alpha-2 country code, upper case ASCII (`*b"DE"`).
	pub country: [u8; 2],
	/// Autonomous system number of the router's uplink.
	pub asn: u32,
	/// Latitude in 1e-4 degrees, `-900000..=900000`.
	pub lat: i32,
	/// Longitude in 1e-4 degrees, `-1800000..=1800000`.
	pub lon: i32,
}

/// Why a location is rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeoError {
	/// The country is not two upper-case ASCII letters.
	Country,
	/// ASN 0 and 4294967295 are reserved (RFC 7607, RFC 7300).
	Asn,
	/// Latitude outside ±90°.
	Latitude,
	/// Longitude outside ±180°.
	Longitude,
}

impl Geo {
	/// Checks the location's fields.
	pub fn validate(&self) -> Result<(), GeoError> {
		if !self.country.iter().all(u8::is_ascii_uppercase) {
			return Err(GeoError::Country);
		}
		if self.asn == 0 || self.asn == u32::MAX {
			return Err(GeoError::Asn);
		}
		if !(-MAX_LATITUDE..=MAX_LATITUDE).contains(&self.lat) {
			return Err(GeoError::Latitude);
		}
		if !(-MAX_LONGITUDE..=MAX_LONGITUDE).contains(&self.lon) {
			return Err(GeoError::Longitude);
		}
		Ok(())
	}
}

/// One entry of a router's inbound row: what it measured of one peer's pulses in a period.
#[derive(
	Clone,
	Copy,
	Debug,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct PeerMeasurement<AccountId> {
	/// The peer that sent the pulses (the segment is peer → reporter).
	pub peer: AccountId,
	/// Median one-way delay in µs, offset-relative: may be negative.
	pub owd_us: i32,
	/// Round-trip time in µs.
	pub rtt_us: u32,
	/// Jitter in µs (RFC 3550 style).
	pub jitter_us: u32,
	/// Loss in parts per million.
	pub loss_ppm: u32,
	/// Pulses the figures rest on.
	pub samples: u32,
}

/// Minutes in a day; window minutes are `0..MINUTES_PER_DAY`.
pub const MINUTES_PER_DAY: u16 = 1440;
/// Minutes in a week.
pub const MINUTES_PER_WEEK: u32 = 7 * MINUTES_PER_DAY as u32;

/// A time window in which a router sells at a different price and promises an RTT.
#[derive(
	Clone,
	Copy,
	Debug,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct PremiumWindow {
	/// UTC weekdays on which the window *starts*: bit 0 Monday … bit 6 Sunday.
	pub weekdays: u8,
	/// First minute of the window (UTC, `0..1440`).
	pub start_minute: u16,
	/// Minute the window ends, exclusive (`0..1440`); smaller than `start_minute` = the window
	/// runs past midnight into the next day.
	pub end_minute: u16,
	/// Price per GB (10^9 octets) inside the window.
	#[cfg_attr(feature = "std", serde(with = "crate::serde_balance"))]
	pub price_per_gb: Balance,
	/// The largest RTT the router promises inside the window, µs.
	pub max_rtt_us: u32,
}

/// Why a set of premium windows is rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowError {
	/// No weekday, or bit 7 set.
	Weekdays,
	/// A minute outside `0..1440`.
	Minute,
	/// Start equals end: an empty (or ambiguous whole-day) window.
	Empty,
	/// Two windows cover the same minute.
	Overlap,
}

impl PremiumWindow {
	/// The window's minute-of-week intervals `[start, end)`; an interval that runs past the
	/// end of Sunday is split so every interval lies inside `0..MINUTES_PER_WEEK`.
	fn intervals(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
		(0..7u32).filter(move |day| self.weekdays & (1 << day) != 0).flat_map(move |day| {
			let start = day * u32::from(MINUTES_PER_DAY) + u32::from(self.start_minute);
			let mut end = day * u32::from(MINUTES_PER_DAY) + u32::from(self.end_minute);
			if self.end_minute <= self.start_minute {
				end += u32::from(MINUTES_PER_DAY);
			}
			let first = (start, end.min(MINUTES_PER_WEEK));
			let wrapped = (end > MINUTES_PER_WEEK).then(|| (0, end - MINUTES_PER_WEEK));
			core::iter::once(first).chain(wrapped)
		})
	}

	/// Whether minute-of-week `minute` (0 = Monday 00:00 UTC) falls inside the window.
	pub fn contains(&self, minute: u32) -> bool {
		self.intervals().any(|(start, end)| (start..end).contains(&minute))
	}

	fn validate(&self) -> Result<(), WindowError> {
		if self.weekdays == 0 || self.weekdays & 0x80 != 0 {
			return Err(WindowError::Weekdays);
		}
		if self.start_minute >= MINUTES_PER_DAY || self.end_minute >= MINUTES_PER_DAY {
			return Err(WindowError::Minute);
		}
		if self.start_minute == self.end_minute {
			return Err(WindowError::Empty);
		}
		Ok(())
	}
}

/// Checks each window and that no two cover the same minute of the week.
pub fn validate_windows(windows: &[PremiumWindow]) -> Result<(), WindowError> {
	for window in windows {
		window.validate()?;
	}
	for (i, a) in windows.iter().enumerate() {
		for b in windows.iter().skip(i + 1) {
			let overlap =
				a.intervals().any(|(s1, e1)| b.intervals().any(|(s2, e2)| s1 < e2 && s2 < e1));
			if overlap {
				return Err(WindowError::Overlap);
			}
		}
	}
	Ok(())
}

/// Minute of the week (0 = Monday 00:00 UTC) of a unix time in milliseconds.
pub fn minute_of_week(unix_ms: u64) -> u32 {
	const MS_PER_MINUTE: u64 = 60_000;
	// 1970-01-01 was a Thursday: three days after a Monday.
	let minutes = unix_ms / MS_PER_MINUTE + 3 * u64::from(MINUTES_PER_DAY);
	(minutes % u64::from(MINUTES_PER_WEEK)) as u32
}

/// The price in force for a moment: a premium window's, or the base price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct PriceInForce {
	/// Price per GB; `None` = infinite (not for sale).
	#[cfg_attr(feature = "std", serde(with = "crate::serde_balance::option"))]
	pub price_per_gb: Option<Balance>,
	/// The premium window that applied, by index, with its promised RTT.
	pub premium: Option<(u8, u32)>,
}

/// Picks the price in force at `minute` of the week from a base price and its windows. A router
/// listed as not for sale (`base` is `None`) sells nothing, windows or not.
pub fn price_at(base: Option<Balance>, windows: &[PremiumWindow], minute: u32) -> PriceInForce {
	if base.is_none() {
		return PriceInForce { price_per_gb: None, premium: None };
	}
	windows
		.iter()
		.enumerate()
		.find(|(_, window)| window.contains(minute))
		.map(|(index, window)| PriceInForce {
			price_per_gb: Some(window.price_per_gb),
			premium: Some((index as u8, window.max_rtt_us)),
		})
		.unwrap_or(PriceInForce { price_per_gb: base, premium: None })
}

#[cfg(test)]
mod tests {
	use super::*;

	fn window(weekdays: u8, start: u16, end: u16) -> PremiumWindow {
		PremiumWindow {
			weekdays,
			start_minute: start,
			end_minute: end,
			price_per_gb: 7,
			max_rtt_us: 50_000,
		}
	}

	#[test]
	fn endpoints_that_cannot_be_reached_are_rejected() {
		let ok = Endpoint::V4 { ip: [192, 0, 2, 1], port: 4500 };
		assert_eq!(ok.validate(), Ok(()));
		assert_eq!(
			Endpoint::V4 { ip: [0; 4], port: 1 }.validate(),
			Err(EndpointError::Unspecified)
		);
		assert_eq!(
			Endpoint::V4 { ip: [239, 1, 1, 1], port: 1 }.validate(),
			Err(EndpointError::Multicast)
		);
		assert_eq!(
			Endpoint::V4 { ip: [255; 4], port: 1 }.validate(),
			Err(EndpointError::Multicast)
		);
		assert_eq!(
			Endpoint::V4 { ip: [192, 0, 2, 1], port: 0 }.validate(),
			Err(EndpointError::ZeroPort)
		);
		assert_eq!(
			Endpoint::V6 { ip: [0; 16], port: 1 }.validate(),
			Err(EndpointError::Unspecified)
		);
		let mut multicast = [0u8; 16];
		multicast[0] = 0xff;
		assert_eq!(
			Endpoint::V6 { ip: multicast, port: 1 }.validate(),
			Err(EndpointError::Multicast)
		);
		let addr: std::net::SocketAddr = "[2001:db8::1]:9".parse().unwrap();
		assert_eq!(std::net::SocketAddr::from(Endpoint::from(addr)), addr);
	}

	#[test]
	fn geo_fields_are_checked_one_by_one() {
		let ok = Geo { country: *b"DE", asn: 3320, lat: 52_5200, lon: 13_4050 };
		assert_eq!(ok.validate(), Ok(()));
		assert_eq!(Geo { country: *b"de", ..ok }.validate(), Err(GeoError::Country));
		assert_eq!(Geo { asn: 0, ..ok }.validate(), Err(GeoError::Asn));
		assert_eq!(Geo { lat: 90_0001, ..ok }.validate(), Err(GeoError::Latitude));
		assert_eq!(Geo { lon: -180_0001, ..ok }.validate(), Err(GeoError::Longitude));
		assert_eq!(Geo { lat: -90_0000, lon: 180_0000, ..ok }.validate(), Ok(()));
	}

	#[test]
	fn windows_wrap_at_midnight_and_at_the_end_of_the_week() {
		// Sunday 22:00 → Monday 02:00.
		let sunday_night = window(1 << 6, 22 * 60, 2 * 60);
		let sunday_22 = 6 * 1440 + 22 * 60;
		assert!(sunday_night.contains(sunday_22));
		assert!(sunday_night.contains(MINUTES_PER_WEEK - 1));
		assert!(sunday_night.contains(0));
		assert!(sunday_night.contains(119));
		assert!(!sunday_night.contains(120), "end is exclusive");
		assert!(!sunday_night.contains(sunday_22 - 1));
		// Monday only: Tuesday's same minutes are outside.
		let monday = window(1, 9 * 60, 17 * 60);
		assert!(monday.contains(9 * 60));
		assert!(!monday.contains(1440 + 9 * 60), "weekday boundary");
	}

	#[test]
	fn overlapping_or_malformed_windows_are_rejected() {
		let night = window(0x7f, 22 * 60, 6 * 60);
		let day = window(0x7f, 6 * 60, 22 * 60);
		assert_eq!(validate_windows(&[night, day]), Ok(()), "adjacent windows do not overlap");
		assert_eq!(
			validate_windows(&[night, window(1, 5 * 60, 7 * 60)]),
			Err(WindowError::Overlap),
			"Sunday night wraps into Monday 05:00"
		);
		assert_eq!(validate_windows(&[window(0, 1, 2)]), Err(WindowError::Weekdays));
		assert_eq!(validate_windows(&[window(0x80 | 1, 1, 2)]), Err(WindowError::Weekdays));
		assert_eq!(validate_windows(&[window(1, 1440, 2)]), Err(WindowError::Minute));
		assert_eq!(validate_windows(&[window(1, 5, 5)]), Err(WindowError::Empty));
	}

	#[test]
	fn unix_time_maps_to_the_utc_minute_of_the_week() {
		assert_eq!(minute_of_week(0), 3 * 1440, "1970-01-01 00:00 was a Thursday");
		// 2026-11-23 00:00 UTC was a Monday.
		assert_eq!(minute_of_week(1_795_392_000_000), 0);
		assert_eq!(minute_of_week(1_795_392_000_000 + 61_000), 1);
	}

	#[test]
	fn premium_price_applies_inside_its_window_only() {
		let windows = [window(1, 60, 120)];
		assert_eq!(price_at(None, &windows, 0), PriceInForce { price_per_gb: None, premium: None });
		assert_eq!(
			price_at(Some(3), &windows, 60),
			PriceInForce { price_per_gb: Some(7), premium: Some((0, 50_000)) }
		);
	}

	#[test]
	fn a_router_not_for_sale_sells_no_window() {
		let windows = [window(1, 60, 120)];
		assert_eq!(
			price_at(None, &windows, 60),
			PriceInForce { price_per_gb: None, premium: None }
		);
	}
}
