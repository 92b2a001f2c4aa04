//! A test runtime: System, Balances and the escrow, with a 10-block epoch clock (moved with
//! [`go_to_epoch`]) and a settlement switch the tests flip ([`settle_through`]).

use crate::{self as pallet_escrow};
use core::cell::Cell;
use frame_support::{
	derive_impl,
	traits::{ConstU128, ConstU32},
};
use sp_runtime::BuildStorage;
use srwan_primitives::ditex::{EpochIndex, PriceInForce};
use srwan_primitives::traits::SettlementStatus;

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Escrow: pallet_escrow,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<u128>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = u128;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<1>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

/// Blocks per epoch of the mock clock.
pub const EPOCH: u32 = 10;
/// The withdraw delay: an epoch, a 5-block claim window and 5 blocks of settlement.
pub const DELAY: u32 = 20;

/// The epoch clock: block / 10.
pub struct Clock;
impl srwan_primitives::traits::RouterRegistry<u64> for Clock {
	fn current_epoch() -> EpochIndex {
		(System::block_number() as u32) / EPOCH
	}
	fn epoch_length() -> u32 {
		EPOCH
	}
	fn is_registered(_: &u64) -> bool {
		true
	}
	fn is_quarantined(_: &u64) -> bool {
		false
	}
	fn price_at_epoch_start(_: &u64, _: EpochIndex) -> Option<PriceInForce> {
		None
	}
	fn epoch_judged(_: EpochIndex) -> bool {
		true
	}
	fn group_at(_: &u64, _: EpochIndex) -> Option<srwan_primitives::ditex::GroupId> {
		Some(0)
	}
	fn registered_epoch(_: &u64) -> Option<EpochIndex> {
		Some(0)
	}
	fn quarantined_for(_: &u64, _: EpochIndex) -> bool {
		false
	}
}

thread_local! {
	/// The last epoch settled for everyone (tests move it).
	pub static SETTLED_THROUGH: Cell<Option<EpochIndex>> = const { Cell::new(None) };
}

/// Settlement as the tests set it.
pub struct Settlement;
impl SettlementStatus<u64> for Settlement {
	fn settled_through(_: &u64, epoch: EpochIndex) -> bool {
		SETTLED_THROUGH.with(|s| s.get().is_some_and(|through| through >= epoch))
	}
}

/// Marks every epoch up to `epoch` settled.
pub fn settle_through(epoch: EpochIndex) {
	SETTLED_THROUGH.with(|s| s.set(Some(epoch)));
}

/// The benchmarks settle through the same switch.
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkSettlement for Test {
	fn settle_through(epoch: EpochIndex) {
		SETTLED_THROUGH.with(|s| s.set(Some(epoch)));
	}
}

/// Moves the clock to the first block of `epoch` (use epochs from 1: block 0 records no events).
pub fn go_to_epoch(epoch: EpochIndex) {
	System::set_block_number(u64::from(epoch.saturating_mul(EPOCH)));
}

impl pallet_escrow::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Epochs = Clock;
	type Settlement = Settlement;
	type SpendingRetention = ConstU32<4>;
	type WeightInfo = ();
}

/// Every funded account starts with this.
pub const INITIAL: u128 = 1_000_000;
/// The minimum escrow set at genesis.
pub const MIN_ESCROW: u128 = 100;

/// Externalities at block 1 with accounts 1..=10 funded and nothing settled.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: (1..=10).map(|a| (a, INITIAL)).collect(),
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_escrow::GenesisConfig::<Test> {
		withdraw_delay: DELAY,
		min_escrow: MIN_ESCROW,
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| {
		System::set_block_number(1);
		SETTLED_THROUGH.with(|s| s.set(None));
	});
	ext
}

/// Runs `test`, then checks the invariants.
pub fn build_and_execute(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Escrow::do_try_state().expect("invariants hold after every test");
	})
}

/// Externalities for the benchmark tests: everything settled, so `withdraw` can succeed.
pub fn bench_ext() -> sp_io::TestExternalities {
	let mut ext = new_test_ext();
	ext.execute_with(|| settle_through(EpochIndex::MAX));
	ext
}
