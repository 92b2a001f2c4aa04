//! A test runtime: System, Balances and the split, with a subsidy of 1,000 for 10 blocks and
//! payouts every 5 blocks.

use crate::{self as pallet_fee_split, Schedule};
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU32, Hooks},
	PalletId,
};
use sp_runtime::BuildStorage;

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		FeeSplit: pallet_fee_split,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<u128>;
	// Real database weights, so hook weights are checked against something.
	type DbWeight = frame_support::weights::constants::RocksDbWeight;
}

/// Existential deposit of the mock.
pub const ED: u128 = 10;

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = u128;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<ED>;
}

parameter_types! {
	// The first four bytes differ: a u64 account keeps only "modl" and those.
	pub const ValidatorPoolId: PalletId = PalletId(*b"valipool");
	pub const DividendPoolId: PalletId = PalletId(*b"divipool");
}

impl pallet_fee_split::Config for Test {
	type Currency = Balances;
	type ValidatorPoolId = ValidatorPoolId;
	type DividendPoolId = DividendPoolId;
	type MaxAuthors = ConstU32<4>;
	type WeightInfo = ();
}

/// The mock's schedule.
pub const SCHEDULE: Schedule =
	Schedule { subsidy_per_block: 1_000, subsidy_blocks: 10, payout_period: 5 };

/// Externalities at block 0 with accounts 1..=4 funded.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: (1..=4).map(|a| (a, 1_000_000)).collect(),
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_fee_split::GenesisConfig::<Test> { schedule: SCHEDULE, ..Default::default() }
		.assimilate_storage(&mut storage)
		.unwrap();
	sp_io::TestExternalities::new(storage)
}

/// Runs `test`, then checks the invariants.
pub fn build_and_execute(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		FeeSplit::do_try_state().expect("invariants hold after every test");
	})
}

/// Runs block `n` authored by `author` (authorship notes the author before our hook).
pub fn run_block(n: u64, author: u64) {
	System::set_block_number(n);
	<FeeSplit as pallet_authorship::EventHandler<u64, u64>>::note_author(author);
	FeeSplit::on_initialize(n);
}
