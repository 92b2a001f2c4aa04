//! The payment path through the real runtime: routers registered in the real exchange, a
//! consumer's escrow, a receipt signed with the consumer's sr25519 key, both relays' claims,
//! and settlement by the hook — with a price change in the middle of the metered epoch, which
//! must not reprice it.

use frame_support::traits::fungible::Inspect;
use sp_keyring::Sr25519Keyring;
use sp_runtime::Perbill;
use srwan_primitives::receipts::{Claim, PeerOctets, SignedReceipt, UsageReceipt};
use srwan_runtime::{
	configs::InfraAccount, Balances, Ditex, Escrow, Runtime, RuntimeEvent, RuntimeOrigin, System,
	Tickets, SRW,
};

mod common;

const GB: u64 = 1_000_000_000;
const EPOCH: u32 = 10;

fn run_to(n: u32) {
	common::run_to(n);
}

fn register(router: Sr25519Keyring, last: u8) {
	common::register(&router.to_account_id(), last);
}

fn claim(
	relay: Sr25519Keyring,
	peer: Sr25519Keyring,
	in_gb: u64,
	out_gb: u64,
	receipt: &SignedReceipt<sp_runtime::AccountId32>,
) {
	let claim = Claim {
		epoch: 1,
		restarted: false,
		peers: vec![PeerOctets {
			peer: peer.to_account_id(),
			in_octets: in_gb * GB,
			out_octets: out_gb * GB,
			peer_boots: vec![1].try_into().unwrap(),
		}]
		.try_into()
		.unwrap(),
		receipts: vec![receipt.clone()].try_into().unwrap(),
	};
	Tickets::claim(RuntimeOrigin::signed(relay.to_account_id()), claim).expect("claim accepted");
}

/// Epoch 1 of the payment path: Bob and Charlie register at 1 SRW per GB, Dave deposits 100 SRW
/// and sends 2 GB forward and 1 GB back through Bob → Charlie; Charlie raises its price in the
/// middle of the epoch. Runs to the end of the epoch and returns Dave's signed receipt.
fn metered_epoch_one() -> SignedReceipt<sp_runtime::AccountId32> {
	run_to(1);
	let (bob, charlie, dave) = (Sr25519Keyring::Bob, Sr25519Keyring::Charlie, Sr25519Keyring::Dave);
	register(bob, 2);
	register(charlie, 3);
	Escrow::deposit(RuntimeOrigin::signed(dave.to_account_id()), 100 * SRW).unwrap();

	run_to(EPOCH + 5);
	Ditex::set_price(RuntimeOrigin::signed(charlie.to_account_id()), Some(5 * SRW)).unwrap();
	let receipt = UsageReceipt {
		consumer: dave.to_account_id(),
		flow: [7; 16],
		path: vec![bob.to_account_id(), charlie.to_account_id()].try_into().unwrap(),
		epoch: 1,
		fwd_octets: 2 * GB,
		rev_octets: GB,
		max_price_per_gb: 10 * SRW,
		nonce: 1,
	};
	let payload = receipt.signing_payload(&Tickets::genesis_hash());
	let signed = SignedReceipt { signature: dave.sign(&payload).0, receipt };
	run_to(2 * EPOCH);
	signed
}

/// Both relays claim epoch 1; after settlement each is paid 3 GB at
/// the price of the epoch's start, 1 SRW per GB, less 5 % to the infrastructure.
fn both_claim_and_are_paid_at_the_epochs_start_price(
	signed: &SignedReceipt<sp_runtime::AccountId32>,
) {
	let (bob, charlie, dave) = (Sr25519Keyring::Bob, Sr25519Keyring::Charlie, Sr25519Keyring::Dave);
	let before = (
		Balances::balance(&bob.to_account_id()),
		Balances::balance(&charlie.to_account_id()),
		Balances::balance(&InfraAccount::get()),
	);
	claim(bob, charlie, 1, 2, signed);
	claim(charlie, bob, 2, 1, signed);
	run_to(2 * EPOCH + 6);

	let hop = 3 * SRW;
	let infra = Perbill::from_percent(5).mul_floor(hop);
	assert_eq!(Balances::balance(&bob.to_account_id()), before.0 + hop - infra);
	assert_eq!(Balances::balance(&charlie.to_account_id()), before.1 + hop - infra);
	assert_eq!(Balances::balance(&InfraAccount::get()), before.2 + 2 * infra);
	let escrow = pallet_escrow::Accounts::<Runtime>::get(dave.to_account_id()).unwrap();
	assert_eq!(escrow.held, 100 * SRW - 2 * hop);
	assert!(System::events().iter().any(|r| matches!(
		r.event,
		RuntimeEvent::Tickets(pallet_tickets::Event::EpochSettled { epoch: 1 })
	)));
}

#[test]
fn a_signed_receipt_is_claimed_settled_and_paid_at_the_price_of_the_epochs_start() {
	common::externalities("development").execute_with(|| {
		let signed = metered_epoch_one();
		both_claim_and_are_paid_at_the_epochs_start_price(&signed);
	});
}

#[test]
fn a_router_that_unregisters_still_claims_and_is_paid_for_the_epoch_it_served() {
	common::externalities("development").execute_with(|| {
		let signed = metered_epoch_one();
		// Charlie leaves right after serving epoch 1; its deposit is still held (unbonding).
		let charlie = Sr25519Keyring::Charlie.to_account_id();
		Ditex::unregister(RuntimeOrigin::signed(charlie.clone())).unwrap();
		assert!(Ditex::router_view(&charlie).is_some(), "unbonding, not gone");
		both_claim_and_are_paid_at_the_epochs_start_price(&signed);
		// Once its deposit is withdrawn, metering forgets it (its restart allowance here).
		pallet_tickets::LastRestartGrace::<Runtime>::insert(&charlie, 1);
		run_to(4 * EPOCH);
		Ditex::withdraw_deposit(RuntimeOrigin::signed(charlie.clone())).unwrap();
		assert!(pallet_tickets::LastRestartGrace::<Runtime>::get(&charlie).is_none());
	});
}
