//! The consumer's consent to a flow version: its sr25519 signature over what the version is
//! (origin, flow, version, destination, path; see [`SetupTerms::consent_payload`]), carried in
//! every setup and checked by every relay on the path before it installs the version.
//!
//! What a liar could gain, and why it does not:
//!
//! - *An origin that bills someone else*: it names another account as the consumer; without
//!   that account's key (or its delegate receipt key) the consent does not verify, and no relay
//!   installs the version, so nothing is carried, counted or receipted for it.
//! - *An origin that reuses a consent* for another path, destination, flow or version: the
//!   consent covers each of them, and fails for any other.
//! - *A relay on the path that swaps the consumer or the consent*: the origin's ed25519
//!   signature covers both; the setup is dropped.
//! - *Receipts of another consumer* for a version: a relay keeps only receipts that name the
//!   version's consumer (see `RelayCore::on_receipt`).
//!
//! The ingress signs once per version (re-announcements carry the same consent), and a relay
//! that holds a version with the same consumer and consent bytes does not check it again, so
//! the sr25519 work is one signature and one verification per relay and version.

use super::wire::{NodeId, SetupTerms};
use std::sync::Arc;
use subxt_signer::sr25519::{verify, Keypair, PublicKey, Signature};

/// The consumer an ingress sets its flows up for, with the key that signs its consent (the
/// account key, which the chain always accepts, or a delegate receipt key).
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
	/// `account`, whose consent `key` signs.
	pub fn new(account: NodeId, key: Arc<Keypair>) -> Self {
		Self { account, key }
	}

	/// The consumer a relay in a static group sets its flows up for: nobody pays there, but
	/// each version is still bound to one consumer. Its key is derived from the relay's pulse
	/// key seed (a key of its own, under its own domain), its account is that key's public
	/// key, so no file or setting is needed. `None` only if the derived bytes are not a
	/// valid secret (they always are for sr25519 mini secrets).
	pub fn derived_from(pulse_seed: &[u8; 32]) -> Option<Self> {
		let seed = blake3::derive_key(STATIC_CONSUMER_CONTEXT, pulse_seed);
		let key = Keypair::from_secret_key(seed).ok()?;
		Some(Self { account: key.public_key().0, key: Arc::new(key) })
	}

	/// The paying account.
	pub fn account(&self) -> NodeId {
		self.account
	}

	/// The consent to `terms` (whose `consumer` must be this account).
	pub fn consent(&self, terms: &SetupTerms) -> [u8; 64] {
		self.key.sign(&terms.consent_payload()).0
	}
}

/// Whether `consent` is a signature over `terms` by `key` (the consumer's account itself when
/// `key` is its account id).
pub fn verifies(terms: &SetupTerms, consent: &[u8; 64], key: &[u8; 32]) -> bool {
	verify(&Signature(*consent), terms.consent_payload(), &PublicKey(*key))
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
		let account = consumer.account();
		let signed = terms(account);
		let consent = consumer.consent(&signed);
		assert!(verifies(&signed, &consent, &account));
		assert!(
			verifies(&SetupTerms { time_ms: 1, ..signed }, &consent, &account),
			"re-announcements at a later time keep it"
		);
		let others = [
			SetupTerms { origin: [9; 32], ..signed },
			SetupTerms { flow: 8, ..signed },
			SetupTerms { version: 3, ..signed },
			SetupTerms { destination: "127.0.0.1:9001".parse().unwrap(), ..signed },
			SetupTerms { path: Path::from_slice(&[0, 2]).unwrap(), ..signed },
		];
		for other in others {
			assert!(!verifies(&other, &consent, &account), "{other:?}");
		}
		let stranger = Consumer::derived_from(&[5; 32]).unwrap();
		assert_ne!(stranger.account(), account, "each relay derives a key of its own");
		assert!(!verifies(&signed, &consent, &stranger.account()));
		assert!(!verifies(&signed, &[0; 64], &account));
	}
}
