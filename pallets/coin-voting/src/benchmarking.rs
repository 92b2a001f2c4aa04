//! Benchmarks (v2) of every call (candidacy and votes at full lists, where a newcomer replaces
//! the lowest entry), the one-block tally (`v` voters naming `MaxVotes` of `c` candidates),
//! the tally that evicts everyone, and `p` payouts.

use super::*;
use crate::Pallet as CoinVoting;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{
		fungible::{Inspect, InspectHold, Mutate, MutateHold},
		Get,
	},
	BoundedVec,
};
use frame_system::RawOrigin;
use sp_runtime::Perbill;

/// What every benchmark account starts with: far above the deposit and the voter minimum.
const FUNDS: u128 = 1_000_000_000_000_000;

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	T::Currency::set_balance(&who, FUNDS + u128::from(i));
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

/// `v` voters, each naming up to `MaxVotes` of `names` (starting at a different one).
fn voters<T: Config>(v: u32, names: &[T::AccountId]) -> Vec<T::AccountId> {
	let per_voter = (T::MaxVotes::get() as usize).min(names.len());
	(0..v)
		.map(|i| {
			let who = funded::<T>("voter", i);
			let start = (i as usize) % names.len();
			let chosen: Vec<_> =
				names.iter().cycle().skip(start).take(per_voter).cloned().collect();
			assert!(CoinVoting::<T>::vote(
				RawOrigin::Signed(who.clone()).into(),
				BoundedVec::truncate_from(chosen)
			)
			.is_ok());
			who
		})
		.collect()
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// The list is full: the newcomer searches every candidate's balance, holds its deposit
	/// and replaces the lowest, whose deposit is released.
	#[benchmark]
	fn register_candidate() {
		let existing = candidates::<T>(T::MaxCandidates::get());
		let who: T::AccountId = account("new", 0, 0);
		T::Currency::set_balance(&who, FUNDS.saturating_mul(2));
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Perbill::from_percent(1));
		assert!(Candidates::<T>::contains_key(&who));
		assert!(!Candidates::<T>::contains_key(&existing[0]), "the lowest was replaced");
		assert_eq!(Candidates::<T>::count(), T::MaxCandidates::get());
	}

	#[benchmark]
	fn unregister_candidate() {
		let who = candidates::<T>(1).remove(0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(!Candidates::<T>::contains_key(&who));
		assert_eq!(
			T::Currency::balance_on_hold(&HoldReason::CandidateDeposit.into(), &who),
			0,
			"the deposit is released"
		);
	}

	/// At `MaxVoters`: the newcomer searches every voter's balance and replaces the lowest.
	#[benchmark]
	fn vote(c: Linear<1, { T::MaxVotes::get() }>) {
		let names = candidates::<T>(c);
		let existing = voters::<T>(T::MaxVoters::get(), &names[..1]);
		let who: T::AccountId = account("new voter", 0, 0);
		T::Currency::set_balance(&who, FUNDS.saturating_mul(2));
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), BoundedVec::truncate_from(names));
		assert!(Votes::<T>::contains_key(&who));
		assert!(!Votes::<T>::contains_key(&existing[0]), "the lowest was replaced");
		assert_eq!(Votes::<T>::count(), T::MaxVoters::get());
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
	fn set_period() {
		#[extrinsic_call]
		_(RawOrigin::Root, 7);
		assert_eq!(Period::<T>::get(), 7);
	}

	/// Everyone counted: `v` voters above the minimum naming `c` candidates.
	#[benchmark]
	fn tally(v: Linear<1, { T::MaxVoters::get() }>, c: Linear<1, { T::MaxCandidates::get() }>) {
		let names = candidates::<T>(c);
		voters::<T>(v, &names);
		T::Currency::set_balance(&T::DividendPool::get(), 1_000_000_000_000_000_000);
		#[block]
		{
			CoinVoting::<T>::tally();
		}
		assert!(!Winners::<T>::get().is_empty());
	}

	/// Everyone evicted: `v` voters whose balance fell below `MinVoterBalance` and `c`
	/// candidates below `CandidateDeposit` (each holding a smaller, older deposit, as after
	/// `CandidateDeposit` was raised), whose deposits are released.
	#[benchmark]
	fn tally_evicting(
		v: Linear<1, { T::MaxVoters::get() }>,
		c: Linear<1, { T::MaxCandidates::get() }>,
	) {
		let ed = T::Currency::minimum_balance().max(1);
		assert!(T::CandidateDeposit::get() > ed.saturating_mul(3), "deposit above 3 × ED");
		assert!(T::MinVoterBalance::get() > ed, "voter minimum above ED");
		let names: Vec<T::AccountId> = (0..c)
			.map(|i| {
				let who: T::AccountId = account("poor candidate", i, 0);
				T::Currency::set_balance(&who, ed.saturating_mul(3));
				assert!(T::Currency::hold(&HoldReason::CandidateDeposit.into(), &who, ed).is_ok());
				Candidates::<T>::insert(
					&who,
					CandidateInfo { commission: Perbill::from_percent(1), deposit: ed },
				);
				who
			})
			.collect();
		for who in voters::<T>(v, &names) {
			T::Currency::set_balance(&who, ed);
		}
		T::Currency::set_balance(&T::DividendPool::get(), 1_000_000_000_000_000_000);
		#[block]
		{
			CoinVoting::<T>::tally();
		}
		assert_eq!((Votes::<T>::count(), Candidates::<T>::count()), (0, 0));
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
