//! The genesis presets and the author mapping, checked on the runtime as the node builds it.

use codec::Encode;
use frame_support::traits::FindAuthor;
use sp_consensus_aura::{Slot, AURA_ENGINE_ID};
use sp_keyring::Sr25519Keyring;
use srwan_runtime::{
	authorship::BlockAuthor,
	genesis_config_presets::{ci_clocks, dev_clocks, get_preset, preset_names, Clocks, ENDOWMENT},
	Runtime,
};

mod common;
use common::externalities;

#[test]
fn runtime_lists_exactly_the_four_presets() {
	assert_eq!(
		preset_names(),
		vec![
			"development".to_string(),
			"local_testnet".to_string(),
			"ci".to_string(),
			"staging".to_string()
		]
	);
	assert!(get_preset(&"nope".into()).is_none());
}

/// The clocks the genesis of `preset` put in storage.
fn clocks_in_storage(preset: &str) -> Clocks {
	externalities(preset).execute_with(|| Clocks {
		ditex: pallet_ditex::Params::<Runtime>::get(),
		tickets: pallet_tickets::Params::<Runtime>::get(),
		fee_schedule: pallet_fee_split::ScheduleOf::<Runtime>::get(),
		voting_period: pallet_coin_voting::Period::<Runtime>::get(),
		withdraw_delay: pallet_escrow::WithdrawDelay::<Runtime>::get(),
	})
}

#[test]
fn ci_preset_is_development_with_its_own_short_clocks() {
	let ci = clocks_in_storage("ci");
	assert_eq!(ci, ci_clocks());
	assert_eq!((ci.ditex.epoch_length, ci.tickets.claim_window), (4, 2));
	// The withdraw delay covers an epoch, its claim window and settlement lag, so a withdrawal
	// never unlocks before what the escrow may still be charged is settled.
	assert!(ci.withdraw_delay > ci.ditex.epoch_length + ci.tickets.claim_window);
	// People keep the dev values: the presets differ only in their clocks.
	assert_eq!(clocks_in_storage("development"), dev_clocks());
	assert_eq!(clocks_in_storage("local_testnet"), dev_clocks());
	assert_ne!(ci, dev_clocks());
	externalities("ci").execute_with(|| {
		let alice = Sr25519Keyring::Alice.to_account_id();
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 1);
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), Some(alice));
	});
}

#[test]
fn every_preset_asks_consumers_for_the_dev_minimum_escrow() {
	// DESIGN.md "Parameters": 1 SRW on dev chains (the pallet's production default is 10 SRW).
	for preset in ["development", "local_testnet", "ci"] {
		externalities(preset).execute_with(|| {
			assert_eq!(pallet_escrow::MinEscrow::<Runtime>::get(), srwan_runtime::SRW, "{preset}");
		});
	}
}

#[test]
fn development_has_alice_alone() {
	externalities("development").execute_with(|| {
		let aura = pallet_aura::Authorities::<Runtime>::get();
		assert_eq!(aura.len(), 1);
		assert_eq!(pallet_grandpa::Pallet::<Runtime>::grandpa_authorities().len(), 1);
		let alice = Sr25519Keyring::Alice.to_account_id();
		// Less the validator bond she holds.
		assert_eq!(
			pallet_balances::Pallet::<Runtime>::free_balance(&alice),
			ENDOWMENT - 100 * srwan_runtime::SRW
		);
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), Some(alice));
	});
}

#[test]
fn local_testnet_has_exactly_alice_and_bob() {
	externalities("local_testnet").execute_with(|| {
		let aura: Vec<[u8; 32]> = pallet_aura::Authorities::<Runtime>::get()
			.iter()
			.map(|a| <[u8; 32]>::try_from(AsRef::<[u8]>::as_ref(a)).unwrap())
			.collect();
		assert_eq!(
			aura,
			vec![Sr25519Keyring::Alice.to_raw_public(), Sr25519Keyring::Bob.to_raw_public()]
		);
		assert_eq!(pallet_grandpa::Pallet::<Runtime>::grandpa_authorities().len(), 2);
	});
}

/// The accounts of the session's validators, and of Aura's authorities, in `preset`.
fn validators(preset: &str) -> (Vec<[u8; 32]>, Vec<[u8; 32]>) {
	externalities(preset).execute_with(|| {
		let session = pallet_session::Validators::<Runtime>::get()
			.iter()
			.map(|who| <[u8; 32]>::from(who.clone()))
			.collect();
		let aura = pallet_aura::Authorities::<Runtime>::get()
			.iter()
			.map(|a| <[u8; 32]>::try_from(AsRef::<[u8]>::as_ref(a)).unwrap())
			.collect();
		(session, aura)
	})
}

#[test]
fn every_preset_starts_with_bonded_validators_whose_session_keys_seal_blocks() {
	use Sr25519Keyring::{Alice, Bob, Charlie, Dave};
	for (preset, expected) in [
		("development", vec![Alice]),
		("ci", vec![Alice]),
		("local_testnet", vec![Alice, Bob]),
		("staging", vec![Alice, Bob, Charlie, Dave]),
	] {
		use frame_support::traits::fungible::InspectHold;
		let accounts: Vec<[u8; 32]> = expected.iter().map(|k| k.to_raw_public()).collect();
		// Dev keys: each validator's Aura key is its account.
		assert_eq!(validators(preset), (accounts.clone(), accounts), "{preset}");
		externalities(preset).execute_with(|| {
			assert_eq!(
				pallet_grandpa::Pallet::<Runtime>::grandpa_authorities().len(),
				expected.len()
			);
			let active = pallet_validators::Active::<Runtime>::get();
			assert_eq!(active.len(), expected.len(), "{preset}");
			for who in active.iter() {
				let held = pallet_balances::Pallet::<Runtime>::balance_on_hold(
					&pallet_validators::HoldReason::ValidatorBond.into(),
					who,
				);
				assert_eq!(held, 100 * srwan_runtime::SRW, "{preset}: the dev bond");
			}
			assert_eq!(pallet_validators::SessionLength::<Runtime>::get(), 20);
		});
	}
}

#[test]
fn block_author_is_the_account_of_the_aura_authority() {
	externalities("local_testnet").execute_with(|| {
		// Aura picks authority `slot % n`: with Alice and Bob, even slots are Alice's.
		for (slot, who) in [(10u64, Sr25519Keyring::Alice), (11, Sr25519Keyring::Bob)] {
			let pre_digest = Slot::from(slot).encode();
			let author = BlockAuthor::find_author([(AURA_ENGINE_ID, pre_digest.as_slice())]);
			assert_eq!(author, Some(who.to_account_id()), "slot {slot}");
		}
		assert_eq!(BlockAuthor::find_author([(*b"BABE", &[0u8; 8][..])]), None);
	});
}

#[test]
fn dev_chain_runs_the_exchange_with_short_clocks_and_a_real_deposit() {
	use frame_support::{assert_ok, traits::fungible::InspectHold};
	use srwan_primitives::ditex::{Endpoint, Geo};
	externalities("development").execute_with(|| {
		let params = pallet_ditex::Params::<Runtime>::get();
		assert_eq!((params.epoch_length, params.report_period), (10, 10), "DESIGN.md dev clocks");
		frame_system::Pallet::<Runtime>::set_block_number(1);
		let bob = Sr25519Keyring::Bob.to_account_id();
		assert_ok!(srwan_runtime::Ditex::register_router(
			srwan_runtime::RuntimeOrigin::signed(bob.clone()),
			Endpoint::V4 { ip: [198, 51, 100, 7], port: 4500 },
			Geo { country: *b"NL", asn: 1136, lat: 52_3676, lon: 4_9041 },
			[3; 32],
			Some(srwan_runtime::MILLI_SRW),
		));
		let held = pallet_balances::Pallet::<Runtime>::balance_on_hold(
			&pallet_ditex::HoldReason::RouterDeposit.into(),
			&bob,
		);
		assert_eq!(held, 100 * srwan_runtime::SRW);
		let view = srwan_runtime::Ditex::router_view(&bob).expect("registered");
		assert_eq!((view.group, view.member_index), (0, Some(0)));
	});
}
