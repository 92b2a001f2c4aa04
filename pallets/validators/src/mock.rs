//! A test runtime: System, Balances and the validator set, with coin votes, session keys and
//! the Aura slot set by the tests.

use crate as pallet_validators;
use crate::SessionIndex;
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU32, ValidatorRegistration},
};
use pallet_session::SessionManager;
use sp_runtime::BuildStorage;
use srwan_primitives::traits::CandidateRanking;

type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Validators: pallet_validators,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<u128>;
}

/// The bond.
pub const BOND: u128 = 100;
/// Most validators.
pub const MAX_VALIDATORS: u32 = 5;

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = u128;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<1>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

parameter_types! {
	/// Coin voting's ranking, best first.
	pub static Ranked: Vec<u64> = vec![];
	/// Backing of the ranked accounts that have a special one (others: 100 × places from the
	/// bottom, all above `MIN_BACKING`).
	pub static Backing: Vec<(u64, u128)> = vec![];
	/// Coin voting's candidates.
	pub static Candidates: Vec<u64> = vec![];
	/// Accounts with session keys.
	pub static WithKeys: Vec<u64> = vec![];
	/// The current Aura slot.
	pub static Slot: u64 = 0;
}

/// Votes below this count as none.
pub const MIN_BACKING: u128 = 50;

/// Coin votes as the tests set them.
pub struct MockRanking;
impl CandidateRanking<u64> for MockRanking {
	fn ranked() -> Vec<(u64, u128)> {
		let ranked = Ranked::get();
		let n = ranked.len() as u128;
		let special = Backing::get();
		ranked
			.into_iter()
			.enumerate()
			.map(|(i, who)| {
				let backing = special.iter().find(|(w, _)| *w == who).map(|(_, b)| *b);
				(who, backing.unwrap_or(100 * (n - i as u128)))
			})
			.collect()
	}
	fn is_candidate(who: &u64) -> bool {
		Candidates::get().contains(who)
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn make_candidate(who: &u64) {
		Candidates::mutate(|c| c.push(*who));
	}
}

/// Session keys as the tests set them.
pub struct MockKeys;
impl ValidatorRegistration<u64> for MockKeys {
	fn is_registered(who: &u64) -> bool {
		WithKeys::get().contains(who)
	}
}

impl pallet_validators::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Ranking = MockRanking;
	type SessionKeys = MockKeys;
	type CurrentSlot = Slot;
	type ValidatorBond = ConstU128<BOND>;
	type MinBacking = ConstU128<MIN_BACKING>;
	type MaxValidators = ConstU32<MAX_VALIDATORS>;
	type MaxBonded = ConstU32<8>;
	type WeightInfo = ();
}

/// Externalities where accounts 1..=20 hold 1,000 each and `genesis` are the validators.
pub fn ext_with(genesis: &[u64]) -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: (1..=20).map(|a| (a, 1_000)).collect(),
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_validators::GenesisConfig::<Test> { validators: genesis.to_vec(), session_length: 20 }
		.assimilate_storage(&mut storage)
		.unwrap();
	WithKeys::set(genesis.to_vec());
	Ranked::set(vec![]);
	Backing::set(vec![]);
	Candidates::set(genesis.to_vec());
	Slot::set(0);
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// The benchmarks' externalities: no validators yet.
pub fn new_test_ext() -> sp_io::TestExternalities {
	ext_with(&[])
}

/// Runs `test` on a chain whose genesis validators are `genesis`, then checks the invariants.
pub fn build_and_execute(genesis: &[u64], test: impl FnOnce()) {
	ext_with(genesis).execute_with(|| {
		test();
		Validators::do_try_state().expect("invariants hold after every test");
	})
}

/// What pallet-session does at the boundary into session `session`: ends the previous one,
/// starts this one and plans the next; returns that plan.
pub fn rotate(session: SessionIndex) -> Option<Vec<u64>> {
	<Validators as SessionManager<u64>>::end_session(session.saturating_sub(1));
	<Validators as SessionManager<u64>>::start_session(session);
	<Validators as SessionManager<u64>>::new_session(session + 1)
}
