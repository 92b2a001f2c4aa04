//! The group's live latency matrix: every member's inbound row (its own from pulses, the
//! others' from row datagrams), with expiry and the OWD/RTT cross-check, exposed to
//! [`srwan_primitives::routing`] as a [`LatencyMatrix`].

use super::{pulse::LinkMetrics, wire::NodeId};
use serde::Serialize;
use srwan_primitives::routing::{LatencyMatrix, MemberIndex, MemberRole, SegmentMetrics};

/// One cell: what `to` measured of pulses from `from`, and when (ns, local clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Cell {
	/// The figures.
	pub metrics: LinkMetrics,
	/// When this agent learned them.
	pub updated_ns: u64,
}

/// The group's matrix as this agent knows it.
#[derive(Clone, Debug)]
pub struct LiveMatrix {
	members: Vec<NodeId>,
	roles: Vec<MemberRole>,
	/// Whether any role was set (a matrix starts with every member a transit seller).
	roles_set: bool,
	/// `cells[to * n + from]`: row `to` is the inbound row of member `to`.
	cells: Vec<Option<Cell>>,
	/// Entries older than this are ignored.
	stale_after_ns: u64,
	/// Largest allowed `|OWD(a→b) + OWD(b→a) − RTT|`, µs.
	cross_check_tolerance_us: u64,
	now_ns: u64,
}

impl LiveMatrix {
	/// A matrix over `members` (their order fixes the member indices).
	pub fn new(members: Vec<NodeId>, stale_after_ns: u64, cross_check_tolerance_us: u64) -> Self {
		let n = members.len();
		Self {
			roles: vec![MemberRole::TRANSIT; n],
			roles_set: false,
			cells: vec![None; n * n],
			members,
			stale_after_ns,
			cross_check_tolerance_us,
			now_ns: 0,
		}
	}

	/// How long an entry counts without news, ns.
	pub fn stale_after_ns(&self) -> u64 {
		self.stale_after_ns
	}

	/// The members, by index.
	pub fn members(&self) -> &[NodeId] {
		&self.members
	}

	/// The index of `id`, if it is a member.
	pub fn index_of(&self, id: &NodeId) -> Option<MemberIndex> {
		self.members.iter().position(|m| m == id).and_then(|i| MemberIndex::try_from(i).ok())
	}

	/// Sets how a member may take part in paths (quarantine, price).
	pub fn set_role(&mut self, member: MemberIndex, role: MemberRole) {
		if let Some(slot) = self.roles.get_mut(usize::from(member)) {
			*slot = role;
			self.roles_set = true;
		}
	}

	/// Whether no role was ever set (every member counts as a transit seller).
	pub fn roles_unset(&self) -> bool {
		!self.roles_set
	}

	/// Records what `to` measured of `from` at `now_ns`.
	pub fn update(
		&mut self,
		from: MemberIndex,
		to: MemberIndex,
		metrics: LinkMetrics,
		now_ns: u64,
	) {
		let n = self.members.len();
		let (from, to) = (usize::from(from), usize::from(to));
		if from < n && to < n && from != to {
			self.cells[to * n + from] = Some(Cell { metrics, updated_ns: now_ns });
		}
	}

	/// Forgets what `to` measured of `from` (the measurement was withdrawn).
	pub fn clear(&mut self, from: MemberIndex, to: MemberIndex) {
		let n = self.members.len();
		let (from, to) = (usize::from(from), usize::from(to));
		if from < n && to < n {
			self.cells[to * n + from] = None;
		}
	}

	/// Moves the matrix's notion of "now" (for expiry).
	pub fn advance(&mut self, now_ns: u64) {
		self.now_ns = self.now_ns.max(now_ns);
	}

	/// The fresh cell `from → to`, before the cross-check.
	pub fn cell(&self, from: MemberIndex, to: MemberIndex) -> Option<Cell> {
		let n = self.members.len();
		let (f, t) = (usize::from(from), usize::from(to));
		if f >= n || t >= n {
			return None;
		}
		self.cells[t * n + f]
			.filter(|c| self.now_ns.saturating_sub(c.updated_ns) <= self.stale_after_ns)
	}

	/// Whether the two directions between `a` and `b` contradict the RTT both ends measured
	/// (by more than the tolerance plus 10% of the RTT, which absorbs queueing noise):
	/// someone's timestamps lie, so neither direction is used.
	pub fn disagrees(&self, a: MemberIndex, b: MemberIndex) -> bool {
		let (Some(ab), Some(ba)) = (self.cell(a, b), self.cell(b, a)) else { return false };
		let owd_sum = ab.metrics.owd_us.saturating_add(ba.metrics.owd_us);
		[ab.metrics.rtt_us, ba.metrics.rtt_us]
			.into_iter()
			.flatten()
			.any(|rtt| owd_sum.abs_diff(i64::from(rtt)) > self.cross_check_tolerance_us)
	}
}

impl LatencyMatrix for LiveMatrix {
	fn len(&self) -> usize {
		self.members.len()
	}

	fn segment(&self, from: MemberIndex, to: MemberIndex) -> Option<SegmentMetrics> {
		if self.disagrees(from, to) {
			return None;
		}
		let cell = self.cell(from, to)?;
		let rtt_us = cell.metrics.rtt_us.or_else(|| self.cell(to, from)?.metrics.rtt_us)?;
		Some(SegmentMetrics {
			owd_us: cell.metrics.owd_us,
			rtt_us,
			loss_ppm: cell.metrics.loss_ppm,
		})
	}

	fn role(&self, member: MemberIndex) -> MemberRole {
		self.roles
			.get(usize::from(member))
			.copied()
			.unwrap_or(MemberRole { quarantined: true, sells_transit: false })
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use srwan_primitives::routing::{best_paths, PathQuery};

	const SEC: u64 = 1_000_000_000;

	fn link(owd_us: i64, rtt_us: u32) -> LinkMetrics {
		LinkMetrics { owd_us, rtt_us: Some(rtt_us), jitter_us: 0, loss_ppm: 0, samples: 10 }
	}

	fn matrix(n: u8) -> LiveMatrix {
		LiveMatrix::new((0..n).map(|i| [i; 32]).collect(), 30 * SEC, 2_000)
	}

	#[test]
	fn consistent_pairs_are_used_and_lying_pairs_excluded() {
		let mut m = matrix(2);
		// True one-way 10 ms, B's clock +3 ms: A→B reads 13 ms, B→A 7 ms, RTT 20 ms.
		m.update(0, 1, link(13_000, 20_000), 0);
		m.update(1, 0, link(7_000, 20_000), 0);
		assert!(!m.disagrees(0, 1));
		assert_eq!(m.segment(0, 1).map(|s| s.owd_us), Some(13_000));
		// B claims A→B takes 1 ms: the sum no longer matches the RTT.
		m.update(0, 1, link(1_000, 20_000), 0);
		assert!(m.disagrees(0, 1));
		assert_eq!(m.segment(0, 1), None);
		assert_eq!(m.segment(1, 0), None);
	}

	#[test]
	fn stale_cells_expire() {
		let mut m = matrix(2);
		m.update(0, 1, link(5_000, 10_000), 0);
		m.advance(30 * SEC);
		assert!(m.cell(0, 1).is_some());
		m.advance(31 * SEC);
		assert!(m.cell(0, 1).is_none());
	}

	#[test]
	fn routing_runs_on_the_live_matrix() {
		let mut m = matrix(3);
		for (a, b, owd) in [
			(0, 1, 10_000),
			(1, 0, 10_000),
			(1, 2, 10_000),
			(2, 1, 10_000),
			(0, 2, 50_000),
			(2, 0, 50_000),
		] {
			m.update(a, b, link(owd, 2 * owd as u32), 0);
		}
		let best = best_paths(&m, PathQuery::new(0, 2)).unwrap();
		assert_eq!(best[0].hops, vec![0, 1, 2]);
		assert_eq!(m.index_of(&[2; 32]), Some(2));
		assert_eq!(m.index_of(&[9; 32]), None);
	}
}
