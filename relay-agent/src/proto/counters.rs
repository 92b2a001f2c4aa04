//! Octet counters per (boot, epoch, peer): what a relay claims payment for. The epoch is the
//! one stamped in each data packet by its sender, so both ends of a link count a packet in
//! the same epoch even when their views of the chain head differ.
//!
//! At a flow's ingress, the octets of each flow version per epoch too, both ways, with the
//! path they took: what the consumer's usage receipt for that path says. At the other relays
//! on its path (chain mode), what they carried of each version and the newest receipt they hold
//! for it: what they claim, and what bounds the octets they carry unreceipted.

use super::wire::NodeId;
use serde::{Deserialize, Serialize};
use srwan_primitives::receipts::SignedReceipt;
use subxt::ext::codec::{Decode as _, Encode as _};
// Looked up twice per forwarded packet; a B-tree compared the 32-byte peer ids with `memcmp`
// on every step down, a hash map hashes the key once (inserts follow verified packets only).
use foldhash::HashMap;

/// Octets in and out on one link in one epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Octets {
	/// Received from the peer.
	pub in_octets: u64,
	/// Sent to the peer.
	pub out_octets: u64,
}

impl Octets {
	/// Both figures added (saturating).
	pub fn plus(self, other: Octets) -> Octets {
		Octets {
			in_octets: self.in_octets.saturating_add(other.in_octets),
			out_octets: self.out_octets.saturating_add(other.out_octets),
		}
	}
}

/// The key of a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CounterKey {
	/// The agent's boot time the octets were counted under.
	pub boot_time: u64,
	/// Metering epoch from the packets' headers.
	pub epoch: u32,
	/// The neighbour on the link.
	pub peer: NodeId,
}

impl core::hash::Hash for CounterKey {
	fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
		// Peer ids are public keys, uniformly distributed: their first 8 bytes tell peers apart
		// as well as all 32 would, at a quarter of the hashing (twice per forwarded packet).
		// Equality still compares all 32.
		let mut prefix = [0u8; 8];
		prefix.copy_from_slice(&self.peer[..8]);
		state.write_u64(self.boot_time);
		state.write_u32(self.epoch);
		state.write_u64(u64::from_le_bytes(prefix));
	}
}

/// Counters in the order their keys first appeared, and an index from key to slot.
#[derive(Clone, Debug, Default)]
struct Table {
	slots: Vec<(CounterKey, Octets)>,
	index: HashMap<CounterKey, usize>,
}

impl Table {
	/// The counter of `key` (created empty if new), trying slot `*hint` first and leaving
	/// `*hint` at the key's slot: the packets of a batch mostly share their keys, and comparing
	/// a key costs less than hashing it.
	#[inline]
	fn counter(&mut self, hint: &mut usize, key: CounterKey) -> Option<&mut Octets> {
		if self.slots.get(*hint).is_none_or(|(cached, _)| *cached != key) {
			*hint = self.find_or_insert(key);
		}
		self.slots.get_mut(*hint).map(|(_, octets)| octets)
	}

	/// The slot of `key`, by hash, created empty if new.
	#[inline(never)]
	fn find_or_insert(&mut self, key: CounterKey) -> usize {
		let slots = &mut self.slots;
		*self.index.entry(key).or_insert_with(|| {
			slots.push((key, Octets::default()));
			slots.len() - 1
		})
	}

	fn get(&self, key: &CounterKey) -> Option<&Octets> {
		self.index.get(key).and_then(|&at| self.slots.get(at)).map(|(_, octets)| octets)
	}

	/// Keeps the counters `keep` accepts; whether any went.
	fn retain(&mut self, mut keep: impl FnMut(&CounterKey) -> bool) -> bool {
		let before = self.slots.len();
		self.slots.retain(|(key, _)| keep(key));
		let changed = self.slots.len() != before;
		if changed {
			self.index = self.slots.iter().enumerate().map(|(at, (key, _))| (*key, at)).collect();
		}
		changed
	}
}

/// A flow version originated here, in one epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsageKey {
	/// The epoch stamped in its packets.
	pub epoch: u32,
	/// The flow id.
	pub flow: u64,
	/// The setup version (each path and each key its own).
	pub version: u32,
}

/// What a flow version carried in one epoch, counted at its ingress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowUsage {
	/// Its routers, ingress first.
	pub path: Vec<NodeId>,
	/// Octets sent towards the destination (datagrams as they left the ingress).
	pub fwd_octets: u64,
	/// Octets that came back (datagrams as they reached the ingress).
	pub rev_octets: u64,
}

/// A flow version this relay carried for another ingress in one epoch, and the newest receipt
/// its consumer signed for it.
#[derive(Clone, Debug, Default)]
pub struct CarriedFlow {
	/// The account that pays for it (its setup named and consented it): receipts must name it.
	pub consumer: NodeId,
	/// Its routers, ingress first.
	pub path: Vec<NodeId>,
	/// Octets carried towards the destination.
	pub fwd_octets: u64,
	/// Octets carried back towards the ingress.
	pub rev_octets: u64,
	/// The newest receipt held (the one claimed).
	pub receipt: Option<SignedReceipt<NodeId>>,
	/// Its consumer's escrow backs less than the chain's minimum: its data is not carried.
	pub refused: bool,
	/// Where its origin's load for the epoch is in [`Counters`]'s list (found by hash once,
	/// when the version is first seen, not for every packet).
	origin_slot: usize,
}

/// The share of the replies a relay carried that it forgives for being unreceipted: replies
/// lost between it and the ingress are never receipted (1/50: the chain's 2 % loss tolerance).
const REVERSE_LOSS_DIVISOR: u64 = 50;

impl PartialEq for CarriedFlow {
	/// The same path, counts, receipt and refusal (where its origin's load is kept aside).
	fn eq(&self, other: &Self) -> bool {
		self.consumer == other.consumer
			&& self.path == other.path
			&& self.fwd_octets == other.fwd_octets
			&& self.rev_octets == other.rev_octets
			&& self.receipt == other.receipt
			&& self.refused == other.refused
	}
}

impl Eq for CarriedFlow {}

/// Octets carried (`fwd`, `rev`) beyond what a receipt for `receipted` vouches for.
fn unreceipted(fwd: u64, rev: u64, (receipted_fwd, receipted_rev): (u64, u64)) -> u64 {
	let rev_allowance = rev / REVERSE_LOSS_DIVISOR;
	fwd.saturating_sub(receipted_fwd)
		.saturating_add(rev.saturating_sub(receipted_rev).saturating_sub(rev_allowance))
}

impl CarriedFlow {
	/// Octets carried beyond what the newest receipt vouches for, each direction on its own
	/// (a receipt's forward octets do not cover replies), less a loss allowance on replies.
	pub fn unreceipted(&self) -> u64 {
		unreceipted(self.fwd_octets, self.rev_octets, self.receipted())
	}

	/// Whether `receipt` may replace the held one: newer, no less either way, the same
	/// consumer (a consumer cannot shrink or move its bill with a later receipt).
	pub fn admits(&self, receipt: &SignedReceipt<NodeId>) -> bool {
		let Some(held) = &self.receipt else { return true };
		let (held, new) = (&held.receipt, &receipt.receipt);
		new.nonce > held.nonce
			&& new.consumer == held.consumer
			&& new.fwd_octets >= held.fwd_octets
			&& new.rev_octets >= held.rev_octets
	}

	/// What the newest receipt vouches for, both ways.
	pub fn receipted(&self) -> (u64, u64) {
		self.receipt
			.as_ref()
			.map_or((0, 0), |signed| (signed.receipt.fwd_octets, signed.receipt.rev_octets))
	}
}

/// Why a relay does not carry a packet of another ingress's flow (chain mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarryRefusal {
	/// The origin's unreceipted octets in the epoch would exceed the credit window.
	Unreceipted,
	/// Its consumer's escrow backs less than the chain's minimum, or it caps the price below
	/// this relay's.
	Refused,
	/// The origin has [`MAX_CARRIED_PER_ORIGIN`] versions metered in the epoch already, or
	/// [`MAX_CARRIED_FLOWS`] are.
	Full,
}

/// Flow versions (per epoch) of other ingresses a relay meters until they are claimed: beyond
/// it, new ones are not carried (their octets could be neither bounded nor claimed).
pub const MAX_CARRIED_FLOWS: usize = 4_096;

/// Flow versions one origin may have metered at a relay in one epoch (what one claim can
/// carry receipts for): a member churning setups cannot fill the table for the others.
pub const MAX_CARRIED_PER_ORIGIN: u32 = 256;

/// What one origin's flows put on a relay in one epoch: its versions, and their unreceipted
/// octets together (the credit window bounds the sum, so new versions open no new credit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct OriginLoad {
	versions: u32,
	unreceipted: u64,
}

/// Boots kept per peer and epoch (the chain's bound on a claim's `peer_boots`).
pub const MAX_PEER_BOOTS: usize = 4;

/// Flow versions one relay keeps usage of (its own tunnels' flows, every version and epoch
/// until claimed): beyond it, new ones go uncounted (and unreceipted) rather than grow memory.
pub const MAX_FLOW_USAGES: usize = 4_096;

/// All unclaimed counters of this relay.
#[derive(Clone, Debug, Default)]
pub struct Counters {
	table: Table,
	/// Where the last keys counted in and out were found ([`Table::counter`]'s hints).
	last_in: usize,
	last_out: usize,
	dirty: bool,
	/// What claims took out of the table, per peer, since this agent started: with the table,
	/// what [`Counters::by_peer`] reports never decreases (Prometheus counters).
	claimed: std::collections::BTreeMap<NodeId, Octets>,
	/// Usage of the flows this relay originates.
	flows: HashMap<UsageKey, FlowUsage>,
	/// Other ingresses' flow versions this relay carried, with their receipts (chain mode).
	carried: HashMap<UsageKey, CarriedFlow>,
	/// Per (epoch, origin): where its load is in `origin_loads`.
	origins: HashMap<(u32, NodeId), usize>,
	/// Each (epoch, origin)'s metered versions and their unreceipted octets together.
	origin_loads: Vec<OriginLoad>,
	/// Octets of versions there was no room to meter, per (epoch, origin): part of the loads.
	overflow: HashMap<(u32, NodeId), u64>,
	/// The distinct boots each peer's data carried per epoch (a restart of the peer shows as
	/// two): what corroborates the peer's declared restart on chain.
	peer_boots: HashMap<(u32, NodeId), Vec<u64>>,
}

impl PartialEq for Counters {
	/// The same counters (in any order), and the same dirty flag.
	fn eq(&self, other: &Self) -> bool {
		self.dirty == other.dirty
			&& self.table.slots.len() == other.table.slots.len()
			&& self.iter().all(|(key, octets)| other.get(key) == *octets)
			&& self.flows == other.flows
			&& self.carried == other.carried
			&& self.peer_boots == other.peer_boots
			&& self.overflow == other.overflow
	}
}

impl Eq for Counters {}

/// A flow's usage in the persisted form.
#[derive(Serialize, Deserialize)]
struct FlowRow {
	epoch: u32,
	flow: u64,
	version: u32,
	path: Vec<String>,
	fwd_octets: u64,
	rev_octets: u64,
}

/// The persisted form: link rows and flow usage (files written before flows were counted hold
/// the rows alone).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Persisted {
	Full {
		links: Vec<Row>,
		flows: Vec<FlowRow>,
		#[serde(default)]
		peer_boots: Vec<PeerBootsRow>,
		#[serde(default)]
		carried: Vec<CarriedRow>,
		#[serde(default)]
		overflow: Vec<OverflowRow>,
	},
	Rows(Vec<Row>),
}

/// Octets of an origin's versions there was no room to meter, in the persisted form.
#[derive(Serialize, Deserialize)]
struct OverflowRow {
	epoch: u32,
	origin: String,
	octets: u64,
}

/// A carried flow version in the persisted form (the receipt in SCALE, hex).
#[derive(Serialize, Deserialize)]
struct CarriedRow {
	epoch: u32,
	flow: u64,
	version: u32,
	path: Vec<String>,
	fwd_octets: u64,
	rev_octets: u64,
	receipt: Option<String>,
	refused: bool,
	/// The consumer (hex); files written before setups named one hold none: the origin paid.
	#[serde(default)]
	consumer: Option<String>,
}

/// A path of ids in the persisted form (hex).
fn hex_path(path: &[NodeId]) -> Vec<String> {
	path.iter().map(|id| crate::hex::encode(id)).collect()
}

/// A path read back from [`hex_path`]'s form.
fn parse_path(path: &[String]) -> Result<Vec<NodeId>, String> {
	path.iter().map(|id| crate::hex::decode32(id)).collect()
}

/// A peer's boots in one epoch, in the persisted form.
#[derive(Serialize, Deserialize)]
struct PeerBootsRow {
	epoch: u32,
	peer: String,
	boots: Vec<u64>,
}

/// One row of the persisted form (JSON: keys must be strings, so ids are hex).
#[derive(Serialize, Deserialize)]
struct Row {
	boot_time: u64,
	epoch: u32,
	peer: String,
	#[serde(flatten)]
	octets: Octets,
}

impl Counters {
	/// Counts `octets` received from `peer` in `epoch`.
	#[inline]
	pub fn record_in(&mut self, boot_time: u64, epoch: u32, peer: NodeId, octets: u64) {
		let key = CounterKey { boot_time, epoch, peer };
		if let Some(counter) = self.table.counter(&mut self.last_in, key) {
			counter.in_octets = counter.in_octets.saturating_add(octets);
		}
		self.dirty = true;
	}

	/// Counts `octets` sent to `peer` in `epoch`.
	#[inline]
	pub fn record_out(&mut self, boot_time: u64, epoch: u32, peer: NodeId, octets: u64) {
		let key = CounterKey { boot_time, epoch, peer };
		if let Some(counter) = self.table.counter(&mut self.last_out, key) {
			counter.out_octets = counter.out_octets.saturating_add(octets);
		}
		self.dirty = true;
	}

	/// The counter of one link in one epoch.
	pub fn get(&self, key: &CounterKey) -> Octets {
		self.table.get(key).copied().unwrap_or_default()
	}

	/// All counters, in no particular order.
	pub fn iter(&self) -> impl Iterator<Item = (&CounterKey, &Octets)> {
		self.table.slots.iter().map(|(key, octets)| (key, octets))
	}

	/// Totals over everything unclaimed.
	pub fn totals(&self) -> Octets {
		self.table.slots.iter().fold(Octets::default(), |acc, (_, o)| acc.plus(*o))
	}

	/// Everything counted per peer since this agent started (claimed or not): never
	/// decreases while the agent runs.
	pub fn by_peer(&self) -> std::collections::BTreeMap<NodeId, Octets> {
		let mut totals = self.claimed.clone();
		for (key, octets) in self.iter() {
			let total = totals.entry(key.peer).or_default();
			*total = total.plus(*octets);
		}
		totals
	}

	/// Counts `fwd` and `rev` octets of flow version `key`; `path` gives its routers the
	/// first time the version is counted in the epoch.
	pub fn record_flow(
		&mut self,
		key: UsageKey,
		path: impl FnOnce() -> Vec<NodeId>,
		fwd: u64,
		rev: u64,
	) {
		if !self.flows.contains_key(&key) && self.flows.len() >= MAX_FLOW_USAGES {
			return;
		}
		let usage = self
			.flows
			.entry(key)
			.or_insert_with(|| FlowUsage { path: path(), ..Default::default() });
		usage.fwd_octets = usage.fwd_octets.saturating_add(fwd);
		usage.rev_octets = usage.rev_octets.saturating_add(rev);
		self.dirty = true;
	}

	/// Counts `fwd` and `rev` octets of another ingress's flow version `key` carried here, if
	/// they keep the unreceipted octets of the version's origin in the epoch within
	/// `credit_window` (and its consumer is not refused); `route` gives its consumer and its
	/// routers the first time the version is seen in the epoch. The relay's shards check the
	/// window against budgets instead ([`super::data_path`]); the tests use this one for the
	/// table's own arithmetic.
	#[cfg(test)]
	pub fn carry(
		&mut self,
		key: UsageKey,
		route: impl FnOnce() -> (NodeId, Vec<NodeId>),
		fwd: u64,
		rev: u64,
		credit_window: u64,
	) -> Result<(), CarryRefusal> {
		self.carry_within(key, route, (fwd, rev), credit_window, true)
	}

	/// [`Self::carry`]; without `refusals`, a refused version's octets are counted too (they
	/// were carried before the refusal was known).
	fn carry_within(
		&mut self,
		key: UsageKey,
		route: impl FnOnce() -> (NodeId, Vec<NodeId>),
		(fwd, rev): (u64, u64),
		credit_window: u64,
		refusals: bool,
	) -> Result<(), CarryRefusal> {
		let full = self.carried.len() >= MAX_CARRIED_FLOWS;
		let flow = match self.carried.entry(key) {
			std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
			std::collections::hash_map::Entry::Vacant(_) if full => return Err(CarryRefusal::Full),
			std::collections::hash_map::Entry::Vacant(entry) => {
				let (consumer, path) = route();
				let origin = path.first().copied().unwrap_or_default();
				let loads = &mut self.origin_loads;
				let slot = *self.origins.entry((key.epoch, origin)).or_insert_with(|| {
					loads.push(OriginLoad::default());
					loads.len() - 1
				});
				let load = loads.get_mut(slot).ok_or(CarryRefusal::Full)?;
				if load.versions >= MAX_CARRIED_PER_ORIGIN {
					return Err(CarryRefusal::Full);
				}
				load.versions += 1;
				entry.insert(CarriedFlow {
					consumer,
					path,
					origin_slot: slot,
					..Default::default()
				})
			}
		};
		let load = self.origin_loads.get_mut(flow.origin_slot).ok_or(CarryRefusal::Full)?;
		if flow.refused && refusals {
			return Err(CarryRefusal::Refused);
		}
		let (new_fwd, new_rev) =
			(flow.fwd_octets.saturating_add(fwd), flow.rev_octets.saturating_add(rev));
		let added =
			unreceipted(new_fwd, new_rev, flow.receipted()).saturating_sub(flow.unreceipted());
		if load.unreceipted.saturating_add(added) > credit_window {
			return Err(CarryRefusal::Unreceipted);
		}
		load.unreceipted = load.unreceipted.saturating_add(added);
		flow.fwd_octets = new_fwd;
		flow.rev_octets = new_rev;
		self.dirty = true;
		Ok(())
	}

	/// Counts what a shard carried of version `key` (the shard checked the credit window;
	/// see [`super::data_path`]), also for a version refused meanwhile. A version there is no
	/// room for is not kept, but its octets still load its origin (kept apart, so that
	/// rebuilding the loads keeps them): they were carried unreceipted, and no receipt can
	/// ever release them.
	pub fn absorb_carry(
		&mut self,
		key: UsageKey,
		consumer: NodeId,
		path: &[NodeId],
		fwd: u64,
		rev: u64,
	) -> Result<(), CarryRefusal> {
		let route = || (consumer, path.to_vec());
		let result = self.carry_within(key, route, (fwd, rev), u64::MAX, false);
		if result == Err(CarryRefusal::Full) {
			let origin = (key.epoch, path.first().copied().unwrap_or_default());
			let octets = fwd.saturating_add(rev);
			let overflow = self.overflow.entry(origin).or_default();
			*overflow = overflow.saturating_add(octets);
			let slot = self.origin_slot(origin);
			if let Some(load) = self.origin_loads.get_mut(slot) {
				load.unreceipted = load.unreceipted.saturating_add(octets);
			}
			self.dirty = true;
		}
		result
	}

	/// Where the load of `origin` (epoch, origin) is, made empty if new.
	fn origin_slot(&mut self, origin: (u32, NodeId)) -> usize {
		let loads = &mut self.origin_loads;
		*self.origins.entry(origin).or_insert_with(|| {
			loads.push(OriginLoad::default());
			loads.len() - 1
		})
	}

	/// Each (epoch, origin) with versions metered here: how many, and their unreceipted
	/// octets together.
	pub fn carry_loads(&self) -> impl Iterator<Item = ((u32, NodeId), u32, u64)> + '_ {
		self.origins.iter().filter_map(|(origin, slot)| {
			let load = self.origin_loads.get(*slot)?;
			Some((*origin, load.versions, load.unreceipted))
		})
	}

	/// How many flow versions of others are metered here.
	pub fn carried_count(&self) -> usize {
		self.carried.len()
	}

	/// Adds what `delta` counted (a shard's counts since the last sync) where `counts`
	/// accepts the epoch, and empties it. Its link rows stay, zeroed, for the epochs `keep`
	/// accepts: the shard goes on counting into them without allocating.
	pub fn absorb(
		&mut self,
		delta: &mut Counters,
		counts: impl Fn(u32) -> bool,
		keep: impl Fn(u32) -> bool,
	) {
		for (key, octets) in delta.table.slots.iter_mut() {
			let octets = std::mem::take(octets);
			if octets == Octets::default() || !counts(key.epoch) {
				continue;
			}
			let at = self.table.find_or_insert(*key);
			if let Some((_, total)) = self.table.slots.get_mut(at) {
				*total = total.plus(octets);
			}
			self.dirty = true;
		}
		delta.table.retain(|key| keep(key.epoch));
		for (key, usage) in delta.flows.drain() {
			if counts(key.epoch) {
				let FlowUsage { path, fwd_octets, rev_octets } = usage;
				self.record_flow(key, || path, fwd_octets, rev_octets);
			}
		}
		for ((epoch, peer), boots) in
			delta.peer_boots.drain().filter(|((epoch, _), _)| counts(*epoch))
		{
			for boot in boots {
				self.record_peer_boot(epoch, peer, boot);
			}
		}
		delta.dirty = false;
	}

	/// Builds the origins' loads again from the carried versions (after some went).
	fn reindex_origins(&mut self) {
		self.origins.clear();
		self.origin_loads.clear();
		for (key, flow) in self.carried.iter_mut() {
			let origin = flow.path.first().copied().unwrap_or_default();
			let loads = &mut self.origin_loads;
			let slot = *self.origins.entry((key.epoch, origin)).or_insert_with(|| {
				loads.push(OriginLoad::default());
				loads.len() - 1
			});
			flow.origin_slot = slot;
			if let Some(load) = loads.get_mut(slot) {
				load.versions = load.versions.saturating_add(1);
				load.unreceipted = load.unreceipted.saturating_add(flow.unreceipted());
			}
		}
		let overflow: Vec<_> = self.overflow.iter().map(|(origin, o)| (*origin, *o)).collect();
		for (origin, octets) in overflow {
			let slot = self.origin_slot(origin);
			if let Some(load) = self.origin_loads.get_mut(slot) {
				load.unreceipted = load.unreceipted.saturating_add(octets);
			}
		}
	}

	/// What this relay carried of another ingress's flow version `key`.
	pub fn carried(&self, key: &UsageKey) -> Option<&CarriedFlow> {
		self.carried.get(key)
	}

	/// Every carried flow version, unclaimed.
	pub fn carried_flows(&self) -> impl Iterator<Item = (&UsageKey, &CarriedFlow)> {
		self.carried.iter()
	}

	/// Keeps `receipt` as the newest of carried version `key`: the caller checked its
	/// signature, that it is newer, says no less either way and names the same consumer as
	/// the held one ([`CarriedFlow::admits`]). With `refused`, the version's data is not
	/// carried any more. Whether it was kept, and the unreceipted octets it released.
	pub fn hold_receipt(
		&mut self,
		key: &UsageKey,
		receipt: SignedReceipt<NodeId>,
		refused: bool,
	) -> Option<u64> {
		let flow = self.carried.get_mut(key)?;
		if !flow.admits(&receipt) {
			return None;
		}
		let before = flow.unreceipted();
		flow.receipt = Some(receipt);
		flow.refused = refused;
		let released = before.saturating_sub(flow.unreceipted());
		if let Some(load) = self.origin_loads.get_mut(flow.origin_slot) {
			load.unreceipted = load.unreceipted.saturating_sub(released);
		}
		self.dirty = true;
		Some(released)
	}

	/// The receipts held for versions carried in `epoch` (to claim).
	pub fn held_receipts(&self, epoch: u32) -> Vec<SignedReceipt<NodeId>> {
		self.carried
			.iter()
			.filter(|(key, _)| key.epoch == epoch)
			.filter_map(|(_, flow)| flow.receipt.clone())
			.collect()
	}

	/// Notes that `peer`'s data stamped `epoch` carried boot `boot` (a few boots per peer and
	/// epoch are kept: one is the norm, two show a restart).
	pub fn record_peer_boot(&mut self, epoch: u32, peer: NodeId, boot: u64) {
		let boots = self.peer_boots.entry((epoch, peer)).or_default();
		if !boots.contains(&boot) && boots.len() < MAX_PEER_BOOTS {
			boots.push(boot);
			self.dirty = true;
		}
	}

	/// The boots `peer`'s data carried in `epoch`, in the order they were seen.
	pub fn peer_boots(&self, epoch: u32, peer: &NodeId) -> &[u64] {
		self.peer_boots.get(&(epoch, *peer)).map_or(&[], Vec::as_slice)
	}

	/// The usage of the flow versions originated here in `epoch`.
	pub fn flow_usage_of(&self, epoch: u32) -> Vec<(UsageKey, FlowUsage)> {
		self.flows
			.iter()
			.filter(|(key, _)| key.epoch == epoch)
			.map(|(key, usage)| (*key, usage.clone()))
			.collect()
	}

	/// The usage of every flow version originated here, unclaimed.
	pub fn flows(&self) -> impl Iterator<Item = (&UsageKey, &FlowUsage)> {
		self.flows.iter()
	}

	/// Drops the counters of `epoch` (all boots) once its claim is on chain.
	pub fn mark_claimed(&mut self, epoch: u32) {
		let (flows, carried, boots) = (self.flows.len(), self.carried.len(), self.peer_boots.len());
		self.flows.retain(|key, _| key.epoch != epoch);
		self.carried.retain(|key, _| key.epoch != epoch);
		self.overflow.retain(|(overflow_epoch, _), _| *overflow_epoch != epoch);
		self.reindex_origins();
		self.peer_boots.retain(|(boots_epoch, _), _| *boots_epoch != epoch);
		if self.flows.len() != flows
			|| self.carried.len() != carried
			|| self.peer_boots.len() != boots
		{
			self.dirty = true;
		}
		for (key, octets) in self.table.slots.iter().filter(|(key, _)| key.epoch == epoch) {
			let total = self.claimed.entry(key.peer).or_default();
			*total = total.plus(*octets);
		}
		if self.table.retain(|key| key.epoch != epoch) {
			self.dirty = true;
		}
	}

	/// Whether anything changed since the last [`Counters::take_dirty`].
	pub fn take_dirty(&mut self) -> bool {
		std::mem::take(&mut self.dirty)
	}

	/// Marks the counters as changed again: a snapshot taken by [`Self::take_dirty`] could
	/// not be saved, and must be retried even if no packet comes.
	pub fn mark_dirty(&mut self) {
		self.dirty = true;
	}

	/// The persisted form (JSON).
	pub fn to_json(&self) -> Vec<u8> {
		// Sorted, so that the file reads (and diffs) in a stable order.
		let mut sorted: Vec<_> = self.iter().collect();
		sorted.sort_unstable_by_key(|(key, _)| **key);
		let rows: Vec<Row> = sorted
			.into_iter()
			.map(|(k, o)| Row {
				boot_time: k.boot_time,
				epoch: k.epoch,
				peer: crate::hex::encode(&k.peer),
				octets: *o,
			})
			.collect();
		let mut flows: Vec<_> = self.flows.iter().collect();
		flows.sort_unstable_by_key(|(key, _)| **key);
		let flows = flows
			.into_iter()
			.map(|(key, usage)| FlowRow {
				epoch: key.epoch,
				flow: key.flow,
				version: key.version,
				path: hex_path(&usage.path),
				fwd_octets: usage.fwd_octets,
				rev_octets: usage.rev_octets,
			})
			.collect();
		let mut peer_boots: Vec<PeerBootsRow> = self
			.peer_boots
			.iter()
			.map(|((epoch, peer), boots)| PeerBootsRow {
				epoch: *epoch,
				peer: crate::hex::encode(peer),
				boots: boots.clone(),
			})
			.collect();
		peer_boots.sort_unstable_by(|a, b| (a.epoch, &a.peer).cmp(&(b.epoch, &b.peer)));
		let mut carried: Vec<_> = self.carried.iter().collect();
		carried.sort_unstable_by_key(|(key, _)| **key);
		let carried = carried
			.into_iter()
			.map(|(key, flow)| CarriedRow {
				epoch: key.epoch,
				flow: key.flow,
				version: key.version,
				path: hex_path(&flow.path),
				fwd_octets: flow.fwd_octets,
				rev_octets: flow.rev_octets,
				receipt: flow.receipt.as_ref().map(|r| crate::hex::encode(&r.encode())),
				refused: flow.refused,
				consumer: Some(crate::hex::encode(&flow.consumer)),
			})
			.collect();
		let mut overflow: Vec<OverflowRow> = self
			.overflow
			.iter()
			.map(|((epoch, origin), octets)| OverflowRow {
				epoch: *epoch,
				origin: crate::hex::encode(origin),
				octets: *octets,
			})
			.collect();
		overflow.sort_unstable_by(|a, b| (a.epoch, &a.origin).cmp(&(b.epoch, &b.origin)));
		let persisted = Persisted::Full { links: rows, flows, peer_boots, carried, overflow };
		serde_json::to_vec_pretty(&persisted).unwrap_or_default()
	}

	/// Reads the persisted form.
	pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
		let (rows, flows, peer_boots, carried, overflow) =
			match serde_json::from_slice(bytes).map_err(|e| e.to_string())? {
				Persisted::Full { links, flows, peer_boots, carried, overflow } => {
					(links, flows, peer_boots, carried, overflow)
				}
				Persisted::Rows(rows) => (rows, Vec::new(), Vec::new(), Vec::new(), Vec::new()),
			};
		let mut counters = Self::default();
		// As many as loads there can be: an origin per member and epoch.
		for row in overflow.into_iter().take(MAX_CARRIED_FLOWS) {
			let origin = crate::hex::decode32(&row.origin)?;
			counters.overflow.insert((row.epoch, origin), row.octets);
		}
		for row in carried.into_iter().take(MAX_CARRIED_FLOWS) {
			let path = parse_path(&row.path)?;
			let receipt = match row.receipt {
				Some(hex) => {
					let bytes = crate::hex::decode(&hex)?;
					Some(
						SignedReceipt::decode(&mut bytes.as_slice())
							.map_err(|e| format!("a held receipt does not decode: {e}"))?,
					)
				}
				None => None,
			};
			let key = UsageKey { epoch: row.epoch, flow: row.flow, version: row.version };
			let consumer = match &row.consumer {
				Some(hex) => crate::hex::decode32(hex)?,
				None => path.first().copied().unwrap_or_default(),
			};
			let flow = CarriedFlow {
				consumer,
				path,
				fwd_octets: row.fwd_octets,
				rev_octets: row.rev_octets,
				receipt,
				refused: row.refused,
				origin_slot: 0,
			};
			counters.carried.insert(key, flow);
		}
		counters.reindex_origins();
		for row in peer_boots {
			let peer = crate::hex::decode32(&row.peer)?;
			for boot in row.boots {
				counters.record_peer_boot(row.epoch, peer, boot);
			}
		}
		for row in flows {
			let path = parse_path(&row.path)?;
			let key = UsageKey { epoch: row.epoch, flow: row.flow, version: row.version };
			let usage = FlowUsage { path, fwd_octets: row.fwd_octets, rev_octets: row.rev_octets };
			counters.flows.insert(key, usage);
		}
		for row in rows {
			let peer = crate::hex::decode32(&row.peer)?;
			let key = CounterKey { boot_time: row.boot_time, epoch: row.epoch, peer };
			if let Some(counter) = counters.table.counter(&mut counters.last_in, key) {
				*counter = row.octets;
			}
		}
		Ok(counters)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn octets_carried_beyond_the_metered_versions_still_load_their_origin() {
		let mut c = Counters::default();
		let origin = [1; 32];
		let path = [origin, [2; 32]];
		for version in 0..MAX_CARRIED_PER_ORIGIN {
			let key = UsageKey { epoch: 3, flow: 9, version };
			assert_eq!(c.absorb_carry(key, origin, &path, 10, 0), Ok(()));
		}
		let unreceipted = |c: &Counters| c.carry_loads().map(|(_, _, u)| u).sum::<u64>();
		assert_eq!(unreceipted(&c), 10 * u64::from(MAX_CARRIED_PER_ORIGIN));
		let one_more = UsageKey { epoch: 3, flow: 9, version: MAX_CARRIED_PER_ORIGIN };
		assert_eq!(c.absorb_carry(one_more, origin, &path, 500, 0), Err(CarryRefusal::Full));
		assert!(c.carried(&one_more).is_none(), "not metered");
		assert_eq!(unreceipted(&c), 10 * u64::from(MAX_CARRIED_PER_ORIGIN) + 500, "but loaded");
		// Loads are built again when another epoch's claim is done: the overflow stays.
		c.mark_claimed(2);
		assert_eq!(unreceipted(&c), 10 * u64::from(MAX_CARRIED_PER_ORIGIN) + 500);
		// And across a restart.
		let restored = Counters::from_json(&c.to_json()).unwrap();
		assert_eq!(unreceipted(&restored), 10 * u64::from(MAX_CARRIED_PER_ORIGIN) + 500);
		c.mark_claimed(3);
		assert_eq!(unreceipted(&c), 0, "claimed, all of it");
	}

	#[test]
	fn a_shards_counts_move_to_the_core_and_its_rows_stay_for_the_next() {
		let (mut core, mut shard) = (Counters::default(), Counters::default());
		shard.record_in(1, 5, [1; 32], 100);
		shard.record_out(1, 4, [2; 32], 30);
		shard.record_in(1, 2, [1; 32], 7);
		shard.record_peer_boot(5, [1; 32], 1);
		// Epoch 4 closed; epochs 4 to 6 kept.
		core.absorb(&mut shard, |e| e > 4, |e| (4..=6).contains(&e));
		assert_eq!(core.totals(), Octets { in_octets: 100, out_octets: 0 });
		assert_eq!(core.peer_boots(5, &[1; 32]), &[1]);
		assert!(core.take_dirty());
		assert_eq!(shard.totals(), Octets::default(), "emptied");
		assert_eq!(shard.iter().count(), 2, "rows of kept epochs stay, zeroed");
		core.absorb(&mut shard, |_| true, |_| true);
		assert!(!core.take_dirty(), "nothing new");
	}

	#[test]
	fn counts_per_boot_epoch_and_peer_and_round_trips() {
		let mut c = Counters::default();
		c.record_in(1, 7, [1; 32], 100);
		c.record_in(1, 7, [1; 32], 50);
		c.record_out(1, 7, [2; 32], 30);
		c.record_out(2, 8, [2; 32], 5);
		assert_eq!(c.get(&CounterKey { boot_time: 1, epoch: 7, peer: [1; 32] }).in_octets, 150);
		assert_eq!(c.totals(), Octets { in_octets: 150, out_octets: 35 });
		assert!(c.take_dirty());
		assert!(!c.take_dirty());

		let back = Counters::from_json(&c.to_json()).unwrap();
		assert_eq!(back, c);

		let before = c.by_peer();
		c.mark_claimed(7);
		assert_eq!(c.by_peer(), before, "a claim lowers no lifetime total");
		assert_eq!(c.totals(), Octets { in_octets: 0, out_octets: 5 });
		assert!(c.take_dirty());
		// The remaining counter is still found, and counting goes on after the claim.
		let key = CounterKey { boot_time: 2, epoch: 8, peer: [2; 32] };
		c.record_out(2, 8, [2; 32], 1);
		c.record_in(1, 7, [1; 32], 9);
		assert_eq!(c.get(&key).out_octets, 6);
		assert_eq!(c.totals(), Octets { in_octets: 9, out_octets: 6 });
	}

	proptest::proptest! {
		/// Any sequence of counting and claiming leaves the same counters as a plain map.
		#[test]
		fn counters_match_a_plain_map(
			ops in proptest::collection::vec((0u8..3, 0u32..3, 0u8..3, 1u64..1_000), 0..200)
		) {
			let mut counters = Counters::default();
			let mut model: std::collections::HashMap<CounterKey, Octets> = Default::default();
			for (op, epoch, peer, octets) in ops {
				let key = CounterKey { boot_time: 1, epoch, peer: [peer; 32] };
				match op {
					0 => {
						counters.record_in(1, epoch, [peer; 32], octets);
						model.entry(key).or_default().in_octets += octets;
					}
					1 => {
						counters.record_out(1, epoch, [peer; 32], octets);
						model.entry(key).or_default().out_octets += octets;
					}
					_ => {
						counters.mark_claimed(epoch);
						model.retain(|k, _| k.epoch != epoch);
					}
				}
			}
			proptest::prop_assert_eq!(counters.iter().count(), model.len());
			for (key, octets) in &model {
				proptest::prop_assert_eq!(counters.get(key), *octets);
			}
		}
	}

	#[test]
	fn flow_usage_is_kept_per_epoch_and_version_and_saved_with_the_links() {
		let mut c = Counters::default();
		let key = |epoch, version| UsageKey { epoch, flow: 77, version };
		c.record_flow(key(3, 1), || vec![[1; 32], [2; 32]], 1_000, 0);
		c.record_flow(key(3, 1), || unreachable!("the path is taken once"), 500, 200);
		c.record_flow(key(3, 2), || vec![[1; 32], [3; 32], [2; 32]], 10, 0);
		c.record_flow(key(4, 2), || vec![[1; 32], [3; 32], [2; 32]], 7, 7);
		c.record_in(1, 3, [2; 32], 5);
		c.record_peer_boot(3, [2; 32], 100);
		c.record_peer_boot(3, [2; 32], 100);
		c.record_peer_boot(3, [2; 32], 140);
		assert_eq!(c.peer_boots(3, &[2; 32]), &[100, 140]);
		let usage = c.flows().find(|(k, _)| **k == key(3, 1)).map(|(_, u)| u.clone()).unwrap();
		assert_eq!((usage.fwd_octets, usage.rev_octets, usage.path.len()), (1_500, 200, 2));
		let back = Counters::from_json(&c.to_json()).unwrap();
		assert_eq!(back, c);
		c.mark_claimed(3);
		assert_eq!(c.flows().map(|(k, _)| *k).collect::<Vec<_>>(), vec![key(4, 2)]);
		// Files written before flows were counted still load.
		let old = br#"[{"boot_time":1,"epoch":1,"peer":"0101010101010101010101010101010101010101010101010101010101010101","in_octets":1,"out_octets":2}]"#;
		assert_eq!(
			Counters::from_json(old).unwrap().totals(),
			Octets { in_octets: 1, out_octets: 2 }
		);
	}

	#[test]
	fn carried_flows_and_their_receipts_survive_a_restart_and_their_credit_too() {
		use srwan_primitives::receipts::{RouterPath, UsageReceipt};
		let mut c = Counters::default();
		let key = UsageKey { epoch: 3, flow: 77, version: 1 };
		let path = || vec![[1; 32], [2; 32], [3; 32]];
		let route = || ([8; 32], path());
		assert_eq!(c.carry(key, route, 600, 0, 1_000), Ok(()));
		assert_eq!(c.carried(&key).map(|flow| flow.consumer), Some([8; 32]));
		assert_eq!(c.carry(key, route, 600, 0, 1_000), Err(CarryRefusal::Unreceipted));
		let receipt = SignedReceipt {
			receipt: UsageReceipt {
				consumer: [1; 32],
				flow: [9; 16],
				path: RouterPath::truncate_from(path()),
				epoch: 3,
				fwd_octets: 600,
				rev_octets: 0,
				max_price_per_gb: 5,
				nonce: 1,
			},
			signature: [4; 64],
		};
		assert!(c.hold_receipt(&key, receipt.clone(), false).is_some());
		assert!(c.hold_receipt(&key, receipt.clone(), false).is_none(), "not newer");
		c.take_dirty();
		let back = Counters::from_json(&c.to_json()).unwrap();
		assert_eq!(back, c);
		assert_eq!(back.held_receipts(3), vec![receipt]);
		assert_eq!(back.carried(&key).map(|flow| flow.consumer), Some([8; 32]), "kept on disk");
		// A file from before setups named a consumer: the origin paid.
		let older = String::from_utf8(c.to_json()).unwrap().replace(
			&format!(r#""consumer": "{}""#, crate::hex::encode(&[8; 32])),
			r#""consumer": null"#,
		);
		assert!(!older.contains(&crate::hex::encode(&[8; 32])), "{older}");
		let older = Counters::from_json(older.as_bytes()).unwrap();
		assert_eq!(older.carried(&key).map(|flow| flow.consumer), Some([1; 32]));
		// The credit the receipt freed is free after the restart too.
		let mut back = back;
		assert_eq!(back.carry(key, route, 900, 0, 1_000), Ok(()));
		assert_eq!(back.carry(key, route, 200, 0, 1_000), Err(CarryRefusal::Unreceipted));
		back.mark_claimed(3);
		assert!(back.carried_flows().next().is_none());
		assert_eq!(back.carry(key, route, 200, 0, 1_000), Ok(()), "a claimed epoch's load is gone");
	}

	#[test]
	fn flow_usage_is_bounded() {
		let mut c = Counters::default();
		for flow in 0..MAX_FLOW_USAGES as u64 + 10 {
			c.record_flow(UsageKey { epoch: 1, flow, version: 1 }, Vec::new, 1, 0);
		}
		assert_eq!(c.flows().count(), MAX_FLOW_USAGES);
	}

	#[test]
	fn corrupt_files_are_errors_not_panics() {
		assert!(Counters::from_json(b"not json").is_err());
		assert!(Counters::from_json(
			br#"[{"boot_time":1,"epoch":1,"peer":"zz","in_octets":1,"out_octets":1}]"#
		)
		.is_err());
	}
}
