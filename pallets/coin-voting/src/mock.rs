//! A test runtime: System, Balances and coin voting; the dividend pool is account 100.

use crate as pallet_coin_voting;
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU32, Hooks},
};
use sp_runtime::{BuildStorage, Perbill};

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		CoinVoting: pallet_coin_voting,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<u128>;
}

/// Existential deposit of the mock.
pub const ED: u128 = 1;
/// The dividend pool account.
pub const POOL: u64 = 100;
/// Blocks between tallies.
pub const PERIOD: u32 = 10;
/// Held from every candidate.
pub const DEPOSIT: u128 = 5;
/// The least balance a voter needs.
pub const MIN_VOTER: u128 = 10;
/// Most candidates.
pub const MAX_CANDIDATES: u32 = 8;
/// Most voters.
pub const MAX_VOTERS: u32 = 16;

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = u128;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<ED>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

parameter_types! {
	pub const Pool: u64 = POOL;
	pub const MaxCommission: Perbill = Perbill::from_percent(20);
}

impl pallet_coin_voting::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type DividendPool = Pool;
	type CandidateDeposit = ConstU128<DEPOSIT>;
	type MinVoterBalance = ConstU128<MIN_VOTER>;
	type MaxCandidates = ConstU32<MAX_CANDIDATES>;
	type MaxVotes = ConstU32<3>;
	type MaxVoters = ConstU32<MAX_VOTERS>;
	type DesiredWinners = ConstU32<2>;
	type MaxCommission = MaxCommission;
	type PayoutsPerBlock = ConstU32<4>;
	type WeightInfo = ();
}

/// Externalities at block 1: accounts 1..=20 hold `10 × id`, the pool `pool + ED`.
pub fn new_test_ext(pool: u128) -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let mut balances: Vec<(u64, u128)> = (1..=20).map(|a| (a, 10 * u128::from(a as u32))).collect();
	balances.push((POOL, pool + ED));
	pallet_balances::GenesisConfig::<Test> { balances, ..Default::default() }
		.assimilate_storage(&mut storage)
		.unwrap();
	pallet_coin_voting::GenesisConfig::<Test> { period: PERIOD, ..Default::default() }
		.assimilate_storage(&mut storage)
		.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Runs `test` with a pool of `pool`, then checks the invariants.
pub fn build_and_execute(pool: u128, test: impl FnOnce()) {
	new_test_ext(pool).execute_with(|| {
		test();
		CoinVoting::do_try_state().expect("invariants hold after every test");
	})
}

/// Runs blocks up to `n` with the pallet's hook.
pub fn run_to_block(n: u64) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		CoinVoting::on_initialize(next);
	}
}
