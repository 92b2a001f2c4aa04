//! The consumer's usage receipts for the flows this relay originates: per flow version (each
//! installed path its own `FlowId`) and epoch, the octets counted at the ingress both ways,
//! signed with the delegate receipt key (`srwan-relay escrow set-receipt-key` registers it).
//! The ingress puts them in its own claim: with its neighbours' counters they are what pays
//! every other router on the path.

use crate::proto::counters::{FlowUsage, UsageKey};
use srwan_primitives::receipts::{RouterPath, SignedReceipt, UsageReceipt, MAX_CLAIM_RECEIPTS};
use subxt_signer::sr25519::Keypair;

pub use crate::proto::metering::flow_id;

/// Epochs whose receipt key [`ReceiptKeys`] remembers.
const KEYS_REMEMBERED: usize = 4;

/// The keys that can sign this account's receipts as a consumer, and which one the chain has
/// in force for an epoch (read once per epoch).
pub struct ReceiptKeys {
	/// The consumer: this relay's account.
	pub account: [u8; 32],
	/// The delegate receipt key in the data dir, if `escrow set-receipt-key` created one.
	pub delegate: Option<std::sync::Arc<Keypair>>,
	/// The account key: signs when the delegate is not in force (the chain always accepts it).
	pub account_key: std::sync::Arc<Keypair>,
	/// The keys chosen for the latest epochs (the current one and the one that just ended
	/// are signed for side by side).
	chosen: std::sync::Mutex<Vec<(u32, std::sync::Arc<Keypair>)>>,
}

impl ReceiptKeys {
	/// The keys of `account`.
	pub fn new(
		account: [u8; 32],
		delegate: Option<std::sync::Arc<Keypair>>,
		account_key: std::sync::Arc<Keypair>,
	) -> Self {
		Self { account, delegate, account_key, chosen: std::sync::Mutex::new(Vec::new()) }
	}

	/// The key for `epoch`'s receipts: the delegate when the chain (through `client`) has it
	/// in force for the epoch, else the account key.
	pub async fn for_epoch(
		&self,
		client: Option<&super::Client>,
		epoch: u32,
	) -> std::sync::Arc<Keypair> {
		let Some(delegate) = &self.delegate else { return self.account_key.clone() };
		let cached = self
			.chosen
			.lock()
			.unwrap_or_else(|p| p.into_inner())
			.iter()
			.find(|(chosen_for, _)| *chosen_for == epoch)
			.map(|(_, key)| key.clone());
		if let Some(key) = cached {
			return key;
		}
		let Some(client) = client else { return self.account_key.clone() };
		let in_force = super::follow::receipt_key_at(client, self.account, epoch).await;
		let key = match in_force {
			Ok(Some(key)) if key == delegate.public_key().0 => delegate.clone(),
			Ok(_) => {
				tracing::info!(epoch, "the receipt key is not in force for the epoch; signing its receipts with the account key");
				self.account_key.clone()
			}
			// Not remembered: asked again next time.
			Err(_) => return self.account_key.clone(),
		};
		let mut chosen = self.chosen.lock().unwrap_or_else(|p| p.into_inner());
		chosen.push((epoch, key.clone()));
		if chosen.len() > KEYS_REMEMBERED {
			chosen.remove(0);
		}
		key
	}
}

/// A receipt nonce above any this agent signed before: the wall clock in ms (the latest
/// receipt of a flow wins, at the relays and on chain).
pub fn fresh_nonce() -> u64 {
	std::time::SystemTime::now()
		.duration_since(std::time::UNIX_EPOCH)
		.map_or(0, |d| d.as_millis() as u64)
}

/// What signs the receipts, and for whom.
pub struct ReceiptSigner<'a> {
	/// The consumer: this relay's account.
	pub consumer: [u8; 32],
	/// The delegate receipt key registered for the consumer.
	pub key: &'a Keypair,
	/// The chain's genesis hash (receipts of one chain are no good on another).
	pub genesis: [u8; 32],
	/// The most the consumer pays any hop per GB.
	pub max_price_per_gb: u128,
	/// Larger than the nonce of any receipt signed before for these flows.
	pub nonce: u64,
}

impl ReceiptSigner<'_> {
	/// Signed receipts for the flows of `epoch` among `usages` that crossed at least one link
	/// (a one-router path pays no one), largest first, at most [`MAX_CLAIM_RECEIPTS`].
	pub fn receipts(
		&self,
		usages: &[(UsageKey, FlowUsage)],
		epoch: u32,
	) -> Vec<SignedReceipt<[u8; 32]>> {
		self.signed(usages, epoch).into_iter().map(|(_, receipt)| receipt).collect()
	}

	/// Like [`Self::receipts`], each with the flow version it is for.
	pub fn signed(
		&self,
		usages: &[(UsageKey, FlowUsage)],
		epoch: u32,
	) -> Vec<(UsageKey, SignedReceipt<[u8; 32]>)> {
		let mut flows: Vec<(&UsageKey, &FlowUsage)> = usages
			.iter()
			.map(|(key, usage)| (key, usage))
			.filter(|(key, usage)| key.epoch == epoch && usage.path.len() >= 2)
			.filter(|(_, usage)| usage.fwd_octets > 0 || usage.rev_octets > 0)
			.collect();
		flows.sort_by_key(|(key, usage)| {
			(std::cmp::Reverse(usage.fwd_octets.saturating_add(usage.rev_octets)), **key)
		});
		flows
			.into_iter()
			.filter_map(|(key, usage)| {
				let origin = usage.path.first()?;
				let path = RouterPath::try_from(usage.path.clone()).ok()?;
				let receipt = UsageReceipt {
					consumer: self.consumer,
					flow: flow_id(origin, key.flow, key.version),
					path,
					epoch,
					fwd_octets: usage.fwd_octets,
					rev_octets: usage.rev_octets,
					max_price_per_gb: self.max_price_per_gb,
					nonce: self.nonce,
				};
				let signature = self.key.sign(&receipt.signing_payload(&self.genesis)).0;
				Some((*key, SignedReceipt { receipt, signature }))
			})
			.take(MAX_CLAIM_RECEIPTS as usize)
			.collect()
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::proto::counters::Counters;

	#[test]
	fn each_flow_version_is_receipted_on_its_own_and_signed_for_this_chain() {
		let key = Keypair::from_secret_key([5; 32]).unwrap();
		let mut counters = Counters::default();
		let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
		let flow = |version| UsageKey { epoch: 9, flow: 44, version };
		counters.record_flow(flow(1), || vec![a, c], 1_000, 300);
		counters.record_flow(flow(2), || vec![a, b, c], 5_000, 0);
		counters.record_flow(UsageKey { epoch: 10, ..flow(2) }, || vec![a, b, c], 7, 0);
		counters.record_flow(UsageKey { flow: 45, ..flow(1) }, || vec![a], 99, 0);
		let signer = ReceiptSigner {
			consumer: a,
			key: &key,
			genesis: [7; 32],
			max_price_per_gb: 10,
			nonce: 3,
		};
		let receipts = signer.receipts(&counters.flow_usage_of(9), 9);
		assert_eq!(receipts.len(), 2, "epoch 10 and the one-router path are left out");
		assert_eq!(receipts[0].receipt.fwd_octets, 5_000, "largest first");
		assert_eq!(receipts[0].receipt.path.len(), 3);
		assert_eq!(receipts[1].receipt.rev_octets, 300);
		assert_ne!(receipts[0].receipt.flow, receipts[1].receipt.flow, "a FlowId per version");
		assert_eq!(receipts[0].receipt.flow, flow_id(&a, 44, 2));
		let payload = receipts[0].receipt.signing_payload(&[7; 32]);
		let signature = subxt_signer::sr25519::Signature(receipts[0].signature);
		assert!(subxt_signer::sr25519::verify(&signature, payload, &key.public_key()));
		let other_chain = receipts[0].receipt.signing_payload(&[8; 32]);
		assert!(!subxt_signer::sr25519::verify(&signature, other_chain, &key.public_key()));
	}
}
