//! Fees through real signed extrinsics: a tipped transfer applied by `Executive` moves exactly
//! its `actual_fee` (tip included) into the two pools, 25 / 75.

use codec::Encode;
use frame_support::traits::fungible::Inspect;
use sp_keyring::Sr25519Keyring;
use sp_runtime::{generic::Era, traits::Header as _, MultiAddress, MultiSignature};
use srwan_runtime::{
	Balances, BalancesCall, Executive, FeeSplit, Header, RuntimeCall, RuntimeEvent, SignedPayload,
	System, TxExtension, UncheckedExtrinsic, SRW,
};

mod common;

fn signed(call: RuntimeCall, signer: Sr25519Keyring, nonce: u32, tip: u128) -> UncheckedExtrinsic {
	let extension: TxExtension = (
		frame_system::CheckNonZeroSender::new(),
		frame_system::CheckSpecVersion::new(),
		frame_system::CheckTxVersion::new(),
		frame_system::CheckGenesis::new(),
		frame_system::CheckEra::from(Era::Immortal),
		frame_system::CheckNonce::from(nonce),
		frame_system::CheckWeight::new(),
		pallet_transaction_payment::ChargeTransactionPayment::from(tip),
		frame_system::WeightReclaim::new(),
	);
	let payload = SignedPayload::new(call.clone(), extension.clone()).expect("payload");
	let signature = payload.using_encoded(|bytes| signer.sign(bytes));
	UncheckedExtrinsic::new_signed(
		call,
		MultiAddress::Id(signer.to_account_id()),
		MultiSignature::Sr25519(signature),
		extension,
	)
}

#[test]
fn a_tipped_transfer_moves_exactly_its_actual_fee_into_the_pools() {
	common::externalities("development").execute_with(|| {
		let parent = System::block_hash(0);
		Executive::initialize_block(&Header::new(
			1,
			Default::default(),
			Default::default(),
			parent,
			Default::default(),
		));
		let pools = || {
			(
				Balances::balance(&FeeSplit::validator_pool()),
				Balances::balance(&FeeSplit::dividend_pool()),
			)
		};
		let before = pools();
		let issuance = Balances::total_issuance();
		let dave = Sr25519Keyring::Dave.to_account_id();
		let call = RuntimeCall::Balances(BalancesCall::transfer_keep_alive {
			dest: MultiAddress::Id(dave),
			value: 5 * SRW,
		});
		let tip = 1_234_567u128;
		let applied = Executive::apply_extrinsic(signed(call, Sr25519Keyring::Alice, 0, tip));
		assert!(matches!(applied, Ok(Ok(()))), "{applied:?}");
		let actual_fee = System::events()
			.iter()
			.find_map(|r| match &r.event {
				RuntimeEvent::TransactionPayment(
					pallet_transaction_payment::Event::TransactionFeePaid {
						actual_fee,
						tip: paid_tip,
						..
					},
				) => {
					assert_eq!(*paid_tip, tip);
					Some(*actual_fee)
				}
				_ => None,
			})
			.expect("TransactionFeePaid");
		let after = pools();
		assert!(actual_fee > tip);
		assert_eq!(after.0 - before.0, actual_fee / 4, "validators: a quarter, rounded down");
		assert_eq!(after.1 - before.1, actual_fee - actual_fee / 4, "dividends: the rest");
		assert_eq!(Balances::total_issuance(), issuance, "fees move money, never mint or burn");
	});
}
