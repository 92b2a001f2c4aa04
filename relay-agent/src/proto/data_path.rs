//! The data path without the core's lock: what a worker needs to check, count and forward a
//! data packet, split by who writes it.
//!
//! - [`DataView`]: what the core decides (members, link keys, installed flows, the epoch,
//!   the credit each worker may give a flow's origin). Immutable; the core publishes a new one
//!   whenever any of it changes, and a worker picks it up at its next receive buffer (one
//!   atomic load per buffer; a lock only when the generation moved).
//! - [`DataPlane`]: what every sender shares, each part safe on its own: the replay window of
//!   each link (a lock per previous hop), this relay's sequence on each link and its payload
//!   sequence (atomics).
//! - a [`DataShard`] per worker: what the worker counts (octets per link, per flow, carried
//!   for others; drops), behind a lock of its own that only the core's [`sync`] also takes.
//!
//! **Who owns each replay window.** A link's window is behind its own lock, not inside a
//! worker: `SO_REUSEPORT` steers a previous hop's address to one worker, so the lock is taken
//! by that worker alone and never waited for; a datagram that reaches another worker (a
//! sender that also reaches another local address of a wildcard-bound relay hashes
//! elsewhere) still meets the same window, so a packet is accepted at most once per hop. A
//! pass keeps the window of its last sender locked until it ends or another sender's datagram
//! comes: a worker's pass is one receive buffer, whose datagrams all come from one sender, so
//! it takes that lock once per buffer rather than once per packet.
//!
//! **Link sequence numbers across workers.** Each link's numbers come from one atomic, which a
//! pass draws from in blocks of [`LINK_SEQ_BLOCK`] (one atomic add per block, not per packet).
//! Numbers stay unique per link; workers interleave them out of order by at most a few blocks,
//! well inside the receiver's window, and a block's unused rest is dropped at the pass's end,
//! so no number is held back long enough to fall behind the window.
//!
//! **Credit of others' flows across workers.** The credit window bounds what a relay carries
//! of one origin's flows beyond their receipts. The view holds each (epoch, origin)'s budget,
//! an atomic every shard takes the octets it carries from (whole octets carried, never fewer
//! than the unreceipted octets they add) and a receipt gives back what it released. Only a
//! [`sync`] sets budgets anew (to the window less the origin's unreceipted octets), with
//! every shard's counts taken in and every shard held meanwhile, so the relay as a whole never
//! carries more than the window unreceipted, however its workers share the traffic.
//!
//! [`sync`]: super::relay::RelayCore::sync

use super::{
	counters::{CarryRefusal, Counters, UsageKey},
	e2e::FlowCipher,
	link::{LinkKeys, ReplayWindow},
	relay::{canonical_addr, Action, DropReason, DropStats, Flow, Member},
	wire::{
		self, decode_data, encode_data, open_data, relink, verify_link, DataHeader, NodeId,
		PacketType, WireError, MAX_SEGMENTS,
	},
};
use foldhash::{HashMap, HashSet};
use srwan_primitives::routing::MemberIndex;
use std::{
	net::SocketAddr,
	ops::Range,
	sync::{
		atomic::{AtomicU64, Ordering},
		Arc, Mutex, MutexGuard, Weak,
	},
};

/// Link sequence numbers a relay remembers behind the newest from each member (65,536 less
/// one word): a burst reordered across workers stays well inside.
pub(super) const LINK_WINDOW_WORDS: usize = 1024;

/// Link sequence numbers a pass draws at once (see the module docs).
pub(super) const LINK_SEQ_BLOCK: u64 = 64;

/// End-to-end sequence numbers a flow end remembers behind the newest (4,096 less one word).
/// The other end numbers all it seals, for every flow, in one sequence: a packet is dropped if
/// that end sealed more than this many others after it that arrived first.
pub(super) const END_WINDOW_WORDS: usize = 64;

/// Payload of a fast probe: sequence number and the ingress's send time (ns).
pub(super) const PROBE_LEN: usize = 16;

/// Locks `mutex`; a panic in another thread while holding it does not stop the relay (every
/// value behind these locks is valid after any partial update).
pub(super) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
	mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The ids of the members along `path` (indices that name no member are left out).
pub(super) fn path_ids(members: &[Member], path: &[MemberIndex]) -> Vec<NodeId> {
	path.iter().filter_map(|m| members.get(usize::from(*m)).map(|member| member.id)).collect()
}

/// A flow version as the data path uses it: replaced (not changed) by the core when a setup
/// brings a new version; its end window is shared with the version that replaces it on the
/// same path.
pub(super) struct FlowEntry {
	pub(super) flow: Flow,
	/// The payload cipher, at the ingress and the egress only.
	pub(super) cipher: Option<Arc<FlowCipher>>,
	/// The other end's sequence numbers opened here: a transit relay that sends a packet
	/// again under fresh link numbers gets it delivered once.
	pub(super) end_window: Arc<Mutex<ReplayWindow<END_WINDOW_WORDS>>>,
	/// The version this one replaced on the same path (a rekey), still accepted for a while:
	/// packets sent under it before its ends learnt of the new one are on their way.
	pub(super) previous: Option<PreviousVersion>,
	/// The account that pays for this version: its receipts must name it.
	pub(super) consumer: NodeId,
}

/// A replaced setup version of a flow whose path stayed (see [`FlowEntry::previous`]).
pub(super) struct PreviousVersion {
	pub(super) version: u32,
	pub(super) cipher: Option<Arc<FlowCipher>>,
	/// Its consumer (a rekey may name another): its packets are carried for it.
	pub(super) consumer: NodeId,
	/// Accepted until then (this relay's clock, ns).
	pub(super) until_ns: u64,
}

/// Where a data packet of an installed flow goes after this relay, by the flow's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hop {
	/// On to this member.
	Next(MemberIndex),
	/// This relay is the packet's end (the egress, or the ingress for replies and echoes).
	End,
}

impl FlowEntry {
	/// The hop a packet with `header`, received by `me` from `prev`, makes on this flow;
	/// `None` if its segment list or its previous hop is not the installed path's. The one
	/// other route is a direct probe of a detoured flow (ingress ↔ egress, skipping the
	/// detour) and its echo.
	#[inline]
	fn hop(&self, me: MemberIndex, prev: MemberIndex, header: &DataHeader) -> Option<Hop> {
		let path = &self.flow.path;
		let (first, last) = (*path.first()?, *path.last()?);
		let list = header.segment_list();
		if header.probe && list.len() == 1 && path.len() > 2 {
			let (from, to) = if header.reverse { (last, first) } else { (first, last) };
			return (prev == from && me == to && list[0] == to).then_some(Hop::End);
		}
		let position = path.iter().position(|m| *m == me)?;
		let (matches, from, next) = if header.reverse {
			// The reversed path without the egress.
			let expected = path[..path.len() - 1].iter().rev();
			let next = position.checked_sub(1).map(|p| path[p]);
			(
				list.len() == path.len() - 1 && expected.eq(list.iter()),
				*path.get(position + 1)?,
				next,
			)
		} else {
			let matches = list.len() == path.len() - 1 && path[1..].iter().eq(list.iter());
			(matches, path[position.checked_sub(1)?], path.get(position + 1).copied())
		};
		(matches && prev == from).then_some(next.map_or(Hop::End, Hop::Next))
	}
}

/// What an installed flow makes of a data packet (see [`DataView::route`]).
struct Route<'v> {
	entry: &'v FlowEntry,
	/// The replaced version the packet was sent under, if not the current one.
	previous: Option<&'v PreviousVersion>,
	hop: Hop,
}

/// The octets each origin's flows may still be carried unreceipted, per epoch: the previous,
/// current and next of the epoch they were set for.
#[derive(Debug)]
pub(super) struct Budgets {
	/// The first epoch of the three.
	first_epoch: u32,
	/// Per origin (member index), per epoch from `first_epoch`.
	left: Box<[AtomicU64]>,
}

impl Budgets {
	/// Budgets around `epoch` for `members` origins: `left(origin, epoch)` octets each.
	pub(super) fn new(epoch: u32, members: usize, left: impl Fn(usize, u32) -> u64) -> Self {
		let first_epoch = epoch.saturating_sub(1);
		let left = (0..members)
			.flat_map(|origin| (0..3).map(move |e| (origin, first_epoch.saturating_add(e))))
			.map(|(origin, epoch)| AtomicU64::new(left(origin, epoch)))
			.collect();
		Self { first_epoch, left }
	}

	fn slot(&self, origin: MemberIndex, epoch: u32) -> Option<&AtomicU64> {
		let offset = epoch.checked_sub(self.first_epoch).filter(|offset| *offset < 3)?;
		self.left.get(usize::from(origin) * 3 + offset as usize)
	}

	/// Takes `octets` from `origin`'s budget in `epoch`, if that many are left.
	#[inline]
	fn take(&self, origin: MemberIndex, epoch: u32, octets: u64) -> bool {
		self.slot(origin, epoch).is_some_and(|left| {
			left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(octets))
				.is_ok()
		})
	}

	/// Gives `octets` back to `origin`'s budget in `epoch` (a receipt released them).
	pub(super) fn give_back(&self, origin: MemberIndex, epoch: u32, octets: u64) {
		if let Some(left) = self.slot(origin, epoch) {
			let _ = left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
				Some(left.saturating_add(octets))
			});
		}
	}
}

/// What shards may carry of others' flows (chain mode).
#[derive(Debug)]
pub(super) struct CarryTerms {
	/// Whether this relay sells transit at all.
	pub(super) for_sale: bool,
	/// What each origin may still have carried unreceipted, shared by every shard.
	pub(super) budgets: Arc<Budgets>,
	/// Versions whose data is not carried (their consumer refused, or no room was left).
	pub(super) refused: HashSet<UsageKey>,
	/// No version may be added: the relay meters as many as it keeps.
	pub(super) table_full: bool,
	/// Origins that may add no version in an epoch.
	pub(super) full_origins: HashSet<(u32, NodeId)>,
	/// The versions the core meters, while any limit is reached (empty otherwise).
	pub(super) known: HashSet<UsageKey>,
}

/// What the core decided, as the data path reads it (see the module docs).
pub struct DataView {
	pub(super) group: u32,
	pub(super) me: MemberIndex,
	pub(super) boot_time: u64,
	pub(super) epoch: u32,
	pub(super) closed_through: Option<u32>,
	pub(super) members: Arc<[Member]>,
	pub(super) by_addr: Arc<HashMap<SocketAddr, MemberIndex>>,
	/// Boxed: whether a member has keys is then a pointer test on a line every packet reads,
	/// not a 16-byte compare on a line of the keys that nothing else reads.
	pub(super) links: Arc<[Option<Box<LinkKeys>>]>,
	pub(super) flows: Arc<HashMap<u64, Arc<FlowEntry>>>,
	/// `None`: nothing is metered (no chain).
	pub(super) carry: Option<Arc<CarryTerms>>,
}

impl DataView {
	/// What the installed flow makes of a data packet with `header` from member `prev`: its
	/// entry, the replaced version it was sent under (if not the current one, and still
	/// accepted), and its hop here. Reads only: [`ShardPass::on_data`] asks before the
	/// packet's MAC is checked and acts on the answer only after.
	#[inline(always)]
	fn route(
		&self,
		header: &DataHeader,
		prev: MemberIndex,
		now_ns: u64,
	) -> Result<Route<'_>, DropReason> {
		let entry = self.flows.get(&header.flow).ok_or(DropReason::UnknownFlow)?;
		let previous = if header.setup_version == entry.flow.version {
			None
		} else {
			let previous = entry.previous.as_ref();
			let accepted = previous
				.filter(|p| p.version == header.setup_version && now_ns < p.until_ns)
				.ok_or(DropReason::StaleSetup)?;
			Some(accepted)
		};
		let hop = entry.hop(self.me, prev, header).ok_or(DropReason::NotOnPath)?;
		Ok(Route { entry, previous, hop })
	}

	/// Whether data stamped `epoch` is counted: the previous, current or next epoch, and not
	/// one whose claim is being built.
	#[inline]
	fn counts_epoch(&self, epoch: u32) -> bool {
		epoch.abs_diff(self.epoch) <= 1 && self.closed_through.is_none_or(|closed| epoch > closed)
	}

	/// The destination of flow `flow`, if installed.
	pub fn destination(&self, flow: u64) -> Option<SocketAddr> {
		self.flows.get(&flow).map(|entry| entry.flow.destination)
	}

	/// The address of member `member`.
	pub fn member_addr(&self, member: MemberIndex) -> Option<SocketAddr> {
		self.members.get(usize::from(member)).map(|m| m.addr)
	}
}

/// What every sender of data shares (see the module docs).
pub struct DataPlane {
	/// Moves whenever a new view is published.
	generation: AtomicU64,
	view: Mutex<Arc<DataView>>,
	/// The replay window of the link from each member (one sequence per link).
	link_windows: Box<[Mutex<ReplayWindow<LINK_WINDOW_WORDS>>]>,
	/// This relay's last sequence number on the link to each member.
	link_seqs: Box<[AtomicU64]>,
	/// The last end-to-end sequence number (AEAD nonce) this relay sealed, for any flow: one
	/// counter, so that no (key, nonce) pair repeats even if a flow is installed again under
	/// the same key.
	next_seq: AtomicU64,
	/// The shards the core syncs.
	shards: Mutex<Vec<Weak<Mutex<ShardState>>>>,
}

impl DataPlane {
	/// A plane for `view`'s members, with the link windows `windows` (one per member) and
	/// every sequence starting at `first_seq`.
	pub(super) fn new(
		view: DataView,
		windows: Vec<ReplayWindow<LINK_WINDOW_WORDS>>,
		first_seq: u64,
	) -> Self {
		let n = view.members.len();
		Self {
			generation: AtomicU64::new(0),
			view: Mutex::new(Arc::new(view)),
			link_windows: windows.into_iter().map(Mutex::new).collect(),
			link_seqs: (0..n).map(|_| AtomicU64::new(first_seq)).collect(),
			next_seq: AtomicU64::new(first_seq),
			shards: Mutex::new(Vec::new()),
		}
	}

	/// The current view.
	pub fn view(&self) -> Arc<DataView> {
		locked(&self.view).clone()
	}

	/// Publishes `view`: every shard picks it up at its next receive buffer.
	pub(super) fn publish(&self, view: DataView) {
		*locked(&self.view) = Arc::new(view);
		self.generation.fetch_add(1, Ordering::Release);
	}

	/// A new shard, synced by the core from now on.
	pub(super) fn shard(self: &Arc<Self>) -> DataShard {
		let n = self.link_seqs.len();
		let state = Arc::new(Mutex::new(ShardState::new(n)));
		let mut shards = locked(&self.shards);
		shards.retain(|shard| shard.strong_count() > 0);
		shards.push(Arc::downgrade(&state));
		drop(shards);
		DataShard {
			plane: self.clone(),
			state,
			generation: self.generation.load(Ordering::Acquire),
			view: self.view(),
		}
	}

	/// The live shards' states (dead ones forgotten).
	pub(super) fn shard_states(&self) -> Vec<Arc<Mutex<ShardState>>> {
		let mut shards = locked(&self.shards);
		shards.retain(|shard| shard.strong_count() > 0);
		shards.iter().filter_map(Weak::upgrade).collect()
	}

	/// Whether a shard carried version `key` since the core last took in its counts.
	pub(super) fn carries(&self, key: &UsageKey) -> bool {
		self.shard_states().iter().any(|shard| locked(shard).carried.contains_key(key))
	}

	/// The newest `(boot, sequence)` accepted on the link from member `member`.
	pub(super) fn link_mark(&self, member: usize) -> Option<(u64, u64)> {
		self.link_windows.get(member).and_then(|window| locked(window).mark())
	}

	/// The next sequence number on the link to `member`.
	#[inline]
	fn next_link_seq(&self, member: MemberIndex) -> Option<u64> {
		let seq = self.link_seqs.get(usize::from(member))?;
		Some(seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1))
	}

	/// Encodes a data packet (or probe) of `flow_id` from this end of the flow into `out`,
	/// sealed under the flow's key and tagged for the first link; with `direct`, straight
	/// between the ingress and the egress. Returns the first hop (a member) and the length.
	#[allow(clippy::too_many_arguments)]
	pub(super) fn encode_on_flow(
		&self,
		view: &DataView,
		flow_id: u64,
		reverse: bool,
		probe: bool,
		payload: &[u8],
		out: &mut [u8],
		direct: bool,
	) -> Result<(MemberIndex, usize), DropReason> {
		let entry = view.flows.get(&flow_id).ok_or(DropReason::UnknownFlow)?;
		let (flow, cipher) = (&entry.flow, entry.cipher.as_ref().ok_or(DropReason::NotOnPath)?);
		let (Some(&first), Some(&last)) = (flow.path.first(), flow.path.last()) else {
			return Err(DropReason::BadPath);
		};
		let (from, to) = if reverse { (last, first) } else { (first, last) };
		if from != view.me {
			return Err(DropReason::NotOnPath);
		}
		let hops = flow.path.len().saturating_sub(1);
		if hops == 0 || hops > MAX_SEGMENTS {
			return Err(DropReason::BadPath);
		}
		let mut segments = [0u16; MAX_SEGMENTS];
		let count = if direct {
			segments[0] = to;
			1
		} else {
			let rest: &mut dyn Iterator<Item = &MemberIndex> = if reverse {
				&mut flow.path.iter().rev().skip(1)
			} else {
				&mut flow.path.iter().skip(1)
			};
			for (slot, member) in segments.iter_mut().zip(rest) {
				*slot = *member;
			}
			hops
		};
		let first_hop = segments[0];
		let keys = view.links.get(usize::from(first_hop)).and_then(Option::as_ref);
		let keys = keys.ok_or(DropReason::BadPath)?;
		let link_seq = self.next_link_seq(first_hop).ok_or(DropReason::BadPath)?;
		let seq = self.next_seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
		let header = DataHeader {
			reverse,
			probe,
			segments_left: count as u8,
			segment_count: count as u8,
			group: view.group,
			flow: flow_id,
			epoch: view.epoch,
			setup_version: flow.version,
			seq,
			link_boot: view.boot_time,
			link_seq,
			segments,
		};
		let len = encode_data(&header, payload, cipher, &keys.tx, out)?;
		Ok((first_hop, len))
	}
}

/// What a shard carried of another ingress's flow version since the last sync.
#[derive(Debug)]
pub(super) struct CarriedDelta {
	pub(super) consumer: NodeId,
	pub(super) path: Vec<NodeId>,
	pub(super) fwd: u64,
	pub(super) rev: u64,
}

/// What one shard counted since the core last synced it.
pub(super) struct ShardState {
	/// Octets per link, and per own flow version, since the last sync.
	pub(super) counters: Counters,
	/// Octets of others' flow versions since the last sync.
	pub(super) carried: HashMap<UsageKey, CarriedDelta>,
	pub(super) drops: DropStats,
	/// Members whose datagrams of another protocol version this shard has seen, and which.
	pub(super) foreign: Vec<Option<u8>>,
	/// The (epoch, boot) last seen in each member's data.
	peer_boot_seen: Vec<Option<(u32, u64)>>,
	/// The last sender looked up, by its address as received: a receive buffer's datagrams
	/// come from one sender, and comparing an address costs less than hashing it. Forgotten
	/// with the view it was looked up in.
	last_sender: Option<(SocketAddr, MemberIndex)>,
	/// Per next hop, the link sequence numbers drawn and not yet used: valid in the pass
	/// that drew them only.
	seq_blocks: Vec<SeqBlock>,
	/// Passes begun, which tells a block drawn in this pass from an older one.
	passes: u64,
}

/// Link sequence numbers a pass drew for one next hop: `last + 1 ..= end` are still free.
#[derive(Clone, Copy, Default)]
struct SeqBlock {
	pass: u64,
	last: u64,
	end: u64,
}

impl ShardState {
	fn new(members: usize) -> Self {
		Self {
			counters: Counters::default(),
			carried: HashMap::default(),
			drops: DropStats::default(),
			foreign: vec![None; members],
			peer_boot_seen: vec![None; members],
			last_sender: None,
			seq_blocks: vec![SeqBlock::default(); members],
			passes: 0,
		}
	}

	/// The member sending from `addr`, if any.
	///
	/// The cache holds the address as received and is compared field by field before any
	/// copy: the caller's address is often stored a field at a time, and copying it whole
	/// (as [`canonical_addr`] does) reads it back wider than it was written, a
	/// store-forwarding stall on every packet (~9 % of the relay thread at 64 B).
	#[inline]
	fn member_at(&mut self, view: &DataView, addr: &SocketAddr) -> Option<MemberIndex> {
		match &self.last_sender {
			Some((cached, index)) if cached == addr => Some(*index),
			_ => self.look_up_sender(view, addr),
		}
	}

	/// [`Self::member_at`] when the sender is not the last one: once per receive buffer.
	#[inline(never)]
	fn look_up_sender(&mut self, view: &DataView, addr: &SocketAddr) -> Option<MemberIndex> {
		let index = *view.by_addr.get(&canonical_addr(*addr))?;
		self.last_sender = Some((*addr, index));
		Some(index)
	}

	/// The number [`Self::next_link_seq`] gives next on the link to `member`, if this pass
	/// has drawn a block for it with a number left; taken by [`Self::take_peeked_link_seq`].
	#[inline]
	fn peek_link_seq(&self, member: MemberIndex) -> Option<u64> {
		let block = self.seq_blocks.get(usize::from(member))?;
		(block.pass == self.passes && block.last != block.end).then(|| block.last.wrapping_add(1))
	}

	/// Takes the number [`Self::peek_link_seq`] gave.
	#[inline]
	fn take_peeked_link_seq(&mut self, member: MemberIndex) {
		if let Some(block) = self.seq_blocks.get_mut(usize::from(member)) {
			block.last = block.last.wrapping_add(1);
		}
	}

	/// The next sequence number on the link to `member`, from this pass's block.
	#[inline]
	fn next_link_seq(&mut self, plane: &DataPlane, member: MemberIndex) -> Option<u64> {
		let block = self.seq_blocks.get_mut(usize::from(member))?;
		if block.pass != self.passes || block.last == block.end {
			let start = plane.link_seqs.get(usize::from(member))?;
			let start = start.fetch_add(LINK_SEQ_BLOCK, Ordering::Relaxed);
			*block = SeqBlock {
				pass: self.passes,
				last: start,
				end: start.wrapping_add(LINK_SEQ_BLOCK),
			};
		}
		block.last = block.last.wrapping_add(1);
		Some(block.last)
	}

	/// Counts `fwd` and `rev` octets of another ingress's flow version `key` (its `entry`),
	/// taken from its origin's budget.
	fn carry(
		&mut self,
		view: &DataView,
		key: UsageKey,
		entry: &FlowEntry,
		consumer: &NodeId,
		(fwd, rev): (u64, u64),
	) -> Result<(), CarryRefusal> {
		let Some(terms) = view.carry.as_deref() else { return Ok(()) };
		if !terms.for_sale || terms.refused.contains(&key) {
			return Err(CarryRefusal::Refused);
		}
		let origin_index = *entry.flow.path.first().ok_or(CarryRefusal::Full)?;
		let origin = view.members.get(usize::from(origin_index)).ok_or(CarryRefusal::Full)?.id;
		// No room for new versions: only those the core meters, or this shard began since
		// the last sync (the core meters them, or refuses them, from the sync on).
		let limited = terms.table_full || terms.full_origins.contains(&(key.epoch, origin));
		if limited && !terms.known.contains(&key) && !self.carried.contains_key(&key) {
			return Err(CarryRefusal::Full);
		}
		if !terms.budgets.take(origin_index, key.epoch, fwd.saturating_add(rev)) {
			return Err(CarryRefusal::Unreceipted);
		}
		let delta = self.carried.entry(key).or_insert_with(|| CarriedDelta {
			consumer: *consumer,
			path: path_ids(&view.members, &entry.flow.path),
			fwd: 0,
			rev: 0,
		});
		delta.fwd = delta.fwd.saturating_add(fwd);
		delta.rev = delta.rev.saturating_add(rev);
		Ok(())
	}
}

/// A worker's share of the data path: the view it works with and the counts it keeps.
pub struct DataShard {
	plane: Arc<DataPlane>,
	state: Arc<Mutex<ShardState>>,
	generation: u64,
	view: Arc<DataView>,
}

impl DataShard {
	/// Starts a pass over datagrams (a receive buffer): picks up a newer view, if the core
	/// published one, and locks this shard's counts (only the core's sync also takes it).
	#[inline]
	pub fn pass(&mut self) -> ShardPass<'_> {
		// The counts first, then the view: the core publishes new leases before it lets go
		// of the counts whose spending it reset, so a pass never spends a renewed lease under
		// an old view.
		let mut state = locked(&self.state);
		state.passes = state.passes.wrapping_add(1);
		let generation = self.plane.generation.load(Ordering::Acquire);
		if generation != self.generation {
			self.view = self.plane.view();
			self.generation = generation;
			// Members' addresses may have changed with the view.
			state.last_sender = None;
		}
		ShardPass {
			plane: &self.plane,
			view: &self.view,
			state,
			window: None,
			pending_in: PendingOctets::default(),
			pending_out: PendingOctets::default(),
		}
	}

	/// This shard's counts.
	pub(super) fn state(&self) -> &Arc<Mutex<ShardState>> {
		&self.state
	}
}

/// One pass of a [`DataShard`] over datagrams.
pub struct ShardPass<'a> {
	plane: &'a DataPlane,
	view: &'a DataView,
	state: MutexGuard<'a, ShardState>,
	/// The replay window of the last sender, held (see the module docs).
	window: Option<(MemberIndex, MutexGuard<'a, ReplayWindow<LINK_WINDOW_WORDS>>)>,
	/// Octets received on one link in this pass, not yet in the shard's counters.
	pending_in: PendingOctets,
	/// Octets sent on one link in this pass, not yet in the shard's counters.
	pending_out: PendingOctets,
}

/// Octets a pass counted on one link in one epoch and has not yet added to its shard's
/// counters. A receive buffer's datagrams come from one sender and mostly go to one next hop,
/// so a pass sums them here (two compares per packet) and adds each sum once, when the link
/// or epoch changes and when the pass ends: never later than its shard's next sync, which
/// waits for the pass.
#[derive(Clone, Copy, Default)]
struct PendingOctets {
	member: MemberIndex,
	epoch: u32,
	octets: u64,
}

impl PendingOctets {
	/// Adds `octets` on the link with `member` in `epoch`; returns the sum it replaced, if it
	/// was of another link or epoch (the caller counts it).
	#[inline]
	fn add(&mut self, member: MemberIndex, epoch: u32, octets: u64) -> Option<Self> {
		if self.member == member && self.epoch == epoch {
			self.octets = self.octets.saturating_add(octets);
			return None;
		}
		let replaced = core::mem::replace(self, Self { member, epoch, octets });
		(replaced.octets > 0).then_some(replaced)
	}
}

impl Drop for ShardPass<'_> {
	fn drop(&mut self) {
		let (pending_in, pending_out) = (self.pending_in, self.pending_out);
		self.count_in(pending_in);
		self.count_out(pending_out);
	}
}

/// What became of a datagram a shard took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
	/// Done (see the action).
	Done(Action),
	/// A datagram of another protocol version from member `member` the core has not been
	/// told of (it logs it once and shows it).
	ForeignVersion {
		/// The member.
		member: MemberIndex,
		/// Its version.
		version: u8,
	},
	/// A control datagram: the core's.
	Control,
}

impl ShardPass<'_> {
	/// Adds `pending` to the shard's counts of octets received.
	#[inline(never)]
	fn count_in(&mut self, pending: PendingOctets) {
		let (view, counters) = (self.view, &mut self.state.counters);
		if let Some(peer) =
			view.members.get(usize::from(pending.member)).filter(|_| pending.octets > 0)
		{
			counters.record_in(view.boot_time, pending.epoch, peer.id, pending.octets);
		}
	}

	/// Adds `pending` to the shard's counts of octets sent.
	#[inline(never)]
	fn count_out(&mut self, pending: PendingOctets) {
		let (view, counters) = (self.view, &mut self.state.counters);
		if let Some(peer) =
			view.members.get(usize::from(pending.member)).filter(|_| pending.octets > 0)
		{
			counters.record_out(view.boot_time, pending.epoch, peer.id, pending.octets);
		}
	}

	/// The view this pass works with.
	pub fn view(&self) -> &DataView {
		self.view
	}

	/// Handles `datagram` from `from` if it is data (received at `now_ns`, rewritten in place
	/// when forwarded); anything else is counted here or left to the core.
	///
	/// Inlined with [`Self::on_data`] into its caller's loop, where the action is matched on
	/// in registers: returned through memory, it was written a field at a time and copied on
	/// by whole blocks, two store-forwarding stalls on every packet (~12 % of the relay
	/// thread at 64 B).
	#[inline(always)]
	pub fn handle(&mut self, from: SocketAddr, datagram: &mut [u8], now_ns: u64) -> Handled {
		let result = match wire::peek_type(datagram) {
			Ok(PacketType::Data) => self.on_data(&from, datagram, now_ns),
			Ok(_) => return Handled::Control,
			Err(WireError::UnsupportedVersion(version)) => {
				if let Some(member) = self.state.member_at(self.view, &from) {
					let seen = self.state.foreign.get_mut(usize::from(member));
					if let Some(seen) = seen.filter(|seen| **seen != Some(version)) {
						*seen = Some(version);
						return Handled::ForeignVersion { member, version };
					}
				}
				Err(DropReason::UnsupportedVersion)
			}
			Err(_) => Err(DropReason::Malformed),
		};
		Handled::Done(result.unwrap_or_else(|reason| {
			self.state.drops.count(reason);
			Action::Dropped(reason)
		}))
	}

	/// Counts `octets` (forward, reverse) of version `key` of another ingress's flow `entry`
	/// sent by this relay itself (replies at the egress), within this shard's lease.
	pub(super) fn carry(
		&mut self,
		key: UsageKey,
		entry: &FlowEntry,
		octets: (u64, u64),
	) -> Result<(), DropReason> {
		Ok(self.state.carry(self.view, key, entry, &entry.consumer, octets)?)
	}

	/// A data packet: cheap checks (its header, our group and position, its epoch, a member's
	/// address), then the link MAC of that member and the link's replay window: from here on
	/// the packet is one that member really sent, once, and it is counted in whatever becomes
	/// of it (so both ends of the link agree). Then the flow, its version and its path decide:
	/// forwarded on the next link, or opened and delivered at the flow's end.
	#[inline(always)]
	fn on_data(
		&mut self,
		from: &SocketAddr,
		datagram: &mut [u8],
		now_ns: u64,
	) -> Result<Action, DropReason> {
		let view = self.view;
		let (header, payload) = decode_data(datagram)?;
		if header.group != view.group
			|| wire::current_segment_of(datagram, &header) != Some(view.me)
		{
			return Err(DropReason::NotOnPath);
		}
		// Probes are never counted: they must be what they say, not free transport.
		if header.probe && payload.len() != PROBE_LEN {
			return Err(DropReason::Malformed);
		}
		// Counter rows are kept per epoch: a sender may not open rows for any epoch it likes.
		if !view.counts_epoch(header.epoch) {
			return Err(DropReason::WrongEpoch);
		}
		let state = &mut *self.state;
		let prev = state.member_at(view, from).ok_or(DropReason::UnknownSender)?;
		let link = view.links.get(usize::from(prev)).and_then(Option::as_ref);
		let rx = &link.ok_or(DropReason::UnknownSender)?.rx;
		// What the flow makes of the packet, read (not acted on) before its MAC is checked: a
		// packet that goes on has its next link's MAC computed beside the check, when this
		// pass already holds a sequence number for that link (a forged packet draws none).
		let route = view.route(&header, prev, now_ns);
		let onward = match &route {
			Ok(Route { hop: Hop::Next(next), .. }) => {
				let tx = view.links.get(usize::from(*next)).and_then(Option::as_ref);
				let seq = state.peek_link_seq(*next);
				tx.zip(seq).map(|(keys, seq)| {
					let left = header.segments_left.saturating_sub(1);
					(&keys.tx, wire::link_rewrite(left, view.boot_time, seq))
				})
			}
			_ => None,
		};
		let retagged = match &onward {
			Some((tx, rewrite)) => {
				Some((rewrite, wire::verify_link_and_retag(datagram, &header, rx, tx, rewrite)?))
			}
			None => {
				verify_link(datagram, &header, rx)?;
				None
			}
		};
		let window = match &mut self.window {
			Some((held, window)) if *held == prev => window,
			held => {
				// The other sender's window goes before this one is taken: a pass holds one.
				*held = None;
				let window = self.plane.link_windows.get(usize::from(prev));
				&mut held.insert((prev, locked(window.ok_or(DropReason::UnknownSender)?))).1
			}
		};
		if !window.accept(header.link_boot, header.link_seq) {
			return Err(DropReason::Replayed);
		}
		let len = datagram.len() as u64;
		// Probes are the overlay's own overhead: neither end of a link counts them.
		if !header.probe {
			if let Some(replaced) = self.pending_in.add(prev, header.epoch, len) {
				self.count_in(replaced);
			}
			// The previous hop's boot in this epoch: a new one is a restart the chain may
			// forgive (two compares per packet; the counters see only changes).
			let state = &mut *self.state;
			let seen = (header.epoch, header.link_boot);
			if let Some(last) = state.peer_boot_seen.get_mut(usize::from(prev)) {
				if *last != Some(seen) {
					*last = Some(seen);
					let prev_id = view.members[usize::from(prev)].id;
					state.counters.record_peer_boot(header.epoch, prev_id, header.link_boot);
				}
			}
		}
		let state = &mut *self.state;

		let Route { entry, previous, hop } = route?;
		// Who pays for the packet: its own version's consumer.
		let consumer = previous.map_or(&entry.consumer, |previous| &previous.consumer);
		let key =
			UsageKey { epoch: header.epoch, flow: header.flow, version: header.setup_version };
		let next = match hop {
			Hop::Next(next) => next,
			Hop::End => {
				let cipher = previous.map_or(entry.cipher.as_ref(), |p| p.cipher.as_ref());
				let payload = open_data(datagram, &header, cipher.ok_or(DropReason::NotOnPath)?)?;
				// The sequence is the AEAD nonce: authenticated by the open.
				if !locked(&entry.end_window).accept(0, header.seq) {
					return Err(DropReason::Replayed);
				}
				if header.probe {
					return self.on_probe_end(&header, payload, datagram, now_ns);
				}
				if header.reverse {
					// Back at the ingress: what the consumer's receipt counts as `rev_octets`.
					let (members, path) = (&view.members, &entry.flow.path);
					state.counters.record_flow(key, || path_ids(members, path), 0, len);
				} else {
					// Delivered by the egress: carried for the flow's consumer.
					state.carry(view, key, entry, consumer, (len, 0))?;
				}
				return Ok(Action::Deliver { flow: header.flow, reverse: header.reverse, payload });
			}
		};
		// Only on a chain is anything carried for others metered.
		if !header.probe && view.carry.is_some() {
			let octets = if header.reverse { (0, len) } else { (len, 0) };
			state.carry(view, key, entry, consumer, octets)?;
		}
		view.members.get(usize::from(next)).ok_or(DropReason::BadPath)?;
		match retagged {
			Some((rewrite, tag)) => {
				state.take_peeked_link_seq(next);
				wire::put_on_link(datagram, &header, rewrite, &tag);
			}
			None => {
				let keys = view.links.get(usize::from(next)).and_then(Option::as_ref);
				let seq = state.next_link_seq(self.plane, next).ok_or(DropReason::BadPath)?;
				let left = header.segments_left.saturating_sub(1);
				let tx = &keys.ok_or(DropReason::BadPath)?.tx;
				relink(datagram, &header, left, view.boot_time, seq, tx);
			}
		}
		if !header.probe {
			if let Some(replaced) = self.pending_out.add(next, header.epoch, len) {
				self.count_out(replaced);
			}
		}
		Ok(Action::Forward { to: next })
	}

	/// A probe reached the end of its route (its payload already opened): the egress answers
	/// it along the same route back, the ingress reads its round trip.
	fn on_probe_end(
		&mut self,
		header: &DataHeader,
		payload: Range<usize>,
		datagram: &mut [u8],
		now_ns: u64,
	) -> Result<Action, DropReason> {
		let body = datagram.get(payload).ok_or(DropReason::Malformed)?;
		let mut probe = [0u8; PROBE_LEN];
		if body.len() != PROBE_LEN {
			return Err(DropReason::Malformed);
		}
		probe.copy_from_slice(body);
		if header.reverse {
			let seq = u64::from_be_bytes(probe[..8].try_into().unwrap_or_default());
			let sent = u64::from_be_bytes(probe[8..].try_into().unwrap_or_default());
			return Ok(Action::ProbeReply {
				flow: header.flow,
				seq,
				rtt_ns: now_ns.saturating_sub(sent),
			});
		}
		// The echo retraces the probe's own route (the direct one, or the flow's path).
		let direct = header.segment_count == 1;
		let (next, _) = self.plane.encode_on_flow(
			self.view,
			header.flow,
			true,
			true,
			&probe,
			datagram,
			direct,
		)?;
		if usize::from(next) < self.view.members.len() {
			Ok(Action::Forward { to: next })
		} else {
			Err(DropReason::BadPath)
		}
	}
}
