//! The consumer's consent to a flow version: its account key's sr25519 signature over what
//! the version is (the chain or group it runs in, the origin, the flow, its version, its
//! destination and the ids of the relays on its path; see [`payload`]), carried in every
//! setup and checked by every relay on the path before it installs the version.
//!
//! What a liar could gain, and why it does not:
//!
//! - *An origin that bills someone else*: it names another account as the consumer; without
//!   that account's key the consent does not verify, and no relay installs the version, so
//!   nothing is carried, counted or receipted for it.
//! - *An origin that reuses a consent* for another path (other relays, or the same indices
//!   after a regroup renumbered them), destination, flow, version, group or chain: the consent
//!   covers each of them, and fails for any other.
//! - *A relay on the path that swaps the consumer or the consent*: the origin's ed25519
//!   signature covers both; the setup is dropped.
//! - *Receipts of another consumer* for a version: a relay keeps only receipts that name the
//!   version's consumer (see `RelayCore::on_receipt`).
//! - *Making relays verify*: a relay checks a consent only for a setup from the origin
//!   itself (the gate checked its signature and budget), that names this relay on its path,
//!   and that would change what the relay holds (a new version); a re-announcement of the
//!   version it holds, with the same consent bytes, is not checked again. One sr25519
//!   verification, never a lookup: only the account key consents (a delegate key would need
//!   the consumer's terms from the chain, which anyone could make a relay fetch for accounts
//!   of their choosing).

use super::wire::{address_bytes, NodeId, SetupTerms};
use std::sync::Arc;
use subxt_signer::sr25519::{verify, Keypair, PublicKey, Signature};

/// Domain of [`payload`].
const CONSENT_DOMAIN: &[u8] = b"srwan/flow-consent/v1";

/// Where a flow version runs, beyond its setup's terms: the chain (its genesis hash; zeros
/// for a static group), the group, and the ids of the relays on the path, ingress first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
	/// The chain's genesis hash, zeros without a chain.
	pub genesis: [u8; 32],
	/// The group the path's member indices refer to.
	pub group: u32,
	/// The ids of `terms.path`'s members.
	pub path: Vec<NodeId>,
}

/// What the consumer signs: the domain, the chain, the group, the consumer, the origin, the
/// flow, its setup version, its destination and its relays (not the time: the origin signs
/// once per version, and its re-announcements carry the same consent).
pub fn payload(terms: &SetupTerms, context: &Context) -> Vec<u8> {
	let mut payload = Vec::with_capacity(
		CONSENT_DOMAIN.len() + 32 + 4 + 32 + 32 + 8 + 4 + 19 + 1 + 32 * context.path.len(),
	);
	payload.extend_from_slice(CONSENT_DOMAIN);
	payload.extend_from_slice(&context.genesis);
	payload.extend_from_slice(&context.group.to_be_bytes());
	payload.extend_from_slice(&terms.consumer);
	payload.extend_from_slice(&terms.origin);
	payload.extend_from_slice(&terms.flow.to_be_bytes());
	payload.extend_from_slice(&terms.version.to_be_bytes());
	let (family, ip) = address_bytes(&terms.destination);
	payload.push(family);
	payload.extend_from_slice(&ip);
	payload.extend_from_slice(&terms.destination.port().to_be_bytes());
	payload.push(context.path.len() as u8);
	for id in &context.path {
		payload.extend_from_slice(id);
	}
	payload
}

/// The consumer an ingress sets its flows up for, with its account key.
#[derive(Clone)]
pub struct Consumer {
	account: NodeId,
	key: Arc<Keypair>,
}

impl core::fmt::Debug for Consumer {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		f.debug_struct("Consumer").field("account", &crate::hex::encode(&self.account)).finish()
	}
}

/// Domain of the key a static group's relay derives for its consumer.
const STATIC_CONSUMER_CONTEXT: &str = "srwan 2026-12 static-group consumer key from the pulse key";

impl Consumer {
	/// The account whose key is `key`.
	pub fn new(key: Arc<Keypair>) -> Self {
		Self { account: key.public_key().0, key }
	}

	/// The consumer a relay in a static group sets its flows up for when no key is
	/// configured: nobody pays there, but each version is still bound to one consumer. Its key
	/// is derived from the relay's pulse key seed (a key of its own, under its own domain).
	/// `None` only if the derived bytes are not a valid secret (they always are for sr25519
	/// mini secrets).
	pub fn derived_from(pulse_seed: &[u8; 32]) -> Option<Self> {
		let seed = blake3::derive_key(STATIC_CONSUMER_CONTEXT, pulse_seed);
		Some(Self::new(Arc::new(Keypair::from_secret_key(seed).ok()?)))
	}

	/// The paying account.
	pub fn account(&self) -> NodeId {
		self.account
	}

	/// The consent to `terms` (whose `consumer` must be this account) in `context`.
	pub fn consent(&self, terms: &SetupTerms, context: &Context) -> [u8; 64] {
		self.key.sign(&payload(terms, context)).0
	}
}

/// Whether `consent` is the signature of `terms.consumer`'s account key over `terms` in
/// `context`.
pub fn verifies(terms: &SetupTerms, context: &Context, consent: &[u8; 64]) -> bool {
	verify(&Signature(*consent), payload(terms, context), &PublicKey(terms.consumer))
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::proto::wire::heapless_path::Path;

	fn terms(consumer: NodeId) -> SetupTerms {
		SetupTerms {
			origin: [1; 32],
			flow: 7,
			version: 2,
			time_ms: 1_700_000_000_000,
			destination: "127.0.0.1:9000".parse().unwrap(),
			path: Path::from_slice(&[0, 1, 2]).unwrap(),
			consumer,
		}
	}

	#[test]
	fn a_consent_holds_for_its_terms_alone_whatever_the_time() {
		let consumer = Consumer::derived_from(&[4; 32]).unwrap();
		let signed = terms(consumer.account());
		let ids = [[1; 32], [5; 32], [6; 32]];
		let here = Context { genesis: [9; 32], group: 3, path: ids.to_vec() };
		let consent = consumer.consent(&signed, &here);
		assert!(verifies(&signed, &here, &consent));
		assert!(
			verifies(&SetupTerms { time_ms: 1, ..signed }, &here, &consent),
			"re-announcements at a later time keep it"
		);
		let others = [
			SetupTerms { origin: [9; 32], ..signed },
			SetupTerms { flow: 8, ..signed },
			SetupTerms { version: 3, ..signed },
			SetupTerms { destination: "127.0.0.1:9001".parse().unwrap(), ..signed },
			SetupTerms { consumer: [3; 32], ..signed },
		];
		for other in others {
			assert!(!verifies(&other, &here, &consent), "{other:?}");
		}
		// The same indices naming other relays (a regroup), another group or chain.
		let renumbered = [[1; 32], [7; 32], [6; 32]];
		let elsewhere = [
			Context { path: renumbered.to_vec(), ..here.clone() },
			Context { group: 4, ..here.clone() },
			Context { genesis: [8; 32], ..here.clone() },
		];
		for context in elsewhere {
			assert!(!verifies(&signed, &context, &consent), "{context:?}");
		}
		let stranger = Consumer::derived_from(&[5; 32]).unwrap();
		assert_ne!(stranger.account(), consumer.account(), "each relay derives a key of its own");
		assert!(!verifies(&terms(stranger.account()), &here, &consent));
		assert!(!verifies(&signed, &here, &[0; 64]));
	}
}
