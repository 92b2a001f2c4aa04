//! # Validators (master nodes)
//!
//! Which accounts author blocks and finalize them in each session. pallet-session asks this
//! pallet (its [`SessionManager`](pallet_session::SessionManager)) for the set one session
//! ahead; Aura and GRANDPA follow.
//!
//! ## Who may validate
//!
//! A candidate of coin voting that
//!
//! 1. holds [`Config::ValidatorBond`] ([`Pallet::bond`], for candidates only; [`Pallet::unbond`]
//!    releases it once the account is out of the set, and so does giving up candidacy: the
//!    bonds are as many as coin voting's candidates, whose full list yields to richer
//!    newcomers, plus the set itself, so nobody can squat them);
//! 2. has had session keys (pallet-session's `set_keys`) since an earlier planning than this
//!    one: keys set at least one whole session before the session it validates, so its node
//!    has them loaded;
//! 3. was not marked, at this session boundary, for missing at least half of its own Aura slots
//!    in the session that just ended.
//!
//! Among those, the best backed by coin votes ([`Config::Ranking`]) make up the wanted set of
//! [`DesiredValidators`]. Backing below [`Config::MinBacking`] counts as none: eligible
//! accounts without it come after every backed one, the current validators first, so a chain
//! nobody votes on keeps its validators and a dust vote displaces nobody.
//!
//! ## How the set changes
//!
//! A tally can move a lot of unlocked coins at once. So that it cannot hand finality over in
//! one session, each session replaces at most ⌊(n−1)/3⌋ (at least one) of the `n` validators
//! and adds as many: a set of four changes one member at a time, so GRANDPA's two thirds
//! always include validators of the previous set. The set never falls below
//! [`MinValidators`] (a leaving or missing validator stays while nobody can replace it) and is
//! never empty; a member whose session keys are gone leaves whatever the limit (pallet-session
//! would skip it anyway). Both counts are set at genesis to the first validators' number; root
//! changes them with [`Pallet::set_validator_counts`]. When nothing changes, pallet-session is
//! told so (`None`).
//!
//! ## Missed slots
//!
//! Aura gives validator `i` of `n` every slot `s` with `s mod n = i`. Blocks are counted as
//! pallet-authorship reports their authors; at the end of a session of at least `2n` slots
//! (the first session, whose start slot is unknown, is not judged), a validator that authored
//! fewer than half of its own slots is marked ([`Event::MissedSlots`]) and left out of the
//! planning at that boundary; it may be planned back in at the next one.
//!
//! ## Session length
//!
//! [`SessionLength`] is the runtime's `ShouldEndSession` period (sessions rotate at blocks
//! `2 + k · length`). Genesis sets it; root changes it with [`Pallet::set_session_length`],
//! within twice the set it aims at (two slots each to be judged by) and [`MAX_SESSION_LENGTH`].
//!
//! ## Invariants (`do_try_state`)
//!
//! The active and planned sets are within bounds, non-empty once there is a set, free of
//! duplicates and bonded; every bond's recorded amount is what is on hold.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
mod planning;
#[cfg(test)]
mod tests;
pub mod weights;

pub use planning::{own_slots, plan, Plan};
pub use weights::WeightInfo;

/// The session counter pallet-session passes around.
pub type SessionIndex = u32;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			tokens::Precision,
			ValidatorRegistration,
		},
	};
	use frame_system::pallet_prelude::*;
	use srwan_primitives::traits::CandidateRanking;

	/// The storage layout version.
	pub const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	/// A mark for missed slots made when session `s` ended leaves the validator out of the
	/// plannings of sessions up to `s + MISSED_PLANNINGS`: the one at that same boundary.
	pub const MISSED_PLANNINGS: SessionIndex = 2;

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// A set of validators, in authority order.
	pub type SetOf<T> =
		BoundedVec<<T as frame_system::Config>::AccountId, <T as Config>::MaxValidators>;

	/// Configuration of the validator set.
	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency the bond is held in.
		type Currency: Inspect<Self::AccountId, Balance = u128>
			+ Mutate<Self::AccountId>
			+ InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Candidates by coin votes (coin voting's latest tally).
		type Ranking: CandidateRanking<Self::AccountId>;
		/// Whether an account has session keys (pallet-session).
		type SessionKeys: ValidatorRegistration<Self::AccountId>;
		/// The current Aura slot.
		type CurrentSlot: Get<u64>;
		/// Held from every account that offers to validate.
		#[pallet::constant]
		type ValidatorBond: Get<u128>;
		/// Coin votes below this count as none.
		#[pallet::constant]
		type MinBacking: Get<u128>;
		/// The most validators (Aura's and GRANDPA's `MaxAuthorities`).
		#[pallet::constant]
		type MaxValidators: Get<u32>;
		/// The most bonded accounts (bounds each planning's work): coin voting's
		/// `MaxCandidates` plus [`Config::MaxValidators`].
		#[pallet::constant]
		type MaxBonded: Get<u32>;
		/// Weights of calls and hooks.
		type WeightInfo: WeightInfo;
	}

	/// Why the pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A validator's bond.
		ValidatorBond,
	}

	/// An account's bond.
	#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
	pub struct Bond {
		/// What is on hold ([`HoldReason::ValidatorBond`]).
		pub amount: u128,
		/// It asked to leave: planned out, released once out of the set.
		pub leaving: bool,
	}

	/// Accounts that offer to validate, with their bond.
	#[pallet::storage]
	pub type Bonded<T: Config> = CountedStorageMap<_, Blake2_128Concat, T::AccountId, Bond>;

	/// The planning at which a bonded account was first seen with session keys.
	#[pallet::storage]
	pub type KeysSince<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, SessionIndex>;

	/// The validators of the current session, in authority order.
	#[pallet::storage]
	pub type Active<T: Config> = StorageValue<_, SetOf<T>, ValueQuery>;

	/// The set planned for the next session, when it differs from [`Active`].
	#[pallet::storage]
	pub type Planned<T: Config> = StorageValue<_, SetOf<T>, OptionQuery>;

	/// The current session and the Aura slot it started after.
	#[pallet::storage]
	pub type SessionStart<T: Config> = StorageValue<_, (SessionIndex, u64), ValueQuery>;

	/// Blocks each validator of the current session has authored in it.
	#[pallet::storage]
	pub type Authored<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	/// Validators that missed at least half of their slots in the session given: planned out
	/// at the next planning.
	#[pallet::storage]
	pub type Missed<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, SessionIndex>;

	/// How many validators the set aims at.
	#[pallet::storage]
	pub type DesiredValidators<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// The fewest validators the set keeps (at least one).
	#[pallet::storage]
	pub type MinValidators<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// Blocks per session (the runtime's `ShouldEndSession` reads it; set at genesis).
	#[pallet::storage]
	pub type SessionLength<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// Blocks per session in production: an hour of 6 s blocks (DESIGN.md "Parameters").
	pub const PRODUCTION_SESSION_LENGTH: u32 = 600;

	/// The longest session root may set: a week of 6 s blocks (a set changes, and missed slots
	/// are judged, once a session).
	pub const MAX_SESSION_LENGTH: u32 = 100_800;

	/// The first validators, bonded at genesis (their session keys are pallet-session's
	/// genesis keys), and the session length.
	#[pallet::genesis_config]
	pub struct GenesisConfig<T: Config> {
		/// The validators of sessions 0 and 1.
		pub validators: Vec<T::AccountId>,
		/// Blocks per session: at least twice the largest set, so each validator has two slots
		/// a session to be judged by.
		pub session_length: u32,
	}

	impl<T: Config> Default for GenesisConfig<T> {
		fn default() -> Self {
			Self { validators: Vec::new(), session_length: PRODUCTION_SESSION_LENGTH }
		}
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			let bond = T::ValidatorBond::get();
			for who in &self.validators {
				assert!(!Bonded::<T>::contains_key(who), "a genesis validator is named twice");
				T::Currency::hold(&HoldReason::ValidatorBond.into(), who, bond)
					.expect("genesis validators are funded with the bond");
				Bonded::<T>::insert(who, Bond { amount: bond, leaving: false });
				KeysSince::<T>::insert(who, 0);
			}
			let set = SetOf::<T>::try_from(self.validators.clone())
				.expect("at most MaxValidators genesis validators");
			Active::<T>::put(set);
			assert!(self.session_length > 0, "sessions last at least a block");
			SessionLength::<T>::put(self.session_length);
			let count = (self.validators.len() as u32).clamp(1, T::MaxValidators::get());
			DesiredValidators::<T>::put(count);
			MinValidators::<T>::put(count);
		}
	}

	/// Events of the validator set.
	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// An account put up its bond and offers to validate.
		Bonded {
			/// The account.
			who: T::AccountId,
			/// The bond held.
			amount: u128,
		},
		/// A validator asked to leave: it is planned out, its bond released once it is out.
		Leaving {
			/// The validator.
			who: T::AccountId,
		},
		/// A bond was released.
		Unbonded {
			/// The account.
			who: T::AccountId,
			/// What was released.
			amount: u128,
		},
		/// The set for a coming session differs from the current one.
		SetPlanned {
			/// The session it validates.
			session: SessionIndex,
			/// The validators, in authority order.
			validators: Vec<T::AccountId>,
			/// How many joined.
			joined: u32,
			/// How many left.
			left: u32,
		},
		/// Root changed the fewest validators the set keeps and how many it aims at.
		ValidatorCountsSet {
			/// The fewest.
			min: u32,
			/// How many it aims at.
			desired: u32,
		},
		/// Root changed the session length; the next session starts at the first block `b`
		/// with `(b - 2) % length == 0`.
		SessionLengthSet {
			/// Blocks per session.
			length: u32,
		},
		/// A validator authored fewer than half of its own slots in a session: it leaves the
		/// set at the next planning that can replace it.
		MissedSlots {
			/// The validator.
			who: T::AccountId,
			/// The session.
			session: SessionIndex,
			/// Blocks it authored.
			authored: u32,
			/// Its own slots in the session.
			slots: u32,
		},
	}

	/// Errors of the validator set; each distinct bad input has its own.
	#[pallet::error]
	pub enum Error<T> {
		/// The account already holds a bond.
		AlreadyBonded,
		/// As many accounts as [`Config::MaxBonded`] hold a bond.
		TooManyBonded,
		/// The account cannot hold the bond (too little free balance).
		CannotHoldBond,
		/// The account holds no bond.
		NotBonded,
		/// The account already asked to leave.
		AlreadyLeaving,
		/// Counts not in `1 ≤ min ≤ desired ≤ MaxValidators`.
		CountsOutOfBounds,
		/// Only coin-voting candidates bond.
		NotACandidate,
		/// A session length not in `2 × DesiredValidators ≤ length ≤ MAX_SESSION_LENGTH`.
		SessionLengthOutOfBounds,
		/// Sessions of [`SessionLength`] blocks would not give each of that many validators
		/// two slots to be judged by: lengthen them first ([`Pallet::set_session_length`]).
		SessionTooShortForSet,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(_: BlockNumberFor<T>) -> Weight {
			// Counting the block's author (pallet-authorship's handler) reads the set and
			// writes one count.
			T::DbWeight::get().reads_writes(1, 1)
		}

		fn integrity_test() {
			assert!(T::MaxValidators::get() >= 1, "room for a validator");
			assert!(T::MaxBonded::get() >= T::MaxValidators::get(), "room for a full set");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Puts [`Config::ValidatorBond`] on hold and offers to validate. Only a candidate of
		/// coin voting may; it also needs session keys (pallet-session's `set_keys`) and votes.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::bond())]
		pub fn bond(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(!Bonded::<T>::contains_key(&who), Error::<T>::AlreadyBonded);
			ensure!(T::Ranking::is_candidate(&who), Error::<T>::NotACandidate);
			ensure!(Bonded::<T>::count() < T::MaxBonded::get(), Error::<T>::TooManyBonded);
			let amount = T::ValidatorBond::get();
			T::Currency::hold(&HoldReason::ValidatorBond.into(), &who, amount)
				.map_err(|_| Error::<T>::CannotHoldBond)?;
			Bonded::<T>::insert(&who, Bond { amount, leaving: false });
			Self::deposit_event(Event::Bonded { who, amount });
			Ok(())
		}

		/// Withdraws the offer: the bond is released now if the account validates neither
		/// this session nor the next, else it is planned out and released once it is out.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::unbond())]
		pub fn unbond(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let bond = Bonded::<T>::get(&who).ok_or(Error::<T>::NotBonded)?;
			ensure!(!bond.leaving, Error::<T>::AlreadyLeaving);
			if Self::in_a_set(&who) {
				Bonded::<T>::insert(&who, Bond { leaving: true, ..bond });
				Self::deposit_event(Event::Leaving { who });
			} else {
				Self::release(&who);
			}
			Ok(())
		}

		/// Sets the fewest validators the set keeps and how many it aims at (root): it moves
		/// there a third of the set at a time, as the candidates allow. Sessions must give each
		/// of `desired` validators two slots ([`Error::SessionTooShortForSet`]).
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::set_validator_counts())]
		pub fn set_validator_counts(
			origin: OriginFor<T>,
			min: u32,
			desired: u32,
		) -> DispatchResult {
			ensure_root(origin)?;
			ensure!(
				1 <= min && min <= desired && desired <= T::MaxValidators::get(),
				Error::<T>::CountsOutOfBounds
			);
			ensure!(
				desired.saturating_mul(2) <= SessionLength::<T>::get(),
				Error::<T>::SessionTooShortForSet
			);
			MinValidators::<T>::put(min);
			DesiredValidators::<T>::put(desired);
			Self::deposit_event(Event::ValidatorCountsSet { min, desired });
			Ok(())
		}

		/// Sets the blocks per session (root only). At least twice the set it aims at, so that
		/// every validator has two slots a session to be judged by, and at most
		/// [`MAX_SESSION_LENGTH`]. Sessions rotate at blocks `2 + k · length`: the running
		/// session ends at the first such block of the new length (it may be shorter or longer
		/// than either length; missed slots are judged by the slots it really had).
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::set_session_length())]
		pub fn set_session_length(origin: OriginFor<T>, length: u32) -> DispatchResult {
			ensure_root(origin)?;
			let shortest = DesiredValidators::<T>::get().saturating_mul(2).max(1);
			ensure!(
				shortest <= length && length <= MAX_SESSION_LENGTH,
				Error::<T>::SessionLengthOutOfBounds
			);
			SessionLength::<T>::put(length);
			Self::deposit_event(Event::SessionLengthSet { length });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// Whether `who` validates this session or is planned for the next.
		pub(crate) fn in_a_set(who: &T::AccountId) -> bool {
			Active::<T>::get().contains(who) || Planned::<T>::get().is_some_and(|p| p.contains(who))
		}

		/// Releases `who`'s bond and forgets it.
		pub(crate) fn release(who: &T::AccountId) {
			let Some(bond) = Bonded::<T>::take(who) else { return };
			KeysSince::<T>::remove(who);
			Missed::<T>::remove(who);
			let amount = match T::Currency::release(
				&HoldReason::ValidatorBond.into(),
				who,
				bond.amount,
				Precision::BestEffort,
			) {
				Ok(released) => released,
				Err(error) => {
					// Releasing what this pallet holds cannot fail.
					frame_support::defensive!("validator bond not released", error);
					0
				}
			};
			Self::deposit_event(Event::Unbonded { who: who.clone(), amount });
		}

		/// Plans the set for session `session`: `None` when it is the current one.
		pub(crate) fn plan_session(session: SessionIndex) -> Option<Vec<T::AccountId>> {
			let mut eligible = Vec::new();
			for (who, bond) in Bonded::<T>::iter() {
				if !T::SessionKeys::is_registered(&who) {
					KeysSince::<T>::remove(&who);
					continue;
				}
				let since = KeysSince::<T>::get(&who).unwrap_or_else(|| {
					KeysSince::<T>::insert(&who, session);
					session
				});
				let missed = match Missed::<T>::get(&who) {
					Some(at) if at.saturating_add(MISSED_PLANNINGS) >= session => true,
					Some(_) => {
						Missed::<T>::remove(&who);
						false
					}
					None => false,
				};
				if since < session && !bond.leaving && !missed {
					eligible.push(who);
				}
			}
			let active = Active::<T>::get();
			// Backed first by backing; then the rest, the current validators first.
			let min_backing = T::MinBacking::get();
			let mut ranked: Vec<T::AccountId> = T::Ranking::ranked()
				.into_iter()
				.filter(|(who, backing)| *backing >= min_backing && eligible.contains(who))
				.map(|(who, _)| who)
				.collect();
			let unbacked: Vec<T::AccountId> =
				eligible.into_iter().filter(|who| !ranked.contains(who)).collect();
			let (members, others): (Vec<_>, Vec<_>) =
				unbacked.into_iter().partition(|who| active.contains(who));
			let members = active.iter().filter(|who| members.contains(who)).cloned();
			ranked.extend(members.chain(others));
			// Members without session keys leave whatever the limits (pallet-session skips
			// them anyway), unless none has keys: the set is never empty.
			let keyed: Vec<T::AccountId> =
				active.iter().filter(|who| T::SessionKeys::is_registered(who)).cloned().collect();
			let keyless = if keyed.is_empty() { 0 } else { active.len() - keyed.len() };
			let current = if keyed.is_empty() { active.to_vec() } else { keyed };
			let outcome = plan(
				&current,
				&ranked,
				DesiredValidators::<T>::get() as usize,
				MinValidators::<T>::get() as usize,
				T::MaxValidators::get() as usize,
			);
			if outcome.set == active.to_vec() {
				Planned::<T>::kill();
				return None;
			}
			let set = SetOf::<T>::truncate_from(outcome.set.clone());
			Planned::<T>::put(set);
			Self::deposit_event(Event::SetPlanned {
				session,
				validators: outcome.set.clone(),
				joined: outcome.joined,
				left: outcome.left.saturating_add(keyless as u32),
			});
			Some(outcome.set)
		}

		/// Judges the slots of the session that ends, then forgets its counts.
		pub(crate) fn judge_session(session: SessionIndex) {
			let (_, start_slot) = SessionStart::<T>::get();
			let end_slot = T::CurrentSlot::get();
			let active = Active::<T>::get();
			let n = active.len() as u64;
			// Slot 0 is no slot: the genesis session started before Aura had one.
			let long_enough = n > 0
				&& start_slot > 0
				&& end_slot.saturating_sub(start_slot) >= n.saturating_mul(2);
			for (index, who) in active.iter().enumerate() {
				let authored = Authored::<T>::take(who);
				if !long_enough {
					continue;
				}
				let slots = own_slots(start_slot, end_slot, index as u64, n);
				if u64::from(authored).saturating_mul(2) < slots {
					Missed::<T>::insert(who, session);
					Self::deposit_event(Event::MissedSlots {
						who: who.clone(),
						session,
						authored,
						slots: u32::try_from(slots).unwrap_or(u32::MAX),
					});
				} else {
					Missed::<T>::remove(who);
				}
			}
		}

		/// Session `session` starts: the planned set (if any) becomes the active one, and
		/// bonds of leavers now out of every set are released.
		pub(crate) fn begin_session(session: SessionIndex) {
			if let Some(planned) = Planned::<T>::take() {
				Active::<T>::put(planned);
			}
			SessionStart::<T>::put((session, T::CurrentSlot::get()));
			// Leavers, and accounts that gave up candidacy (genesis validators among them),
			// once out of every set.
			let leavers: Vec<T::AccountId> = Bonded::<T>::iter()
				.filter(|(who, bond)| {
					(bond.leaving || !T::Ranking::is_candidate(who)) && !Self::in_a_set(who)
				})
				.map(|(who, _)| who)
				.collect();
			for who in leavers {
				Self::release(&who);
			}
		}

		/// Checks the invariants (module docs).
		#[cfg(any(test, feature = "try-runtime"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			let active = Active::<T>::get();
			let planned = Planned::<T>::get();
			for set in core::iter::once(&active).chain(planned.iter()) {
				let mut sorted = set.to_vec();
				sorted.sort();
				sorted.dedup();
				ensure!(sorted.len() == set.len(), "a validator is named twice in a set");
				ensure!(set.iter().all(Bonded::<T>::contains_key), "a validator holds no bond");
			}
			ensure!(planned.as_ref().is_none_or(|p| !p.is_empty()), "an empty set is planned");
			ensure!(Bonded::<T>::count() <= T::MaxBonded::get(), "too many bonds");
			for (who, bond) in Bonded::<T>::iter() {
				let held = T::Currency::balance_on_hold(&HoldReason::ValidatorBond.into(), &who);
				ensure!(held == bond.amount, "a bond's record is not what is on hold");
			}
			Ok(())
		}
	}

	impl<T: Config> pallet_session::SessionManager<T::AccountId> for Pallet<T> {
		fn new_session(new_index: SessionIndex) -> Option<Vec<T::AccountId>> {
			Self::plan_session(new_index)
		}

		fn new_session_genesis(_: SessionIndex) -> Option<Vec<T::AccountId>> {
			// pallet-session's genesis keys name the first validators (this pallet's genesis
			// bonded them).
			None
		}

		fn end_session(end_index: SessionIndex) {
			Self::judge_session(end_index)
		}

		fn start_session(start_index: SessionIndex) {
			Self::begin_session(start_index)
		}
	}

	impl<T: Config> pallet_authorship::EventHandler<T::AccountId, BlockNumberFor<T>> for Pallet<T> {
		fn note_author(author: T::AccountId) {
			if Active::<T>::get().contains(&author) {
				Authored::<T>::mutate(&author, |count| *count = count.saturating_add(1));
			}
		}
	}
}
