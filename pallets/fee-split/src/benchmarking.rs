//! Benchmarks (v2) of the two hooks (minting the subsidy, paying `a` authors) and of root's
//! `set_schedule`.

use super::*;
use crate::Pallet as FeeSplit;
use frame_benchmarking::v2::*;
use frame_support::traits::{fungible::Mutate, Get};
use frame_system::RawOrigin;

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn mint_subsidy() {
		let before = T::Currency::total_issuance();
		#[block]
		{
			let credit = T::Currency::issue(1_000_000);
			FeeSplit::<T>::split_into_pools(credit, |validators, dividends| Event::SubsidyMinted {
				validators,
				dividends,
			});
		}
		assert_eq!(T::Currency::total_issuance(), before + 1_000_000);
	}

	#[benchmark]
	fn pay_validators(a: Linear<1, { T::MaxAuthors::get() }>) {
		let ed = T::Currency::minimum_balance();
		let pool = FeeSplit::<T>::validator_pool();
		assert!(T::Currency::mint_into(&pool, ed.saturating_mul(1_000_000)).is_ok());
		let authors: alloc::vec::Vec<T::AccountId> =
			(0..a).map(|i| account("author", i, 0)).collect();
		for who in &authors {
			FeeSplit::<T>::note_block(who.clone());
		}
		#[block]
		{
			FeeSplit::<T>::pay_validators();
		}
		assert!(T::Currency::balance(&authors[0]) > 0);
	}

	#[benchmark]
	fn set_schedule() {
		let schedule = Schedule { subsidy_per_block: 7, subsidy_blocks: 11, payout_period: 13 };
		#[extrinsic_call]
		_(RawOrigin::Root, schedule);
		assert_eq!(ScheduleOf::<T>::get(), schedule);
	}

	impl_benchmark_test_suite!(FeeSplit, crate::mock::new_test_ext(), crate::mock::Test);
}
