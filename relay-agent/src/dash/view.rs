//! What the dashboard reads of the relay's core: a copy the agent takes a few times a second
//! ([`publish`]) and hands over through a `watch` channel. Requests, from anyone who reaches the
//! dashboard and as often as they like, never take the lock the data plane's workers take.

use crate::{
	net::{lock, now_ns, SharedCore},
	proto::{counters::Octets, pulse::LinkMetrics, relay::RelayCore, wire::NodeId},
};
use srwan_primitives::routing::{LatencyMatrix, SegmentMetrics};
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use tokio::sync::watch;

/// How often [`publish`] copies the core: fresh enough for a page that refreshes every second,
/// and ~50 µs of lock a time for a group of 100 (its matrix is the bulk).
pub const VIEW_INTERVAL: Duration = Duration::from_millis(250);

/// The core as of one moment.
#[derive(Clone, Debug, Default)]
pub struct CoreView {
	/// This relay's member index.
	pub me: u16,
	/// Members in the group.
	pub group_size: usize,
	/// Boot time (unix s).
	pub boot_time: u64,
	/// Octets in and out, all unclaimed epochs.
	pub totals: Octets,
	/// Octets per peer since the agent started (never decreasing).
	pub by_peer: BTreeMap<NodeId, Octets>,
	/// The matrix's members, in member order.
	pub members: Vec<NodeId>,
	/// `segments[from][to]`: `None` on the diagonal and where unmeasured or excluded.
	pub segments: Vec<Vec<Option<SegmentMetrics>>>,
	/// Peers with a current measurement of their segment to this relay.
	pub peers_measured: usize,
	/// Each peer's pulses as they arrive here.
	pub inbound: Vec<(NodeId, LinkMetrics)>,
	/// Dropped datagrams by reason, sorted.
	pub drops: Vec<(String, u64)>,
	/// Members whose datagrams carry another protocol version, with it.
	pub members_on_other_versions: Vec<(u16, u8)>,
}

impl CoreView {
	/// Copies what the dashboard shows of `core` at `now_ns`.
	pub fn of(core: &RelayCore, now_ns: u64) -> Self {
		let me = core.me();
		let group_size = core.members().len();
		let matrix = core.matrix();
		let n = matrix.len() as u16;
		let segments = (0..n)
			.map(|a| (0..n).map(|b| if a == b { None } else { matrix.segment(a, b) }).collect())
			.collect();
		let peers_measured = (0..group_size as u16)
			.filter(|&from| from != me && matrix.cell(from, me).is_some())
			.count();
		let mut drops: Vec<(String, u64)> =
			core.drops().iter().map(|(r, c)| (format!("{r:?}"), *c)).collect();
		drops.sort();
		Self {
			me,
			group_size,
			boot_time: core.boot_time(),
			totals: core.counters().totals(),
			by_peer: core.counters().by_peer(),
			members: matrix.members().to_vec(),
			segments,
			peers_measured,
			inbound: core.inbound_metrics(now_ns),
			drops,
			members_on_other_versions: (0..group_size as u16)
				.map(|m| (m, core.member_version(m)))
				.filter(|(_, version)| *version != crate::proto::wire::VERSION)
				.collect(),
		}
	}
}

/// A channel holding `core`'s view as of now, for [`publish`] to keep current.
pub fn channel(
	core: &SharedCore,
) -> (watch::Sender<Arc<CoreView>>, watch::Receiver<Arc<CoreView>>) {
	watch::channel(Arc::new(CoreView::of(&lock(core), now_ns())))
}

/// Copies `core` into `views` every `every` until `stop` turns true (or nobody reads).
pub async fn publish(
	core: SharedCore,
	views: watch::Sender<Arc<CoreView>>,
	every: Duration,
	mut stop: watch::Receiver<bool>,
) {
	let mut ticks = tokio::time::interval(every);
	ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		tokio::select! {
			_ = ticks.tick() => {
				// Built under the lock, sent after it: a reader never waits on the core.
				let view = Arc::new(CoreView::of(&lock(&core), now_ns()));
				if views.send(view).is_err() {
					return;
				}
			}
			_ = stop.wait_for(|stop| *stop) => return,
		}
	}
}
