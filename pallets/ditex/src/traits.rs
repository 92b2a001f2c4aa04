//! What other pallets (tickets, escrow) ask of the exchange.

use sp_runtime::{DispatchResult, Perbill};
use srwan_primitives::{
	currency::Balance,
	ditex::{EpochIndex, PriceInForce},
};

/// Read access to the registry and the epoch clock.
pub trait RouterRegistry<AccountId> {
	/// The metering epoch of the current block.
	fn current_epoch() -> EpochIndex;
	/// Blocks per epoch.
	fn epoch_length() -> u32;
	/// Whether `router` is registered and not unbonding.
	fn is_registered(router: &AccountId) -> bool;
	/// Whether `router` is quarantined (skipped by paths and payouts).
	fn is_quarantined(router: &AccountId) -> bool;
	/// The price of `router` in force at the start of `epoch` (a premium window's if one
	/// applied then); `None` if the router or the epoch's start is unknown.
	fn price_at_epoch_start(router: &AccountId, epoch: EpochIndex) -> Option<PriceInForce>;
}

/// How pallet-tickets punishes a router.
pub trait Quarantine<AccountId> {
	/// Quarantines `router` because it disagreed with several distinct counterparties; released
	/// automatically after `quarantine_cooldown` clean periods.
	fn quarantine_for_disputes(router: &AccountId) -> DispatchResult;
	/// Slashes `fraction` of `router`'s deposit, to be called only on signed evidence that
	/// contradicts itself. Returns what was taken.
	fn slash(router: &AccountId, fraction: Perbill) -> Result<Balance, sp_runtime::DispatchError>;
}
