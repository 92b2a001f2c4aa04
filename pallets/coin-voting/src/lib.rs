//! # pallet-coin-voting — dividends to top-voted wallets
//!
//! The whitepaper: "coin holders can vote their coins with others to form groups to increase
//! their chances of being part of one of the reward wallets … these votes have no impact on the
//! holders' wallet". This pallet shares the dividend pool (75 % of fees and subsidy, filled by
//! pallet-fee-split) among the wallets coin holders vote for, and with the voters themselves.
//!
//! ## Voting locks nothing
//!
//! [`Pallet::vote`] names up to [`Config::MaxVotes`] candidates. There is no lock, hold or
//! freeze: a voter keeps full use of its coins. A voter needs a balance of at least
//! [`Config::MinVoterBalance`] ([`Error::VoterBalanceTooLow`] otherwise).
//!
//! ## Candidates hold a deposit
//!
//! [`Pallet::register_candidate`] makes a wallet a candidate with a commission (at most
//! [`Config::MaxCommission`]) and puts [`Config::CandidateDeposit`] on hold
//! ([`HoldReason::CandidateDeposit`]); [`Pallet::unregister_candidate`] releases it.
//!
//! ## Dust cannot squat
//!
//! The lists are bounded ([`Config::MaxCandidates`], [`Config::MaxVoters`]), so nobody may keep
//! a slot for free:
//!
//! - when a list is full, a newcomer whose *current* total balance is strictly above the lowest
//!   entry's takes that entry's place ([`Event::CandidateReplaced`], [`Event::VoterReplaced`]; a
//!   replaced candidate gets its deposit back); one with no more balance is refused
//!   ([`Error::TooManyCandidates`], [`Error::TooManyVoters`]). Among equal balances the entry
//!   with the higher account id goes first (ties elsewhere favour the lower one);
//! - votes lock nothing, so what a voter had when it voted says nothing later: at each tally,
//!   every voter whose current balance is below [`Config::MinVoterBalance`] and every candidate
//!   whose current balance is below [`Config::CandidateDeposit`] is evicted
//!   ([`Event::VoterEvicted`], [`Event::CandidateEvicted`]; the deposit is released) and its
//!   slot freed.
//!
//! Filling every slot therefore costs `MaxCandidates × CandidateDeposit` held plus
//! `MaxVoters × MinVoterBalance` kept, and still yields to anyone with more.
//!
//! ## The tally: one block, each coin counted once
//!
//! Every [`Period`] blocks (set at genesis, never 0; root may change it with
//! [`Pallet::set_period`]), in **one block** (bounded by [`Config::MaxVoters`] and
//! benchmarked), each voter's weight is its total balance *at that moment*, split equally
//! among the candidates it voted for that are still registered. A tally spread over several
//! blocks would let coins move from a counted voter to a not-yet-counted one and count twice;
//! in one block coins are wherever they are, once.
//!
//! The top [`Config::DesiredWinners`] candidates by backing win (ties: lower account id first).
//! The pool's free funds are shared among winners pro rata backing; each winner keeps its
//! commission and the rest goes to the voters who backed it, pro rata the weight they gave it,
//! so small holders share too. Rounding remainders of a winner's voters go to the winner; what
//! is not shared (rounding across winners) stays in the pool for the next period. Payouts queue
//! and are paid [`Config::PayoutsPerBlock`] per block; a tally that falls due while the last
//! one's payouts are still queued waits for the next period boundary
//! ([`Event::TallyDeferred`]), so the queue stays bounded whatever period root sets.
//!
//! ## Invariants (`do_try_state`)
//!
//! Counts within bounds, votes name distinct accounts, every candidate's recorded deposit is
//! exactly what is on hold for it, queued payouts sum to [`Outstanding`] and the pool covers
//! them.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod migrations;
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
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Preservation},
		},
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::{
		helpers_128bit::multiply_by_rational_with_rounding, traits::UniqueSaturatedInto, Perbill,
		Rounding,
	};

	/// The storage layout version: 2 since candidates record their deposit
	/// ([`crate::migrations::v2`]).
	pub const STORAGE_VERSION: StorageVersion = StorageVersion::new(2);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// A vote as a call argument.
	pub type VoteOf<T> =
		BoundedVec<<T as frame_system::Config>::AccountId, <T as Config>::MaxVotes>;

	/// Configuration of coin voting.
	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency whose balances are the voting weight and that holds candidate deposits.
		type Currency: Inspect<Self::AccountId, Balance = u128>
			+ Mutate<Self::AccountId>
			+ InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// The account dividends are paid from (pallet-fee-split's dividend pool).
		type DividendPool: Get<Self::AccountId>;
		/// Held from every candidate while it stands; a candidate whose balance falls below it
		/// is evicted at the next tally.
		#[pallet::constant]
		type CandidateDeposit: Get<u128>;
		/// The least balance a voter needs to vote and to stay a voter at each tally.
		#[pallet::constant]
		type MinVoterBalance: Get<u128>;
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

	/// Why the pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A candidate's deposit.
		CandidateDeposit,
	}

	/// A candidate's record.
	#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
	pub struct CandidateInfo {
		/// The share of its dividends the candidate keeps.
		pub commission: Perbill,
		/// What is on hold for it ([`HoldReason::CandidateDeposit`]), released when it leaves.
		pub deposit: u128,
	}

	/// Blocks between tallies (set at genesis, never 0; root may change it).
	#[pallet::storage]
	pub type Period<T> = StorageValue<_, u32, ValueQuery>;

	/// Candidates: their commission and the deposit held for them.
	#[pallet::storage]
	pub type Candidates<T: Config> =
		CountedStorageMap<_, Blake2_128Concat, T::AccountId, CandidateInfo>;

	/// Each voter's candidates.
	#[pallet::storage]
	pub type Votes<T: Config> = CountedStorageMap<_, Blake2_128Concat, T::AccountId, VoteOf<T>>;

	/// Winners of the latest tally with their backing.
	#[pallet::storage]
	pub type Winners<T: Config> =
		StorageValue<_, BoundedVec<(T::AccountId, u128), T::DesiredWinners>, ValueQuery>;

	/// Every candidate the latest tally found backed, highest backing first (the validator
	/// set is chosen from it, beyond the dividend winners).
	#[pallet::storage]
	pub type Ranking<T: Config> =
		StorageValue<_, BoundedVec<(T::AccountId, u128), T::MaxCandidates>, ValueQuery>;

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
			/// Its deposit on hold.
			deposit: u128,
		},
		/// A candidate withdrew; its deposit is released and votes for it no longer count.
		CandidateUnregistered {
			/// The candidate.
			who: T::AccountId,
			/// The deposit released.
			released: u128,
		},
		/// The candidate list was full and a newcomer with more balance took the place of the
		/// candidate with the least; its deposit is released.
		CandidateReplaced {
			/// The candidate that lost its place.
			who: T::AccountId,
			/// The newcomer.
			by: T::AccountId,
			/// The deposit released.
			released: u128,
		},
		/// A candidate's balance was below `CandidateDeposit` at a tally (or it could not pay
		/// the deposit at the storage migration); it is no longer a candidate and its deposit is
		/// released.
		CandidateEvicted {
			/// The former candidate.
			who: T::AccountId,
			/// Its total balance then.
			balance: u128,
			/// The deposit released.
			released: u128,
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
		/// The voter list was full and a newcomer with more balance took the place of the voter
		/// with the least.
		VoterReplaced {
			/// The voter that lost its place.
			who: T::AccountId,
			/// The newcomer.
			by: T::AccountId,
		},
		/// A voter's balance was below `MinVoterBalance` at a tally: its vote is removed.
		VoterEvicted {
			/// The former voter.
			who: T::AccountId,
			/// Its total balance then.
			balance: u128,
		},
		/// A tally was due but the last one's payouts are still queued: it waits for the
		/// next period boundary (nothing is lost; the pool keeps accumulating).
		TallyDeferred {
			/// Payouts of the last tally still queued.
			payouts_left: u32,
		},
		/// Root changed the tally period.
		PeriodSet {
			/// Blocks between tallies from now on.
			period: u32,
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
		/// `MaxCandidates` are registered and none has less balance than the account: it cannot
		/// take the place of the lowest.
		TooManyCandidates,
		/// The account is not a candidate.
		NotCandidate,
		/// The account cannot put `CandidateDeposit` on hold (too little free balance).
		InsufficientBalanceForDeposit,
		/// A vote must name at least one candidate.
		EmptyVote,
		/// A candidate appears twice in the vote.
		DuplicateVote,
		/// `MaxVoters` have voted and none has less balance than the account: it cannot take
		/// the place of the lowest.
		TooManyVoters,
		/// The account has not voted.
		NotVoter,
		/// The voter's balance is below `MinVoterBalance`.
		VoterBalanceTooLow,
		/// A tally period must be at least one block.
		ZeroPeriod,
	}

	/// The genesis tally period when a chain spec names none: an hour of 6 s blocks (the
	/// presets set their own).
	pub const DEFAULT_PERIOD: u32 = 600;

	/// Genesis: the tally period.
	#[pallet::genesis_config]
	pub struct GenesisConfig<T: Config> {
		/// Blocks between tallies; 0 is rejected.
		pub period: u32,
		#[serde(skip)]
		/// Type marker.
		pub _config: core::marker::PhantomData<T>,
	}

	impl<T: Config> Default for GenesisConfig<T> {
		fn default() -> Self {
			Self { period: DEFAULT_PERIOD, _config: Default::default() }
		}
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			assert!(self.period > 0, "coin-voting genesis period must be at least one block");
			Period::<T>::put(self.period);
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(n: BlockNumberFor<T>) -> Weight {
			let block: u32 = n.unique_saturated_into();
			let mut weight = T::DbWeight::get().reads(3);
			if block > 0 && block.is_multiple_of(Period::<T>::get().max(1)) {
				// A tally queues up to `MaxVoters + DesiredWinners` payouts, paid
				// `PayoutsPerBlock` a block: with a short period (root may set any) the queue
				// would grow without bound, so a tally waits until the last one is paid out.
				// The pool keeps what was not shared; the next tally shares it.
				weight.saturating_accrue(T::DbWeight::get().reads(2));
				if QueueHead::<T>::get() < QueueTail::<T>::get() {
					let left = QueueTail::<T>::get().saturating_sub(QueueHead::<T>::get());
					Self::deposit_event(Event::TallyDeferred { payouts_left: left });
				} else {
					let (voters, candidates) = (Votes::<T>::count(), Candidates::<T>::count());
					Self::tally();
					weight.saturating_accrue(Self::tally_weight(voters, candidates));
				}
			}
			let paid = Self::pay_out(T::PayoutsPerBlock::get());
			weight.saturating_add(T::WeightInfo::pay_out(paid))
		}

		fn integrity_test() {
			assert!(T::DesiredWinners::get() > 0, "at least one winner");
			assert!(T::PayoutsPerBlock::get() > 0, "payouts must progress");
			let ed = T::Currency::minimum_balance();
			assert!(T::CandidateDeposit::get() >= ed.max(1), "a candidate deposit of dust");
			assert!(T::MinVoterBalance::get() >= ed.max(1), "a minimum voter balance of dust");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Registers the signer as a candidate, holding `CandidateDeposit`, or updates its
		/// commission (its deposit stays as it is). When `MaxCandidates` are registered, the
		/// signer takes the place of the candidate with the least total balance if it has
		/// strictly more; that candidate's deposit is released.
		///
		/// Weighed at a full list (the search for the lowest reads every candidate's balance).
		#[pallet::call_index(0)]
		// `Winners`, read when the list is full (not in the benchmark yet).
		#[pallet::weight(T::WeightInfo::register_candidate().saturating_add(T::DbWeight::get().reads(1)))]
		pub fn register_candidate(origin: OriginFor<T>, commission: Perbill) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(commission <= T::MaxCommission::get(), Error::<T>::CommissionTooHigh);
			if let Some(mut info) = Candidates::<T>::get(&who) {
				info.commission = commission;
				Candidates::<T>::insert(&who, info);
				Self::deposit_event(Event::CandidateRegistered {
					who,
					commission,
					deposit: info.deposit,
				});
				return Ok(());
			}
			let deposit = T::CandidateDeposit::get();
			ensure!(
				deposit
					<= T::Currency::reducible_balance(
						&who,
						Preservation::Protect,
						Fortitude::Force
					),
				Error::<T>::InsufficientBalanceForDeposit
			);
			let replaced = if Candidates::<T>::count() >= T::MaxCandidates::get() {
				// Last tally's winners keep their slot: their backing, not their own balance,
				// is what voters chose, and a rival must not push them out just before a tally.
				let winners = Winners::<T>::get();
				let replaceable = Candidates::<T>::iter_keys()
					.filter(|c| !winners.iter().any(|(winner, _)| winner == c));
				let (lowest, lowest_balance) =
					Self::lowest(replaceable).ok_or(Error::<T>::TooManyCandidates)?;
				ensure!(
					T::Currency::total_balance(&who) > lowest_balance,
					Error::<T>::TooManyCandidates
				);
				Some(lowest)
			} else {
				None
			};
			T::Currency::hold(&HoldReason::CandidateDeposit.into(), &who, deposit)?;
			if let Some(lowest) = replaced {
				let released = Self::remove_candidate(&lowest);
				Self::deposit_event(Event::CandidateReplaced {
					who: lowest,
					by: who.clone(),
					released,
				});
			}
			Candidates::<T>::insert(&who, CandidateInfo { commission, deposit });
			Self::deposit_event(Event::CandidateRegistered { who, commission, deposit });
			Ok(())
		}

		/// Withdraws the signer's candidacy and releases its deposit; votes naming it stop
		/// counting.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::unregister_candidate())]
		pub fn unregister_candidate(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(Candidates::<T>::contains_key(&who), Error::<T>::NotCandidate);
			let released = Self::remove_candidate(&who);
			Self::deposit_event(Event::CandidateUnregistered { who, released });
			Ok(())
		}

		/// Votes for `candidates` (replacing an earlier vote). Nothing is locked, but the
		/// signer's total balance must be at least `MinVoterBalance`. When `MaxVoters` have
		/// voted, a new voter takes the place of the voter with the least total balance if it
		/// has strictly more.
		///
		/// Weighed at a full list (the search for the lowest reads every voter's balance).
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
			let balance = T::Currency::total_balance(&who);
			ensure!(balance >= T::MinVoterBalance::get(), Error::<T>::VoterBalanceTooLow);
			let replaced =
				if !Votes::<T>::contains_key(&who) && Votes::<T>::count() >= T::MaxVoters::get() {
					let (lowest, lowest_balance) =
						Self::lowest(Votes::<T>::iter_keys()).ok_or(Error::<T>::TooManyVoters)?;
					ensure!(balance > lowest_balance, Error::<T>::TooManyVoters);
					Some(lowest)
				} else {
					None
				};
			if let Some(lowest) = replaced {
				Votes::<T>::remove(&lowest);
				Self::deposit_event(Event::VoterReplaced { who: lowest, by: who.clone() });
			}
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

		/// Root sets the tally period (blocks, at least 1). Tallies run at the blocks that are
		/// multiples of it, starting with the next such block.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::set_period())]
		pub fn set_period(origin: OriginFor<T>, period: u32) -> DispatchResult {
			ensure_root(origin)?;
			ensure!(period > 0, Error::<T>::ZeroPeriod);
			Period::<T>::put(period);
			Self::deposit_event(Event::PeriodSet { period });
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

		/// The weight of a tally of `voters` voters and `candidates` candidates, whatever mix
		/// of them is counted or evicted: both benchmarked worst cases summed.
		pub fn tally_weight(voters: u32, candidates: u32) -> Weight {
			T::WeightInfo::tally(voters, candidates)
				.saturating_add(T::WeightInfo::tally_evicting(voters, candidates))
				// The ranking, written after the benchmarks were taken.
				.saturating_add(T::DbWeight::get().writes(1))
		}

		/// [`Ranking`] without the candidates that left since the tally.
		pub fn ranked() -> Vec<(T::AccountId, u128)> {
			Ranking::<T>::get()
				.into_iter()
				.filter(|(candidate, _)| Candidates::<T>::contains_key(candidate))
				.collect()
		}

		/// The account with the least current total balance among `accounts`, and that
		/// balance; among equal balances the higher account id (ties elsewhere favour the
		/// lower one). `None` when there is none.
		pub(crate) fn lowest(
			accounts: impl Iterator<Item = T::AccountId>,
		) -> Option<(T::AccountId, u128)> {
			accounts
				.map(|who| {
					let balance = T::Currency::total_balance(&who);
					(who, balance)
				})
				.min_by(|(a, a_balance), (b, b_balance)| {
					a_balance.cmp(b_balance).then_with(|| b.cmp(a))
				})
		}

		/// Removes candidate `who` and releases its deposit; returns what was released.
		pub(crate) fn remove_candidate(who: &T::AccountId) -> u128 {
			let Some(info) = Candidates::<T>::take(who) else { return 0 };
			match T::Currency::release(
				&HoldReason::CandidateDeposit.into(),
				who,
				info.deposit,
				Precision::BestEffort,
			) {
				Ok(released) => released,
				Err(error) => {
					// Releasing what this pallet holds cannot fail.
					frame_support::defensive!("candidate deposit not released", error);
					0
				}
			}
		}

		/// Evicts entries below their minimum, counts every remaining vote at current
		/// balances, elects winners and queues their dividends.
		pub(crate) fn tally() {
			let candidate_minimum = T::CandidateDeposit::get();
			let mut candidates: BTreeMap<T::AccountId, Perbill> = BTreeMap::new();
			let mut evicted: Vec<(T::AccountId, u128)> = Vec::new();
			for (who, info) in Candidates::<T>::iter() {
				let balance = T::Currency::total_balance(&who);
				if balance < candidate_minimum {
					evicted.push((who, balance));
				} else {
					candidates.insert(who, info.commission);
				}
			}
			for (who, balance) in evicted.drain(..) {
				let released = Self::remove_candidate(&who);
				Self::deposit_event(Event::CandidateEvicted { who, balance, released });
			}
			let voter_minimum = T::MinVoterBalance::get();
			// (voter, candidate, weight given) for every counted vote.
			let mut given: Vec<(T::AccountId, T::AccountId, u128)> = Vec::new();
			let mut backing: BTreeMap<T::AccountId, u128> = BTreeMap::new();
			let mut voters = 0u32;
			for (voter, names) in Votes::<T>::iter() {
				let weight = T::Currency::total_balance(&voter);
				if weight < voter_minimum {
					evicted.push((voter, weight));
					continue;
				}
				let named: Vec<&T::AccountId> =
					names.iter().filter(|c| candidates.contains_key(*c)).collect();
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
			for (who, balance) in evicted {
				Votes::<T>::remove(&who);
				Self::deposit_event(Event::VoterEvicted { who, balance });
			}
			let mut ranked: Vec<(T::AccountId, u128)> = backing.into_iter().collect();
			// Highest backing first; ties to the lower account id (BTreeMap order, stable sort).
			ranked.sort_by_key(|(_, backing)| core::cmp::Reverse(*backing));
			// Every ranked name is a standing candidate: at most `MaxCandidates`.
			Ranking::<T>::put(BoundedVec::truncate_from(ranked.clone()));
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

		/// Checks the invariants: counts within bounds, votes name distinct accounts, every
		/// candidate's recorded deposit is what is on hold for it, queued payouts sum to
		/// `Outstanding`, and the pool covers them.
		#[cfg(any(test, feature = "try-runtime"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			ensure!(Candidates::<T>::count() <= T::MaxCandidates::get(), "too many candidates");
			ensure!(
				Candidates::<T>::iter().count() as u32 == Candidates::<T>::count(),
				"candidate count drifted"
			);
			ensure!(Votes::<T>::count() <= T::MaxVoters::get(), "too many voters");
			ensure!(
				Votes::<T>::iter().count() as u32 == Votes::<T>::count(),
				"voter count drifted"
			);
			let reason = HoldReason::CandidateDeposit.into();
			for (who, info) in Candidates::<T>::iter() {
				ensure!(
					T::Currency::balance_on_hold(&reason, &who) == info.deposit,
					"a candidate's deposit differs from its hold"
				);
			}
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
