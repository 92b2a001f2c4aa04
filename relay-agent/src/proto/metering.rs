//! Metering of other consumers' flows at the relays on their paths (chain mode).
//!
//! The ingress signs a cumulative [`UsageReceipt`] per flow version and epoch about every
//! second and passes it along the version's path in a receipt datagram
//! ([`super::wire::ReceiptPacket`]). Every relay on the path checks it against what it carried
//! of that version (the path, the hop it came from) and the consumer's key, keeps the newest, and
//! claims it: the chain pays a link only up to what a receipt held by one of its ends vouches for.
//!
//! What a lying consumer could gain, and why it does not:
//!
//! - *Never receipting*: a relay carries at most [`MeteringConfig::credit_window`] octets of a
//!   flow version per epoch beyond its newest receipt, then drops the version's data.
//! - *Receipting less than it sent*: the same window bounds the gap.
//! - *An empty escrow*: receipts name the consumer; one whose escrow backs less than the chain's
//!   minimum is refused (the agent refreshes each consumer's terms every epoch).
//! - *Receipts signed by another key, for another path or flow, or replayed*: each is checked
//!   here (signature by the account or the delegate key in force for the epoch; path, flow id
//!   and previous hop of what this relay carried; a nonce above the held one) and dropped.
//!
//! A member on the path that forges or alters receipts gains nothing either: it cannot sign for
//! the consumer, and a receipt only moves pay on the links of the path it names.

use super::wire::NodeId;
use blake2::{digest::consts::U16, Blake2b, Digest};
use srwan_primitives::receipts::{FlowId, SignedReceipt};
use std::collections::{BTreeSet, HashMap};

/// Domain of [`flow_id`].
const FLOW_ID_DOMAIN: &[u8] = b"srwan/flow-id/v1";

/// The receipt's id of flow `flow` of `origin` at setup `version`: each installed path (and
/// each key) of a flow is receipted on its own.
pub fn flow_id(origin: &NodeId, flow: u64, version: u32) -> FlowId {
	let mut hasher = Blake2b::<U16>::new();
	hasher.update(FLOW_ID_DOMAIN);
	hasher.update(origin);
	hasher.update(flow.to_le_bytes());
	hasher.update(version.to_le_bytes());
	hasher.finalize().into()
}

/// Consumers whose terms the agent has not fetched yet that a relay remembers asking about;
/// beyond it, receipts of further unknown consumers are dropped until the list drains.
pub const MAX_WANTED_CONSUMERS: usize = 64;

/// Consumers whose terms a relay keeps.
pub const MAX_KNOWN_CONSUMERS: usize = 4_096;

/// What the chain says about one consumer, as the agent last read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerTerms {
	/// The delegate receipt key (or none) from each epoch on, oldest first.
	pub receipt_keys: Vec<(u32, Option<[u8; 32]>)>,
	/// Whether its escrow backs at least the chain's minimum for the current epoch.
	pub escrow_ok: bool,
}

impl ConsumerTerms {
	/// The delegate key in force for `epoch`, if any.
	pub fn key_at(&self, epoch: u32) -> Option<[u8; 32]> {
		self.receipt_keys.iter().rev().find(|(from, _)| *from <= epoch).and_then(|(_, key)| *key)
	}
}

/// Settings of the metering (from the chain the agent follows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeteringConfig {
	/// The chain's genesis hash: receipts are signed for one chain.
	pub genesis: [u8; 32],
	/// Octets of one origin's flows a relay carries per epoch beyond their newest receipts.
	pub credit_window: u64,
	/// This relay's price per GB: a receipt capping the price below it stops the flow.
	/// `None`: not for sale (listed at an infinite price): others' flows are not carried.
	pub price_per_gb: Option<u128>,
}

/// Why a receipt was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptReject {
	/// Its consumer's terms are not known yet (the agent was asked to fetch them).
	UnknownConsumer,
	/// Signed by neither the consumer's account nor its delegate key for the epoch.
	BadSignature,
}

/// The consumers a relay knows, and those it still has to learn about.
#[derive(Clone, Debug)]
pub struct Metering {
	config: MeteringConfig,
	consumers: HashMap<[u8; 32], ConsumerTerms>,
	wanted: BTreeSet<[u8; 32]>,
}

impl Metering {
	/// Metering under `config`, knowing no consumer yet.
	pub fn new(config: MeteringConfig) -> Self {
		Self { config, consumers: HashMap::new(), wanted: BTreeSet::new() }
	}

	/// The settings.
	pub fn config(&self) -> &MeteringConfig {
		&self.config
	}

	/// What `earlier` (a core this one replaces) knew of the consumers, under this one's
	/// settings; nothing if it metered for another chain.
	pub fn adopt(&mut self, earlier: Metering) {
		if earlier.config.genesis == self.config.genesis {
			self.consumers = earlier.consumers;
			self.wanted = earlier.wanted;
		}
	}

	/// Sets what the chain says about `consumer` (from the agent).
	pub fn set_consumer(&mut self, consumer: [u8; 32], terms: ConsumerTerms) {
		self.wanted.remove(&consumer);
		if self.consumers.len() >= MAX_KNOWN_CONSUMERS && !self.consumers.contains_key(&consumer) {
			// Forget an arbitrary one: it is fetched again when its next receipt comes.
			if let Some(old) = self.consumers.keys().next().copied() {
				self.consumers.remove(&old);
			}
		}
		self.consumers.insert(consumer, terms);
	}

	/// The consumer's terms, if known.
	pub fn consumer(&self, consumer: &[u8; 32]) -> Option<&ConsumerTerms> {
		self.consumers.get(consumer)
	}

	/// Every known consumer (the agent refreshes them each epoch).
	pub fn known(&self) -> Vec<[u8; 32]> {
		self.consumers.keys().copied().collect()
	}

	/// Takes the consumers whose terms the agent should fetch.
	pub fn take_wanted(&mut self) -> Vec<[u8; 32]> {
		std::mem::take(&mut self.wanted).into_iter().collect()
	}

	/// Asks the agent to read `consumer`'s terms (again), within [`MAX_WANTED_CONSUMERS`].
	fn want(&mut self, consumer: [u8; 32]) {
		if self.wanted.len() < MAX_WANTED_CONSUMERS {
			self.wanted.insert(consumer);
		}
	}

	/// Checks a receipt's signature: by the consumer's account, or by its delegate key in force
	/// for the receipt's epoch (as the chain does). A known consumer's receipt that fails is
	/// a reason to read its terms again (its delegate key may have changed).
	pub fn verify(&mut self, signed: &SignedReceipt<NodeId>) -> Result<(), ReceiptReject> {
		let receipt = &signed.receipt;
		let Some(terms) = self.consumers.get(&receipt.consumer) else {
			self.want(receipt.consumer);
			return Err(ReceiptReject::UnknownConsumer);
		};
		use subxt_signer::sr25519::{verify, PublicKey, Signature};
		let payload = receipt.signing_payload(&self.config.genesis);
		let signature = Signature(signed.signature);
		let by = |key: [u8; 32]| verify(&signature, &payload, &PublicKey(key));
		if terms.key_at(receipt.epoch).is_some_and(by) || by(receipt.consumer) {
			Ok(())
		} else {
			self.want(receipt.consumer);
			Err(ReceiptReject::BadSignature)
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use srwan_primitives::receipts::{RouterPath, UsageReceipt};
	use subxt_signer::sr25519::Keypair;

	fn signed(
		key: &Keypair,
		consumer: [u8; 32],
		epoch: u32,
		genesis: [u8; 32],
	) -> SignedReceipt<NodeId> {
		let receipt = UsageReceipt {
			consumer,
			flow: flow_id(&[1; 32], 7, 1),
			path: RouterPath::truncate_from(vec![[1; 32], [2; 32]]),
			epoch,
			fwd_octets: 10,
			rev_octets: 0,
			max_price_per_gb: 1,
			nonce: 1,
		};
		let signature = key.sign(&receipt.signing_payload(&genesis)).0;
		SignedReceipt { receipt, signature }
	}

	#[test]
	fn receipts_verify_under_the_account_or_the_delegate_in_force_only() {
		let account = Keypair::from_secret_key([1; 32]).unwrap();
		let delegate = Keypair::from_secret_key([2; 32]).unwrap();
		let stranger = Keypair::from_secret_key([3; 32]).unwrap();
		let consumer = account.public_key().0;
		let genesis = [9; 32];
		let mut metering =
			Metering::new(MeteringConfig { genesis, credit_window: 1, price_per_gb: Some(1) });

		let unknown = signed(&account, consumer, 5, genesis);
		assert_eq!(metering.verify(&unknown), Err(ReceiptReject::UnknownConsumer));
		assert_eq!(metering.take_wanted(), vec![consumer], "the agent is asked to fetch it");
		assert!(metering.take_wanted().is_empty());

		let terms = ConsumerTerms {
			receipt_keys: vec![(5, Some(delegate.public_key().0)), (7, None)],
			escrow_ok: true,
		};
		metering.set_consumer(consumer, terms);
		assert_eq!(metering.verify(&signed(&account, consumer, 5, genesis)), Ok(()));
		assert_eq!(metering.verify(&signed(&delegate, consumer, 5, genesis)), Ok(()));
		assert_eq!(
			metering.verify(&signed(&delegate, consumer, 4, genesis)),
			Err(ReceiptReject::BadSignature),
			"the delegate is not in force before epoch 5"
		);
		assert_eq!(
			metering.verify(&signed(&delegate, consumer, 7, genesis)),
			Err(ReceiptReject::BadSignature),
			"the delegate was removed from epoch 7"
		);
		assert_eq!(metering.verify(&signed(&account, consumer, 7, genesis)), Ok(()));
		assert_eq!(
			metering.verify(&signed(&stranger, consumer, 5, genesis)),
			Err(ReceiptReject::BadSignature)
		);
		assert_eq!(metering.take_wanted(), vec![consumer], "a failure asks for its terms again");
		assert_eq!(
			metering.verify(&signed(&account, consumer, 5, [8; 32])),
			Err(ReceiptReject::BadSignature),
			"signed for another chain"
		);
	}
}
