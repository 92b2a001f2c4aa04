//! Path computation over a group's latency matrix, shared by the relay agent (to pick detours)
//! and the node's `ditex_bestPaths` RPC (to show them), so both agree on what "best" means.
//!
//! ## Why Bellman–Ford and not Dijkstra
//!
//! A segment's delay is a *one-way* delay measured as `receive − send` on two different clocks,
//! so it contains the offset between them and may be negative. Along a path from `s` to `d`
//! the offsets telescope (`(t_x − o_s) + (t_d − o_x) = … − o_s + o_d`): every path between the
//! same endpoints carries the same unknown offset, so paths compare correctly without clock
//! sync, but single edges may be negative and Dijkstra's greedy order is wrong. We run a
//! hop-bounded Bellman–Ford: layer `h` holds the best walks of exactly `h` edges, and the
//! bound (`max_intermediates + 1` edges) also bounds the work.
//!
//! ## What a path costs
//!
//! `cost = Σ owd + loss_penalty_us × (path loss in percent)`, so a path that loses packets must
//! be faster by a margin to win. Quarantined routers are never used; routers without a price
//! (`None`, "infinite": not for sale) may be endpoints but never transit for others.

use alloc::vec::Vec;

/// Index of a router inside its group's matrix.
pub type MemberIndex = u16;

/// Parts per million: the unit of loss.
pub const PPM: u32 = 1_000_000;

/// Measured performance of one directed segment A→B (what B measured of A's pulses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentMetrics {
	/// Median one-way delay in µs, offset-relative (may be negative).
	pub owd_us: i64,
	/// Round-trip time in µs (absolute: comparable against thresholds).
	pub rtt_us: u32,
	/// Loss in parts per million.
	pub loss_ppm: u32,
}

/// How a router may take part in paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberRole {
	/// Excluded from every path (quarantined, or unknown).
	pub quarantined: bool,
	/// Sells transit: it has a price. Unpriced routers only carry their owner's traffic.
	pub sells_transit: bool,
}

impl MemberRole {
	/// A priced, healthy router.
	pub const TRANSIT: Self = Self { quarantined: false, sells_transit: true };
}

/// A group's latency matrix: `segment(a, b)` is A→B as measured by B.
pub trait LatencyMatrix {
	/// Number of members (indices `0..len`).
	fn len(&self) -> usize;
	/// Whether the matrix has no members.
	fn is_empty(&self) -> bool {
		self.len() == 0
	}
	/// Fresh metrics of segment `from → to`, if measured.
	fn segment(&self, from: MemberIndex, to: MemberIndex) -> Option<SegmentMetrics>;
	/// How `member` may take part in paths.
	fn role(&self, member: MemberIndex) -> MemberRole;
	/// What `member` charges per GB (0 if it sells nothing): a path's price is the sum over
	/// its routers, and [`PathQuery::max_price`] bounds it.
	fn price_per_gb(&self, _member: MemberIndex) -> u128 {
		0
	}
}

/// A dense matrix, row-major by *sender*: `cells[from * n + to]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DenseMatrix {
	n: usize,
	cells: Vec<Option<SegmentMetrics>>,
	roles: Vec<MemberRole>,
	prices: Vec<u128>,
}

impl DenseMatrix {
	/// An empty `n × n` matrix whose members all sell transit.
	pub fn new(n: usize) -> Self {
		Self {
			n,
			cells: alloc::vec![None; n.saturating_mul(n)],
			roles: alloc::vec![MemberRole::TRANSIT; n],
			prices: alloc::vec![0; n],
		}
	}

	/// Sets segment `from → to`; out-of-range indices are ignored.
	pub fn set(&mut self, from: MemberIndex, to: MemberIndex, metrics: Option<SegmentMetrics>) {
		let (from, to) = (usize::from(from), usize::from(to));
		if from < self.n && to < self.n && from != to {
			if let Some(cell) = self.cells.get_mut(from * self.n + to) {
				*cell = metrics;
			}
		}
	}

	/// Sets what `member` charges per GB; out-of-range indices are ignored.
	pub fn set_price(&mut self, member: MemberIndex, price_per_gb: u128) {
		if let Some(slot) = self.prices.get_mut(usize::from(member)) {
			*slot = price_per_gb;
		}
	}

	/// Sets how `member` may take part in paths; out-of-range indices are ignored.
	pub fn set_role(&mut self, member: MemberIndex, role: MemberRole) {
		if let Some(slot) = self.roles.get_mut(usize::from(member)) {
			*slot = role;
		}
	}
}

impl LatencyMatrix for DenseMatrix {
	fn len(&self) -> usize {
		self.n
	}
	fn segment(&self, from: MemberIndex, to: MemberIndex) -> Option<SegmentMetrics> {
		let (from, to) = (usize::from(from), usize::from(to));
		if from >= self.n || to >= self.n {
			return None;
		}
		self.cells.get(from * self.n + to).copied().flatten()
	}
	fn role(&self, member: MemberIndex) -> MemberRole {
		self.roles
			.get(usize::from(member))
			.copied()
			.unwrap_or(MemberRole { quarantined: true, sells_transit: false })
	}
	fn price_per_gb(&self, member: MemberIndex) -> u128 {
		self.prices.get(usize::from(member)).copied().unwrap_or(0)
	}
}

/// Upper bounds that keep a query's work small whatever the caller asks.
pub const MAX_INTERMEDIATES: u8 = 4;
/// Most paths one query returns.
pub const MAX_PATHS: u8 = 16;

/// What to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathQuery {
	/// Ingress.
	pub src: MemberIndex,
	/// Egress.
	pub dst: MemberIndex,
	/// How many paths, best first (clamped to `1..=MAX_PATHS`).
	pub k: u8,
	/// Most routers between ingress and egress (clamped to `MAX_INTERMEDIATES`).
	pub max_intermediates: u8,
	/// Cost in µs of one percent of path loss.
	pub loss_penalty_us_per_pct: u32,
	/// The most a path may cost per GB (the sum of its routers' prices), if bounded. Paths
	/// over it are left out during the search, so the `k` best within the budget come back
	/// even when cheaper paths rank below `MAX_PATHS` dearer ones.
	pub max_price: Option<u128>,
}

impl PathQuery {
	/// A query with the agent's defaults: 2 intermediates, 1 path, 10 ms per % loss.
	pub fn new(src: MemberIndex, dst: MemberIndex) -> Self {
		Self {
			src,
			dst,
			k: 1,
			max_intermediates: 2,
			loss_penalty_us_per_pct: 10_000,
			max_price: None,
		}
	}
}

/// A loop-free path with its totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
	/// Routers from ingress to egress, both included.
	pub hops: Vec<MemberIndex>,
	/// Sum of one-way delays, µs (offset-relative: compare only between the same endpoints).
	pub owd_us: i64,
	/// Sum of segment RTTs, µs: an absolute figure for thresholds and promises.
	pub rtt_us: u64,
	/// End-to-end loss, ppm: `1 − Π(1 − loss_i)`.
	pub loss_ppm: u32,
	/// The cost paths are ranked by: `owd_us + loss penalty`.
	pub cost: i64,
}

/// Why no path could be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoutingError {
	/// `src` or `dst` is not a member of the matrix.
	UnknownMember,
	/// `src == dst`.
	SameEndpoints,
	/// `src` or `dst` is quarantined.
	Quarantined,
}

/// Loss penalty in µs for a loss of `loss_ppm` at `us_per_pct` µs per percent.
pub fn loss_penalty_us(loss_ppm: u32, us_per_pct: u32) -> u64 {
	// ppm / 10_000 = percent; keep the fraction by multiplying first (fits in u64).
	u64::from(loss_ppm) * u64::from(us_per_pct) / 10_000
}

/// Combines loss along a path: survival multiplies.
fn chain_loss(a_ppm: u32, b_ppm: u32) -> u32 {
	let a = u64::from(a_ppm.min(PPM));
	let b = u64::from(b_ppm.min(PPM));
	let survive = (u64::from(PPM) - a) * (u64::from(PPM) - b) / u64::from(PPM);
	(u64::from(PPM) - survive) as u32
}

#[derive(Clone)]
struct Walk {
	hops: Vec<MemberIndex>,
	owd_us: i64,
	rtt_us: u64,
	loss_ppm: u32,
	price: u128,
}

impl Walk {
	fn cost(&self, us_per_pct: u32) -> i64 {
		self.owd_us.saturating_add(loss_penalty_us(self.loss_ppm, us_per_pct) as i64)
	}
}

/// The `k` cheapest loop-free paths from `src` to `dst` with at most `max_intermediates`
/// routers between them, best first; ties break towards fewer hops, then lower indices, so
/// every caller gets the same answer.
pub fn best_paths<M: LatencyMatrix + ?Sized>(
	matrix: &M,
	query: PathQuery,
) -> Result<Vec<Path>, RoutingError> {
	let n = matrix.len();
	let (src, dst) = (query.src, query.dst);
	if usize::from(src) >= n || usize::from(dst) >= n {
		return Err(RoutingError::UnknownMember);
	}
	if src == dst {
		return Err(RoutingError::SameEndpoints);
	}
	if matrix.role(src).quarantined || matrix.role(dst).quarantined {
		return Err(RoutingError::Quarantined);
	}
	let k = usize::from(query.k.clamp(1, MAX_PATHS));
	let max_edges = usize::from(query.max_intermediates.min(MAX_INTERMEDIATES)) + 1;
	let penalty = query.loss_penalty_us_per_pct;
	// Keeping a few more than k walks per node lets a walk that would later loop be replaced
	// by the next best one.
	let keep = k + max_edges;

	let rank = |a: &Walk, b: &Walk| {
		a.cost(penalty)
			.cmp(&b.cost(penalty))
			.then(a.hops.len().cmp(&b.hops.len()))
			.then_with(|| a.hops.cmp(&b.hops))
	};

	// Prices never go below zero, so a walk over the budget can be dropped at once.
	let affordable = |price: u128| query.max_price.is_none_or(|max| price <= max);
	let mut found: Vec<Walk> = Vec::new();
	// frontier[v] = best walks src → v with exactly `edges` edges, v a possible transit.
	let mut frontier: Vec<Vec<Walk>> = alloc::vec![Vec::new(); n];
	let src_price = matrix.price_per_gb(src);
	if !affordable(src_price) {
		return Ok(Vec::new());
	}
	if let Some(slot) = frontier.get_mut(usize::from(src)) {
		slot.push(Walk {
			hops: alloc::vec![src],
			owd_us: 0,
			rtt_us: 0,
			loss_ppm: 0,
			price: src_price,
		});
	}
	for edges in 1..=max_edges {
		let mut next: Vec<Vec<Walk>> = alloc::vec![Vec::new(); n];
		for (from, walks) in frontier.iter().enumerate() {
			let from = from as MemberIndex;
			for walk in walks {
				for to in 0..n as MemberIndex {
					if to == from || walk.hops.contains(&to) {
						continue;
					}
					let Some(seg) = matrix.segment(from, to) else { continue };
					let is_dst = to == dst;
					let role = matrix.role(to);
					if !is_dst && (role.quarantined || !role.sells_transit || edges == max_edges) {
						continue;
					}
					let price = walk.price.saturating_add(matrix.price_per_gb(to));
					if !affordable(price) {
						continue;
					}
					let mut hops = walk.hops.clone();
					hops.push(to);
					let extended = Walk {
						hops,
						owd_us: walk.owd_us.saturating_add(seg.owd_us),
						rtt_us: walk.rtt_us.saturating_add(u64::from(seg.rtt_us)),
						loss_ppm: chain_loss(walk.loss_ppm, seg.loss_ppm),
						price,
					};
					if is_dst {
						found.push(extended);
					} else if let Some(bucket) = next.get_mut(usize::from(to)) {
						bucket.push(extended);
					}
				}
			}
		}
		for bucket in next.iter_mut() {
			bucket.sort_by(rank);
			bucket.truncate(keep);
		}
		frontier = next;
	}
	found.sort_by(rank);
	found.truncate(k);
	Ok(found
		.into_iter()
		.map(|w| {
			let cost = w.cost(penalty);
			Path { hops: w.hops, owd_us: w.owd_us, rtt_us: w.rtt_us, loss_ppm: w.loss_ppm, cost }
		})
		.collect())
}

#[cfg(test)]
mod tests {
	use super::*;

	fn seg(owd_us: i64) -> Option<SegmentMetrics> {
		Some(SegmentMetrics { owd_us, rtt_us: 2 * owd_us.unsigned_abs() as u32, loss_ppm: 0 })
	}

	/// A full mesh of `n` members where every segment costs `owd` µs.
	fn mesh(n: usize, owd: i64) -> DenseMatrix {
		let mut m = DenseMatrix::new(n);
		for a in 0..n as u16 {
			for b in 0..n as u16 {
				m.set(a, b, seg(owd));
			}
		}
		m
	}

	#[test]
	fn a_price_bound_finds_cheap_paths_ranked_below_many_dear_ones() {
		// 20 members; direct 0 → 19 is slow; every detour is faster but members 1..=17 are
		// dear and only member 18 is cheap, with the slowest detour of all.
		let mut m = mesh(20, 10_000);
		m.set(0, 19, seg(100_000));
		m.set(0, 18, seg(40_000));
		for member in 1..=17 {
			m.set_price(member, 1_000);
		}
		m.set_price(18, 1);
		let all = best_paths(&m, PathQuery { k: MAX_PATHS, ..PathQuery::new(0, 19) }).unwrap();
		assert!(all.iter().all(|p| !p.hops.contains(&18)), "the cheap detour ranks below 16");
		let cheap = PathQuery { k: 2, max_price: Some(10), ..PathQuery::new(0, 19) };
		let paths = best_paths(&m, cheap).unwrap();
		let hops: Vec<_> = paths.iter().map(|p| p.hops.clone()).collect();
		assert_eq!(hops, vec![vec![0, 18, 19], vec![0, 19]]);
		let none = PathQuery { max_price: Some(0), ..cheap };
		m.set_price(0, 1);
		assert!(best_paths(&m, none).unwrap().is_empty(), "the ingress alone is over budget");
	}

	#[test]
	fn direct_wins_on_a_uniform_mesh() {
		let m = mesh(5, 10_000);
		let paths = best_paths(&m, PathQuery::new(0, 4)).unwrap();
		assert_eq!(paths[0].hops, vec![0, 4]);
		assert_eq!(paths[0].owd_us, 10_000);
	}

	#[test]
	fn detour_wins_when_direct_degrades() {
		let mut m = mesh(4, 10_000);
		m.set(0, 3, seg(50_000));
		let paths = best_paths(&m, PathQuery { k: 3, ..PathQuery::new(0, 3) }).unwrap();
		assert_eq!(paths[0].hops.len(), 3, "one intermediate: {:?}", paths[0]);
		assert_eq!(paths[0].owd_us, 20_000);
		// Ties between detours break towards the lower index.
		assert_eq!(paths[0].hops, vec![0, 1, 3]);
		assert_eq!(paths[1].hops, vec![0, 2, 3]);
	}

	#[test]
	fn negative_edges_are_handled() {
		// Clock offsets make 1→3 look negative; the path through 1 is still really best.
		let mut m = mesh(4, 10_000);
		m.set(0, 1, seg(30_000));
		m.set(1, 3, seg(-25_000));
		let one_detour = PathQuery { max_intermediates: 1, ..PathQuery::new(0, 3) };
		let best = &best_paths(&m, one_detour).unwrap()[0];
		assert_eq!(best.hops, vec![0, 1, 3]);
		assert_eq!(best.owd_us, 5_000);
		// With two intermediates, 0→2→1→3 (10 + 10 − 25 ms) is cheaper still.
		let best = &best_paths(&m, PathQuery::new(0, 3)).unwrap()[0];
		assert_eq!(best.hops, vec![0, 2, 1, 3]);
		assert_eq!(best.owd_us, -5_000);
	}

	#[test]
	fn loss_is_penalised_and_combined() {
		let mut m = mesh(3, 10_000);
		m.set(0, 2, Some(SegmentMetrics { owd_us: 10_000, rtt_us: 20_000, loss_ppm: 50_000 }));
		let paths = best_paths(&m, PathQuery { k: 2, ..PathQuery::new(0, 2) }).unwrap();
		// 5% loss at 10 ms per % = 50 ms penalty: the clean two-hop path (20 ms) wins.
		assert_eq!(paths[0].hops, vec![0, 1, 2]);
		assert_eq!(paths[1].cost, 60_000);
		assert_eq!(chain_loss(500_000, 500_000), 750_000);
		assert_eq!(chain_loss(PPM, 0), PPM);
	}

	#[test]
	fn quarantined_and_unpriced_routers_are_not_transit() {
		let mut m = mesh(4, 10_000);
		m.set(0, 3, seg(90_000));
		m.set_role(1, MemberRole { quarantined: true, sells_transit: true });
		m.set_role(2, MemberRole { quarantined: false, sells_transit: false });
		let paths = best_paths(&m, PathQuery { k: 5, ..PathQuery::new(0, 3) }).unwrap();
		assert_eq!(paths.len(), 1);
		assert_eq!(paths[0].hops, vec![0, 3]);
		// An unpriced router may still be an endpoint of its owner's traffic.
		assert!(best_paths(&m, PathQuery::new(2, 3)).is_ok());
		assert_eq!(best_paths(&m, PathQuery::new(1, 3)), Err(RoutingError::Quarantined));
	}

	#[test]
	fn hop_bound_is_respected_and_paths_are_loop_free() {
		let m = mesh(8, 1_000);
		for max in 0..=MAX_INTERMEDIATES {
			let q = PathQuery { k: MAX_PATHS, max_intermediates: max, ..PathQuery::new(0, 7) };
			for p in best_paths(&m, q).unwrap() {
				assert!(p.hops.len() <= usize::from(max) + 2);
				let mut sorted = p.hops.clone();
				sorted.sort();
				sorted.dedup();
				assert_eq!(sorted.len(), p.hops.len(), "loop in {:?}", p.hops);
			}
		}
	}

	#[test]
	fn bad_queries_are_errors() {
		let m = mesh(3, 1);
		assert_eq!(best_paths(&m, PathQuery::new(0, 0)), Err(RoutingError::SameEndpoints));
		assert_eq!(best_paths(&m, PathQuery::new(0, 3)), Err(RoutingError::UnknownMember));
		assert_eq!(
			best_paths(&DenseMatrix::new(0), PathQuery::new(0, 1)),
			Err(RoutingError::UnknownMember)
		);
	}

	#[test]
	fn unmeasured_segments_are_skipped() {
		let mut m = DenseMatrix::new(3);
		m.set(0, 1, seg(5));
		m.set(1, 2, seg(5));
		let paths = best_paths(&m, PathQuery { k: 4, ..PathQuery::new(0, 2) }).unwrap();
		assert_eq!(paths.len(), 1);
		assert_eq!(paths[0].hops, vec![0, 1, 2]);
		assert!(best_paths(&m, PathQuery::new(2, 0)).unwrap().is_empty());
	}
}
