//! A router's listing, from the config to the `ditex.register_router` call.

use super::{
	srwan::{
		self,
		runtime_types::{
			pallet_ditex::types::RouterStatus,
			srwan_primitives::ditex::{Endpoint, Geo},
		},
	},
	ChainCall, Client, Submitter,
};
use crate::config::{parse_price, ConfigError, RouterListing};
use std::net::SocketAddr;
use subxt::utils::AccountId32;

/// What `register_router` takes: endpoint, location, pulse key and price (`None`: not for sale).
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
	/// Where peers send to.
	pub endpoint: SocketAddr,
	/// ISO country code.
	pub country: [u8; 2],
	/// Uplink AS.
	pub asn: u32,
	/// Latitude in 1e-4 degrees.
	pub lat: i32,
	/// Longitude in 1e-4 degrees.
	pub lon: i32,
	/// The ed25519 pulse key.
	pub pulse_key: [u8; 32],
	/// Plancks per GB, or `None`: not for sale.
	pub price_per_gb: Option<u128>,
}

impl Registration {
	/// The registration of a router listed as `listing`, listening on `listen`, with its
	/// pulse key.
	pub fn new(
		listing: &RouterListing,
		listen: SocketAddr,
		pulse_key: [u8; 32],
	) -> Result<Self, ConfigError> {
		let endpoint = listing.endpoint_or(listen)?;
		let country =
			<[u8; 2]>::try_from(listing.country.as_bytes()).map_err(|_| ConfigError::Invalid {
				key: "chain.router.country".into(),
				reason: format!("{:?} is not two letters", listing.country),
			})?;
		let price_per_gb = parse_price(&listing.price_per_gb).map_err(|reason| {
			ConfigError::Invalid { key: "chain.router.price_per_gb".into(), reason }
		})?;
		// The chain keeps degrees in 1e-4 units; the config was range-checked.
		let fixed = |degrees: f64| (degrees * 10_000.0).round() as i32;
		Ok(Self {
			endpoint,
			country,
			asn: listing.asn,
			lat: fixed(listing.lat),
			lon: fixed(listing.lon),
			pulse_key,
			price_per_gb,
		})
	}

	/// The endpoint as the chain encodes it.
	pub fn chain_endpoint(&self) -> Endpoint {
		match self.endpoint {
			SocketAddr::V4(v4) => Endpoint::V4 { ip: v4.ip().octets(), port: v4.port() },
			SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
				Some(v4) => Endpoint::V4 { ip: v4.octets(), port: v6.port() },
				None => Endpoint::V6 { ip: v6.ip().octets(), port: v6.port() },
			},
		}
	}

	/// Whether the chain's record has this endpoint (the generated types derive no
	/// `PartialEq`).
	pub fn same_endpoint(&self, on_chain: &Endpoint) -> bool {
		match (on_chain, self.chain_endpoint()) {
			(Endpoint::V4 { ip, port }, Endpoint::V4 { ip: wanted_ip, port: wanted_port }) => {
				*ip == wanted_ip && *port == wanted_port
			}
			(Endpoint::V6 { ip, port }, Endpoint::V6 { ip: wanted_ip, port: wanted_port }) => {
				*ip == wanted_ip && *port == wanted_port
			}
			_ => false,
		}
	}

	/// Whether the chain's record has this location.
	pub fn same_geo(&self, on_chain: &Geo) -> bool {
		on_chain.country == self.country
			&& on_chain.asn == self.asn
			&& on_chain.lat == self.lat
			&& on_chain.lon == self.lon
	}

	/// The location as the chain encodes it.
	pub fn chain_geo(&self) -> Geo {
		Geo { country: self.country, asn: self.asn, lat: self.lat, lon: self.lon }
	}
}

/// What the chain lacks of a listing, as the calls that bring it up to date.
#[derive(Clone, Debug, PartialEq)]
pub enum Reconciled {
	/// The listing on chain is the wanted one.
	UpToDate,
	/// These calls make it so.
	Submit(ChainCall),
	/// The router is leaving (unbonding): registering again has to wait until its deposit is
	/// withdrawn.
	Leaving,
}

/// Compares the router's record (with any pulse key it rotates to) and latest price list on
/// chain with `wanted`.
pub async fn reconcile(
	client: &Client,
	account: &AccountId32,
	wanted: &Registration,
) -> Result<Reconciled, subxt::Error> {
	let at = client.at_current_block().await?;
	let storage = at.storage();
	let record = storage.entry(srwan::storage().ditex().routers())?.try_fetch((*account,)).await?;
	let Some(record) = record else {
		return Ok(Reconciled::Submit(ChainCall::Register(wanted.clone())));
	};
	let info = record.decode()?;
	if matches!(info.status, RouterStatus::Unbonding { .. }) {
		return Ok(Reconciled::Leaving);
	}
	// A new pulse key scheduled (or in force but not yet settled) is the one the router asked
	// for: the chain puts it in force at an epoch's start.
	let next_key = storage
		.entry(srwan::storage().ditex().next_pulse_keys())?
		.try_fetch((*account,))
		.await?
		.map(|next| next.decode())
		.transpose()?
		.map(|next| next.key);
	if !wanted.same_endpoint(&info.endpoint)
		|| !wanted.same_geo(&info.geo)
		|| next_key.unwrap_or(info.pulse_key) != wanted.pulse_key
	{
		return Ok(Reconciled::Submit(ChainCall::Register(wanted.clone())));
	}
	let listings =
		storage.entry(srwan::storage().ditex().listings())?.fetch((*account,)).await?.decode()?;
	let price = listings.0.last().and_then(|listing| listing.price_per_gb);
	if price != wanted.price_per_gb {
		return Ok(Reconciled::Submit(ChainCall::SetPrice(wanted.price_per_gb)));
	}
	Ok(Reconciled::UpToDate)
}

/// Keeps the router listed as `wanted` (run by `srwan-relay run` with a `[chain.router]`):
/// reads the chain once it can reach it, and registers, updates or reprices as needed. Never
/// fails: a call that did not get into a block (the pool refused it, the node went away) is
/// tried again after reading the chain again, with backoff; a call the runtime refused is
/// logged, and the relay keeps relaying.
pub async fn keep_listed(
	url: String,
	submitter: Submitter,
	account: AccountId32,
	wanted: Registration,
) {
	let mut failures = 0u32;
	let client = loop {
		match Client::from_insecure_url(&url).await {
			Ok(client) => break client,
			Err(error) => {
				let wait = super::submitter::backoff(failures);
				tracing::warn!(%url, %error, retry_in = ?wait, "chain node unreachable");
				super::submitter::back_off(&mut failures).await;
			}
		}
	};
	// A registration may need the price set after it (an update keeps the old price list), so
	// a few submissions may be needed; a chain that keeps wanting more is left alone.
	let mut submitted = 0u32;
	failures = 0;
	while submitted < MAX_LISTING_SUBMISSIONS {
		match reconcile(&client, &account, &wanted).await {
			Ok(Reconciled::UpToDate) => {
				tracing::info!(%account, "listed in the exchange as configured");
				return;
			}
			Ok(Reconciled::Leaving) => {
				tracing::warn!(%account, "the router is unbonding: withdraw its deposit before registering again");
				return;
			}
			Ok(Reconciled::Submit(call)) => {
				let name = call.name();
				tracing::info!(call = name, "the exchange lists this router differently from [chain.router]: bringing it in line");
				match submitter.submit(call).await {
					Ok(outcome) if outcome.error.is_none() => submitted += 1,
					// The runtime refused it: the same call would be refused again.
					Ok(outcome) => {
						let error = outcome.error.unwrap_or_default();
						tracing::warn!(call = name, %error, "the chain refused the listing");
						return;
					}
					// Not in a block (the pool refused it, e.g. another wallet of this account
					// used the same nonce, or the node went away): read the chain again later.
					Err(error) => {
						let retry_in = super::submitter::backoff(failures);
						tracing::warn!(call = name, %error, ?retry_in, "listing not submitted");
						super::submitter::back_off(&mut failures).await;
					}
				}
			}
			Err(error) => {
				let retry_in = super::submitter::backoff(failures);
				tracing::warn!(%error, ?retry_in, "cannot read the listing on chain");
				super::submitter::back_off(&mut failures).await;
			}
		}
	}
	tracing::warn!(%account, "the listing still differs after {MAX_LISTING_SUBMISSIONS} submissions");
}

/// Submissions that went into blocks after which `keep_listed` stops (a registration and a
/// price need two).
const MAX_LISTING_SUBMISSIONS: u32 = 4;

/// The pulse key the chain scheduled for `account`, with its first epoch (what
/// `srwan-relay key rotate` reports).
pub async fn scheduled_pulse_key(
	client: &Client,
	account: &AccountId32,
) -> Result<Option<([u8; 32], u32)>, subxt::Error> {
	let at = client.at_current_block().await?;
	let api = srwan::runtime_apis().ditex_api();
	let view = at.runtime_apis().call(api.router(*account)).await?;
	Ok(view.and_then(|view| view.next_pulse_key).map(|next| (next.key, next.from_epoch)))
}

#[cfg(test)]
mod tests {
	use super::*;

	fn listing(price: &str) -> RouterListing {
		RouterListing {
			endpoint: None,
			country: "DE".into(),
			asn: 3320,
			lat: 52.52,
			lon: 13.405,
			price_per_gb: price.into(),
		}
	}

	#[test]
	fn a_listing_becomes_the_chains_units() {
		let listen: SocketAddr = "198.51.100.7:7400".parse().unwrap();
		let registration = Registration::new(&listing("0.25"), listen, [3; 32]).unwrap();
		assert_eq!(registration.lat, 525_200);
		assert_eq!(registration.lon, 134_050);
		assert_eq!(registration.price_per_gb, Some(250_000_000_000));
		assert!(matches!(
			registration.chain_endpoint(),
			Endpoint::V4 { ip: [198, 51, 100, 7], port: 7400 }
		));
		let v4_mapped: SocketAddr = "[::ffff:198.51.100.7]:7400".parse().unwrap();
		let registration = Registration::new(&listing("infinite"), v4_mapped, [3; 32]).unwrap();
		assert_eq!(registration.price_per_gb, None);
		assert!(matches!(registration.chain_endpoint(), Endpoint::V4 { .. }));
	}
}
