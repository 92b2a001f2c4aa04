//! The validator set on the real runtime (staging: Alice, Bob, Charlie and Dave): a candidate
//! that stands, bonds, is voted for and sets session keys with their proof of possession (what
//! `author_rotateKeysWithOwner` returns) joins at a session boundary, replacing one validator;
//! votes for another take it out again. Blocks are credited by the set that sealed them.
//! (Aura's slot stays 0 here: slot judgments are the pallet's unit tests.)

use codec::{Decode, Encode};
use frame_support::{
	assert_ok,
	traits::{fungible::InspectHold, FindAuthor, Hooks, PalletsInfoAccess},
};
use sp_consensus_aura::{Slot, AURA_ENGINE_ID};
use sp_keyring::Sr25519Keyring::{self, Alice, Bob, Charlie, Dave, Eve, Ferdie};
use sp_keystore::{testing::MemoryKeystore, KeystoreExt};
use sp_runtime::{traits::OpaqueKeys, AccountId32, Perbill};
use srwan_runtime::{
	authorship::BlockAuthor, AllPalletsWithSystem, CoinVoting, Runtime, RuntimeOrigin, Session,
	SessionKeys, System, Validators,
};

mod common;
use common::externalities;

fn account(key: Sr25519Keyring) -> AccountId32 {
	key.to_account_id()
}

/// Runs blocks up to `n` with the hooks of voting and sessions, in the runtime's order.
fn run_to(n: u32) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		CoinVoting::on_initialize(next);
		Validators::on_initialize(next);
		Session::on_initialize(next);
	}
}

fn session_validators() -> Vec<AccountId32> {
	pallet_session::Validators::<Runtime>::get()
}

/// The account credited with a block sealed in `slot`.
fn author_of(slot: u64) -> Option<AccountId32> {
	let digest = Slot::from(slot).encode();
	BlockAuthor::find_author([(AURA_ENGINE_ID, digest.as_slice())])
}

#[test]
fn hooks_credit_authors_before_sessions_rotate_and_tally_votes_before_planning() {
	let names: Vec<&str> = AllPalletsWithSystem::infos().iter().map(|info| info.name).collect();
	let at = |name: &str| names.iter().position(|n| *n == name).expect(name);
	assert!(at("Authorship") < at("Session"), "a boundary block is credited by its set");
	assert!(at("CoinVoting") < at("Validators"), "a tally counts before the planning");
	assert!(at("Validators") < at("Session"));
}

#[test]
fn a_voted_candidate_with_proven_keys_joins_and_is_voted_out_at_session_boundaries() {
	let mut ext = externalities("staging");
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext.execute_with(|| {
		System::set_block_number(1);
		let (eve, ferdie) = (account(Eve), account(Ferdie));
		let genesis: Vec<AccountId32> = [Alice, Bob, Charlie, Dave].map(account).to_vec();
		assert_eq!(session_validators(), genesis);

		// Eve's node generates keys and proves them for her account; she sets them, bonds,
		// stands as a candidate, and Ferdie votes for her.
		let generated = SessionKeys::generate(&eve.encode(), None);
		// As the RPC hands them to a wallet: SCALE bytes.
		let keys = SessionKeys::decode(&mut &generated.keys.encode()[..]).expect("session keys");
		let proof = generated.proof.encode();
		assert!(keys.ownership_proof_is_valid(&eve.encode(), &proof));
		assert!(!keys.ownership_proof_is_valid(&ferdie.encode(), &proof));
		assert!(
			Session::set_keys(RuntimeOrigin::signed(ferdie.clone()), keys.clone(), proof.clone())
				.is_err(),
			"a proof made for Eve does not let Ferdie claim her keys"
		);
		assert_ok!(Session::set_keys(RuntimeOrigin::signed(eve.clone()), keys, proof));
		assert_ok!(CoinVoting::register_candidate(
			RuntimeOrigin::signed(eve.clone()),
			Perbill::zero()
		));
		assert_ok!(Validators::bond(RuntimeOrigin::signed(eve.clone())));
		assert_ok!(CoinVoting::vote(
			RuntimeOrigin::signed(ferdie.clone()),
			vec![eve.clone()].try_into().unwrap()
		));

		// Sessions rotate at blocks 2, 22, 42, …: the planning at block 2 sees Eve's keys first,
		// the one at 22 plans her in (the tally at block 10 ranked her), from 42 she validates.
		run_to(22);
		assert_eq!(session_validators(), genesis, "not before her keys are a session old");
		assert_eq!(
			pallet_validators::Planned::<Runtime>::get().map(|set| set.to_vec()),
			Some(vec![account(Alice), account(Bob), account(Charlie), eve.clone()]),
			"Dave, the last unvoted validator, makes room: one change a session"
		);
		run_to(42);
		assert_eq!(
			session_validators(),
			vec![account(Alice), account(Bob), account(Charlie), eve.clone()]
		);
		let aura: Vec<Vec<u8>> = pallet_aura::Authorities::<Runtime>::get()
			.iter()
			.map(|key| AsRef::<[u8]>::as_ref(key).to_vec())
			.collect();
		assert!(
			aura.contains(&AsRef::<[u8]>::as_ref(&keys_of(&eve)).to_vec()),
			"Aura seals with her key"
		);
		// Aura gives slot s to validator s mod 4: slot 7 is hers.
		assert_eq!(author_of(7), Some(eve.clone()));

		// Dave, no candidate, got his genesis bond back once out of every set.
		let bond = |who: &AccountId32| {
			pallet_balances::Pallet::<Runtime>::balance_on_hold(
				&pallet_validators::HoldReason::ValidatorBond.into(),
				who,
			)
		};
		assert_eq!(bond(&account(Dave)), 0);
		// He stands and bonds again, and Ferdie's votes move to him: at the next tally Eve is
		// outranked; his keys count again a planning after they are seen.
		assert_ok!(CoinVoting::register_candidate(
			RuntimeOrigin::signed(account(Dave)),
			Perbill::zero()
		));
		assert_ok!(Validators::bond(RuntimeOrigin::signed(account(Dave))));
		assert_ok!(CoinVoting::vote(
			RuntimeOrigin::signed(ferdie),
			vec![account(Dave)].try_into().unwrap()
		));
		run_to(82);
		assert!(session_validators().contains(&eve), "not before Dave's keys are a session old");
		run_to(102);
		assert_eq!(
			session_validators(),
			vec![account(Alice), account(Bob), account(Charlie), account(Dave)]
		);
		assert_eq!(author_of(7), Some(account(Dave)));
		Validators::do_try_state().expect("invariants hold");
	});
}

#[test]
fn root_shortens_sessions_and_the_next_rotation_follows_the_new_length() {
	let mut ext = externalities("staging");
	ext.execute_with(|| {
		System::set_block_number(1);
		run_to(5);
		let index = pallet_session::CurrentIndex::<Runtime>::get();
		assert_eq!(index, 1, "the preset's 20-block sessions rotated at block 2");
		assert!(Validators::set_session_length(RuntimeOrigin::signed(account(Alice)), 8).is_err());
		assert_ok!(Validators::set_session_length(RuntimeOrigin::root(), 8));
		// Rotations at 2 + 8k from now on: 10, 18 (not 22).
		run_to(9);
		assert_eq!(pallet_session::CurrentIndex::<Runtime>::get(), index);
		run_to(10);
		assert_eq!(pallet_session::CurrentIndex::<Runtime>::get(), index + 1);
		run_to(18);
		assert_eq!(pallet_session::CurrentIndex::<Runtime>::get(), index + 2);
	});
}

/// Eve's Aura key as the session pallet stores it.
fn keys_of(who: &AccountId32) -> sp_consensus_aura::sr25519::AuthorityId {
	pallet_session::NextKeys::<Runtime>::get(who).expect("keys set").aura
}
