//! `srwan-relay status`: this router and its account as the chain has them (registration,
//! group, quarantine, escrow), with what the agent recorded in its data dir (the latest claims,
//! coins earned and applied). The JSON form's field names are stable (docs/OPERATIONS.md).

use super::{
	duties::{ClaimRecord, Duties},
	ledger::{Ledger, LEDGER_FILE},
	srwan::{self, runtime_types::pallet_ditex::types::RouterStatus},
	Client,
};
use crate::{config::format_srw, store};
use serde::Serialize;
use std::path::Path;
use subxt::utils::AccountId32;

/// A router's standing.
#[derive(Debug, Serialize)]
pub struct Status {
	/// The account (SS58).
	pub account: String,
	/// The finalized block the chain figures are read at.
	pub block: u64,
	/// The metering epoch at that block.
	pub epoch: u32,
	/// Whether the account is a registered router.
	pub registered: bool,
	/// `active`, `quarantined` or `unbonding` (absent when not registered).
	pub state: Option<&'static str>,
	/// Its group (absent when not registered or unbonding).
	pub group: Option<u32>,
	/// Its index in the group's matrix.
	pub member_index: Option<u16>,
	/// The latest report period it reported in.
	pub last_report_period: Option<u32>,
	/// Its price per GB now, in plancks (absent: not for sale or unknown).
	pub price_per_gb: Option<String>,
	/// The latest claim the agent recorded.
	pub last_claim: Option<LastClaim>,
	/// Plancks paid to this router for relaying, since the agent's ledger began.
	pub earned: String,
	/// Plancks charged to this account as a consumer, since the ledger began.
	pub applied: String,
	/// The last block the ledger counted.
	pub ledger_through_block: Option<u64>,
	/// The account's consumer escrow.
	pub escrow: Escrow,
}

/// The latest claim.
#[derive(Debug, Serialize)]
pub struct LastClaim {
	/// Its epoch.
	pub epoch: u32,
	/// What it claimed and its outcome.
	#[serde(flatten)]
	pub record: ClaimRecord,
}

/// A consumer escrow.
#[derive(Debug, Serialize)]
pub struct Escrow {
	/// Plancks on hold.
	pub held: String,
	/// Plancks being withdrawn.
	pub pending: Option<String>,
	/// First block the pending withdrawal can be taken.
	pub unlock_at: Option<u32>,
	/// What backs this epoch's traffic (held minus pending), in plancks.
	pub available: String,
	/// What relays need available to admit a flow, in plancks.
	pub min_escrow: String,
}

/// Reads the status of `account` from the node at `url` and from `data_dir`.
pub async fn read(url: &str, account: [u8; 32], data_dir: &Path) -> anyhow::Result<Status> {
	let client = Client::from_insecure_url(url).await?;
	let at = client.at_current_block().await?;
	let block = at.block_number();
	let params =
		at.storage().entry(srwan::storage().ditex().params())?.fetch(()).await?.decode()?;
	let epoch = u32::try_from(block / u64::from(params.epoch_length.max(1))).unwrap_or(u32::MAX);
	let calls = at.runtime_apis();
	let who = AccountId32(account);
	let router = calls.call(srwan::runtime_apis().ditex_api().router(who)).await?;
	let metering = srwan::runtime_apis().metering_api();
	let available = calls.call(metering.escrow_available(who, epoch)).await?;
	let min_escrow = calls.call(metering.min_escrow()).await?;
	let escrow =
		at.storage().entry(srwan::storage().escrow().accounts())?.try_fetch((who,)).await?;
	let escrow = match escrow {
		Some(record) => Some(record.decode()?),
		None => None,
	};
	let journal = Duties::load_journal(data_dir)?;
	let ledger: Ledger = store::load_json(data_dir, LEDGER_FILE)?;
	let state = router.as_ref().map(|view| match view.status {
		RouterStatus::Active => "active",
		RouterStatus::Quarantined { .. } => "quarantined",
		RouterStatus::Unbonding { .. } => "unbonding",
	});
	let in_group = state.is_some_and(|state| state != "unbonding");
	Ok(Status {
		account: who.to_string(),
		block,
		epoch,
		registered: router.is_some(),
		state,
		group: router.as_ref().filter(|_| in_group).map(|view| view.group),
		member_index: router.as_ref().and_then(|view| view.member_index),
		last_report_period: router.as_ref().and_then(|view| view.last_report),
		price_per_gb: router
			.as_ref()
			.and_then(|view| view.price_now.as_ref())
			.and_then(|price| price.price_per_gb)
			.map(|price| price.to_string()),
		last_claim: journal
			.into_iter()
			.next_back()
			.map(|(epoch, record)| LastClaim { epoch, record }),
		earned: ledger.total.earned.to_string(),
		applied: ledger.total.applied.to_string(),
		ledger_through_block: ledger.through_block,
		escrow: Escrow {
			held: escrow.as_ref().map_or(0, |e| e.held).to_string(),
			pending: escrow
				.as_ref()
				.and_then(|e| e.pending.as_ref())
				.map(|pending| pending.amount.to_string()),
			unlock_at: escrow.as_ref().and_then(|e| e.pending.as_ref()).map(|p| p.unlock_at),
			available: available.to_string(),
			min_escrow: min_escrow.to_string(),
		},
	})
}

/// The status as people read it.
pub fn human(status: &Status) -> String {
	let srw = |plancks: &str| plancks.parse::<u128>().map(format_srw).unwrap_or_default();
	let mut out = format!(
		"account      {}\nchain        block {}, epoch {}\n",
		status.account, status.block, status.epoch
	);
	match (status.state, status.group) {
		(Some(state), Some(group)) => out.push_str(&format!(
			"router       {state} in group {group} (index {})\n",
			status.member_index.map_or("-".into(), |i| i.to_string())
		)),
		(Some(state), None) => out.push_str(&format!("router       {state}\n")),
		_ => out.push_str("router       not registered\n"),
	}
	if let Some(period) = status.last_report_period {
		out.push_str(&format!("last report  period {period}\n"));
	}
	match &status.price_per_gb {
		Some(price) => out.push_str(&format!("price        {} per GB\n", srw(price))),
		None if status.registered => out.push_str("price        not for sale\n"),
		None => {}
	}
	match &status.last_claim {
		Some(claim) => out.push_str(&format!(
			"last claim   epoch {}: {} ({} peers, {} octets in, {} out)\n",
			claim.epoch,
			match &claim.record.status {
				super::duties::ClaimStatus::Submitted => "submitted".to_string(),
				super::duties::ClaimStatus::Accepted { .. } => "accepted".to_string(),
				super::duties::ClaimStatus::Refused { error } => format!("refused: {error}"),
				super::duties::ClaimStatus::Unknown { reason } => format!("unknown: {reason}"),
				super::duties::ClaimStatus::Lapsed { error } => {
					format!("lapsed (an earlier copy may be on chain): {error}")
				}
			},
			claim.record.peers,
			claim.record.in_octets,
			claim.record.out_octets
		)),
		None => out.push_str("last claim   none yet\n"),
	}
	out.push_str(&format!(
		"earned       {}\napplied      {}\n",
		srw(&status.earned),
		srw(&status.applied)
	));
	let escrow = &status.escrow;
	out.push_str(&format!(
		"escrow       {} held, {} available (relays need {})",
		srw(&escrow.held),
		srw(&escrow.available),
		srw(&escrow.min_escrow)
	));
	if let (Some(pending), Some(unlock_at)) = (&escrow.pending, escrow.unlock_at) {
		out.push_str(&format!(", {} being withdrawn from block {unlock_at}", srw(pending)));
	}
	out.push('\n');
	out
}
