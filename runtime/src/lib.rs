//! # srwan runtime
//!
//! The FRAME runtime of the srwan chain. It holds the money and the market of the
//! inter-provider segment-routing WAN: balances and fees today, and the DITEX, escrow,
//! claim tickets, fee split and coin voting pallets as they land (their `construct_runtime`
//! indices are reserved below so that parallel work never collides).
//!
//! Layout:
//! - [`configs`]: one `Config` impl per pallet, with the chain's parameters;
//! - [`apis`]: the runtime APIs the node and wallets call;
//! - [`genesis_config_presets`]: the `development` and `local_testnet` genesis presets;
//! - [`authorship`]: maps the Aura authority that sealed a block to its account.

#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime`-generated items carry no docs of their own.
#![allow(missing_docs)]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

// First, so that the benchmark macros it defines are in scope in `apis`.
#[cfg(feature = "runtime-benchmarks")]
#[macro_use]
mod benchmarks;
pub mod apis;
pub mod authorship;
pub mod configs;
pub mod genesis_config_presets;

use alloc::{borrow::Cow, vec::Vec};
use sp_runtime::{
	generic, impl_opaque_keys,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiAddress, MultiSignature,
};
use sp_version::RuntimeVersion;

pub use frame_system::Call as SystemCall;
pub use pallet_balances::Call as BalancesCall;
pub use pallet_timestamp::Call as TimestampCall;
pub use srwan_primitives::currency::{Balance, EXISTENTIAL_DEPOSIT, MICRO_SRW, MILLI_SRW, SRW};

/// Opaque types: what the node needs to know about blocks without knowing the runtime.
pub mod opaque {
	use super::*;
	use sp_runtime::traits::Hash as HashT;

	pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

	/// Opaque block header type.
	pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
	/// Opaque block type.
	pub type Block = generic::Block<Header, UncheckedExtrinsic>;
	/// Opaque block identifier type.
	pub type BlockId = generic::BlockId<Block>;
	/// Opaque block hash type.
	pub type Hash = <BlakeTwo256 as HashT>::Output;
}

impl_opaque_keys! {
	/// The session keys of a validator: Aura for authoring, GRANDPA for finality.
	pub struct SessionKeys {
		pub aura: Aura,
		pub grandpa: Grandpa,
	}
}

/// The runtime version. Bump `spec_version` on every change of runtime logic, here and in the
/// `next-spec` twin below (one more; the macro takes only literals, a test checks the pair).
#[cfg(not(feature = "next-spec"))]
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: Cow::Borrowed("srwan"),
	impl_name: Cow::Borrowed("srwan"),
	authoring_version: 1,
	spec_version: 116,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 2,
	system_version: 1,
};

// The twin is a wasm for tests only: a node (std) built with it would start chains at the
// twin's spec and refuse the real upgrade to that number later.
#[cfg(all(feature = "next-spec", feature = "std"))]
compile_error!(
	"`next-spec` builds the runtime-upgrade test's wasm only (runtime/build.rs); never a node"
);

/// The version of the `next-spec` build: this runtime one spec later, which the runtime-upgrade
/// e2e enacts with `sudo(system.setCode)` (the enactment runs [`Migrations`] as a real upgrade
/// does).
#[cfg(feature = "next-spec")]
#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: Cow::Borrowed("srwan"),
	impl_name: Cow::Borrowed("srwan"),
	authoring_version: 1,
	spec_version: 117,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 2,
	system_version: 1,
};

/// Target block time: 6 seconds (DESIGN.md "Parameters").
pub const MILLI_SECS_PER_BLOCK: u64 = 6000;
/// Aura slot duration; one block per slot.
pub const SLOT_DURATION: u64 = MILLI_SECS_PER_BLOCK;

/// Blocks per minute, hour and day at the target block time.
pub const MINUTES: BlockNumber = 60_000 / (MILLI_SECS_PER_BLOCK as BlockNumber);
/// Blocks per hour.
pub const HOURS: BlockNumber = MINUTES * 60;
/// Blocks per day.
pub const DAYS: BlockNumber = HOURS * 24;

/// Block hashes kept for mortal transactions.
pub const BLOCK_HASH_COUNT: BlockNumber = 2400;

/// Signature of a transaction.
pub type Signature = MultiSignature;
/// An account id: the public key of the signer (AccountId32).
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;
/// Index of a transaction in an account's history.
pub type Nonce = u32;
/// A hash of some data used by the chain.
pub type Hash = sp_core::H256;
/// A block number.
pub type BlockNumber = u32;
/// The address format for describing accounts.
pub type Address = MultiAddress<AccountId, ()>;
/// Block header type.
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
/// Block type.
pub type Block = generic::Block<Header, UncheckedExtrinsic>;
/// A block with justifications.
pub type SignedBlock = generic::SignedBlock<Block>;
/// A block identifier.
pub type BlockId = generic::BlockId<Block>;

/// The transaction extensions checked on every signed extrinsic (all encode as format v4).
pub type TxExtension = (
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
	frame_system::WeightReclaim<Runtime>,
);

/// Unchecked extrinsic type as expected by this runtime.
pub type UncheckedExtrinsic =
	generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;
/// The payload being signed in transactions.
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;

/// Migrations to run on the next runtime upgrade.
type Migrations = (
	pallet_ditex::migrations::V1ToV2<Runtime>,
	pallet_ditex::migrations::V2ToV3<Runtime>,
	pallet_ditex::migrations::V3ToV4<Runtime>,
	pallet_coin_voting::migrations::v2::MigrateToV2<Runtime>,
	pallet_escrow::migrations::v2::MigrateToV2<Runtime>,
	pallet_tickets::migrations::V1ToV2<Runtime>,
	pallet_tickets::migrations::V2ToV3<Runtime>,
);

/// Executive: dispatches calls to the pallets.
pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;

/// The runtime: pallet indices are fixed by DESIGN.md ("Chain") so parallel work never
/// collides. Reserved: Ditex 20, Escrow 21, Tickets 22, FeeSplit 23, CoinVoting 24,
/// Validators 30, Session 31; later pallets from 32.
#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;

	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp;

	#[runtime::pallet_index(2)]
	pub type Aura = pallet_aura;

	#[runtime::pallet_index(3)]
	pub type Grandpa = pallet_grandpa;

	#[runtime::pallet_index(4)]
	pub type Balances = pallet_balances;

	#[runtime::pallet_index(5)]
	pub type TransactionPayment = pallet_transaction_payment;

	#[runtime::pallet_index(6)]
	pub type Sudo = pallet_sudo;

	#[runtime::pallet_index(7)]
	pub type Authorship = pallet_authorship;

	#[runtime::pallet_index(20)]
	pub type Ditex = pallet_ditex;

	#[runtime::pallet_index(21)]
	pub type Escrow = pallet_escrow;

	#[runtime::pallet_index(22)]
	pub type Tickets = pallet_tickets;

	#[runtime::pallet_index(23)]
	pub type FeeSplit = pallet_fee_split;

	#[runtime::pallet_index(24)]
	pub type CoinVoting = pallet_coin_voting;

	// Genesis and hooks run in index order (`AllPalletsWithSystem`): Authorship (7) credits a
	// session's first block to the set that sealed it before Session (31) rotates; a coin-voting
	// tally (24) counts before the validator set (30) plans from it. Aura (2) and GRANDPA (3)
	// come first, as BABE does in Polkadot: their genesis lists stay empty and the session
	// hands them each set.
	#[runtime::pallet_index(30)]
	pub type Validators = pallet_validators;

	#[runtime::pallet_index(31)]
	pub type Session = pallet_session;
}
