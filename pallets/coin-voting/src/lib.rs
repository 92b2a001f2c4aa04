//! # pallet-coin-voting — dividends to top-voted wallets
//!
//! The whitepaper: "coin holders can vote their coins with others to form groups to increase
//! their chances of being part of one of the reward wallets … these votes have no impact on the
//! holders' wallet". This pallet shares the dividend pool (75 % of fees and subsidy, filled by
//! pallet-fee-split) among the wallets coin holders vote for, and with the voters themselves.
//!
//! ## Voting costs nothing and locks nothing
//!
//! [`Pallet::register_candidate`] makes a wallet a candidate with a commission (at most
//! [`Config::MaxCommission`]). [`Pallet::vote`] names up to [`Config::MaxVotes`] candidates.
//! There is no lock, hold or freeze: a voter keeps full use of its coins.
//!
//! ## The tally: one block, each coin counted once
//!
//! Every `period` blocks, in **one block** (bounded by [`Config::MaxVoters`] and benchmarked),
//! each voter's weight is its total balance *at that moment*, split equally among the
//! candidates it voted for that are still registered. A tally spread over several blocks would
//! let coins move from a counted voter to a not-yet-counted one and count twice; in one block
//! coins are wherever they are, once.
//!
//! The top [`Config::DesiredWinners`] candidates by backing win (ties: lower account id first).
//! The pool's free funds are shared among winners pro rata backing; each winner keeps its
//! commission and the rest goes to the voters who backed it, pro rata the weight they gave it,
//! so small holders share too. Rounding remainders of a winner's voters go to the winner; what
//! is not shared (rounding across winners) stays in the pool for the next period. Payouts queue
//! and are paid [`Config::PayoutsPerBlock`] per block.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

pub use weights::WeightInfo;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::{collections::BTreeMap, vec::Vec};
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate},
			tokens::{Fortitude, Preservation},
		},
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::{
		helpers_128bit::multiply_by_rational_with_rounding, traits::UniqueSaturatedInto, Perbill,
		Rounding,
	};

	/// The storage layout version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// A vote as a call argument.
	pub type VoteOf<T> =
		BoundedVec<<T as frame_system::Config>::AccountId, <T as Config>::MaxVotes>;

	/// Configuration of coin voting.
	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency whose balances are the voting weight.
		type Currency: Inspect<Self::AccountId, Balance = u128> + Mutate<Self::AccountId>;
		/// The account dividends are paid from (pallet-fee-split's dividend pool).
		type DividendPool: Get<Self::AccountId>;
		/// Most candidates.
		#[pallet::constant]
		type MaxCandidates: Get<u32>;
		/// Most candidates one voter names.
		#[pallet::constant]
		type MaxVotes: Get<u32>;
		/// Most voters (bounds the one-block tally).
		#[pallet::constant]
		type MaxVoters: Get<u32>;
		/// Winners per period.
		#[pallet::constant]
		type DesiredWinners: Get<u32>;
		/// Highest commission a candidate may keep.
		#[pallet::constant]
		type MaxCommission: Get<Perbill>;
		/// Payouts made per block.
		#[pallet::constant]
		type PayoutsPerBlock: Get<u32>;
		/// Weights of calls and hooks.
		type WeightInfo: WeightInfo;
	}

	/// Blocks between tallies (set at genesis).
	#[pallet::storage]
	pub type Period<T> = StorageValue<_, u32, ValueQuery>;

	/// Candidates and their commission.
	#[pallet::storage]
	pub type Candidates<T: Config> = CountedStorageMap<_, Blake2_128Concat, T::AccountId, Perbill>;

	/// Each voter's candidates.
	#[pallet::storage]
	pub type Votes<T: Config> = CountedStorageMap<_, Blake2_128Concat, T::AccountId, VoteOf<T>>;

	/// Winners of the latest tally with their backing.
	#[pallet::storage]
	pub type Winners<T: Config> =
		StorageValue<_, BoundedVec<(T::AccountId, u128), T::DesiredWinners>, ValueQuery>;

	/// Payouts waiting to be made, by queue position.
	#[pallet::storage]
	pub type PayoutQueue<T: Config> = StorageMap<_, Twox64Concat, u32, (T::AccountId, u128)>;

	/// Next queue position to pay.
	#[pallet::storage]
	pub type QueueHead<T> = StorageValue<_, u32, ValueQuery>;

	/// Next free queue position.
	#[pallet::storage]
	pub type QueueTail<T> = StorageValue<_, u32, ValueQuery>;

	/// Sum of queued payouts: set aside in the pool, not shared again.
	#[pallet::storage]
	pub type Outstanding<T> = StorageValue<_, u128, ValueQuery>;

	/// Events of coin voting.
	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A wallet became (or updated itself as) a candidate.
		CandidateRegistered {
			/// The candidate.
			who: T::AccountId,
			/// Its commission.
			commission: Perbill,
		},
		/// A candidate withdrew; votes for it no longer count.
		CandidateUnregistered {
			/// The candidate.
			who: T::AccountId,
		},
		/// A wallet voted.
		Voted {
			/// The voter.
			who: T::AccountId,
			/// How many candidates it named.
			candidates: u32,
		},
		/// A wallet withdrew its vote.
		Unvoted {
			/// The voter.
			who: T::AccountId,
		},
		/// A winner of a tally.
		WinnerElected {
			/// The candidate.
			who: T::AccountId,
			/// Its backing (sum of voter weights given to it).
			backing: u128,
			/// Its share of the pool (commission + its voters' dividends).
			share: u128,
		},
		/// A tally finished.
		TallyCompleted {
			/// Voters whose weight counted.
			voters: u32,
			/// Winners.
			winners: u32,
			/// Amount queued for payout.
			distributed: u128,
		},
		/// A dividend was paid.
		DividendPaid {
			/// The wallet.
			who: T::AccountId,
			/// The amount.
			amount: u128,
		},
		/// A dividend could not be paid (e.g. below the existential deposit); it stays in the
		/// pool for the next period.
		DividendPayoutFailed {
			/// The wallet.
			who: T::AccountId,
			/// The amount.
			amount: u128,
		},
	}

	/// Errors of coin voting; each distinct bad input has its own.
	#[pallet::error]
	pub enum Error<T> {
		/// The commission is above `MaxCommission`.
		CommissionTooHigh,
		/// `MaxCandidates` are registered.
		TooManyCandidates,
		/// The account is not a candidate.
		NotCandidate,
		/// A vote must name at least one candidate.
		EmptyVote,
		/// A candidate appears twice in the vote.
		DuplicateVote,
		/// `MaxVoters` have voted.
		TooManyVoters,
		/// The account has not voted.
		NotVoter,
	}

	/// Genesis: the tally period.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Blocks between tallies (0 is read as 1).
		pub period: u32,
		#[serde(skip)]
		/// Type marker.
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			Period::<T>::put(self.period);
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(n: BlockNumberFor<T>) -> Weight {
			let block: u32 = n.unique_saturated_into();
			let mut weight = T::DbWeight::get().reads(3);
			if block > 0 && block.is_multiple_of(Period::<T>::get().max(1)) {
				let (voters, candidates) = (Votes::<T>::count(), Candidates::<T>::count());
				Self::tally();
				weight.saturating_accrue(T::WeightInfo::tally(voters, candidates));
			}
			let paid = Self::pay_out(T::PayoutsPerBlock::get());
			weight.saturating_add(T::WeightInfo::pay_out(paid))
		}

		fn integrity_test() {
			assert!(T::DesiredWinners::get() > 0, "at least one winner");
			assert!(T::PayoutsPerBlock::get() > 0, "payouts must progress");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Registers the signer as a candidate (or updates its commission).
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_candidate())]
		pub fn register_candidate(origin: OriginFor<T>, commission: Perbill) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(commission <= T::MaxCommission::get(), Error::<T>::CommissionTooHigh);
			ensure!(
				Candidates::<T>::contains_key(&who)
					|| Candidates::<T>::count() < T::MaxCandidates::get(),
				Error::<T>::TooManyCandidates
			);
			Candidates::<T>::insert(&who, commission);
			Self::deposit_event(Event::CandidateRegistered { who, commission });
			Ok(())
		}

		/// Withdraws the signer's candidacy; votes naming it stop counting.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::unregister_candidate())]
		pub fn unregister_candidate(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(Candidates::<T>::contains_key(&who), Error::<T>::NotCandidate);
			Candidates::<T>::remove(&who);
			Self::deposit_event(Event::CandidateUnregistered { who });
			Ok(())
		}

		/// Votes for `candidates` (replacing an earlier vote). Nothing is locked.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::vote(candidates.len() as u32))]
		pub fn vote(origin: OriginFor<T>, candidates: VoteOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(!candidates.is_empty(), Error::<T>::EmptyVote);
			for (i, candidate) in candidates.iter().enumerate() {
				ensure!(
					!candidates.iter().skip(i + 1).any(|c| c == candidate),
					Error::<T>::DuplicateVote
				);
				ensure!(Candidates::<T>::contains_key(candidate), Error::<T>::NotCandidate);
			}
			ensure!(
				Votes::<T>::contains_key(&who) || Votes::<T>::count() < T::MaxVoters::get(),
				Error::<T>::TooManyVoters
			);
			let count = candidates.len() as u32;
			Votes::<T>::insert(&who, candidates);
			Self::deposit_event(Event::Voted { who, candidates: count });
			Ok(())
		}

		/// Withdraws the signer's vote.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::unvote())]
		pub fn unvote(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(Votes::<T>::contains_key(&who), Error::<T>::NotVoter);
			Votes::<T>::remove(&who);
			Self::deposit_event(Event::Unvoted { who });
			Ok(())
		}
	}

	/// `a × b / c` rounded down, 0 if `c` is 0.
	fn pro_rata(a: u128, b: u128, c: u128) -> u128 {
		if c == 0 {
			return 0;
		}
		multiply_by_rational_with_rounding(a, b, c, Rounding::Down).unwrap_or(0)
	}

	impl<T: Config> Pallet<T> {
		/// What the pool can share now: its free funds minus payouts already queued.
		pub fn shareable() -> u128 {
			T::Currency::reducible_balance(
				&T::DividendPool::get(),
				Preservation::Preserve,
				Fortitude::Polite,
			)
			.saturating_sub(Outstanding::<T>::get())
		}

		/// Counts every vote at current balances, elects winners and queues their dividends.
		pub(crate) fn tally() {
			let candidates: BTreeMap<T::AccountId, Perbill> = Candidates::<T>::iter().collect();
			// (voter, candidate, weight given) for every counted vote.
			let mut given: Vec<(T::AccountId, T::AccountId, u128)> = Vec::new();
			let mut backing: BTreeMap<T::AccountId, u128> = BTreeMap::new();
			let mut voters = 0u32;
			for (voter, names) in Votes::<T>::iter() {
				let named: Vec<&T::AccountId> =
					names.iter().filter(|c| candidates.contains_key(*c)).collect();
				let weight = T::Currency::total_balance(&voter);
				let share = weight / (named.len().max(1) as u128);
				if named.is_empty() || share == 0 {
					continue;
				}
				voters = voters.saturating_add(1);
				for candidate in named {
					let slot = backing.entry(candidate.clone()).or_default();
					*slot = slot.saturating_add(share);
					given.push((voter.clone(), candidate.clone(), share));
				}
			}
			let mut ranked: Vec<(T::AccountId, u128)> = backing.into_iter().collect();
			// Highest backing first; ties to the lower account id (BTreeMap order, stable sort).
			ranked.sort_by_key(|(_, backing)| core::cmp::Reverse(*backing));
			ranked.truncate(T::DesiredWinners::get() as usize);
			let total_backing = ranked.iter().fold(0u128, |sum, (_, b)| sum.saturating_add(*b));
			let pool = Self::shareable();
			let mut payouts: BTreeMap<T::AccountId, u128> = BTreeMap::new();
			let mut distributed = 0u128;
			for (winner, winner_backing) in &ranked {
				let share = pro_rata(pool, *winner_backing, total_backing);
				let commission =
					candidates.get(winner).copied().unwrap_or_default().mul_floor(share);
				let for_voters = share.saturating_sub(commission);
				let mut to_voters = 0u128;
				for (voter, _, weight) in given.iter().filter(|(_, c, _)| c == winner) {
					let amount = pro_rata(for_voters, *weight, *winner_backing);
					to_voters = to_voters.saturating_add(amount);
					let slot = payouts.entry(voter.clone()).or_default();
					*slot = slot.saturating_add(amount);
				}
				// The winner keeps its commission and its voters' rounding remainders.
				let slot = payouts.entry(winner.clone()).or_default();
				*slot = slot.saturating_add(share.saturating_sub(to_voters));
				distributed = distributed.saturating_add(share);
				Self::deposit_event(Event::WinnerElected {
					who: winner.clone(),
					backing: *winner_backing,
					share,
				});
			}
			let mut tail = QueueTail::<T>::get();
			for (who, amount) in payouts.into_iter().filter(|(_, amount)| *amount > 0) {
				PayoutQueue::<T>::insert(tail, (who, amount));
				tail = tail.wrapping_add(1);
			}
			QueueTail::<T>::put(tail);
			Outstanding::<T>::mutate(|o| *o = o.saturating_add(distributed));
			Winners::<T>::put(BoundedVec::truncate_from(ranked.clone()));
			Self::deposit_event(Event::TallyCompleted {
				voters,
				winners: ranked.len() as u32,
				distributed,
			});
		}

		/// Makes up to `max` queued payouts; returns how many were attempted.
		pub(crate) fn pay_out(max: u32) -> u32 {
			let (mut head, tail) = (QueueHead::<T>::get(), QueueTail::<T>::get());
			let pool = T::DividendPool::get();
			let mut done = 0;
			while head != tail && done < max {
				if let Some((who, amount)) = PayoutQueue::<T>::take(head) {
					Outstanding::<T>::mutate(|o| *o = o.saturating_sub(amount));
					match T::Currency::transfer(&pool, &who, amount, Preservation::Preserve) {
						Ok(_) => Self::deposit_event(Event::DividendPaid { who, amount }),
						Err(_) => Self::deposit_event(Event::DividendPayoutFailed { who, amount }),
					}
				}
				head = head.wrapping_add(1);
				done += 1;
			}
			if done > 0 {
				QueueHead::<T>::put(head);
			}
			done
		}

		/// Checks the invariants: counts within bounds, votes name distinct accounts, queued
		/// payouts sum to `Outstanding`, and the pool covers them.
		#[cfg(any(test, feature = "try-runtime"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			ensure!(Candidates::<T>::count() <= T::MaxCandidates::get(), "too many candidates");
			ensure!(Votes::<T>::count() <= T::MaxVoters::get(), "too many voters");
			ensure!(
				Votes::<T>::iter().count() as u32 == Votes::<T>::count(),
				"voter count drifted"
			);
			for (_, names) in Votes::<T>::iter() {
				for (i, name) in names.iter().enumerate() {
					ensure!(!names.iter().skip(i + 1).any(|n| n == name), "duplicate vote");
				}
			}
			let queued =
				PayoutQueue::<T>::iter_values().fold(0u128, |s, (_, a)| s.saturating_add(a));
			ensure!(queued == Outstanding::<T>::get(), "queued payouts differ from Outstanding");
			ensure!(
				T::Currency::balance(&T::DividendPool::get()) >= Outstanding::<T>::get(),
				"pool cannot cover queued payouts"
			);
			Ok(())
		}
	}
}
