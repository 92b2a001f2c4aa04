//! Benchmarks (v2) of every call, the one-block tally (`v` voters naming `MaxVotes` of `c`
//! candidates) and `p` payouts.

use super::*;
use crate::Pallet as CoinVoting;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{fungible::Mutate, Get},
	BoundedVec,
};
use frame_system::RawOrigin;
use sp_runtime::Perbill;

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	T::Currency::set_balance(&who, 1_000_000_000_000_000u128 + u128::from(i));
	who
}

fn candidates<T: Config>(c: u32) -> Vec<T::AccountId> {
	(0..c)
		.map(|i| {
			let who = funded::<T>("candidate", i);
			assert!(CoinVoting::<T>::register_candidate(
				RawOrigin::Signed(who.clone()).into(),
				Perbill::from_percent(1)
			)
			.is_ok());
			who
		})
		.collect()
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_candidate() {
		candidates::<T>(T::MaxCandidates::get() - 1);
		let who = funded::<T>("new", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Perbill::from_percent(1));
		assert!(Candidates::<T>::contains_key(&who));
	}

	#[benchmark]
	fn unregister_candidate() {
		let who = candidates::<T>(1).remove(0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(!Candidates::<T>::contains_key(&who));
	}

	#[benchmark]
	fn vote(c: Linear<1, { T::MaxVotes::get() }>) {
		let names = candidates::<T>(c);
		let who = funded::<T>("voter", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), BoundedVec::truncate_from(names));
		assert!(Votes::<T>::contains_key(&who));
	}

	#[benchmark]
	fn unvote() {
		let names = candidates::<T>(1);
		let who = funded::<T>("voter", 0);
		assert!(CoinVoting::<T>::vote(
			RawOrigin::Signed(who.clone()).into(),
			BoundedVec::truncate_from(names)
		)
		.is_ok());
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(!Votes::<T>::contains_key(&who));
	}

	#[benchmark]
	fn tally(v: Linear<1, { T::MaxVoters::get() }>, c: Linear<1, { T::MaxCandidates::get() }>) {
		let names = candidates::<T>(c);
		let per_voter = (T::MaxVotes::get() as usize).min(names.len());
		for i in 0..v {
			let who = funded::<T>("voter", i);
			let start = (i as usize) % names.len();
			let chosen: Vec<_> =
				names.iter().cycle().skip(start).take(per_voter).cloned().collect();
			assert!(CoinVoting::<T>::vote(
				RawOrigin::Signed(who).into(),
				BoundedVec::truncate_from(chosen)
			)
			.is_ok());
		}
		T::Currency::set_balance(&T::DividendPool::get(), 1_000_000_000_000_000_000);
		#[block]
		{
			CoinVoting::<T>::tally();
		}
		assert!(!Winners::<T>::get().is_empty());
	}

	#[benchmark]
	fn pay_out(p: Linear<0, { T::PayoutsPerBlock::get() }>) {
		T::Currency::set_balance(&T::DividendPool::get(), 1_000_000_000_000_000_000);
		let mut total = 0u128;
		for i in 0..p {
			let who: T::AccountId = account("payee", i, 0);
			PayoutQueue::<T>::insert(i, (who, 1_000_000_000_000u128));
			total += 1_000_000_000_000;
		}
		QueueTail::<T>::put(p);
		Outstanding::<T>::put(total);
		#[block]
		{
			CoinVoting::<T>::pay_out(p);
		}
		assert_eq!(Outstanding::<T>::get(), 0);
	}

	impl_benchmark_test_suite!(CoinVoting, crate::mock::new_test_ext(0), crate::mock::Test);
}
