//! Follows the chain for the agent: the best block (the clock of epochs and report periods)
//! and, at each epoch's start as finalized, the group this router is in with every member's
//! endpoint and pulse key. Every relay of a group reads that same block, so the member
//! indices in packet headers name the same router at both ends of every link.

use super::ledger::{Ledger, LEDGER_FILE};
use super::{
	srwan::{
		self,
		runtime_types::{pallet_ditex::types::RouterStatus, srwan_primitives::ditex::Endpoint},
	},
	Client,
};
use crate::store;
use std::{
	net::{Ipv4Addr, Ipv6Addr, SocketAddr},
	path::PathBuf,
	sync::Arc,
	time::Duration,
};
use subxt::utils::AccountId32;
use tokio::sync::watch;

/// How long opening a connection or reading a snapshot may take.
const CHAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Most blocks of payouts read back after a restart or a lost connection (the rest are not
/// counted): a little over three hours of 6 s blocks.
const CATCH_UP_BLOCKS: u64 = 2_000;
/// How long reading the group at a best block may hold up the best-block stream.
const MEMBERS_TIMEOUT: Duration = Duration::from_secs(3);
/// Blocks of payouts read back per finalized block while catching up.
const CATCH_UP_PER_BLOCK: u64 = 50;

/// The ledger and where it is kept.
struct LedgerFile {
	data_dir: PathBuf,
	ledger: Ledger,
}

/// A member of the group as the chain lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainMember {
	/// Its account (the router id).
	pub account: [u8; 32],
	/// Where it receives pulses and data.
	pub addr: SocketAddr,
	/// The ed25519 key of its pulses.
	pub pulse_key: [u8; 32],
	/// Its country (ISO code).
	pub country: [u8; 2],
	/// Measured, but skipped by paths and payouts.
	pub quarantined: bool,
	/// It sells transit (listed at a finite price): a router listed as not for sale carries
	/// its owner's traffic only.
	pub sells_transit: bool,
}

/// This router's group as of an epoch's first block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSnapshot {
	/// The epoch.
	pub epoch: u32,
	/// Its first block, where the snapshot was read.
	pub block: u64,
	/// The group, or `None` when this router is not in one (not registered, or leaving).
	pub group: Option<u32>,
	/// The members in the chain's order (this router included), empty without a group.
	pub members: Vec<ChainMember>,
	/// Whether this router was quarantined then.
	pub quarantined: bool,
}

/// What the agent knows of the chain.
#[derive(Clone, Debug, Default)]
pub struct ChainState {
	/// Whether the follower has a live connection.
	pub connected: bool,
	/// The best block's number.
	pub best: u64,
	/// Blocks per metering epoch (0 until read).
	pub epoch_length: u32,
	/// Blocks per report period (0 until read).
	pub report_period: u32,
	/// Blocks after an epoch's end in which its claims are accepted (0 until read).
	pub claim_window: u32,
	/// The group as of the latest finalized epoch start.
	pub snapshot: Option<Arc<GroupSnapshot>>,
	/// Coins earned and applied, from the chain's payouts.
	pub ledger: Ledger,
	/// The chain's genesis hash (what receipts are signed for).
	pub genesis: Option<[u8; 32]>,
	/// Octets of a flow version a relay carries per epoch beyond its newest receipt (0 until
	/// read).
	pub credit_window: u64,
	/// This router at the best block, read as the current report period started: the
	/// members a report may name, and whether it reported already (before a restart).
	pub members_now: Option<Arc<RouterNow>>,
	/// The period `members_now` was read in.
	pub members_period: Option<u32>,
	/// The live connection, for the duties' own reads.
	pub client: Option<Client>,
	/// Set when the runtime no longer matches this agent's interface: why (the agent stops).
	pub incompatible: Option<String>,
}

impl ChainState {
	/// The epoch of the best block.
	pub fn epoch(&self) -> Option<u32> {
		(self.epoch_length > 0).then(|| block_index(self.best, self.epoch_length))
	}

	/// The report period of the best block.
	pub fn period(&self) -> Option<u32> {
		(self.report_period > 0).then(|| block_index(self.best, self.report_period))
	}
}

/// `block / length`, as the chain computes epochs and periods (u32 block numbers).
fn block_index(block: u64, length: u32) -> u32 {
	u32::try_from(block / u64::from(length.max(1))).unwrap_or(u32::MAX)
}

/// A chain endpoint as a socket address.
pub fn socket_addr(endpoint: &Endpoint) -> SocketAddr {
	match endpoint {
		Endpoint::V4 { ip, port } => SocketAddr::new(Ipv4Addr::from(*ip).into(), *port),
		Endpoint::V6 { ip, port } => SocketAddr::new(Ipv6Addr::from(*ip).into(), *port),
	}
}

/// Starts following the chain at `url` for `account`; the state is published on the
/// returned channel (reconnecting with backoff whenever the node goes away). With a
/// `data_dir`, the payouts are counted in the ledger kept there.
pub fn spawn(
	url: String,
	account: [u8; 32],
	data_dir: Option<PathBuf>,
) -> Result<watch::Receiver<ChainState>, store::StoreError> {
	let mut ledger = match data_dir {
		Some(data_dir) => {
			let ledger = match store::load_json::<Ledger>(&data_dir, LEDGER_FILE) {
				Ok(ledger) => ledger,
				// Display only: a damaged ledger is kept aside, and counting starts again.
				Err(store::StoreError::Corrupt { path, reason }) => {
					let aside = path.with_extension("json.corrupt");
					tracing::warn!(path = %path.display(), %reason, aside = %aside.display(), "the ledger is corrupt; keeping it aside and counting from now");
					std::fs::rename(&path, &aside).map_err(|source| store::StoreError::Io {
						action: "moving aside",
						path,
						source,
					})?;
					Ledger::default()
				}
				Err(error) => return Err(error),
			};
			Some(LedgerFile { data_dir, ledger })
		}
		None => None,
	};
	let initial = ledger.as_ref().map(|file| file.ledger.clone()).unwrap_or_default();
	let (state, receiver) = watch::channel(ChainState { ledger: initial, ..ChainState::default() });
	tokio::spawn(async move {
		let mut failures = 0u32;
		loop {
			let error = follow(&url, account, &state, &mut failures, &mut ledger).await;
			state.send_modify(|s| {
				s.connected = false;
				s.client = None;
			});
			if state.is_closed() || state.borrow().incompatible.is_some() {
				return;
			}
			tracing::warn!(%url, %error, retry_in = ?super::submitter::backoff(failures), "lost the chain; following it again");
			super::submitter::back_off(&mut failures).await;
		}
	});
	Ok(receiver)
}

/// Follows the chain until the connection breaks; returns why.
async fn follow(
	url: &str,
	account: [u8; 32],
	state: &watch::Sender<ChainState>,
	failures: &mut u32,
	ledger: &mut Option<LedgerFile>,
) -> String {
	let client = match tokio::time::timeout(CHAIN_TIMEOUT, Client::from_insecure_url(url)).await {
		Ok(Ok(client)) => client,
		Ok(Err(error)) => return error.to_string(),
		Err(_) => return format!("no answer within {CHAIN_TIMEOUT:?}"),
	};
	let mut checked_spec = match client.at_current_block().await {
		Ok(at) => match checked(&at, state) {
			Some(spec) => spec,
			None => return "the runtime does not match this agent".into(),
		},
		Err(error) => return error.to_string(),
	};
	let Clocks { epoch_length, report_period, claim_window, credit_window } =
		match clocks(&client).await {
			Ok(clocks) => clocks,
			Err(error) => return format!("cannot read the exchange's clocks: {error}"),
		};
	let (mut best, mut finalized) =
		match tokio::try_join!(client.stream_best_blocks(), client.stream_blocks()) {
			Ok(streams) => streams,
			Err(error) => return error.to_string(),
		};
	*failures = 0;
	let genesis = client.genesis_hash().0;
	state.send_modify(|s| {
		s.genesis = Some(genesis);
		s.client = Some(client.clone());
		s.connected = true;
		s.epoch_length = epoch_length;
		s.report_period = report_period;
		s.claim_window = claim_window;
		s.credit_window = credit_window;
	});
	loop {
		tokio::select! {
			block = best.next() => match block {
				Some(Ok(block)) => {
					// A report names peers the chain checks against the group as it is when
					// the report lands, not at the epoch's start: read it as a period starts.
					let period = block_index(block.number(), report_period);
					let members = if state.borrow().members_period != Some(period) {
						let read = async { router_now(&block.at().await?, account).await };
						match tokio::time::timeout(MEMBERS_TIMEOUT, read).await {
							Ok(Ok(members)) => Some(members),
							Ok(Err(error)) => {
								tracing::debug!(%error, "cannot read the group at the best block");
								None
							}
							Err(_) => None,
						}
					} else {
						None
					};
					state.send_if_modified(|s| {
						let changed = s.best != block.number() || members.is_some();
						s.best = block.number();
						if let Some(members) = members {
							s.members_now = Some(Arc::new(members));
							s.members_period = Some(period);
						}
						changed
					});
				}
				Some(Err(error)) => return error.to_string(),
				None => return "the best-block stream ended".into(),
			},
			block = finalized.next() => match block {
				Some(Ok(block)) => {
					// After a runtime upgrade: does this agent still match it?
					match block.at().await {
						Ok(at) if at.spec_version() != checked_spec => match checked(&at, state) {
							Some(spec) => checked_spec = spec,
							None => return "the runtime does not match this agent".into(),
						},
						Ok(_) => {}
						Err(error) => return error.to_string(),
					}
					let read = on_finalized(&client, block.number(), epoch_length, account, state, ledger);
					match tokio::time::timeout(CHAIN_TIMEOUT, read).await {
						Ok(Ok(())) => {}
						Ok(Err(error)) => return format!("cannot read finalized block {}: {error}", block.number()),
						Err(_) => return format!("reading finalized block {} took over {CHAIN_TIMEOUT:?}", block.number()),
					}
				}
				Some(Err(error)) => return error.to_string(),
				None => return "the finalized-block stream ended".into(),
			},
		}
	}
}

/// Checks the agent's interface against the runtime at `at`: its spec version when it matches;
/// otherwise `None`, with the reason published for the agent to stop on.
fn checked(at: &super::compat::AtBlock, state: &watch::Sender<ChainState>) -> Option<u32> {
	let spec = at.spec_version();
	match super::compat::check(at) {
		Ok(()) => Some(spec),
		Err(what) => {
			let message = super::compat::too_old(spec, &what);
			tracing::error!("{message}");
			state.send_modify(|s| s.incompatible = Some(message));
			None
		}
	}
}

/// A block was finalized: reads the group if it starts a new epoch, and the payouts in it
/// (and in any block since the last one read).
async fn on_finalized(
	client: &Client,
	number: u64,
	epoch_length: u32,
	account: [u8; 32],
	state: &watch::Sender<ChainState>,
	ledger: &mut Option<LedgerFile>,
) -> Result<(), subxt::Error> {
	let epoch = block_index(number, epoch_length);
	if state.borrow().snapshot.as_ref().map(|s| s.epoch) != Some(epoch) {
		let start = u64::from(epoch) * u64::from(epoch_length);
		let snapshot = snapshot(client, start, epoch, account).await?;
		log_snapshot(&snapshot, state.borrow().snapshot.as_deref());
		state.send_modify(|s| s.snapshot = Some(Arc::new(snapshot)));
	}
	if let Some(file) = ledger {
		let before = file.ledger.total;
		count_payouts(client, account, &mut file.ledger, number).await?;
		if let Err(error) = store::save_json(&file.data_dir, LEDGER_FILE, &file.ledger) {
			tracing::error!(%error, "cannot save the ledger");
		}
		if file.ledger.total != before {
			let ledger = file.ledger.clone();
			state.send_modify(|s| s.ledger = ledger);
		}
	}
	Ok(())
}

/// Counts the payouts of the blocks after the ledger's last one, towards `upto` (at most
/// [`CATCH_UP_BLOCKS`] back, [`CATCH_UP_PER_BLOCK`] at a time; a new ledger starts at `upto`).
async fn count_payouts(
	client: &Client,
	account: [u8; 32],
	ledger: &mut Ledger,
	upto: u64,
) -> Result<(), subxt::Error> {
	let from = ledger.through_block.map_or(upto, |through| through.saturating_add(1));
	let from = from.max(upto.saturating_sub(CATCH_UP_BLOCKS));
	// A long way behind, it catches up a slice per finalized block, well within the timeout.
	let upto = upto.min(from.saturating_add(CATCH_UP_PER_BLOCK));
	for number in from..=upto {
		let events = client.at_block(number).await?.events().fetch().await?;
		// Decoded whole before any is counted: a block is counted once, all of it.
		let mut payouts = Vec::new();
		for paid in events.find::<srwan::tickets::events::Paid>() {
			match paid {
				Ok(paid) => payouts.push(paid),
				// Another shape (a runtime this agent does not know): shown, not fatal.
				Err(error) => {
					tracing::warn!(block = number, %error, "a payout event does not decode; not counted")
				}
			}
		}
		for paid in payouts {
			ledger.note_paid(
				&account,
				paid.epoch,
				&paid.consumer.0,
				&paid.relay.0,
				paid.amount,
				paid.infra,
			);
		}
		ledger.through_block = Some(number);
	}
	Ok(())
}

fn log_snapshot(new: &GroupSnapshot, old: Option<&GroupSnapshot>) {
	let same = old.is_some_and(|old| old.group == new.group && old.members == new.members);
	if same {
		tracing::debug!(epoch = new.epoch, "epoch started; the group is unchanged");
	} else {
		match new.group {
			Some(group) => tracing::info!(
				epoch = new.epoch,
				group,
				members = new.members.len(),
				quarantined = new.quarantined,
				"group as of this epoch's start"
			),
			None => tracing::info!(epoch = new.epoch, "not in a group as of this epoch's start"),
		}
	}
}

/// This router at a best block, as a report needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouterNow {
	/// The members of its group (none when it is in no group).
	pub members: Vec<[u8; 32]>,
	/// The latest period it reported in.
	pub last_report: Option<u32>,
}

/// `account`'s group members and latest report at `at`.
async fn router_now(
	at: &subxt::client::ClientAtBlock<
		super::ChainConfig,
		subxt::client::OnlineClientAtBlockImpl<super::ChainConfig>,
	>,
	account: [u8; 32],
) -> Result<RouterNow, subxt::Error> {
	let api = srwan::runtime_apis().ditex_api();
	let calls = at.runtime_apis();
	let Some(mine) = calls.call(api.router(AccountId32(account))).await? else {
		return Ok(RouterNow::default());
	};
	if matches!(mine.status, RouterStatus::Unbonding { .. }) {
		return Ok(RouterNow::default());
	}
	let members = calls.call(api.group_members(mine.group)).await?.into_iter().map(|a| a.0);
	Ok(RouterNow { members: members.collect(), last_report: mine.last_report })
}

/// The delegate receipt key the chain has in force for `account`'s receipts of `epoch` (at
/// the finalized head): the latest terms that took effect at or before the epoch.
pub async fn receipt_key_at(
	client: &Client,
	account: [u8; 32],
	epoch: u32,
) -> Result<Option<[u8; 32]>, subxt::Error> {
	let at = client.at_current_block().await?;
	let escrow = at
		.storage()
		.entry(srwan::storage().escrow().accounts())?
		.try_fetch((AccountId32(account),))
		.await?;
	let Some(escrow) = escrow else { return Ok(None) };
	let escrow = escrow.decode()?;
	Ok(escrow
		.terms
		.0
		.iter()
		.rev()
		.find(|(from, _)| *from <= epoch)
		.and_then(|(_, terms)| terms.receipt_key))
}

/// What the chain says about `consumer` at the best block: its delegate receipt keys with
/// the epoch each takes effect from, and whether its escrow backs at least the minimum for
/// `epoch` (as the chain checks its receipts).
pub async fn consumer_terms(
	client: &Client,
	consumer: [u8; 32],
	epoch: u32,
) -> Result<crate::proto::metering::ConsumerTerms, subxt::Error> {
	let at = client.at_current_block().await?;
	let who = AccountId32(consumer);
	let escrow =
		at.storage().entry(srwan::storage().escrow().accounts())?.try_fetch((who,)).await?;
	let receipt_keys = match escrow {
		Some(escrow) => escrow
			.decode()?
			.terms
			.0
			.iter()
			.map(|(from, terms)| (*from, terms.receipt_key))
			.collect(),
		None => Vec::new(),
	};
	let metering = srwan::runtime_apis().metering_api();
	let calls = at.runtime_apis();
	let available = calls.call(metering.escrow_available(who, epoch)).await?;
	let min_escrow = calls.call(metering.min_escrow()).await?;
	Ok(crate::proto::metering::ConsumerTerms {
		receipt_keys,
		// The chain's own rule for a receipt's consumer.
		escrow_ok: available >= min_escrow,
	})
}

/// Whether the chain holds `account`'s claim for `epoch` (at the finalized head).
pub async fn is_claimed(
	client: &Client,
	epoch: u32,
	account: [u8; 32],
) -> Result<bool, subxt::Error> {
	let at = client.at_current_block().await?;
	let claimed = at
		.storage()
		.entry(srwan::storage().tickets().claimed())?
		.try_fetch((epoch, AccountId32(account)))
		.await?;
	Ok(claimed.is_some())
}

/// The exchange's epoch length, report period and claim window.
async fn clocks(client: &Client) -> Result<Clocks, subxt::Error> {
	let at = client.at_current_block().await?;
	let params =
		at.storage().entry(srwan::storage().ditex().params())?.fetch(()).await?.decode()?;
	let tickets = at.storage().entry(srwan::storage().tickets().params())?.try_fetch(()).await?;
	let (claim_window, credit_window) = match tickets {
		Some(tickets) => {
			let tickets = tickets.decode()?;
			(tickets.claim_window, tickets.credit_window_octets)
		}
		None => (0, DEFAULT_CREDIT_WINDOW),
	};
	Ok(Clocks {
		epoch_length: params.epoch_length.max(1),
		report_period: params.report_period.max(1),
		claim_window,
		credit_window,
	})
}

/// The exchange's clocks and the metering's credit window, read at connect.
struct Clocks {
	epoch_length: u32,
	report_period: u32,
	claim_window: u32,
	credit_window: u64,
}

/// The credit window until the chain's is read (the dev presets' value).
pub const DEFAULT_CREDIT_WINDOW: u64 = 16 << 20;

/// The group of `account` in the state after block `start` (the first of `epoch`).
async fn snapshot(
	client: &Client,
	start: u64,
	epoch: u32,
	account: [u8; 32],
) -> Result<GroupSnapshot, subxt::Error> {
	let at = client.at_block(start).await?;
	let api = srwan::runtime_apis().ditex_api();
	let calls = at.runtime_apis();
	let mine = calls.call(api.router(AccountId32(account))).await?;
	let unlisted =
		GroupSnapshot { epoch, block: start, group: None, members: Vec::new(), quarantined: false };
	let Some(mine) = mine else { return Ok(unlisted) };
	if matches!(mine.status, RouterStatus::Unbonding { .. }) {
		return Ok(unlisted);
	}
	let accounts = calls.call(api.group_members(mine.group)).await?;
	let mut members = Vec::with_capacity(accounts.len());
	for member in accounts {
		// A member that left between the two reads is simply not there.
		let Some(view) = calls.call(api.router(member)).await? else { continue };
		members.push(ChainMember {
			account: member.0,
			addr: socket_addr(&view.endpoint),
			pulse_key: view.pulse_key,
			country: view.geo.country,
			quarantined: matches!(view.status, RouterStatus::Quarantined { .. }),
			sells_transit: view.price_now.is_some_and(|price| price.price_per_gb.is_some()),
		});
	}
	Ok(GroupSnapshot {
		epoch,
		block: start,
		group: Some(mine.group),
		members,
		quarantined: matches!(mine.status, RouterStatus::Quarantined { .. }),
	})
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn epochs_and_periods_follow_the_best_block() {
		let mut state = ChainState { best: 9, ..ChainState::default() };
		assert_eq!(state.epoch(), None, "unknown until the clocks are read");
		state.epoch_length = 4;
		state.report_period = 2;
		assert_eq!((state.epoch(), state.period()), (Some(2), Some(4)));
		state.best = 12;
		assert_eq!((state.epoch(), state.period()), (Some(3), Some(6)));
	}

	#[test]
	fn chain_endpoints_become_socket_addresses() {
		let v4 = Endpoint::V4 { ip: [198, 51, 100, 7], port: 7400 };
		assert_eq!(socket_addr(&v4), "198.51.100.7:7400".parse().unwrap());
		let mut ip = [0u8; 16];
		ip[0] = 0x20;
		ip[1] = 0x01;
		ip[2] = 0x0d;
		ip[3] = 0xb8;
		ip[15] = 1;
		let v6 = Endpoint::V6 { ip, port: 9 };
		assert_eq!(socket_addr(&v6), "[2001:db8::1]:9".parse().unwrap());
	}
}
