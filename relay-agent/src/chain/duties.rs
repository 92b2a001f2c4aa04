//! What a router in the exchange owes the chain, driven by the chain's clock: the epoch stamped
//! in the data packets it originates, its inbound row every report period (the liveness
//! heartbeat too), and a claim for every ended epoch in which it carried traffic.
//!
//! Claims are built from the persisted counters, so an epoch whose claim had not gone out
//! when the agent stopped is claimed after the restart (while its claim window is open). An
//! epoch is never claimed twice: the journal in the data dir records every claim's outcome,
//! and a claim the chain says is already there counts as accepted.

use super::{
	follow::ChainState,
	submitter::{EpochClaim, Measurement, PeerClaim},
	ChainCall, SubmitError, Submitter,
};
use crate::{
	net::{lock, SharedCore},
	proto::{
		counters::{Counters, FlowUsage, UsageKey},
		pulse::LinkMetrics,
		wire::NodeId,
	},
	store,
};
use serde::{Deserialize, Serialize};
use std::{
	collections::{BTreeMap, BTreeSet},
	path::PathBuf,
	sync::{Arc, Mutex},
	time::Duration,
};
use tokio::sync::watch;

/// File of the claim journal in the data dir.
pub const CLAIMS_FILE: &str = "claims.json";
/// Claims kept in the journal.
const CLAIMS_KEPT: usize = 64;
/// Most peers one claim carries (the chain's bound).
const MAX_CLAIM_PEERS: usize = 128;
/// How long after an epoch ends its claim is built: packets stamped with it that were still
/// on their way, neighbours that saw the new epoch a moment later, and the final receipts
/// the ingresses send when they see it (`chain::metering`) are in by then.
const CLAIM_DELAY: Duration = Duration::from_millis(2_500);
/// Receipts per claim extrinsic (the rest follow in `claim_more_receipts`): well inside a
/// block's normal class at the benchmarked weight of receipts over the longest paths.
const RECEIPTS_PER_EXTRINSIC: usize = 48;
/// Submissions waiting for the signer above which a report is not sent.
const REPORT_QUEUE_LIMIT: usize = 4;
/// How long after an unknown outcome the claim is sent again (the claim window is shorter
/// than an epoch: waiting for the next epoch's round would be too late).
const CLAIM_RETRY: Duration = Duration::from_secs(6);
/// The module error of a claim after its window.
const LATE_CLAIM: &str = "LateClaim";
/// The module error that says the epoch's claim is on chain already.
const ALREADY_CLAIMED: &str = "AlreadyClaimed";

/// Where an epoch's claim stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ClaimStatus {
	/// Handed to the signer; no outcome yet.
	Submitted,
	/// In a finalized block: its links are checked against the neighbours' claims.
	Accepted {
		/// The block (hex).
		block: String,
	},
	/// The chain refused it (late, not in a group, quarantined...): its counts are dropped.
	Refused {
		/// The module error.
		error: String,
	},
	/// It may or may not be on chain; it is sent again (the chain refuses a duplicate).
	Unknown {
		/// What went wrong.
		reason: String,
	},
	/// An earlier copy's outcome was lost, and the claim window closed before a copy's
	/// outcome was known: it may be on chain (see the account's extrinsics); its counts are
	/// dropped.
	Lapsed {
		/// The module error of the last copy.
		error: String,
	},
}

impl ClaimStatus {
	/// Whether nothing more will be done for the epoch.
	pub fn is_final(&self) -> bool {
		matches!(
			self,
			ClaimStatus::Accepted { .. } | ClaimStatus::Refused { .. } | ClaimStatus::Lapsed { .. }
		)
	}
}

/// One epoch's claim as the journal keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
	/// Peers it named.
	pub peers: usize,
	/// The consumer receipts it carried (flows this relay originated).
	#[serde(default)]
	pub receipts: usize,
	/// Octets received, over all peers.
	pub in_octets: u64,
	/// Octets sent, over all peers.
	pub out_octets: u64,
	/// Whether it declared a restart.
	pub restarted: bool,
	/// Its outcome.
	#[serde(flatten)]
	pub status: ClaimStatus,
}

/// The claim journal: by epoch.
pub type Journal = BTreeMap<u32, ClaimRecord>;

/// The claim of `epoch` from `counters` (every boot's rows of that epoch, summed per peer), or
/// `None` when nothing was carried. It declares a restart when a boot after a crash counted
/// in the epoch after an earlier boot did (some counts may have been lost in between).
pub fn build_claim(
	counters: &Counters,
	epoch: u32,
	me: &NodeId,
	crash_boots: &[u64],
) -> Option<EpochClaim> {
	let mut peers: BTreeMap<NodeId, (u64, u64)> = BTreeMap::new();
	let mut boots = BTreeSet::new();
	for (key, octets) in counters.iter().filter(|(key, _)| key.epoch == epoch && key.peer != *me) {
		boots.insert(key.boot_time);
		let entry = peers.entry(key.peer).or_default();
		entry.0 = entry.0.saturating_add(octets.in_octets);
		entry.1 = entry.1.saturating_add(octets.out_octets);
	}
	let mut peers: Vec<PeerClaim> = peers
		.into_iter()
		.filter(|(_, (i, o))| *i > 0 || *o > 0)
		.map(|(peer, (in_octets, out_octets))| PeerClaim {
			peer,
			in_octets,
			out_octets,
			boots: counters.peer_boots(epoch, &peer).to_vec(),
		})
		.collect();
	if peers.is_empty() {
		return None;
	}
	if peers.len() > MAX_CLAIM_PEERS {
		// More peers than a group holds: keep the busiest links.
		peers.sort_by_key(|p| std::cmp::Reverse(p.in_octets.saturating_add(p.out_octets)));
		peers.truncate(MAX_CLAIM_PEERS);
		peers.sort_by_key(|p| p.peer);
	}
	// A crash between the epoch's first counted boot and its last: counts may be lost in
	// between. (The boot right after a crash may count nothing itself, when the agent
	// regrouped at once: the crash boot then lies between two counted ones.)
	let restarted = match (boots.first(), boots.last()) {
		(Some(first), Some(last)) => crash_boots.iter().any(|crash| first < crash && crash <= last),
		_ => false,
	};
	Some(EpochClaim { epoch, restarted, peers, receipts: Vec::new() })
}

/// The inbound row to report: the figures this relay measured of the peers the chain has in
/// its group now (`members`; the chain refuses a whole report that names anyone else), those
/// with a round trip (an unanswered peer has no figures worth putting on chain).
pub fn report_row(
	measured: &[(NodeId, LinkMetrics)],
	members: &[[u8; 32]],
	me: &NodeId,
) -> Vec<Measurement> {
	measured
		.iter()
		.filter(|(peer, _)| peer != me && members.contains(peer))
		.filter_map(|(peer, metrics)| {
			Some(Measurement {
				peer: *peer,
				owd_us: i32::try_from(metrics.owd_us).unwrap_or(if metrics.owd_us < 0 {
					i32::MIN
				} else {
					i32::MAX
				}),
				rtt_us: metrics.rtt_us?,
				jitter_us: metrics.jitter_us,
				loss_ppm: metrics.loss_ppm,
				samples: metrics.samples,
			})
		})
		.collect()
}

/// The journal's record of a claim's outcome.
/// `sent_before`: an earlier copy went out and its outcome is not known.
fn status_of(result: &Result<super::Outcome, SubmitError>, sent_before: bool) -> ClaimStatus {
	match result {
		Ok(outcome) => match &outcome.error {
			None => ClaimStatus::Accepted { block: outcome.block.clone() },
			// Sent before (its first outcome was lost): it is on chain.
			Some(error) if error.contains(ALREADY_CLAIMED) => {
				ClaimStatus::Accepted { block: outcome.block.clone() }
			}
			// In a block, but its events could not be read.
			Some(error) if error.starts_with("outcome unknown") => {
				ClaimStatus::Unknown { reason: error.clone() }
			}
			// The chain checks the window before duplicates: the earlier copy may be there.
			Some(error) if sent_before && error.contains(LATE_CLAIM) => {
				ClaimStatus::Lapsed { error: error.clone() }
			}
			Some(error) => ClaimStatus::Refused { error: error.clone() },
		},
		Err(error) => ClaimStatus::Unknown { reason: error.to_string() },
	}
}

/// Marks each member of `snapshot` in the core's matrix as the chain lists it: quarantined
/// ones are on no path, ones not for sale on no one else's.
pub fn apply_roles(core: &mut crate::proto::relay::RelayCore, snapshot: &super::GroupSnapshot) {
	use srwan_primitives::routing::MemberRole;
	let ids: Vec<[u8; 32]> = core.members().iter().map(|m| m.id).collect();
	for member in &snapshot.members {
		let Some(index) = ids.iter().position(|id| *id == member.account) else { continue };
		let Ok(index) = u16::try_from(index) else { continue };
		let role =
			MemberRole { quarantined: member.quarantined, sells_transit: member.sells_transit };
		core.matrix_mut().set_role(index, role);
	}
}

/// Whether `block` is the last one of its report period (a report sent now lands in the next).
fn is_last_block_of_period(block: u64, report_period: u32) -> bool {
	report_period > 1 && block % u64::from(report_period) == u64::from(report_period) - 1
}

/// What the duties need.
#[derive(Clone)]
pub struct Duties {
	/// The relay (replaced in place when the group changes).
	pub core: SharedCore,
	/// The signer.
	pub submitter: Submitter,
	/// This router's account.
	pub account: [u8; 32],
	/// The data dir (claim journal).
	pub data_dir: PathBuf,
	/// Boots that followed a crash.
	pub crash_boots: Arc<Vec<u64>>,
	/// The claim journal, shared with the dashboard.
	pub journal: Arc<Mutex<Journal>>,
	/// The keys that sign this account's receipts as a consumer.
	pub receipt_keys: Arc<super::receipts::ReceiptKeys>,
	/// The receipts' price limit per GB.
	pub max_price_per_gb: u128,
	/// The chain as followed (its connection, for reads).
	pub chain: watch::Receiver<ChainState>,
}

impl Duties {
	/// Loads the claim journal from the data dir.
	pub fn load_journal(data_dir: &std::path::Path) -> Result<Journal, store::StoreError> {
		store::load_json(data_dir, CLAIMS_FILE)
	}

	fn save_journal(&self) {
		let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner()).clone();
		if let Err(error) = store::save_json(&self.data_dir, CLAIMS_FILE, &journal) {
			tracing::error!(%error, "cannot save the claim journal");
		}
	}

	fn record(&self, epoch: u32, record: ClaimRecord) {
		{
			let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
			journal.insert(epoch, record);
			while journal.len() > CLAIMS_KEPT {
				journal.pop_first();
			}
		}
		self.save_journal();
	}

	fn journal_status(&self, epoch: u32) -> Option<ClaimStatus> {
		let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
		journal.get(&epoch).map(|record| record.status.clone())
	}

	/// Runs until `stop`: follows `state` and does what each new epoch and period asks.
	pub async fn run(
		self,
		mut state: watch::Receiver<ChainState>,
		mut stop: watch::Receiver<bool>,
	) {
		let in_flight = Arc::new(Mutex::new(BTreeSet::new()));
		let (mut reported, mut claimed_through) = (None, None);
		let mut roles_of: Option<Arc<super::GroupSnapshot>> = None;
		loop {
			tokio::select! {
				changed = state.changed() => if changed.is_err() { return },
				_ = stop.wait_for(|stop| *stop) => return,
			}
			let now = state.borrow_and_update().clone();
			// Paths avoid quarantined members and those not for sale, as of each epoch start
			// (a core rebuilt for a new group starts without roles: set them again).
			if let Some(snapshot) = &now.snapshot {
				let rebuilt = lock(&self.core).matrix().roles_unset();
				if rebuilt || !roles_of.as_ref().is_some_and(|seen| Arc::ptr_eq(seen, snapshot)) {
					apply_roles(&mut lock(&self.core), snapshot);
					roles_of = Some(snapshot.clone());
				}
			}
			let Some(epoch) = now.epoch() else { continue };
			// Never back: a reorg of the best chain must not reopen an epoch.
			let epoch = {
				let mut core = lock(&self.core);
				let epoch = epoch.max(core.epoch());
				core.set_epoch(epoch);
				epoch
			};
			if let (Some(period), Some(snapshot)) = (now.period(), now.snapshot.as_ref()) {
				// While the signer cannot keep up (the node is away), this period's report is
				// skipped rather than queued behind the others: a late report is refused.
				let signer_free = self.submitter.queued() < REPORT_QUEUE_LIMIT;
				// Reported already this period (by this agent before a restart): a second
				// report is refused, and not free.
				let on_chain = now.members_now.as_ref().and_then(|router| router.last_report);
				if on_chain == Some(period) {
					reported = Some(period);
				}
				// Sent at a period's last block, a report lands in the next period's first
				// block, where the chain refuses it (and charges its fee): it waits for the
				// next period.
				let in_time = !is_last_block_of_period(now.best, now.report_period);
				if now.connected
					&& snapshot.group.is_some()
					&& reported != Some(period)
					&& signer_free && in_time
				{
					reported = Some(period);
					let measured = lock(&self.core).inbound_metrics(crate::net::now_ns());
					let members: Vec<[u8; 32]> = match &now.members_now {
						Some(router) => router.members.clone(),
						None => snapshot.members.iter().map(|m| m.account).collect(),
					};
					let row = report_row(&measured, &members, &self.account);
					let submitter = self.submitter.clone();
					tokio::spawn(async move {
						let peers = row.len();
						if let Ok(outcome) =
							submitter.submit(ChainCall::Report { period, row }).await
						{
							if outcome.error.is_none() {
								tracing::debug!(period, peers, "reported");
							}
						}
					});
				}
			}
			if now.connected && claimed_through.is_none_or(|through| through < epoch) {
				claimed_through = Some(epoch);
				let (duties, in_flight, genesis) = (self.clone(), in_flight.clone(), now.genesis);
				tokio::spawn(async move {
					tokio::time::sleep(CLAIM_DELAY).await;
					duties.claim_ended_epochs(epoch, genesis, &in_flight);
				});
			}
		}
	}

	/// This account's signed receipts for the flows it originated in `epoch`: with the
	/// delegate receipt key when the chain has it in force for the epoch, else with the
	/// account key (which the chain always accepts for its own receipts).
	async fn receipts(
		&self,
		usages: &[(UsageKey, FlowUsage)],
		epoch: u32,
		genesis: Option<[u8; 32]>,
	) -> Vec<srwan_primitives::receipts::SignedReceipt<[u8; 32]>> {
		let Some(genesis) = genesis else { return Vec::new() };
		if usages.is_empty() {
			return Vec::new();
		}
		let client = self.chain.borrow().client.clone();
		let key = self.receipt_keys.for_epoch(client.as_ref(), epoch).await;
		let signer = super::receipts::ReceiptSigner {
			consumer: self.account,
			key: &key,
			genesis,
			max_price_per_gb: self.max_price_per_gb,
			// The latest receipt of a flow wins on chain: a claim sent again (after a restart)
			// carries receipts no older than the first one's.
			nonce: super::receipts::fresh_nonce(),
		};
		signer.receipts(usages, epoch)
	}

	/// Claims every epoch before `current` that has counters and no final outcome; drops the
	/// counters of epochs that have one.
	fn claim_ended_epochs(
		&self,
		current: u32,
		genesis: Option<[u8; 32]>,
		in_flight: &Arc<Mutex<BTreeSet<u32>>>,
	) {
		let (epochs, crash_boots) = {
			let mut core = lock(&self.core);
			// From now on data stamped with an ended epoch is dropped: what is claimed is all
			// that was carried.
			if let Some(ended) = current.checked_sub(1) {
				core.close_epochs_through(ended);
			}
			let epochs: BTreeSet<u32> = core
				.counters()
				.iter()
				.map(|(key, _)| key.epoch)
				.filter(|epoch| *epoch < current)
				.collect();
			(epochs, self.crash_boots.clone())
		};
		for epoch in epochs {
			if !in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(epoch) {
				continue;
			}
			let done = |duties: &Duties| {
				lock(&duties.core).counters_mut().mark_claimed(epoch);
				in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&epoch);
			};
			if self.journal_status(epoch).is_some_and(|status| status.is_final()) {
				// Stragglers counted after the claim went out.
				done(self);
				continue;
			}
			let sent_before = matches!(
				self.journal_status(epoch),
				Some(ClaimStatus::Submitted | ClaimStatus::Unknown { .. })
			);
			let (claim, usages, held) = {
				let core = lock(&self.core);
				let counters = core.counters();
				let claim = build_claim(counters, epoch, &self.account, &crash_boots);
				(claim, counters.flow_usage_of(epoch), counters.held_receipts(epoch))
			};
			let Some(claim) = claim else {
				done(self);
				continue;
			};
			let (duties, in_flight) = (self.clone(), in_flight.clone());
			tokio::spawn(async move {
				duties.claim_epoch(epoch, claim, usages, held, sent_before, genesis).await;
				in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&epoch);
			});
		}
	}

	/// Claims `epoch` with the receipts of the flows it originated (signed off the data
	/// plane's lock) and those it holds for flows it carried, the largest first; beyond what
	/// one extrinsic holds, they are sent after it with `claim_more_receipts`. Sends the claim
	/// again while its outcome is unknown and its window open; records the outcome and, once
	/// final, drops the epoch's counters.
	async fn claim_epoch(
		&self,
		epoch: u32,
		mut claim: EpochClaim,
		usages: Vec<(UsageKey, FlowUsage)>,
		held: Vec<srwan_primitives::receipts::SignedReceipt<[u8; 32]>>,
		mut sent_before: bool,
		genesis: Option<[u8; 32]>,
	) {
		let mut receipts = self.receipts(&usages, epoch, genesis).await;
		receipts.extend(held);
		receipts.sort_by_key(|signed| {
			let receipt = &signed.receipt;
			std::cmp::Reverse(receipt.fwd_octets.saturating_add(receipt.rev_octets))
		});
		receipts.truncate(srwan_primitives::receipts::MAX_CLAIM_RECEIPTS as usize);
		let more = receipts.split_off(receipts.len().min(RECEIPTS_PER_EXTRINSIC));
		claim.receipts = receipts;
		let mut record = ClaimRecord {
			peers: claim.peers.len(),
			receipts: claim.receipts.len().saturating_add(more.len()),
			in_octets: claim.peers.iter().fold(0, |sum, p| p.in_octets.saturating_add(sum)),
			out_octets: claim.peers.iter().fold(0, |sum, p| p.out_octets.saturating_add(sum)),
			restarted: claim.restarted,
			status: ClaimStatus::Submitted,
		};
		tracing::info!(
			epoch,
			peers = record.peers,
			receipts = record.receipts,
			in_octets = record.in_octets,
			out_octets = record.out_octets,
			restarted = record.restarted,
			"claiming the epoch"
		);
		self.record(epoch, record.clone());
		loop {
			// A copy went out before (its outcome lost, or the agent restarted meanwhile):
			// the chain says whether it landed, rather than a second copy that the chain
			// refuses as late once the window closed.
			let client = self.chain.borrow().client.clone();
			if let (true, Some(client)) = (sent_before, client) {
				match super::follow::is_claimed(&client, epoch, self.account).await {
					Ok(true) => {
						tracing::info!(epoch, "the claim sent before is on chain");
						let block = "found on chain".to_string();
						record.status = ClaimStatus::Accepted { block };
						break;
					}
					Ok(false) => {}
					Err(error) => {
						tracing::debug!(epoch, %error, "cannot read whether the claim is on chain; sending it")
					}
				}
			}
			let result = self.submitter.submit(ChainCall::Claim(claim.clone())).await;
			record.status = status_of(&result, sent_before);
			sent_before = true;
			if !matches!(record.status, ClaimStatus::Unknown { .. }) {
				break;
			}
			if !self.window_open(epoch) {
				let error = "the claim window closed while its outcome was unknown".to_string();
				record.status = ClaimStatus::Lapsed { error };
				break;
			}
			if let ClaimStatus::Unknown { reason } = &record.status {
				tracing::warn!(epoch, %reason, retry_in = ?CLAIM_RETRY, "claim outcome unknown; sending it again");
			}
			self.record(epoch, record.clone());
			tokio::time::sleep(CLAIM_RETRY).await;
		}
		match &record.status {
			ClaimStatus::Accepted { .. } => {
				tracing::info!(epoch, "claim accepted");
				self.add_receipts(epoch, more).await;
			}
			ClaimStatus::Refused { error } => {
				tracing::warn!(epoch, %error, "claim refused; its counts are dropped")
			}
			ClaimStatus::Lapsed { error } => {
				tracing::warn!(epoch, %error, "claim window closed before an outcome was known; an earlier copy may be on chain")
			}
			ClaimStatus::Unknown { .. } | ClaimStatus::Submitted => {}
		}
		self.record(epoch, record);
		lock(&self.core).counters_mut().mark_claimed(epoch);
	}

	/// Sends the receipts one claim could not hold, in parts (`claim_more_receipts`).
	async fn add_receipts(
		&self,
		epoch: u32,
		mut receipts: Vec<srwan_primitives::receipts::SignedReceipt<[u8; 32]>>,
	) {
		while !receipts.is_empty() {
			let rest = receipts.split_off(receipts.len().min(RECEIPTS_PER_EXTRINSIC));
			let part = std::mem::replace(&mut receipts, rest);
			let count = part.len();
			match self
				.submitter
				.submit(ChainCall::ClaimMoreReceipts { epoch, receipts: part })
				.await
			{
				Ok(outcome) if outcome.error.is_none() => {
					tracing::info!(epoch, receipts = count, "more receipts added to the claim")
				}
				Ok(outcome) => {
					let error = outcome.error.unwrap_or_default();
					tracing::warn!(epoch, receipts = count, %error, "receipts refused");
				}
				Err(error) => tracing::warn!(epoch, receipts = count, %error, "receipts not added"),
			}
		}
	}

	/// Whether claims for `epoch` are still accepted, as far as the followed chain shows.
	fn window_open(&self, epoch: u32) -> bool {
		let state = self.chain.borrow();
		let deadline = u64::from(epoch)
			.saturating_add(1)
			.saturating_mul(u64::from(state.epoch_length))
			.saturating_add(u64::from(state.claim_window));
		state.epoch_length == 0 || state.best < deadline
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn paths_avoid_quarantined_members_and_carry_no_one_else_through_those_not_for_sale() {
		use crate::proto::relay::{CoreConfig, Member, RelayCore};
		use srwan_primitives::routing::{LatencyMatrix as _, MemberRole};
		let keys: Vec<_> =
			(1..=3u8).map(|i| ed25519_dalek::SigningKey::from_bytes(&[i; 32])).collect();
		let members: Vec<Member> = keys
			.iter()
			.enumerate()
			.map(|(i, key)| Member {
				id: [i as u8 + 1; 32],
				addr: std::net::SocketAddr::from(([127, 0, 0, 1], 7600 + i as u16)),
				pulse_key: key.verifying_key(),
			})
			.collect();
		let mut core = RelayCore::new(CoreConfig::new(keys[0].clone(), members.clone())).unwrap();
		assert!(core.matrix().roles_unset());
		let listed = |i: usize, quarantined, sells_transit| super::super::ChainMember {
			account: members[i].id,
			addr: members[i].addr,
			pulse_key: members[i].pulse_key.to_bytes(),
			country: *b"DE",
			quarantined,
			sells_transit,
		};
		let snapshot = super::super::GroupSnapshot {
			epoch: 1,
			block: 4,
			group: Some(1),
			members: vec![listed(0, false, true), listed(1, true, true), listed(2, false, false)],
			quarantined: false,
		};
		apply_roles(&mut core, &snapshot);
		assert!(!core.matrix().roles_unset());
		assert_eq!(core.matrix().role(0), MemberRole::TRANSIT);
		assert_eq!(core.matrix().role(1), MemberRole { quarantined: true, sells_transit: true });
		assert_eq!(core.matrix().role(2), MemberRole { quarantined: false, sells_transit: false });
	}

	#[test]
	fn no_report_goes_out_at_a_periods_last_block() {
		// Periods of 4 blocks: 0–3, 4–7. A report sent at block 3 lands in block 4.
		let sent_at: Vec<u64> = (0..8).filter(|b| !is_last_block_of_period(*b, 4)).collect();
		assert_eq!(sent_at, vec![0, 1, 2, 4, 5, 6]);
		assert!(!is_last_block_of_period(5, 1), "one-block periods have no other block");
	}

	fn counters_of(rows: &[(u64, u32, u8, u64, u64)]) -> Counters {
		let mut counters = Counters::default();
		for &(boot, epoch, peer, in_octets, out_octets) in rows {
			counters.record_in(boot, epoch, [peer; 32], in_octets);
			counters.record_out(boot, epoch, [peer; 32], out_octets);
		}
		counters
	}

	#[test]
	fn a_claim_sums_an_epochs_boots_per_peer_and_nothing_else() {
		let me = [9u8; 32];
		let counters = counters_of(&[
			(100, 5, 1, 1_000, 2_000),
			(100, 5, 2, 0, 700),
			(101, 5, 1, 10, 20),
			(101, 6, 1, 5_000, 5_000),
			(101, 5, 9, 1, 1),
		]);
		let claim = build_claim(&counters, 5, &me, &[]).unwrap();
		assert_eq!(claim.epoch, 5);
		assert_eq!(
			claim.peers,
			vec![
				PeerClaim { peer: [1; 32], in_octets: 1_010, out_octets: 2_020, boots: vec![] },
				PeerClaim { peer: [2; 32], in_octets: 0, out_octets: 700, boots: vec![] },
			],
			"epoch 6 and the relay itself are left out"
		);
		assert!(!claim.restarted, "a second boot that was no crash (a regroup) declares nothing");
		assert!(build_claim(&counters, 4, &me, &[]).is_none(), "no traffic, no claim");
	}

	#[test]
	fn a_restart_is_declared_only_for_the_epoch_a_crash_interrupted() {
		let counters = counters_of(&[(100, 5, 1, 1, 1), (101, 5, 1, 1, 1), (101, 6, 1, 1, 1)]);
		let me = [9u8; 32];
		assert!(build_claim(&counters, 5, &me, &[101]).unwrap().restarted);
		assert!(
			!build_claim(&counters, 6, &me, &[101]).unwrap().restarted,
			"the boot after the crash ran through epoch 6 alone"
		);
		assert!(
			!build_claim(&counters, 5, &me, &[100]).unwrap().restarted,
			"a crash before the epoch's first boot lost nothing of it"
		);
		// The agent came back at boot 101 after a crash, regrouped at once (boot 102) and
		// counted only there: the crash still lies inside the epoch's boots.
		let regrouped = counters_of(&[(100, 7, 1, 1, 1), (102, 7, 1, 1, 1)]);
		assert!(build_claim(&regrouped, 7, &me, &[101]).unwrap().restarted);
	}

	#[test]
	fn a_report_names_members_with_a_round_trip_only() {
		let metrics = |rtt_us: Option<u32>, owd_us: i64| LinkMetrics {
			owd_us,
			rtt_us,
			jitter_us: 3,
			loss_ppm: 0,
			samples: 10,
		};
		let measured = vec![
			([1u8; 32], metrics(Some(20_000), -5_000_000_000)),
			([2; 32], metrics(None, 10)),
			([3; 32], metrics(Some(1), 1)),
		];
		let row = report_row(&measured, &[[1; 32], [2; 32]], &[9; 32]);
		assert_eq!(row.len(), 1, "2 has no round trip, 3 is no member");
		assert_eq!((row[0].peer, row[0].rtt_us, row[0].owd_us), ([1; 32], 20_000, i32::MIN));
	}

	#[test]
	fn a_duplicate_claim_means_the_first_one_is_on_chain() {
		let outcome = |error: Option<&str>| {
			Ok(super::super::Outcome { block: "0x01".into(), error: error.map(String::from) })
		};
		assert!(matches!(status_of(&outcome(None), false), ClaimStatus::Accepted { .. }));
		assert!(matches!(
			status_of(&outcome(Some("Tickets::AlreadyClaimed")), true),
			ClaimStatus::Accepted { .. }
		));
		assert!(matches!(
			status_of(&outcome(Some("Tickets::LateClaim")), false),
			ClaimStatus::Refused { .. }
		));
		assert!(
			matches!(
				status_of(&outcome(Some("Tickets::LateClaim")), true),
				ClaimStatus::Lapsed { .. }
			),
			"the first copy may have landed: not reported as refused"
		);
		assert!(!status_of(&outcome(Some("outcome unknown: no events")), false).is_final());
		let unknown = Err(SubmitError::Stopped);
		assert!(!status_of(&unknown, false).is_final(), "sent again");
	}
}
