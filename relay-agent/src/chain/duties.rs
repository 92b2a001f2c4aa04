//! What a router in the exchange owes the chain, driven by the chain's clock: the epoch stamped
//! in the data packets it originates, its inbound row every report period (the liveness
//! heartbeat too), and a claim for every ended epoch in which it carried traffic.
//!
//! Claims are built from the persisted counters, so an epoch whose claim had not gone out
//! when the agent stopped is claimed after the restart (while its claim window is open). An
//! epoch is never claimed twice: the journal in the data dir records every claim's outcome,
//! and a claim the chain says is already there counts as accepted.

use super::{
	follow::{ChainMember, ChainState},
	submitter::{EpochClaim, Measurement, PeerClaim},
	ChainCall, SubmitError, Submitter,
};
use crate::{
	net::{lock, SharedCore},
	proto::{counters::Counters, pulse::LinkMetrics, wire::NodeId},
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
/// on their way, and neighbours that saw the new epoch a moment later, are counted by then.
const CLAIM_DELAY: Duration = Duration::from_millis(1_500);
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
}

impl ClaimStatus {
	/// Whether nothing more will be done for the epoch.
	pub fn is_final(&self) -> bool {
		matches!(self, ClaimStatus::Accepted { .. } | ClaimStatus::Refused { .. })
	}
}

/// One epoch's claim as the journal keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
	/// Peers it named.
	pub peers: usize,
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
		.map(|(peer, (in_octets, out_octets))| PeerClaim { peer, in_octets, out_octets })
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
	let restarted = boots.iter().skip(1).any(|boot| crash_boots.contains(boot));
	Some(EpochClaim { epoch, restarted, peers })
}

/// The inbound row to report: the members' figures as this relay measured them, those with a
/// round trip (an unanswered peer has no figures worth putting on chain).
pub fn report_row(
	measured: &[(NodeId, LinkMetrics)],
	members: &[ChainMember],
	me: &NodeId,
) -> Vec<Measurement> {
	measured
		.iter()
		.filter(|(peer, _)| peer != me && members.iter().any(|m| m.account == *peer))
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
fn status_of(result: &Result<super::Outcome, SubmitError>) -> ClaimStatus {
	match result {
		Ok(outcome) => match &outcome.error {
			None => ClaimStatus::Accepted { block: outcome.block.clone() },
			// Sent before (its first outcome was lost): it is on chain.
			Some(error) if error.contains(ALREADY_CLAIMED) => {
				ClaimStatus::Accepted { block: outcome.block.clone() }
			}
			Some(error) => ClaimStatus::Refused { error: error.clone() },
		},
		Err(error) => ClaimStatus::Unknown { reason: error.to_string() },
	}
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
		loop {
			tokio::select! {
				changed = state.changed() => if changed.is_err() { return },
				_ = stop.wait_for(|stop| *stop) => return,
			}
			let now = state.borrow_and_update().clone();
			let Some(epoch) = now.epoch() else { continue };
			lock(&self.core).set_epoch(epoch);
			if let (Some(period), Some(snapshot)) = (now.period(), now.snapshot.as_ref()) {
				if now.connected && snapshot.group.is_some() && reported != Some(period) {
					reported = Some(period);
					let measured = lock(&self.core).inbound_metrics(crate::net::now_ns());
					let row = report_row(&measured, &snapshot.members, &self.account);
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
				let (duties, in_flight) = (self.clone(), in_flight.clone());
				tokio::spawn(async move {
					tokio::time::sleep(CLAIM_DELAY).await;
					duties.claim_ended_epochs(epoch, &in_flight);
				});
			}
		}
	}

	/// Claims every epoch before `current` that has counters and no final outcome; drops the
	/// counters of epochs that have one.
	fn claim_ended_epochs(&self, current: u32, in_flight: &Arc<Mutex<BTreeSet<u32>>>) {
		let (epochs, crash_boots) = {
			let core = lock(&self.core);
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
			let claim =
				build_claim(lock(&self.core).counters(), epoch, &self.account, &crash_boots);
			let Some(claim) = claim else {
				done(self);
				continue;
			};
			let mut record = ClaimRecord {
				peers: claim.peers.len(),
				in_octets: claim.peers.iter().map(|p| p.in_octets).sum(),
				out_octets: claim.peers.iter().map(|p| p.out_octets).sum(),
				restarted: claim.restarted,
				status: ClaimStatus::Submitted,
			};
			tracing::info!(
				epoch,
				peers = record.peers,
				in_octets = record.in_octets,
				out_octets = record.out_octets,
				restarted = record.restarted,
				"claiming the epoch"
			);
			self.record(epoch, record.clone());
			let (duties, in_flight) = (self.clone(), in_flight.clone());
			tokio::spawn(async move {
				let result = duties.submitter.submit(ChainCall::Claim(claim)).await;
				record.status = status_of(&result);
				match &record.status {
					ClaimStatus::Accepted { .. } => tracing::info!(epoch, "claim accepted"),
					ClaimStatus::Refused { error } => {
						tracing::warn!(epoch, %error, "claim refused; its counts are dropped")
					}
					ClaimStatus::Unknown { reason } => {
						tracing::warn!(epoch, %reason, "claim outcome unknown; sending it again next epoch")
					}
					ClaimStatus::Submitted => {}
				}
				let is_final = record.status.is_final();
				duties.record(epoch, record);
				if is_final {
					lock(&duties.core).counters_mut().mark_claimed(epoch);
				}
				in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&epoch);
			});
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn counters(rows: &[(u64, u32, u8, u64, u64)]) -> Counters {
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
		let counters = counters(&[
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
				PeerClaim { peer: [1; 32], in_octets: 1_010, out_octets: 2_020 },
				PeerClaim { peer: [2; 32], in_octets: 0, out_octets: 700 },
			],
			"epoch 6 and the relay itself are left out"
		);
		assert!(!claim.restarted, "a second boot that was no crash (a regroup) declares nothing");
		assert!(build_claim(&counters, 4, &me, &[]).is_none(), "no traffic, no claim");
	}

	#[test]
	fn a_restart_is_declared_only_for_the_epoch_a_crash_interrupted() {
		let counters = counters(&[(100, 5, 1, 1, 1), (101, 5, 1, 1, 1), (101, 6, 1, 1, 1)]);
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
		let member = |byte: u8| ChainMember {
			account: [byte; 32],
			addr: "127.0.0.1:1".parse().unwrap(),
			pulse_key: [0; 32],
			country: *b"DE",
			quarantined: false,
		};
		let measured = vec![
			([1u8; 32], metrics(Some(20_000), -5_000_000_000)),
			([2; 32], metrics(None, 10)),
			([3; 32], metrics(Some(1), 1)),
		];
		let row = report_row(&measured, &[member(1), member(2)], &[9; 32]);
		assert_eq!(row.len(), 1, "2 has no round trip, 3 is no member");
		assert_eq!((row[0].peer, row[0].rtt_us, row[0].owd_us), ([1; 32], 20_000, i32::MIN));
	}

	#[test]
	fn a_duplicate_claim_means_the_first_one_is_on_chain() {
		let outcome = |error: Option<&str>| {
			Ok(super::super::Outcome { block: "0x01".into(), error: error.map(String::from) })
		};
		assert!(matches!(status_of(&outcome(None)), ClaimStatus::Accepted { .. }));
		assert!(matches!(
			status_of(&outcome(Some("Tickets::AlreadyClaimed"))),
			ClaimStatus::Accepted { .. }
		));
		assert!(matches!(
			status_of(&outcome(Some("Tickets::LateClaim"))),
			ClaimStatus::Refused { .. }
		));
		let unknown = Err(SubmitError::Stopped);
		assert!(!status_of(&unknown).is_final(), "sent again");
	}
}
