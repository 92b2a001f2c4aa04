//! A runtime upgrade on the real runtime, as `try-runtime` checks it: a chain whose coin voting
//! is still at storage version 1 (candidates recorded only a commission, no deposit held) runs
//! the runtime's `Migrations` with every pre/post check, the whole state decoding afterwards and
//! every pallet's `try_state`; a second run changes nothing. The e2e
//! (`e2e/tests/upgrade.test.js`) enacts the same upgrade on a running node with `setCode`.
#![cfg(feature = "try-runtime")]

use frame_support::{
	assert_ok,
	traits::{fungible::InspectHold, GetStorageVersion, StorageVersion},
};
use frame_try_runtime::UpgradeCheckSelect;
use sp_keyring::Sr25519Keyring::Ferdie;
use sp_runtime::{AccountId32, Perbill};
use srwan_runtime::{CoinVoting, Executive, Runtime, RuntimeEvent, RuntimeHoldReason, System};

mod common;
use common::externalities;

/// What the runtime holds from a candidate.
fn deposit() -> u128 {
	<<Runtime as pallet_coin_voting::Config>::CandidateDeposit as frame_support::traits::Get<
		u128,
	>>::get()
}

fn held_for_candidacy(who: &AccountId32) -> u128 {
	pallet_balances::Pallet::<Runtime>::balance_on_hold(
		&RuntimeHoldReason::CoinVoting(pallet_coin_voting::HoldReason::CandidateDeposit),
		who,
	)
}

/// Puts coin voting back at storage version 1 with `candidates` in the v1 shape, as on a chain
/// started before the deposit existed. (`try_runtime_upgrade` runs the migrations whatever the
/// last upgrade's spec; a node runs them when the spec changes: the e2e shows that path.)
fn at_coin_voting_v1(candidates: &[(AccountId32, Perbill)]) {
	StorageVersion::new(1).put::<CoinVoting>();
	for (who, commission) in candidates {
		pallet_coin_voting::migrations::v1::Candidates::<Runtime>::insert(who, *commission);
	}
}

#[test]
fn a_v1_chain_upgrades_with_every_check_and_its_candidates_hold_their_deposit() {
	let funded = Ferdie.to_account_id();
	let broke = AccountId32::new([7; 32]);
	externalities("ci").execute_with(|| {
		// Events are kept from block 1 on.
		System::set_block_number(1);
		at_coin_voting_v1(&[
			(funded.clone(), Perbill::from_percent(5)),
			(broke.clone(), Perbill::from_percent(7)),
		]);
		assert_eq!(held_for_candidacy(&funded), 0);

		assert_ok!(Executive::try_runtime_upgrade(UpgradeCheckSelect::All));

		assert_eq!(CoinVoting::on_chain_storage_version(), CoinVoting::in_code_storage_version());
		assert_eq!(
			pallet_coin_voting::Candidates::<Runtime>::get(&funded),
			Some(pallet_coin_voting::CandidateInfo {
				commission: Perbill::from_percent(5),
				deposit: deposit()
			})
		);
		assert_eq!(held_for_candidacy(&funded), deposit());
		assert_eq!(pallet_coin_voting::Candidates::<Runtime>::get(&broke), None);
		assert_eq!(pallet_coin_voting::Candidates::<Runtime>::count(), 1);
		assert!(System::events().iter().any(|record| matches!(
			&record.event,
			RuntimeEvent::CoinVoting(pallet_coin_voting::Event::CandidateEvicted { who, .. })
				if *who == broke
		)));

		// Run again (a node restarting mid-upgrade, a repeated setCode): nothing moves.
		assert_ok!(Executive::try_runtime_upgrade(UpgradeCheckSelect::All));
		assert_eq!(held_for_candidacy(&funded), deposit());
		assert_eq!(pallet_coin_voting::Candidates::<Runtime>::count(), 1);
	});
}

#[test]
fn a_chain_at_the_current_storage_versions_upgrades_without_changes() {
	externalities("ci").execute_with(|| {
		let before = sp_io::storage::root(sp_runtime::StateVersion::V1);
		assert_ok!(Executive::try_runtime_upgrade(UpgradeCheckSelect::All));
		// Only the record of the last upgrade (written at genesis already) may be rewritten.
		assert_eq!(sp_io::storage::root(sp_runtime::StateVersion::V1), before);
	});
}

#[test]
fn the_next_spec_twin_is_exactly_one_spec_later() {
	// The two `VERSION`s in lib.rs: the real one, then the `next-spec` twin.
	let source = include_str!("../src/lib.rs");
	let specs: Vec<u32> = source
		.lines()
		.filter_map(|line| line.trim().strip_prefix("spec_version: "))
		.map(|rest| rest.trim_end_matches(',').parse().expect("a literal spec_version"))
		.collect();
	assert_eq!(
		specs,
		vec![srwan_runtime::VERSION.spec_version, srwan_runtime::VERSION.spec_version + 1]
	);
}
