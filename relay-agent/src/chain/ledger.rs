//! Coins this router earned (payouts to it as a relay) and applied (charged to it as a
//! consumer), from the chain's `tickets.Paid` events, block by block, kept in the data dir so
//! that a restart neither loses nor counts twice what it saw.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// File of the ledger in the data dir.
pub const LEDGER_FILE: &str = "ledger.json";
/// Epochs the ledger itemises.
const EPOCHS_KEPT: usize = 64;

/// Coins of one epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochMoney {
	/// Paid to this router (plancks), after the infrastructure share.
	#[serde(with = "plancks")]
	pub earned: u128,
	/// Charged to this router's account as a consumer (plancks): relays' pay and the
	/// infrastructure share.
	#[serde(with = "plancks")]
	pub applied: u128,
}

/// What the chain paid and charged this router, as far as the agent has read it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
	/// The last block whose events are counted.
	pub through_block: Option<u64>,
	/// Totals since the ledger began.
	#[serde(flatten)]
	pub total: EpochMoney,
	/// Per epoch, the latest ones.
	pub epochs: BTreeMap<u32, EpochMoney>,
}

impl Ledger {
	/// Counts one `tickets.Paid` event: `amount` to `relay` (and `infra` to the shared
	/// infrastructure) from `consumer`'s escrow, for `epoch`.
	pub fn note_paid(
		&mut self,
		me: &[u8; 32],
		epoch: u32,
		consumer: &[u8; 32],
		relay: &[u8; 32],
		amount: u128,
		infra: u128,
	) {
		let mut add = |earned: u128, applied: u128| {
			for money in [&mut self.total, self.epochs.entry(epoch).or_default()] {
				money.earned = money.earned.saturating_add(earned);
				money.applied = money.applied.saturating_add(applied);
			}
		};
		if relay == me {
			add(amount, 0);
		}
		if consumer == me {
			add(0, amount.saturating_add(infra));
		}
		while self.epochs.len() > EPOCHS_KEPT {
			self.epochs.pop_first();
		}
	}
}

/// Plancks as decimal strings in JSON (u128 is beyond what JavaScript reads exactly).
mod plancks {
	use serde::{Deserialize, Deserializer, Serializer};

	pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
		serializer.serialize_str(&value.to_string())
	}

	pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
		let text = String::deserialize(deserializer)?;
		text.parse().map_err(serde::de::Error::custom)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn payouts_count_as_earned_and_charges_as_applied_per_epoch() {
		let (me, other, consumer) = ([1u8; 32], [2u8; 32], [3u8; 32]);
		let mut ledger = Ledger::default();
		ledger.note_paid(&me, 5, &consumer, &me, 900, 100);
		ledger.note_paid(&me, 5, &consumer, &other, 400, 50);
		ledger.note_paid(&me, 6, &me, &other, 80, 20);
		assert_eq!(ledger.total, EpochMoney { earned: 900, applied: 100 });
		assert_eq!(ledger.epochs[&5], EpochMoney { earned: 900, applied: 0 });
		assert_eq!(ledger.epochs[&6], EpochMoney { earned: 0, applied: 100 });
		let json = serde_json::to_string(&ledger).unwrap();
		assert!(json.contains("\"earned\":\"900\""), "{json}");
		assert_eq!(serde_json::from_str::<Ledger>(&json).unwrap(), ledger);
	}
}
