//! The `Config` of every pallet in the runtime, with the chain's parameters.
//!
//! Values that users or governance may tune belong in storage (genesis or
//! `pallet-parameters`); what is here is fixed by the protocol or by the block budget.

use crate::{
	authorship::BlockAuthor, AccountId, Aura, Balance, Balances, Block, CoinVoting, Ditex, Escrow,
	FeeSplit, Hash, Nonce, PalletInfo, Runtime, RuntimeCall, RuntimeEvent, RuntimeFreezeReason,
	RuntimeHoldReason, RuntimeOrigin, RuntimeTask, Session, SessionKeys, System, Tickets,
	Timestamp, Validators, BLOCK_HASH_COUNT, EXISTENTIAL_DEPOSIT, MICRO_SRW, SLOT_DURATION, SRW,
	VERSION,
};
use frame_support::PalletId;
use frame_support::{
	derive_impl,
	dispatch::DispatchClass,
	parameter_types,
	traits::{ConstBool, ConstU128, ConstU32, ConstU64, ConstU8, VariantCountOf},
	weights::{
		constants::{ParityDbWeight, WEIGHT_REF_TIME_PER_SECOND},
		IdentityFee, Weight,
	},
};
use frame_system::limits::{BlockLength, BlockWeights};
use pallet_transaction_payment::{ConstFeeMultiplier, FungibleAdapter, Multiplier};
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_runtime::{
	traits::{AccountIdConversion, One},
	Perbill,
};

/// Normal extrinsics may fill 75% of a block; the rest is kept for operational ones.
const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);
/// Maximum encoded block size: 5 MiB.
const MAX_BLOCK_LENGTH: u32 = 5 * 1024 * 1024;

parameter_types! {
	/// Version of the runtime, for `frame_system`.
	pub const Version: sp_version::RuntimeVersion = VERSION;

	/// Two seconds of compute per 6 s block, capped PoV as for a standalone chain.
	pub RuntimeBlockWeights: BlockWeights = BlockWeights::with_sensible_defaults(
		Weight::from_parts(2u64 * WEIGHT_REF_TIME_PER_SECOND, u64::MAX),
		NORMAL_DISPATCH_RATIO,
	);
	/// Block length limits, with the same normal/operational split as weights.
	pub RuntimeBlockLength: BlockLength = BlockLength::builder()
		.max_length(MAX_BLOCK_LENGTH)
		.modify_max_length_for_class(DispatchClass::Normal, |max| {
			*max = NORMAL_DISPATCH_RATIO * MAX_BLOCK_LENGTH
		})
		.build();
	/// Generic substrate SS58 prefix (42), as DESIGN.md fixes.
	pub const SS58Prefix: u8 = 42;
}

/// System: accounts, blocks, events.
#[derive_impl(frame_system::config_preludes::SolochainDefaultConfig)]
impl frame_system::Config for Runtime {
	type Block = Block;
	type BlockWeights = RuntimeBlockWeights;
	type BlockLength = RuntimeBlockLength;
	type AccountId = AccountId;
	type Nonce = Nonce;
	type Hash = Hash;
	type BlockHashCount = ConstU32<BLOCK_HASH_COUNT>;
	// The node stores state in ParityDB only (no RocksDB is compiled in).
	type DbWeight = ParityDbWeight;
	type Version = Version;
	type AccountData = pallet_balances::AccountData<Balance>;
	type SS58Prefix = SS58Prefix;
	type MaxConsumers = ConstU32<16>;
}

impl pallet_aura::Config for Runtime {
	type AuthorityId = AuraId;
	type DisabledValidators = ();
	type MaxAuthorities = ConstU32<32>;
	type AllowMultipleBlocksPerSlot = ConstBool<false>;
	type SlotDuration = pallet_aura::MinimumPeriodTimesTwo<Runtime>;
}

impl pallet_grandpa::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = ();
	type MaxAuthorities = ConstU32<32>;
	type MaxNominators = ConstU32<0>;
	type MaxSetIdSessionEntries = ConstU64<0>;
	type KeyOwnerProof = sp_core::Void;
	type EquivocationReportSystem = ();
}

impl pallet_timestamp::Config for Runtime {
	/// A timestamp: milliseconds since the unix epoch.
	type Moment = u64;
	type OnTimestampSet = Aura;
	type MinimumPeriod = ConstU64<{ SLOT_DURATION / 2 }>;
	type WeightInfo = ();
}

impl pallet_balances::Config for Runtime {
	type MaxLocks = ConstU32<50>;
	type MaxReserves = ();
	type ReserveIdentifier = [u8; 8];
	type Balance = Balance;
	type RuntimeEvent = RuntimeEvent;
	type DustRemoval = ();
	type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
	type AccountStore = System;
	type WeightInfo = pallet_balances::weights::SubstrateWeight<Runtime>;
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type DoneSlashHandler = ();
}

parameter_types! {
	/// Fees do not float with block fullness yet.
	pub FeeMultiplier: Multiplier = Multiplier::one();
}

impl pallet_transaction_payment::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type OnChargeTransaction = FungibleAdapter<Balances, pallet_fee_split::SplitFees<Runtime>>;
	type OperationalFeeMultiplier = ConstU8<5>;
	type WeightToFee = IdentityFee<Balance>;
	type LengthToFee = frame_support::weights::ConstantMultiplier<Balance, ConstU128<MICRO_SRW>>;
	type FeeMultiplierUpdate = ConstFeeMultiplier<FeeMultiplier>;
	type WeightInfo = pallet_transaction_payment::weights::SubstrateWeight<Runtime>;
}

impl pallet_sudo::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type WeightInfo = pallet_sudo::weights::SubstrateWeight<Runtime>;
}

impl pallet_authorship::Config for Runtime {
	type FindAuthor = BlockAuthor;
	/// Block authors are counted for the validator pool's payouts and for their own slots.
	type EventHandler = (FeeSplit, Validators);
}

/// Blocks per session, as the validator set's genesis stored it.
pub struct SessionLength;
impl frame_support::traits::Get<crate::BlockNumber> for SessionLength {
	fn get() -> crate::BlockNumber {
		pallet_validators::SessionLength::<Runtime>::get().max(1)
	}
}

/// Sessions of `SessionLength` blocks, rotating at blocks 2, 2 + L, 2 + 2L, … A rotation
/// block takes no transactions (pallet-session charges it a whole block): two blocks after
/// an epoch starts it stays out of the `ci` chain's two-block claim window, and costs the
/// dev chain's five-block window one block at most.
pub type Sessions = pallet_session::PeriodicSessions<SessionLength, ConstU32<2>>;

/// Validator sessions: the set for each comes from the validator set pallet, one session
/// ahead; Aura and GRANDPA take their keys from here.
impl pallet_session::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type ValidatorId = AccountId;
	type ValidatorIdOf = sp_runtime::traits::ConvertInto;
	type ShouldEndSession = Sessions;
	type NextSessionRotation = Sessions;
	type SessionManager = Validators;
	type SessionHandler = <SessionKeys as sp_runtime::traits::OpaqueKeys>::KeyTypeIdProviders;
	type Keys = SessionKeys;
	type DisablingStrategy = ();
	type WeightInfo = pallet_session::weights::SubstrateWeight<Runtime>;
	type Currency = Balances;
	/// The validator bond is what keys cost (held by the validator set pallet).
	type KeyDeposit = ConstU128<0>;
}

/// Coin voting's ranking, for the validator set.
pub struct CoinVotes;
impl srwan_primitives::traits::CandidateRanking<AccountId> for CoinVotes {
	fn ranked() -> alloc::vec::Vec<(AccountId, Balance)> {
		CoinVoting::ranked()
	}
	fn is_candidate(who: &AccountId) -> bool {
		pallet_coin_voting::Candidates::<Runtime>::contains_key(who)
	}
	#[cfg(feature = "runtime-benchmarks")]
	fn make_candidate(who: &AccountId) {
		// Had it failed, the benchmark's `bond` would fail with `NotACandidate`.
		let _ = CoinVoting::register_candidate(RuntimeOrigin::signed(who.clone()), Perbill::zero());
	}
}

/// The current Aura slot.
pub struct CurrentSlot;
impl frame_support::traits::Get<u64> for CurrentSlot {
	fn get() -> u64 {
		u64::from(pallet_aura::CurrentSlot::<Runtime>::get())
	}
}

/// Master nodes: the coin-voted, bonded candidates with session keys (DESIGN.md
/// "Parameters": `ValidatorBond` 100 SRW on dev chains; the fewest and desired validators are
/// set at genesis to the first validators' number: 1 on dev, 2 local, 4 staging).
impl pallet_validators::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Ranking = CoinVotes;
	type SessionKeys = Session;
	type CurrentSlot = CurrentSlot;
	/// 100 SRW (dev value; production: 10,000 SRW).
	type ValidatorBond = ConstU128<{ 100 * SRW }>;
	/// 1,000 SRW of votes (ten bonds): less counts as none, so dust votes displace nobody.
	type MinBacking = ConstU128<{ 1_000 * SRW }>;
	/// Aura's and GRANDPA's `MaxAuthorities`.
	type MaxValidators = ConstU32<32>;
	/// Coin voting's `MaxCandidates` (100) plus a full set.
	type MaxBonded = ConstU32<132>;
	type WeightInfo = pallet_validators::weights::SubstrateWeight<Runtime>;
}

/// The DITEX: router registry, groups, segments, prices, quarantine.
impl pallet_ditex::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type UnixTime = Timestamp;
	/// 100 SRW: enough to make a throwaway router costly, little next to a host's price.
	type RouterDeposit = ConstU128<{ 100 * SRW }>;
	type MaxGroupSize = ConstU32<100>;
	/// 3,200 routers (paths stay inside one group): what the claim window meters with twice the
	/// claims honest routers send (`runtime/tests/hook_budget.rs`). 64 groups fit once, not twice
	/// (docs/PERFORMANCE.md, "Routers metered per epoch").
	type MaxGroups = ConstU32<32>;
	type MaxPremiumWindows = ConstU32<8>;
	type MaxRebalanceSteps = ConstU32<16>;
	/// Metering forgets a router's counters and disputes once it is gone.
	type OnRemoved = Tickets;
	type WeightInfo = pallet_ditex::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
	/// Derives the validator pool's account.
	pub const ValidatorPoolId: PalletId = PalletId(*b"srw/vali");
	/// Derives the dividend pool's account.
	pub const DividendPoolId: PalletId = PalletId(*b"srw/divi");
	/// The most a coin-voting candidate keeps of its share.
	pub const MaxCommission: Perbill = Perbill::from_percent(20);
}

/// 25 % of fees, tips and the subsidy to block authors, 75 % to the dividend pool.
impl pallet_fee_split::Config for Runtime {
	type Currency = Balances;
	type ValidatorPoolId = ValidatorPoolId;
	type DividendPoolId = DividendPoolId;
	/// Twice Aura's authorities: a payout period spanning a session change counts the
	/// authors of both sets; a longer one that fills the list ends early (all are paid).
	type MaxAuthors = ConstU32<64>;
	type WeightInfo = pallet_fee_split::weights::SubstrateWeight<Runtime>;
}

/// Dividends to top-voted wallets and their voters.
impl pallet_coin_voting::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type DividendPool = pallet_fee_split::DividendPoolAccount<Runtime>;
	/// 10 SRW held by each candidate: the dev value of DESIGN.md "Parameters", which every
	/// chain of this runtime (dev, local, ci) uses; production: 100 SRW.
	type CandidateDeposit = ConstU128<{ 10 * SRW }>;
	/// 1 SRW a voter needs to vote and to stay a voter at each tally (dev value; production:
	/// 10 SRW).
	type MinVoterBalance = ConstU128<{ SRW }>;
	type MaxCandidates = ConstU32<100>;
	type MaxVotes = ConstU32<16>;
	type MaxVoters = ConstU32<1024>;
	type DesiredWinners = ConstU32<16>;
	type MaxCommission = MaxCommission;
	type PayoutsPerBlock = ConstU32<128>;
	type WeightInfo = pallet_coin_voting::weights::SubstrateWeight<Runtime>;
}

/// Consumer escrow: deposits on hold, caps, receipt keys, delayed withdrawal.
impl pallet_escrow::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Epochs = Ditex;
	/// pallet-tickets settles epochs in order; withdrawals wait for it.
	type Settlement = Tickets;
	type SpendingRetention = ConstU32<8>;
	type WeightInfo = pallet_escrow::weights::SubstrateWeight<Runtime>;
}

/// The escrow's benchmarks settle epochs the way pallet-tickets records it: every epoch before
/// `NextToSettle` is settled.
#[cfg(feature = "runtime-benchmarks")]
impl pallet_escrow::BenchmarkSettlement for Runtime {
	fn settle_through(epoch: srwan_primitives::ditex::EpochIndex) {
		pallet_tickets::NextToSettle::<Runtime>::put(epoch.saturating_add(1));
	}
}

parameter_types! {
	/// Derives the shared-infrastructure account that gets `infra_share` of every payout.
	pub const InfraPotId: PalletId = PalletId(*b"srw/infr");
	/// The shared-infrastructure account.
	pub InfraAccount: AccountId = InfraPotId::get().into_account_truncating();
	/// Settlement's guaranteed share of every block: a fifth of its weight (used only while an
	/// epoch is being settled; enough for 10,000 claims per production epoch, see
	/// `runtime/tests/hook_budget.rs`).
	pub SettlementBudget: Weight = Perbill::from_percent(20) * RuntimeBlockWeights::get().max_block;
}

/// Claim tickets, cross-checked metering and settlement from consumer escrow.
impl pallet_tickets::Config for Runtime {
	type Currency = Balances;
	type Registry = Ditex;
	type Quarantine = Ditex;
	type Escrow = Escrow;
	type InfraAccount = InfraAccount;
	type SettlementBudget = SettlementBudget;
	type WeightInfo = pallet_tickets::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = TicketsBenchmarkHelper;
}

/// Routers, epoch starts and escrows for pallet-tickets' benchmarks, through the real pallets.
#[cfg(feature = "runtime-benchmarks")]
pub struct TicketsBenchmarkHelper;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_tickets::BenchmarkHelper<AccountId> for TicketsBenchmarkHelper {
	fn register_router(who: &AccountId, price_per_gb: Balance) {
		use frame_support::traits::fungible::Mutate;
		use srwan_primitives::ditex::{Endpoint, Geo};
		let _ = Balances::set_balance(who, 1_000 * SRW);
		// Benchmark accounts are hashes already: their bytes make distinct endpoints and keys.
		let seed: [u8; 32] = *who.as_ref();
		let registered = Ditex::register_router(
			RuntimeOrigin::signed(who.clone()),
			// Endpoints are unique per router: 2001:db8::/32 and twelve bytes of the account.
			Endpoint::V6 {
				ip: [
					0x20, 0x01, 0x0d, 0xb8, seed[0], seed[1], seed[2], seed[3], seed[4], seed[5],
					seed[6], seed[7], seed[8], seed[9], seed[10], seed[11],
				],
				port: 4500,
			},
			Geo { country: *b"DE", asn: 64_500, lat: 50_0000, lon: 8_0000 },
			seed,
			Some(price_per_gb),
		);
		assert!(registered.is_ok(), "benchmark router registers: {registered:?}");
	}
	fn start_epoch(epoch: srwan_primitives::ditex::EpochIndex) {
		pallet_ditex::EpochStarts::<Runtime>::insert(epoch, 0);
		// Its prices are final: every period up to it has been judged.
		pallet_ditex::JudgedThrough::<Runtime>::put(u32::MAX);
	}
	fn fund_escrow(consumer: &AccountId, amount: Balance) {
		use frame_support::traits::fungible::Mutate;
		let _ = Balances::set_balance(consumer, amount.saturating_mul(2).saturating_add(SRW));
		let deposited = Escrow::deposit(RuntimeOrigin::signed(consumer.clone()), amount);
		assert!(deposited.is_ok(), "benchmark escrow deposit: {deposited:?}");
	}
	fn set_receipt_key(consumer: &AccountId, key: [u8; 32]) {
		// In force from the next epoch on (a bill is fixed by the terms its epoch started with).
		let set = Escrow::set_receipt_key(RuntimeOrigin::signed(consumer.clone()), Some(key));
		assert!(set.is_ok(), "benchmark receipt key: {set:?}");
	}
}
