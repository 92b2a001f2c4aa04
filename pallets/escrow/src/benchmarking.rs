//! Benchmarks (v2) of every call.

use super::*;
use crate::Pallet as EscrowPallet;
use frame_benchmarking::v2::*;
use frame_support::traits::fungible::Mutate;
use frame_system::RawOrigin;

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

#[benchmarks]
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

	#[benchmark]
	fn withdraw() {
		let who = with_escrow::<T>();
		assert!(EscrowPallet::<T>::request_withdraw(RawOrigin::Signed(who.clone()).into(), 1_000)
			.is_ok());
		let unlock = frame_system::Pallet::<T>::block_number() + WithdrawDelay::<T>::get().into();
		frame_system::Pallet::<T>::set_block_number(unlock);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(Accounts::<T>::get(&who).and_then(|a| a.pending).is_none());
	}

	#[benchmark]
	fn set_spending_cap() {
		let who = with_escrow::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Some(5));
		assert_eq!(Accounts::<T>::get(&who).and_then(|a| a.spending_cap), Some(5));
	}

	#[benchmark]
	fn set_receipt_key() {
		let who = with_escrow::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Some([7; 32]));
		assert_eq!(Accounts::<T>::get(&who).and_then(|a| a.receipt_key), Some([7; 32]));
	}

	#[benchmark]
	fn set_withdraw_delay() {
		#[extrinsic_call]
		_(RawOrigin::Root, 300);
		assert_eq!(WithdrawDelay::<T>::get(), 300);
	}

	impl_benchmark_test_suite!(EscrowPallet, crate::mock::bench_ext(), crate::mock::Test);
}
