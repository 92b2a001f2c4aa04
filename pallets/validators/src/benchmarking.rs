//! Benchmarks (v2) of every call at its worst: `bond`, `unbond` of an account outside full
//! active and planned sets (both searched, then its bond released), `set_validator_counts`,
//! `set_session_length`.

use super::*;
use crate::Pallet as Validators;
use frame_benchmarking::v2::*;
use frame_support::traits::{fungible::Mutate, Get};
use frame_system::RawOrigin;
use srwan_primitives::traits::CandidateRanking;

/// Far above the bond.
const FUNDS: u128 = 1_000_000_000_000_000_000;

/// A funded candidate of coin voting.
fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	T::Currency::set_balance(&who, FUNDS);
	T::Ranking::make_candidate(&who);
	who
}

/// Full active and planned sets of other bonded accounts.
fn full_sets<T: Config>() {
	let max = T::MaxValidators::get();
	let set: alloc::vec::Vec<T::AccountId> = (0..max)
		.map(|i| {
			let member = funded::<T>("member", i);
			assert!(Validators::<T>::bond(RawOrigin::Signed(member.clone()).into()).is_ok());
			member
		})
		.collect();
	Active::<T>::put(SetOf::<T>::truncate_from(set.clone()));
	Planned::<T>::put(SetOf::<T>::truncate_from(set));
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn bond() {
		let who = funded::<T>("bonder", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(Bonded::<T>::contains_key(&who));
	}

	#[benchmark]
	fn unbond() {
		let who = funded::<T>("validator", 0);
		assert!(Validators::<T>::bond(RawOrigin::Signed(who.clone()).into()).is_ok());
		full_sets::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(!Bonded::<T>::contains_key(&who));
	}

	#[benchmark]
	fn set_validator_counts() {
		let count = T::MaxValidators::get();
		SessionLength::<T>::put(MAX_SESSION_LENGTH);
		#[extrinsic_call]
		_(RawOrigin::Root, 1, count);
		assert_eq!(DesiredValidators::<T>::get(), count);
	}

	#[benchmark]
	fn set_session_length() {
		let length = MAX_SESSION_LENGTH;
		#[extrinsic_call]
		_(RawOrigin::Root, length);
		assert_eq!(SessionLength::<T>::get(), length);
	}

	impl_benchmark_test_suite!(Validators, crate::mock::new_test_ext(), crate::mock::Test);
}
