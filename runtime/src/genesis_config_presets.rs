//! Genesis presets: `development` (Alice alone authors and finalizes), `local_testnet`
//! (exactly Alice and Bob, so both are needed and enough for GRANDPA finality), `staging`
//! (Alice, Bob, Charlie and Dave: GRANDPA tolerates one fault of four, as a real deployment
//! wants) and `ci` (the development chain with the shortest clocks that still exercise every
//! rule, for the test command: its tests wait on chain time, and block time is fixed at compile
//! time). The first validators are bonded and hold pallet-session's genesis keys; Aura and
//! GRANDPA take their authorities from the session.

use crate::{
	AccountId, BalancesConfig, CoinVotingConfig, DitexConfig, EscrowConfig, FeeSplitConfig,
	RuntimeGenesisConfig, SessionConfig, SessionKeys, SudoConfig, TicketsConfig, ValidatorsConfig,
	SRW,
};
use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use pallet_ditex::DitexParams;
use pallet_fee_split::Schedule;
use pallet_tickets::TicketParams;
use serde_json::Value;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_genesis_builder::PresetId;
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};

pub use sp_genesis_builder::{DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET};

/// What each well-known dev account holds at genesis: 1,000,000 SRW.
pub const ENDOWMENT: crate::Balance = 1_000_000 * SRW;

/// The exchange's parameters on dev and local chains: the short clocks of DESIGN.md
/// ("Parameters": 10-block epochs and report periods) and lenient silence limits, since dev
/// routers come and go.
pub fn dev_ditex_params() -> DitexParams {
	DitexParams {
		epoch_length: 10,
		report_period: 10,
		stale_after: 3,
		missed_reports_limit: 5,
		poor_periods: 3,
		quarantine_cooldown: 2,
		max_rtt_us: 500_000,
		max_loss_ppm: 50_000,
		unbond_delay: 20,
	}
}

/// Blocks in three years of 6 s blocks: the subsidy's length (DESIGN.md "Parameters").
pub const SUBSIDY_BLOCKS: u32 = 15_778_800;

/// Subsidy and payouts on dev and local chains: one SRW per block for three years, validator
/// payouts every 10 blocks (a minute) so a demo sees them.
pub fn dev_fee_schedule() -> Schedule {
	Schedule { subsidy_per_block: SRW, subsidy_blocks: SUBSIDY_BLOCKS, payout_period: 10 }
}

/// Escrow withdraw delay on dev and local chains: a 10-block epoch, a 5-block claim window and
/// 5 blocks of settlement lag (DESIGN.md "Parameters": ≥ epoch + window + lag).
pub const DEV_WITHDRAW_DELAY: u32 = 20;

/// The least escrow relays admit on dev, local and ci chains: 1 SRW (DESIGN.md "Parameters";
/// production, the escrow pallet's default: 10 SRW).
pub const DEV_MIN_ESCROW: crate::Balance = SRW;

/// Metering on dev and local chains: claims for a 10-block epoch within 5 blocks of its end
/// (DESIGN.md "Parameters"), the production tolerances otherwise.
pub fn dev_ticket_params() -> TicketParams {
	TicketParams {
		claim_window: 5,
		restart_grace_epochs: 3,
		min_age_epochs: 2,
		credit_window_octets: 16 << 20,
		..TicketParams::default()
	}
}

/// Coin-voting tally period on dev and local chains: 10 blocks (a minute).
pub const DEV_VOTING_PERIOD: u32 = 10;

/// The name of the test command's preset (see [`ci_clocks`]).
pub const CI_RUNTIME_PRESET: &str = "ci";

/// Every period a chain counts in blocks, set together so that their relations hold
/// (`withdraw_delay` ≥ epoch + claim window + settlement lag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clocks {
	/// The exchange's parameters (epoch and report period among them).
	pub ditex: DitexParams,
	/// Claim window and tolerances.
	pub tickets: TicketParams,
	/// Subsidy and validator payout period.
	pub fee_schedule: Schedule,
	/// Coin-voting tally period.
	pub voting_period: u32,
	/// Escrow withdraw delay.
	pub withdraw_delay: u32,
}

/// The clocks of the `development` and `local_testnet` presets: a demo sees epochs, payouts
/// and tallies every minute.
pub fn dev_clocks() -> Clocks {
	Clocks {
		ditex: dev_ditex_params(),
		tickets: dev_ticket_params(),
		fee_schedule: dev_fee_schedule(),
		voting_period: DEV_VOTING_PERIOD,
		withdraw_delay: DEV_WITHDRAW_DELAY,
	}
}

/// Blocks of settlement lag the `ci` withdraw delay allows after an epoch's claim window.
pub const CI_SETTLEMENT_LAG: u32 = 2;

/// The clocks of the `ci` preset: 4-block epochs and report periods (one block more than the
/// three a report needs to be finalized inside the period it names), a 2-block claim window,
/// payouts and tallies every 4 blocks, and the withdraw delay derived from them. Silence limits
/// stay those of dev (in periods), so a test router is not quarantined while a test runs.
pub fn ci_clocks() -> Clocks {
	let ditex =
		DitexParams { epoch_length: 4, report_period: 4, unbond_delay: 8, ..dev_ditex_params() };
	let tickets = TicketParams { claim_window: 2, ..dev_ticket_params() };
	let withdraw_delay =
		ditex.epoch_length.saturating_add(tickets.claim_window).saturating_add(CI_SETTLEMENT_LAG);
	Clocks {
		fee_schedule: Schedule { payout_period: 4, ..dev_fee_schedule() },
		voting_period: 4,
		withdraw_delay,
		ditex,
		tickets,
	}
}

/// Blocks per session on dev, local and staging chains (DESIGN.md "Parameters": 20 blocks,
/// at least twice the largest preset's set).
pub const DEV_SESSION_LENGTH: u32 = 20;

/// A genesis config patch for the given validators (account, Aura and GRANDPA keys), endowed
/// accounts, sudo key and clocks.
fn testnet_genesis(
	initial_authorities: Vec<(AccountId, AuraId, GrandpaId)>,
	endowed_accounts: Vec<AccountId>,
	root: AccountId,
	clocks: Clocks,
) -> Value {
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig {
			balances: endowed_accounts.iter().cloned().map(|k| (k, ENDOWMENT)).collect::<Vec<_>>(),
		},
		validators: ValidatorsConfig {
			validators: initial_authorities.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
			session_length: DEV_SESSION_LENGTH,
		},
		session: SessionConfig {
			keys: initial_authorities
				.iter()
				.map(|(account, aura, grandpa)| {
					(
						account.clone(),
						account.clone(),
						SessionKeys { aura: aura.clone(), grandpa: grandpa.clone() },
					)
				})
				.collect::<Vec<_>>(),
		},
		sudo: SudoConfig { key: Some(root) },
		ditex: DitexConfig { params: clocks.ditex },
		fee_split: FeeSplitConfig { schedule: clocks.fee_schedule },
		coin_voting: CoinVotingConfig { period: clocks.voting_period },
		escrow: EscrowConfig { withdraw_delay: clocks.withdraw_delay, min_escrow: DEV_MIN_ESCROW },
		tickets: TicketsConfig { params: Some(clocks.tickets) },
	})
}

/// A well-known dev validator: its sr25519 account and Aura key, its ed25519 GRANDPA key.
fn authority(key: Sr25519Keyring, grandpa: Ed25519Keyring) -> (AccountId, AuraId, GrandpaId) {
	(key.to_account_id(), key.public().into(), grandpa.public().into())
}

fn well_known_accounts() -> Vec<AccountId> {
	Sr25519Keyring::well_known().map(|k| k.to_account_id()).collect()
}

/// Alice alone authors, finalizes and is sudo, with the given clocks.
fn single_authority_genesis(clocks: Clocks) -> Value {
	testnet_genesis(
		vec![authority(Sr25519Keyring::Alice, Ed25519Keyring::Alice)],
		well_known_accounts(),
		Sr25519Keyring::Alice.to_account_id(),
		clocks,
	)
}

/// The `development` preset: Alice is the only authority and the sudo key.
pub fn development_config_genesis() -> Value {
	single_authority_genesis(dev_clocks())
}

/// The `ci` preset: the `development` chain with [`ci_clocks`].
pub fn ci_config_genesis() -> Value {
	single_authority_genesis(ci_clocks())
}

/// The `local_testnet` preset: Alice and Bob are the authorities; Alice is sudo.
pub fn local_config_genesis() -> Value {
	testnet_genesis(
		vec![
			authority(Sr25519Keyring::Alice, Ed25519Keyring::Alice),
			authority(Sr25519Keyring::Bob, Ed25519Keyring::Bob),
		],
		well_known_accounts(),
		Sr25519Keyring::Alice.to_account_id(),
		dev_clocks(),
	)
}

/// The name of the four-validator preset.
pub const STAGING_RUNTIME_PRESET: &str = "staging";

/// The `staging` preset: Alice, Bob, Charlie and Dave validate (GRANDPA finalizes with any
/// three); Alice is sudo. A real deployment starts from it with its own keys (docs/OPERATIONS.md).
pub fn staging_config_genesis() -> Value {
	testnet_genesis(
		vec![
			authority(Sr25519Keyring::Alice, Ed25519Keyring::Alice),
			authority(Sr25519Keyring::Bob, Ed25519Keyring::Bob),
			authority(Sr25519Keyring::Charlie, Ed25519Keyring::Charlie),
			authority(Sr25519Keyring::Dave, Ed25519Keyring::Dave),
		],
		well_known_accounts(),
		Sr25519Keyring::Alice.to_account_id(),
		dev_clocks(),
	)
}

/// The JSON of the preset named `id`, if there is one.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		DEV_RUNTIME_PRESET => development_config_genesis(),
		LOCAL_TESTNET_RUNTIME_PRESET => local_config_genesis(),
		CI_RUNTIME_PRESET => ci_config_genesis(),
		STAGING_RUNTIME_PRESET => staging_config_genesis(),
		_ => return None,
	};
	serde_json::to_string(&patch).ok().map(|s| s.into_bytes())
}

/// The names of the presets this runtime ships.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(DEV_RUNTIME_PRESET),
		PresetId::from(LOCAL_TESTNET_RUNTIME_PRESET),
		PresetId::from(CI_RUNTIME_PRESET),
		PresetId::from(STAGING_RUNTIME_PRESET),
	]
}
