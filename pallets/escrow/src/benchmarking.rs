//! Benchmarks (v2) of every call, at their worst cases.

use super::*;
use crate::Pallet as EscrowPallet;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{traits::fungible::Mutate, BoundedVec};
use frame_system::RawOrigin;
use srwan_primitives::traits::RouterRegistry;

fn consumer<T: Config>() -> T::AccountId {
	let who: T::AccountId = whitelisted_caller();
	T::Currency::set_balance(&who, 1_000_000_000_000_000_000);
	who
}

fn with_escrow<T: Config>() -> T::AccountId {
	let who = consumer::<T>();
	assert!(EscrowPallet::<T>::deposit(RawOrigin::Signed(who.clone()).into(), 1_000_000_000_000)
		.is_ok());
	who
}

/// Moves the clock to the first block of `epoch`.
fn go_to_epoch<T: Config>(epoch: EpochIndex) {
	let block = epoch.saturating_mul(T::Epochs::epoch_length().max(1));
	frame_system::Pallet::<T>::set_block_number(block.into());
}

/// The worst case of a change of terms: `who`'s history is full, and every entry but the last
/// is settled and ended before the previous epoch, so pruning asks settlement about each of them
/// and drops them all. Returns the current epoch.
fn full_history<T: Config + BenchmarkSettlement>(who: &T::AccountId) -> EpochIndex {
	// Entry `i` starts at epoch `i`: all but the last end before epoch `MAX_SCHEDULED_TERMS`.
	let entries: Vec<(EpochIndex, Terms)> = (0..MAX_SCHEDULED_TERMS)
		.map(|since| {
			let byte = u8::try_from(since).unwrap_or(u8::MAX).saturating_add(1);
			(
				since,
				Terms { spending_cap: Some(Balance::from(since)), receipt_key: Some([byte; 32]) },
			)
		})
		.collect();
	let mut account = Accounts::<T>::get(who).unwrap_or_default();
	account.terms = BoundedVec::truncate_from(entries);
	Accounts::<T>::insert(who, account);
	let current = MAX_SCHEDULED_TERMS.saturating_add(2);
	T::settle_through(current.saturating_sub(2));
	go_to_epoch::<T>(current);
	current
}

#[benchmarks(where T: crate::BenchmarkSettlement)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn deposit() {
		let who = consumer::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), 1_000_000_000_000);
		assert!(Accounts::<T>::contains_key(&who));
	}

	#[benchmark]
	fn request_withdraw() {
		let who = with_escrow::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), 1_000);
		assert!(Accounts::<T>::get(&who).and_then(|a| a.pending).is_some());
	}

	/// Everything is withdrawn and the default terms are the only ones: the record goes.
	#[benchmark]
	fn withdraw() {
		let who = with_escrow::<T>();
		assert!(EscrowPallet::<T>::request_withdraw(
			RawOrigin::Signed(who.clone()).into(),
			1_000_000_000_000
		)
		.is_ok());
		let unlock = frame_system::Pallet::<T>::block_number() + WithdrawDelay::<T>::get().into();
		frame_system::Pallet::<T>::set_block_number(unlock);
		T::settle_through(T::Epochs::current_epoch());
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(!Accounts::<T>::contains_key(&who));
	}

	#[benchmark]
	fn set_spending_cap() {
		let who = with_escrow::<T>();
		let current = full_history::<T>(&who);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Some(5));
		let account = Accounts::<T>::get(&who).unwrap_or_default();
		assert_eq!(account.terms.len(), 2, "the settled entries were pruned");
		assert_eq!(account.terms_at(current.saturating_add(1)).spending_cap, Some(5));
	}

	#[benchmark]
	fn set_receipt_key() {
		let who = with_escrow::<T>();
		let current = full_history::<T>(&who);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Some([7; 32]));
		let account = Accounts::<T>::get(&who).unwrap_or_default();
		assert_eq!(account.terms.len(), 2, "the settled entries were pruned");
		assert_eq!(account.terms_at(current.saturating_add(1)).receipt_key, Some([7; 32]));
	}

	#[benchmark]
	fn set_withdraw_delay() {
		#[extrinsic_call]
		_(RawOrigin::Root, 300);
		assert_eq!(WithdrawDelay::<T>::get(), 300);
	}

	#[benchmark]
	fn set_min_escrow() {
		#[extrinsic_call]
		_(RawOrigin::Root, 5_000_000_000_000);
		assert_eq!(MinEscrow::<T>::get(), 5_000_000_000_000);
	}

	impl_benchmark_test_suite!(EscrowPallet, crate::mock::bench_ext(), crate::mock::Test);
}
