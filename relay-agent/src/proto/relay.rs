//! The relay's packet logic, sans IO: what to do with each datagram (pulse, data), which
//! pulses to send, how to encapsulate a client's payload. The driver owns sockets and clocks
//! and acts on the returned [`Action`]s; nothing here allocates per packet.

use super::{
	consent::{self, Consumer},
	counters::{CarryRefusal, Counters, UsageKey, MAX_CARRIED_FLOWS, MAX_CARRIED_PER_ORIGIN},
	data_path::{
		locked, path_ids, Budgets, CarryTerms, DataPlane, DataShard, DataView, FlowEntry, Handled,
		PreviousVersion, ShardState, PROBE_LEN,
	},
	e2e::{first_seq, FlowCipher},
	gate::{Admission, Admitted, Gate},
	link::{LinkKeys, ReplayWindow},
	matrix::LiveMatrix,
	metering::{flow_id, ConsumerTerms, Metering, MeteringConfig, ReceiptReject},
	pulse::LinkMetrics,
	pulse::{PulseEngine, PulseReject},
	wire::{
		self, decode_row_header, encode_row, heapless_path, row_entry, FlowKey, FlowSetup, NodeId,
		PacketType, Pulse, ReceiptPacket, RowEntry, RowHeader, SetupTerms, WireError,
		MAX_ROW_ENTRIES, MAX_SEGMENTS,
	},
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;
use srwan_primitives::routing::MemberIndex;
// foldhash, not SipHash: these maps are looked up for every packet, and only verified setups
// and configured members insert into them (no attacker-chosen keys to collide).
use foldhash::{HashMap, HashMapExt as _, HashSet};
use std::{net::SocketAddr, ops::Range, sync::Arc};

/// A group member as the data plane needs it.
#[derive(Clone, Debug)]
pub struct Member {
	/// Stable id.
	pub id: NodeId,
	/// UDP address for pulses and data.
	pub addr: SocketAddr,
	/// Key that signs its pulses.
	pub pulse_key: VerifyingKey,
}

/// A flow this relay carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
	/// Flow id (from the signed flow setup).
	pub id: u64,
	/// Its setup version: each new path or key is a new version.
	pub version: u32,
	/// Key of its payloads' end-to-end encryption: known to the ingress and the egress only
	/// (zero at transit relays, which never learn it).
	pub key: FlowKey,
	/// Members from ingress to egress, both included.
	pub path: Vec<MemberIndex>,
	/// Where the egress delivers forward traffic (an allowed destination).
	pub destination: SocketAddr,
}

/// Link marks kept for peers that are not members now (they left the group).
const MAX_ABSENT_MARKS: usize = 1_024;

/// A flow as this relay holds it: what the data path reads (shared with it), and what only
/// the core keeps.
struct InstalledFlow {
	entry: Arc<FlowEntry>,
	/// When its setup last came (this relay's clock, ns): flows nobody refreshes expire.
	refreshed_ns: u64,
	/// The consumer's consent to this version, as its setup carried it (checked once).
	consent: [u8; 64],
}

/// How long packets of a flow's previous version are still accepted after a rekey on the
/// same path: a few round trips of the slowest path.
pub const PREVIOUS_VERSION_GRACE_NS: u64 = 5_000_000_000;

/// The top 32 bits of every flow id an origin may set up: a tag derived from its member id.
/// A member cannot set up (and so squat or take over) a flow id of another member's, at any
/// relay, before or after that member's own setup arrives.
pub fn flow_id_tag(origin: &NodeId) -> u32 {
	use blake2::Digest as _;
	let digest = blake2::Blake2s256::digest([b"srwan flow id tag".as_slice(), origin].concat());
	u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A flow id of `origin`'s: its tag, then `random` (fresh random bits from the ingress).
pub fn new_flow_id(origin: &NodeId, random: u32) -> u64 {
	(u64::from(flow_id_tag(origin)) << 32) | u64::from(random)
}

/// Flows one origin may have installed at this relay; a setup beyond it replaces that
/// origin's least recently refreshed flow, so a flood of setups cannot grow memory.
pub const MAX_FLOWS_PER_ORIGIN: usize = 1024;

/// Why a datagram was dropped; each has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DropReason {
	/// Not a valid srwan datagram.
	Malformed,
	/// From an address or id that is not a group member.
	UnknownSender,
	/// Signature does not verify.
	BadSignature,
	/// Replayed or from a previous boot.
	Replayed,
	/// Addressed to another member.
	NotForUs,
	/// Data for a flow that was never set up here.
	UnknownFlow,
	/// MAC does not verify under the flow key.
	BadMac,
	/// This relay is not the packet's current segment.
	NotOnPath,
	/// The flow's path is unusable (empty, too long, foreign member).
	BadPath,
	/// A flow setup whose destination this egress does not serve (no open relay).
	DestinationNotAllowed,
	/// A flow setup for a flow id that is not its origin's (see [`flow_id_tag`]), or that
	/// another member's flow holds.
	FlowOfAnother,
	/// Data stamped with an epoch other than the previous, current or next one.
	WrongEpoch,
	/// A datagram of a protocol version this agent does not speak.
	UnsupportedVersion,
	/// A setup older than the flow's installed version, a different setup under the same
	/// version, or one stamped far from this relay's clock (a replay); or data of a setup
	/// version other than the installed one.
	StaleSetup,
	/// A payload that does not open under the flow's key at its end (changed on the way).
	BadPayload,
	/// A control datagram (pulse, row, setup) beyond its sender's budget: dropped before
	/// any signature is checked.
	RateLimited,
	/// A receipt for a flow version this relay did not carry, on another path, from another
	/// hop than the one before it, with a flow id of another version, or at a relay that
	/// follows no chain.
	BadReceipt,
	/// A receipt of a consumer whose terms the agent has not fetched yet (it does now).
	UnknownConsumer,
	/// Data of a flow version whose unreceipted octets would exceed the credit window.
	Unreceipted,
	/// Data of a flow whose consumer's escrow backs less than the chain's minimum, or beyond
	/// the number of flow versions a relay meters.
	ConsumerRefused,
	/// A flow setup whose consumer's consent does not verify under the consumer's account
	/// key (see [`super::consent`]).
	BadConsent,
}

/// How far a setup's time may be from this relay's clock: beyond, it is a replay (or a clock
/// too wrong to trust). Generous: relays' clocks are only roughly synchronised.
pub const SETUP_MAX_SKEW_MS: u64 = 300_000;

pub use super::gate::{CONTROL_BURST, CONTROL_PER_SECOND, RECEIPTS_PER_SECOND, RECEIPT_BURST};

/// What the driver should do with a datagram it handed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
	/// Nothing more (a pulse was taken in).
	Consumed,
	/// Dropped, and counted.
	Dropped(DropReason),
	/// Send the (rewritten) datagram on to member `to` (its address is in
	/// [`RelayCore::members`]).
	///
	/// An index rather than the address: a 32-byte `SocketAddr` copied through this enum on
	/// every packet cost a store-forwarding stall or two per packet.
	Forward {
		/// Next relay.
		to: MemberIndex,
	},
	/// A fast probe of a flow's path came back to its ingress.
	ProbeReply {
		/// The flow.
		flow: u64,
		/// The probe's sequence number.
		seq: u64,
		/// Round trip of the probe along the path, ns (this relay's clock).
		rtt_ns: u64,
	},
	/// This relay is the last segment: deliver `payload` outside the overlay.
	Deliver {
		/// The flow.
		flow: u64,
		/// Reply traffic (deliver to the tunnel's client) or forward traffic (to the
		/// destination).
		reverse: bool,
		/// Byte range of the payload inside the datagram.
		payload: Range<usize>,
	},
}

/// Counters of dropped datagrams.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DropStats {
	counts: HashMap<DropReason, u64>,
}

impl DropStats {
	pub(super) fn count(&mut self, reason: DropReason) {
		*self.counts.entry(reason).or_default() += 1;
	}

	/// Adds `other`'s counts and zeroes them (keeping its entries: no allocation next time).
	pub(super) fn absorb(&mut self, other: &mut DropStats) {
		for (reason, count) in other.counts.iter_mut() {
			if *count > 0 {
				*self.counts.entry(*reason).or_default() += std::mem::take(count);
			}
		}
	}
	/// How many datagrams were dropped for `reason`.
	pub fn get(&self, reason: DropReason) -> u64 {
		self.counts.get(&reason).copied().unwrap_or(0)
	}
	/// All counts.
	pub fn iter(&self) -> impl Iterator<Item = (&DropReason, &u64)> {
		self.counts.iter()
	}
}

/// The address as configured addresses are written: an IPv4 peer seen by a socket bound to
/// `[::]` arrives as `[::ffff:a.b.c.d]`, and must match the member at `a.b.c.d`.
#[inline]
pub fn canonical_addr(addr: SocketAddr) -> SocketAddr {
	match addr {
		SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
			Some(v4) => SocketAddr::new(v4.into(), v6.port()),
			None => addr,
		},
		SocketAddr::V4(_) => addr,
	}
}

/// One relay's state.
pub struct RelayCore {
	key: SigningKey,
	me: MemberIndex,
	group: u32,
	boot_time: u64,
	epoch: u32,
	members: Arc<[Member]>,
	by_addr: Arc<HashMap<SocketAddr, MemberIndex>>,
	pulses: PulseEngine,
	/// Epochs up to this one are claimed (or being claimed): their data is dropped.
	closed_through: Option<u32>,
	/// The link marks of peers that are not members (saved with the others).
	absent_marks: Vec<(NodeId, u64, u64)>,
	matrix: LiveMatrix,
	counters: Counters,
	flows: HashMap<u64, InstalledFlow>,
	/// The flows as the last published [`DataView`] holds them.
	view_flows: Arc<HashMap<u64, Arc<FlowEntry>>>,
	/// `flows` changed since `view_flows` was built.
	flows_changed: bool,
	/// Versions of others' flows that no shard may carry: the relay meters as many as it keeps
	/// (see [`Counters::absorb_carry`]).
	carry_full: HashSet<UsageKey>,
	/// What shards may carry of others' flows, as the last sync set it (chain mode).
	carry: Option<Arc<CarryTerms>>,
	drops: DropStats,
	/// The MAC keys of the link with each member (`None` for this relay itself).
	links: Arc<[Option<Box<LinkKeys>>]>,
	/// What every sender of data shares: link windows and sequences, the published view.
	plane: Arc<DataPlane>,
	/// The shard of the data this core handles itself ([`Self::on_datagram`], what the
	/// ingress and the egress send).
	own: DataShard,
	/// The protocol version each member's datagrams carry when it is not ours (logged once).
	foreign_versions: Vec<Option<u8>>,
	/// Newest `(boot, seq)` of each member's rows, against replays.
	row_newest: Vec<Option<(u64, u32)>>,
	/// What we last told the group about each entry of our row.
	row_sent: Vec<Option<LinkMetrics>>,
	row_seq: u32,
	allowed_destinations: Vec<SocketAddr>,
	flow_idle_ns: u64,
	/// Installed flows by origin (member index), against floods.
	flows_per_origin: Vec<usize>,
	/// The control checks of datagrams handed to [`Self::on_datagram`] (workers keep gates of
	/// their own, see [`Self::on_gated`]).
	gate: Gate,
	/// The `now` of the datagram being handled (probe round trips).
	last_now_ns: u64,
	/// Consumers and their keys (chain mode).
	metering: Option<Metering>,
	/// This relay's own escrow backs less than the chain's minimum: its tunnels' traffic is
	/// refused at the ingress (relays would not carry it for long).
	own_escrow_low: bool,
	/// Who this relay's own flows are set up for.
	consumer: Option<Consumer>,
}

/// A row entry goes out again only when it moved by more than could matter to a routing
/// decision: detours need a gain of at least 5 ms and 10 % (`hysteresis`), so a delay change
/// below 1 ms, or below 5 % of the segment's RTT, changes no decision. Scaling with the RTT keeps
/// jitter on long segments from resending every entry every round; full rows still carry the
/// exact values.
const ROW_MIN_DELAY_QUANTUM_US: u64 = 1_000;
/// The delay quantum as a fraction of the RTT: 1/20 = 5 %.
const ROW_DELAY_QUANTUM_RTT_DIVISOR: u64 = 20;
/// Half a percent of loss is worth 5 ms at the default loss penalty (10 ms per %).
const ROW_LOSS_QUANTUM_PPM: u64 = 5_000;
/// A move of this many quanta (5 ms and 25 % of the RTT at least, or 2.5 % loss) could make
/// a detour worth taking, or an active one worthless, on its own: it does not wait for the
/// next round of changes.
const ROW_URGENT_QUANTA: u64 = 5;

/// How far a row entry moved since it was last sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum RowChange {
	/// Less than a quantum.
	None,
	/// At least a quantum: goes out with the next round of changes.
	Minor,
	/// Appeared, vanished, or moved by [`ROW_URGENT_QUANTA`]: goes out at once.
	Urgent,
}

fn row_change(old: Option<&LinkMetrics>, new: &LinkMetrics) -> RowChange {
	let Some(old) = old else { return RowChange::Urgent };
	let (old_rtt, new_rtt) = (old.rtt_us, new.rtt_us);
	if old_rtt.is_some() != new_rtt.is_some() {
		return RowChange::Urgent;
	}
	let quantum = ROW_MIN_DELAY_QUANTUM_US
		.max(u64::from(old_rtt.unwrap_or(0)) / ROW_DELAY_QUANTUM_RTT_DIVISOR);
	let delay_moved = old
		.owd_us
		.abs_diff(new.owd_us)
		.max(u64::from(old_rtt.unwrap_or(0)).abs_diff(u64::from(new_rtt.unwrap_or(0))));
	let loss_moved = u64::from(old.loss_ppm).abs_diff(u64::from(new.loss_ppm));
	let quanta = (delay_moved / quantum).max(loss_moved / ROW_LOSS_QUANTUM_PPM);
	match quanta {
		0 => RowChange::None,
		q if q < ROW_URGENT_QUANTA => RowChange::Minor,
		_ => RowChange::Urgent,
	}
}

/// Which entries of this relay's row a row round sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowMode {
	/// Every entry: repairs whatever a peer missed (a lost datagram, a restart).
	Full,
	/// Entries that moved by at least a quantum since last sent.
	Changes,
	/// Only entries that appeared, vanished or moved enough to change a route now. Rounds in
	/// between rounds of changes send these, so that a row datagram, whose fixed part (header
	/// and signature, 142 B with UDP/IP) outweighs a few entries, rarely carries just one.
	Urgent,
}

/// Which [`RowMode`] each pulse round's row uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowSchedule {
	/// Every how many rounds the full row goes out.
	pub full_every: u32,
	/// Every how many rounds the changes go out; urgent entries go out every round.
	pub changes_every: u32,
	/// The first rounds after a start all send the full row.
	pub full_at_start: u32,
}

impl RowSchedule {
	/// The production schedule for a pulse `interval`: the full row every 5 minutes, changes
	/// every 30 s. Both bound what a group member pays for rows: at group size 100 a full row
	/// is two datagrams (≈ 2 KB) to each of 99 peers, so sending it every 75 s alone would
	/// cost ≈ 14 GB a month in + out, over the whole 20 GB budget with pulses.
	///
	/// For its first 30 s (at least three rounds) a core sends every round's row in full. The
	/// members of a new group rebuild their cores within a few rounds of each other, and a row
	/// that reaches a peer still in the old group is dropped there: sent once as urgent, a
	/// first measurement would stay unknown to that peer until the next full row, minutes
	/// later, and with it every detour through that segment (the lab saw a cut find no
	/// detour for that reason).
	pub fn for_interval(interval: std::time::Duration) -> Self {
		let rounds = |period_ms: u128| (period_ms / interval.as_millis().max(1)).max(1) as u32;
		Self {
			full_every: rounds(300_000),
			changes_every: rounds(30_000),
			full_at_start: rounds(30_000).max(3),
		}
	}

	/// The mode of round `round` (the first rounds are full ones).
	pub fn mode(&self, round: u32) -> RowMode {
		if round < self.full_at_start || round.is_multiple_of(self.full_every.max(1)) {
			RowMode::Full
		} else if round.is_multiple_of(self.changes_every.max(1)) {
			RowMode::Changes
		} else {
			RowMode::Urgent
		}
	}
}

impl From<WireError> for DropReason {
	fn from(e: WireError) -> Self {
		match e {
			WireError::BadSignature => Self::BadSignature,
			WireError::BadMac => Self::BadMac,
			WireError::BadSeal => Self::BadPayload,
			WireError::BadBody => Self::BadReceipt,
			WireError::UnsupportedVersion(_) => Self::UnsupportedVersion,
			_ => Self::Malformed,
		}
	}
}

impl From<CarryRefusal> for DropReason {
	fn from(refusal: CarryRefusal) -> Self {
		match refusal {
			CarryRefusal::Unreceipted => Self::Unreceipted,
			CarryRefusal::Refused | CarryRefusal::Full => Self::ConsumerRefused,
		}
	}
}

impl From<ReceiptReject> for DropReason {
	fn from(reject: ReceiptReject) -> Self {
		match reject {
			ReceiptReject::UnknownConsumer => Self::UnknownConsumer,
			ReceiptReject::BadSignature => Self::BadSignature,
		}
	}
}

impl From<PulseReject> for DropReason {
	fn from(e: PulseReject) -> Self {
		match e {
			PulseReject::UnknownSender => Self::UnknownSender,
			PulseReject::NotForUs => Self::NotForUs,
			PulseReject::Replayed | PulseReject::StaleBoot => Self::Replayed,
		}
	}
}

/// Settings of a [`RelayCore`].
pub struct CoreConfig {
	/// The signing key of this relay's pulses.
	pub key: SigningKey,
	/// Group id the member indices refer to.
	pub group: u32,
	/// All members, this relay included; their order fixes the member indices.
	pub members: Vec<Member>,
	/// When this agent started (unix seconds).
	pub boot_time: u64,
	/// Pulses kept per peer.
	pub window: usize,
	/// Matrix entries older than this are ignored (ns).
	pub stale_after_ns: u64,
	/// Tolerance of the OWD/RTT cross-check (µs).
	pub cross_check_tolerance_us: u64,
	/// A peer silent for this long has no current figures (ns).
	pub silence_ns: u64,
	/// Counters restored from the data dir.
	pub counters: Counters,
	/// Destinations this relay delivers to as an egress; nothing else (no open relay).
	pub allowed_destinations: Vec<SocketAddr>,
	/// A flow whose setup has not come again for this long expires (ns).
	pub flow_idle_ns: u64,
	/// The newest `(boot, link sequence)` accepted from each member before a restart (from
	/// the data dir): nothing up to it is accepted again.
	pub link_marks: Vec<(NodeId, u64, u64)>,
	/// Metering of other ingresses' flows by their consumers' receipts (chain mode); `None`
	/// carries every flow unmetered (static groups).
	pub metering: Option<MeteringConfig>,
	/// The consumer this relay's own flows are set up for (its account in chain mode); no
	/// flow can be originated without one.
	pub consumer: Option<Consumer>,
}

impl CoreConfig {
	/// A configuration with defaults for everything but the key and the members: group 1,
	/// boot time 1, a 30-pulse window, no expiry (of matrix entries or flows), a 5 ms
	/// cross-check tolerance, no counters and no allowed destinations, and the consumer a
	/// static group's relay derives from its key ([`Consumer::derived_from`]). Override fields
	/// with struct update syntax.
	pub fn new(key: SigningKey, members: Vec<Member>) -> Self {
		Self {
			consumer: Consumer::derived_from(&key.to_bytes()),
			key,
			group: 1,
			members,
			boot_time: 1,
			window: 30,
			stale_after_ns: u64::MAX,
			cross_check_tolerance_us: 5_000,
			silence_ns: u64::MAX,
			counters: Counters::default(),
			allowed_destinations: Vec::new(),
			flow_idle_ns: u64::MAX,
			link_marks: Vec::new(),
			metering: None,
		}
	}
}

/// Why a [`RelayCore`] could not be built or a flow not installed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
	/// The signing key's public half is not among the members.
	#[error("this relay's pulse key is not a member of the group")]
	NotAMember,
	/// Two members share an address or id.
	#[error("duplicate member {0}")]
	DuplicateMember(String),
	/// More members than member indices.
	#[error("too many members")]
	TooManyMembers,
	/// The path is empty, too long, loops, or names a non-member.
	#[error("invalid flow path")]
	BadPath,
	/// A member's pulse key is a small-order point (it verifies forged signatures).
	#[error("member {0} has a weak (small-order) pulse key")]
	WeakKey(String),
	/// The flow id is installed for another origin.
	#[error("the flow id belongs to another member's flow")]
	FlowOfAnother,
	/// A setup must carry a newer version than the one installed to change the flow.
	#[error("a changed flow needs a newer setup version")]
	StaleVersion,
	/// No consumer to set the flow up for.
	#[error("no consumer to set the flow up for")]
	NoConsumer,
}

impl RelayCore {
	/// Builds the core; fails if this relay is not in `members` or members repeat.
	pub fn new(config: CoreConfig) -> Result<Self, CoreError> {
		let public = config.key.verifying_key();
		let me = config
			.members
			.iter()
			.position(|m| m.pulse_key == public)
			.ok_or(CoreError::NotAMember)?;
		let me = MemberIndex::try_from(me).map_err(|_| CoreError::TooManyMembers)?;
		let mut by_addr = HashMap::new();
		let mut ids = std::collections::HashSet::new();
		for (i, m) in config.members.iter().enumerate() {
			let index = MemberIndex::try_from(i).map_err(|_| CoreError::TooManyMembers)?;
			if by_addr.insert(canonical_addr(m.addr), index).is_some() || !ids.insert(m.id) {
				return Err(CoreError::DuplicateMember(crate::hex::encode(&m.id)));
			}
			if m.pulse_key.is_weak() {
				return Err(CoreError::WeakKey(crate::hex::encode(&m.id)));
			}
		}
		let my_id = config.members[usize::from(me)].id;
		let mut pulses = PulseEngine::new(my_id, config.boot_time, config.window)
			.with_silence(config.silence_ns);
		for m in &config.members {
			pulses.add_peer(m.id);
		}
		let matrix = LiveMatrix::new(
			config.members.iter().map(|m| m.id).collect(),
			config.stale_after_ns,
			config.cross_check_tolerance_us,
		);
		let n = config.members.len();
		let links: Arc<[Option<Box<LinkKeys>>]> = config
			.members
			.iter()
			.enumerate()
			.map(|(i, m)| {
				(i != usize::from(me))
					.then(|| Box::new(LinkKeys::new(&config.key, &my_id, &m.pulse_key, &m.id)))
			})
			.collect();
		let windows = config
			.members
			.iter()
			.map(|m| match config.link_marks.iter().find(|(id, _, _)| *id == m.id) {
				Some((_, boot, top)) => ReplayWindow::resumed(*boot, *top),
				None => ReplayWindow::default(),
			})
			.collect();
		let members: Arc<[Member]> = config.members.into();
		let by_addr = Arc::new(by_addr);
		let view_flows = Arc::new(HashMap::new());
		let metering = config.metering.map(Metering::new);
		let view = DataView {
			group: config.group,
			me,
			boot_time: config.boot_time,
			epoch: 0,
			closed_through: None,
			members: members.clone(),
			by_addr: by_addr.clone(),
			links: links.clone(),
			flows: view_flows.clone(),
			carry: None,
		};
		let plane = Arc::new(DataPlane::new(view, windows, first_seq(config.boot_time)));
		let own = plane.shard();
		let mut core = Self {
			links,
			plane,
			own,
			view_flows,
			flows_changed: false,
			carry_full: HashSet::default(),
			carry: None,
			closed_through: None,
			// A member that left keeps its mark: if it comes back, nothing it sent before
			// can be replayed. The most recent boots first, a bounded number.
			absent_marks: {
				let mut absent: Vec<(NodeId, u64, u64)> = config
					.link_marks
					.iter()
					.filter(|(id, _, _)| !members.iter().any(|m| m.id == *id))
					.copied()
					.collect();
				absent.sort_by_key(|(_, boot, top)| std::cmp::Reverse((*boot, *top)));
				absent.truncate(MAX_ABSENT_MARKS);
				absent
			},
			foreign_versions: vec![None; n],
			row_newest: vec![None; n],
			row_sent: vec![None; n],
			row_seq: 0,
			allowed_destinations: config.allowed_destinations,
			flow_idle_ns: config.flow_idle_ns,
			flows_per_origin: vec![0; n],
			gate: Gate::new(me, members.clone(), by_addr.clone()),
			last_now_ns: 0,
			metering,
			own_escrow_low: false,
			consumer: config.consumer,
			key: config.key,
			me,
			group: config.group,
			boot_time: config.boot_time,
			epoch: 0,
			members,
			by_addr,
			pulses,
			matrix,
			counters: config.counters,
			flows: HashMap::new(),
			drops: DropStats::default(),
		};
		core.sync();
		core.publish();
		Ok(core)
	}

	/// This relay's member index.
	pub fn me(&self) -> MemberIndex {
		self.me
	}

	/// The members.
	pub fn members(&self) -> &[Member] {
		&self.members
	}

	/// The live matrix.
	pub fn matrix(&self) -> &LiveMatrix {
		&self.matrix
	}

	/// The octet counters.
	pub fn counters(&self) -> &Counters {
		&self.counters
	}

	/// The octet counters, to persist or mark claimed.
	pub fn counters_mut(&mut self) -> &mut Counters {
		&mut self.counters
	}

	/// Dropped datagrams by reason.
	pub fn drops(&self) -> &DropStats {
		&self.drops
	}

	/// The newest `(boot, link sequence)` accepted from each member that sent data: saved
	/// with the counters, restored by [`CoreConfig::link_marks`] after a restart.
	pub fn link_marks(&self) -> Vec<(NodeId, u64, u64)> {
		self.members
			.iter()
			.enumerate()
			.filter_map(|(i, m)| self.plane.link_mark(i).map(|(boot, top)| (m.id, boot, top)))
			.chain(self.absent_marks.iter().copied())
			.collect()
	}

	/// This agent's boot time.
	pub fn boot_time(&self) -> u64 {
		self.boot_time
	}

	/// The metering epoch stamped into packets this relay originates.
	pub fn epoch(&self) -> u32 {
		self.epoch
	}

	/// Closes every epoch up to `epoch`: its claim is being built, so data stamped with it is
	/// dropped from now on (carried, it would be counted after the claim and never paid).
	pub fn close_epochs_through(&mut self, epoch: u32) {
		// What the shards counted of it so far is in the claim; from the view that follows
		// on, they count none of it.
		self.sync_then(|core| {
			core.closed_through =
				Some(core.closed_through.map_or(epoch, |closed| closed.max(epoch)));
			true
		});
	}

	/// The last closed epoch.
	pub fn closed_through(&self) -> Option<u32> {
		self.closed_through
	}

	/// Sets the metering epoch stamped into packets this relay originates.
	pub fn set_epoch(&mut self, epoch: u32) {
		if self.epoch != epoch {
			// Budgets are kept per epoch around the current one.
			self.sync_then(|core| {
				core.epoch = epoch;
				true
			});
		}
	}

	/// A flow by id.
	pub fn flow(&self, id: u64) -> Option<&Flow> {
		self.flows.get(&id).map(|installed| &installed.entry.flow)
	}

	/// Installs a flow without a setup, paid for by its origin's account (tests, benchmarks
	/// and tools; the agent installs only what setups bring, see `on_flow_setup`), or replaces
	/// it with a newer version; the same flow again only counts as refreshed, an older version
	/// or another flow under the version held is refused ([`CoreError::StaleVersion`]).
	#[doc(hidden)]
	pub fn install_flow(&mut self, flow: Flow) -> Result<(), CoreError> {
		let consumer =
			self.members.get(usize::from(flow.path.first().copied().unwrap_or(u16::MAX)));
		let consumer = consumer.ok_or(CoreError::BadPath)?.id;
		self.install(flow, consumer, [0; 64])
	}

	/// Installs version `flow.version` of a flow for `consumer`, whose `consent` was checked
	/// (or made) by the caller.
	fn install(
		&mut self,
		flow: Flow,
		consumer: NodeId,
		consent: [u8; 64],
	) -> Result<(), CoreError> {
		if !self.valid_path(&flow.path) {
			return Err(CoreError::BadPath);
		}
		let origin = flow.path[0];
		let refreshed_ns = self.last_now_ns;
		match self.flows.get_mut(&flow.id) {
			Some(installed) if installed.entry.flow.path.first() != Some(&origin) => {
				return Err(CoreError::FlowOfAnother)
			}
			Some(installed)
				if installed.entry.flow == flow && installed.entry.consumer == consumer =>
			{
				// The same setup again: only refreshed. Its consent was checked (or made) for
				// the same terms: kept, so the origin's next re-announcement is not checked
				// again (signatures are randomized; another signing gives other bytes).
				installed.refreshed_ns = refreshed_ns;
				installed.consent = consent;
				return Ok(());
			}
			// An older version, or another flow under the version held: a replay (the origin
			// numbers every new path and key).
			Some(installed) if installed.entry.flow.version >= flow.version => {
				return Err(CoreError::StaleVersion)
			}
			Some(_) => {}
			None => {
				let count = self.flows_per_origin.get(usize::from(origin)).copied().unwrap_or(0);
				if count >= MAX_FLOWS_PER_ORIGIN {
					self.evict_oldest_of(origin);
				}
				if let Some(count) = self.flows_per_origin.get_mut(usize::from(origin)) {
					*count += 1;
				}
			}
		}
		let is_end = flow.path.first() == Some(&self.me) || flow.path.last() == Some(&self.me);
		let cipher = is_end.then(|| Arc::new(FlowCipher::new(&flow.key)));
		let mut entry =
			FlowEntry { flow, cipher, previous: None, end_window: Default::default(), consumer };
		if let Some(old) = self.flows.remove(&entry.flow.id) {
			// A rekey on the same path: packets sealed under the old key are on their way.
			let old = &old.entry;
			let same_route =
				old.flow.path == entry.flow.path && old.flow.destination == entry.flow.destination;
			if same_route {
				// One window for both versions, also while a shard still reads the old one.
				entry.end_window = old.end_window.clone();
				entry.previous = Some(PreviousVersion {
					version: old.flow.version,
					cipher: old.cipher.clone(),
					consumer: old.consumer,
					until_ns: refreshed_ns.saturating_add(PREVIOUS_VERSION_GRACE_NS),
				});
			}
		}
		let id = entry.flow.id;
		self.flows.insert(id, InstalledFlow { entry: Arc::new(entry), refreshed_ns, consent });
		self.flows_changed = true;
		self.publish();
		Ok(())
	}

	fn evict_oldest_of(&mut self, origin: MemberIndex) {
		let oldest = self
			.flows
			.iter()
			.filter(|(_, f)| f.entry.flow.path.first() == Some(&origin))
			.min_by_key(|(_, f)| f.refreshed_ns)
			.map(|(id, _)| *id);
		if let Some(id) = oldest {
			self.remove_flow(id);
		}
	}

	fn remove_flow(&mut self, id: u64) {
		if let Some(removed) = self.flows.remove(&id) {
			self.flows_changed = true;
			let origin = removed.entry.flow.path.first().map_or(usize::MAX, |m| usize::from(*m));
			if let Some(count) = self.flows_per_origin.get_mut(origin) {
				*count = count.saturating_sub(1);
			}
		}
	}

	/// Number of installed flows.
	pub fn flow_count(&self) -> usize {
		self.flows.len()
	}

	/// Removes the flows of other origins whose setup has not come again for the configured
	/// idle time (this relay's own flows live as long as their tunnels); returns their ids.
	/// (An egress socket notices its flow is gone at its next idle check and closes.)
	pub fn expire_flows(&mut self, now_ns: u64) -> Vec<u64> {
		let me = self.me;
		let idle = self.flow_idle_ns;
		let expired: Vec<u64> = self
			.flows
			.iter()
			.filter(|(_, f)| {
				f.entry.flow.path.first() != Some(&me)
					&& now_ns.saturating_sub(f.refreshed_ns) > idle
			})
			.map(|(id, _)| *id)
			.collect();
		for id in &expired {
			self.remove_flow(*id);
		}
		if !expired.is_empty() {
			self.publish();
		}
		expired
	}

	/// Writes the pulse for member `peer` at `now_ns` into `out`; returns where to send it
	/// and its length.
	pub fn pulse_for(
		&mut self,
		peer: MemberIndex,
		now_ns: u64,
		out: &mut [u8],
	) -> Option<(SocketAddr, usize)> {
		let member = self.members.get(usize::from(peer))?.clone();
		let pulse = self.pulses.next_pulse(&member.id, now_ns)?;
		let len = pulse.encode(&self.key, out).ok()?;
		Some((member.addr, len))
	}

	/// Refreshes this relay's own inbound row of the matrix from its pulse statistics.
	pub fn refresh_own_row(&mut self, now_ns: u64) {
		for (index, member) in self.members.iter().enumerate() {
			let Ok(from) = MemberIndex::try_from(index) else { continue };
			if let Some(metrics) = self.pulses.metrics(&member.id, now_ns) {
				self.matrix.update(from, self.me, metrics, now_ns);
			}
		}
		self.matrix.advance(now_ns);
	}

	/// This relay's own measurements of every member that pulses it (the inbound row it
	/// reports on chain).
	pub fn inbound_metrics(&self, now_ns: u64) -> Vec<(NodeId, super::pulse::LinkMetrics)> {
		self.members
			.iter()
			.enumerate()
			.filter(|(index, _)| *index != usize::from(self.me))
			.filter_map(|(_, member)| Some((member.id, self.pulses.metrics(&member.id, now_ns)?)))
			.collect()
	}

	/// Mutable access to the matrix (rows received from peers).
	pub fn matrix_mut(&mut self) -> &mut LiveMatrix {
		&mut self.matrix
	}

	/// Handles one datagram from `from`, received at `now_ns`. May rewrite `datagram` in place
	/// (forwarding); never panics on any input. The core's own gate checks control datagrams
	/// (see [`Self::on_gated`] for a driver that runs them apart).
	#[inline]
	pub fn on_datagram(&mut self, from: SocketAddr, datagram: &mut [u8], now_ns: u64) -> Action {
		let admission = self.gate.admit(from, datagram, now_ns);
		self.on_gated(from, datagram, now_ns, admission)
	}

	/// A gate for a worker, with full budgets: it checks control datagrams (their sender,
	/// budget and signature) without this core, whose lock it need not hold meanwhile.
	pub fn gate(&self) -> Gate {
		self.gate.fresh()
	}

	/// Handles one datagram as [`Self::on_datagram`] does, after a gate's `admission` of it
	/// (from this core's [`Self::gate`], for the same `from`, `datagram` and `now_ns`).
	#[inline]
	pub fn on_gated(
		&mut self,
		from: SocketAddr,
		datagram: &mut [u8],
		now_ns: u64,
		admission: Admission,
	) -> Action {
		self.last_now_ns = now_ns;
		let action = match admission {
			Admission::Dropped(reason) => Err(reason),
			Admission::Admitted(admitted) => self.on_admitted(admitted, datagram, now_ns),
			Admission::Unchecked => {
				let handled = self.own.pass().handle(from, datagram, now_ns);
				match handled {
					Handled::Done(action) => {
						// What the shard counted is the core's at once (tests and tools read
						// it right away; workers' shards are synced every interval).
						self.sync_own();
						return action;
					}
					Handled::ForeignVersion { member, version } => {
						self.foreign_version(member, version);
						return Action::Dropped(DropReason::UnsupportedVersion);
					}
					// A control datagram no gate passed.
					Handled::Control => Err(DropReason::UnknownSender),
				}
			}
		};
		action.unwrap_or_else(|reason| {
			self.drops.count(reason);
			Action::Dropped(reason)
		})
	}

	/// A control datagram that passed a gate.
	fn on_admitted(
		&mut self,
		admitted: Admitted,
		datagram: &[u8],
		now_ns: u64,
	) -> Result<Action, DropReason> {
		match admitted.kind {
			PacketType::Pulse => self.on_pulse(admitted.sender, datagram, now_ns),
			PacketType::Row => self.on_row(admitted.sender, datagram, now_ns),
			PacketType::FlowSetup => self.on_flow_setup(admitted.origin, datagram),
			PacketType::Receipt => self.on_receipt(admitted.sender, datagram),
			PacketType::Data => Err(DropReason::Malformed),
		}
	}

	/// A member speaks another protocol version: said once per member and version (the
	/// count is in [`DropReason::UnsupportedVersion`]).
	pub fn foreign_version(&mut self, member: MemberIndex, version: u8) {
		self.drops.count(DropReason::UnsupportedVersion);
		let Some(seen) = self.foreign_versions.get_mut(usize::from(member)) else { return };
		if *seen != Some(version) {
			*seen = Some(version);
			tracing::warn!(
				member = %crate::hex::encode(&self.members[usize::from(member)].id),
				version,
				ours = wire::VERSION,
				"a group member speaks another protocol version: its datagrams are dropped"
			);
		}
	}

	/// The protocol version member `member` speaks, as far as this relay can tell: ours unless
	/// its datagrams carried another.
	pub fn member_version(&self, member: MemberIndex) -> u8 {
		self.foreign_versions.get(usize::from(member)).copied().flatten().unwrap_or(wire::VERSION)
	}

	/// A pulse its sender signed (the gate checked): measured, unless replayed.
	fn on_pulse(
		&mut self,
		from: MemberIndex,
		datagram: &[u8],
		now_ns: u64,
	) -> Result<Action, DropReason> {
		let pulse = Pulse::decode(datagram)?;
		self.pulses.on_pulse(&pulse, now_ns)?;
		if let Some(seen) = self.foreign_versions.get_mut(usize::from(from)) {
			if seen.take().is_some() {
				// Shards tell the core again if its data speaks another version again.
				for shard in self.plane.shard_states() {
					if let Some(seen) = locked(&shard).foreign.get_mut(usize::from(from)) {
						*seen = None;
					}
				}
			}
		}
		Ok(Action::Consumed)
	}

	/// A setup of member `origin`'s flow that the gate checked (the origin's, near this
	/// relay's clock, signed by it): installed where the consumer consented, the path holds
	/// this relay, and an egress delivers to the destination; passed on along the path.
	fn on_flow_setup(
		&mut self,
		origin: MemberIndex,
		datagram: &[u8],
	) -> Result<Action, DropReason> {
		let setup = FlowSetup::decode(datagram)?;
		let terms = &setup.terms;
		let origin = usize::from(origin);
		// Cheap checks first: a path of members from the origin, through this relay, to a
		// destination it serves if it is the egress, and a version that would change what is
		// held here. Only then the consent (an sr25519 verification).
		let path = terms.path.as_slice();
		if !self.valid_path(path) || path.first().map(|m| usize::from(*m)) != Some(origin) {
			return Err(DropReason::BadPath);
		}
		let position = path.iter().position(|m| *m == self.me).ok_or(DropReason::NotOnPath)?;
		let is_egress = path.last() == Some(&self.me);
		if is_egress && !self.allowed_destinations.contains(&terms.destination) {
			return Err(DropReason::DestinationNotAllowed);
		}
		let held = self.flows.get(&terms.flow);
		if held.map(|installed| &installed.entry).is_some_and(|held| {
			held.flow.version > terms.version
				|| (held.flow.version == terms.version
					&& (held.consumer != terms.consumer
						|| held.flow.path.as_slice() != path
						|| held.flow.destination != terms.destination))
		}) {
			return Err(DropReason::StaleSetup);
		}
		// Re-announcements of a version carry the consent it was installed with: checked once.
		let checked = held.is_some_and(|installed| {
			installed.entry.flow.version == terms.version && installed.consent == setup.consent
		});
		if !checked && !consent::verifies(terms, &self.consent_context(path), &setup.consent) {
			return Err(DropReason::BadConsent);
		}
		// Only the egress can unwrap the key; transit relays hold none.
		let key = if is_egress { setup.unwrap_key(&self.key) } else { [0; 32] };
		let flow = Flow {
			id: terms.flow,
			version: terms.version,
			key,
			path: path.to_vec(),
			destination: terms.destination,
		};
		self.install(flow, terms.consumer, setup.consent).map_err(|error| match error {
			CoreError::FlowOfAnother => DropReason::FlowOfAnother,
			CoreError::StaleVersion => DropReason::StaleSetup,
			_ => DropReason::BadPath,
		})?;
		// The setup travels the path it sets up, as the data will: the origin sends it to the
		// first hop, each member passes it to the next. A member the origin cannot reach
		// directly (the very reason for a detour) still learns the new path.
		match path.get(position + 1) {
			Some(&next) => self.forward_to(next),
			None => Ok(Action::Consumed),
		}
	}

	/// Whether `path` is usable: 2 to `MAX_SEGMENTS + 1` distinct members.
	fn valid_path(&self, path: &[MemberIndex]) -> bool {
		let n = self.members.len();
		(2..=MAX_SEGMENTS + 1).contains(&path.len())
			&& path.iter().enumerate().all(|(i, m)| usize::from(*m) < n && !path[..i].contains(m))
	}

	/// What a consent to a version on `path` (a valid path) covers besides the setup's terms.
	fn consent_context(&self, path: &[MemberIndex]) -> consent::Context {
		consent::Context {
			genesis: self.metering.as_ref().map_or([0; 32], |m| m.config().genesis),
			group: self.group,
			path: path_ids(&self.members, path),
		}
	}

	/// A consumer's receipt for a flow version this relay carried. Cheap checks first: it
	/// names the path the version took here, comes from the router before this one on it (or
	/// straight from the ingress, which sends a copy to every router of the path: a router
	/// that withholds receipts cannot starve the ones after it), under the version's flow id;
	/// its consumer is the one the version's setup named (and consented, see
	/// [`super::consent`]); it is newer than the held one, says no less either way
	/// ([`CarriedFlow::admits`](super::counters::CarriedFlow::admits)). Then the consumer's
	/// signature (see [`super::metering`]). Kept (the claim carries it); what came
	/// from the router before is passed to the next one. A receipt that caps the price below
	/// this relay's, or of a consumer whose escrow is too low, is kept, and the version's data
	/// is no longer carried.
	fn on_receipt(&mut self, from: MemberIndex, datagram: &[u8]) -> Result<Action, DropReason> {
		if self.metering.is_none() {
			return Err(DropReason::BadReceipt);
		}
		let packet = ReceiptPacket::decode(datagram)?;
		let receipt = &packet.receipt.receipt;
		if packet.group != self.group {
			return Err(DropReason::BadReceipt);
		}
		let key = UsageKey { epoch: receipt.epoch, flow: packet.flow, version: packet.version };
		if self.counters.carried(&key).is_none() && self.plane.carries(&key) {
			// A version first carried since the last sync is in a shard still.
			self.sync();
		}
		let metering = self.metering.as_mut().ok_or(DropReason::BadReceipt)?;
		let carried = self.counters.carried(&key).ok_or(DropReason::BadReceipt)?;
		let path = &carried.path;
		let my_id = self.members[usize::from(self.me)].id;
		let position = path.iter().position(|id| *id == my_id).ok_or(DropReason::BadReceipt)?;
		let prev = position.checked_sub(1).and_then(|p| path.get(p));
		let origin = path.first().ok_or(DropReason::BadReceipt)?;
		let sender = &self.members[usize::from(from)].id;
		let from_prev = prev == Some(sender);
		if receipt.path.as_slice() != path.as_slice()
			|| !(from_prev || sender == origin)
			|| receipt.consumer != carried.consumer
			|| receipt.flow != flow_id(origin, packet.flow, packet.version)
		{
			return Err(DropReason::BadReceipt);
		}
		if carried.receipt.as_ref().is_some_and(|held| held.receipt.nonce >= receipt.nonce) {
			return Err(DropReason::Replayed);
		}
		if !carried.admits(&packet.receipt) {
			return Err(DropReason::BadReceipt);
		}
		let next = path.get(position + 1).copied();
		metering.verify(&packet.receipt)?;
		let escrow_low = metering.consumer(&receipt.consumer).is_some_and(|terms| !terms.escrow_ok);
		let price_capped =
			metering.config().price_per_gb.is_some_and(|price| receipt.max_price_per_gb < price);
		if escrow_low || price_capped {
			tracing::info!(
				consumer = %crate::hex::encode(&receipt.consumer),
				flow = packet.flow,
				escrow_low,
				price_capped,
				"a flow's consumer would not pay this relay: its data is no longer carried"
			);
		}
		let refused = escrow_low || price_capped;
		let origin = self.members.iter().position(|m| m.id == *origin);
		let released = self.counters.hold_receipt(&key, packet.receipt, refused);
		if let (Some(released), Some(terms)) = (released, self.carry.clone()) {
			if refused {
				// Shards refuse the version from their next pass.
				self.carry = self.carry_terms(Some(terms.budgets.clone())).map(Arc::new);
				self.publish();
			}
			if let Some(origin) = origin.and_then(|o| MemberIndex::try_from(o).ok()) {
				terms.budgets.give_back(origin, key.epoch, released);
			}
		}
		match next.and_then(|id| self.members.iter().position(|m| m.id == id)) {
			Some(next) if from_prev => self.forward_to(next as MemberIndex),
			_ => Ok(Action::Consumed),
		}
	}

	/// Sets what the chain says about `consumer` (its receipt keys, whether its escrow backs
	/// the minimum); no-op without metering.
	pub fn set_consumer(&mut self, consumer: [u8; 32], terms: ConsumerTerms) {
		let Some(metering) = self.metering.as_mut() else { return };
		if consumer == self.members[usize::from(self.me)].id {
			self.own_escrow_low = !terms.escrow_ok;
		}
		metering.set_consumer(consumer, terms);
	}

	/// Sets the consumer this relay's own flows are set up for from their next version on.
	pub fn set_own_consumer(&mut self, consumer: Consumer) {
		self.consumer = Some(consumer);
	}

	/// The consumers this core knows (for the core that replaces it at a regroup).
	pub fn metering(&self) -> Option<&Metering> {
		self.metering.as_ref()
	}

	/// Takes over what the core this one replaces knew of the consumers (their terms, this
	/// relay's own escrow), so that a regroup drops no receipt.
	pub fn adopt_metering(&mut self, earlier: Metering) {
		let Some(metering) = self.metering.as_mut() else { return };
		metering.adopt(earlier);
		let me = self.members[usize::from(self.me)].id;
		self.own_escrow_low = metering.consumer(&me).is_some_and(|terms| !terms.escrow_ok);
	}

	/// Whether this relay's own escrow backs less than the chain's minimum (its tunnels'
	/// traffic is refused).
	pub fn own_escrow_low(&self) -> bool {
		self.own_escrow_low
	}

	/// The consumers whose terms the agent should fetch (their receipts came in unknown),
	/// and every known one (to refresh each epoch).
	pub fn consumers_to_fetch(&mut self, all: bool) -> Vec<[u8; 32]> {
		let Some(metering) = self.metering.as_mut() else { return Vec::new() };
		let mut wanted = metering.take_wanted();
		if all {
			wanted.extend(metering.known());
		}
		wanted
	}

	/// A receipt datagram for flow version `key` originated here, written into `out`: returns
	/// the addresses of the version's other routers, the second one first (it passes the
	/// receipt along the path; the others get a copy straight from here), and the length.
	pub fn receipt_datagram(
		&self,
		key: &UsageKey,
		receipt: srwan_primitives::receipts::SignedReceipt<NodeId>,
		out: &mut [u8],
	) -> Result<(Vec<SocketAddr>, usize), DropReason> {
		let to: Vec<SocketAddr> = receipt
			.receipt
			.path
			.iter()
			.skip(1)
			.map(|id| self.members.iter().find(|m| m.id == *id).map(|m| m.addr))
			.collect::<Option<_>>()
			.ok_or(DropReason::BadPath)?;
		if to.is_empty() {
			return Err(DropReason::BadPath);
		}
		let packet =
			ReceiptPacket { group: self.group, flow: key.flow, version: key.version, receipt };
		let len = packet.encode(out)?;
		Ok((to, len))
	}

	/// Installs `flow` here (this relay must be its ingress) and writes its signed setup into
	/// `out`, stamped `now_ns` (wall clock), the flow key wrapped for the egress, with the
	/// consent of this relay's consumer (signed once per version); the driver
	/// sends it to the path's first hop, which passes it on (see `on_flow_setup`).
	/// `ephemeral_secret` must be fresh random bytes. Returns the length.
	pub fn originate_flow(
		&mut self,
		flow: Flow,
		ephemeral_secret: [u8; 32],
		now_ns: u64,
		out: &mut [u8],
	) -> Result<usize, CoreError> {
		if flow.path.first() != Some(&self.me) {
			return Err(CoreError::BadPath);
		}
		self.last_now_ns = self.last_now_ns.max(now_ns);
		let egress = flow.path.last().and_then(|m| self.members.get(usize::from(*m)));
		let egress = egress.ok_or(CoreError::BadPath)?.pulse_key;
		let terms = SetupTerms {
			origin: self.members[usize::from(self.me)].id,
			flow: flow.id,
			version: flow.version,
			time_ms: now_ns / 1_000_000,
			destination: flow.destination,
			path: heapless_path::Path::from_slice(&flow.path).ok_or(CoreError::BadPath)?,
			consumer: self.consumer.as_ref().ok_or(CoreError::NoConsumer)?.account(),
		};
		// One consent per version: a re-announcement carries the one already signed.
		let held = self
			.flows
			.get(&flow.id)
			.filter(|held| held.entry.flow == flow && held.entry.consumer == terms.consumer);
		let consent = match (held, &self.consumer) {
			(Some(installed), _) => installed.consent,
			(None, Some(consumer)) if self.valid_path(&flow.path) => {
				consumer.consent(&terms, &self.consent_context(&flow.path))
			}
			(None, Some(_)) => return Err(CoreError::BadPath),
			(None, None) => return Err(CoreError::NoConsumer),
		};
		let setup = FlowSetup::seal(terms, &flow.key, &egress, ephemeral_secret, consent)
			.map_err(|_| CoreError::BadPath)?;
		self.install(flow, terms.consumer, consent)?;
		setup.encode(&self.key, out).map_err(|_| CoreError::BadPath)
	}

	/// A row its sender signed (the gate checked): into the matrix, unless replayed.
	fn on_row(
		&mut self,
		from: MemberIndex,
		datagram: &[u8],
		now_ns: u64,
	) -> Result<Action, DropReason> {
		let (header, count) = decode_row_header(datagram)?;
		let sender = usize::from(from);
		let newest = self.row_newest.get_mut(sender).ok_or(DropReason::UnknownSender)?;
		if newest.is_some_and(|seen| (header.boot_time, header.seq) <= seen) {
			return Err(DropReason::Replayed);
		}
		*newest = Some((header.boot_time, header.seq));
		let to = MemberIndex::try_from(sender).map_err(|_| DropReason::Malformed)?;
		for i in 0..count {
			let Some(entry) = row_entry(datagram, i) else { break };
			if entry.is_withdrawn() {
				self.matrix.clear(entry.member, to);
				continue;
			}
			let metrics = LinkMetrics {
				owd_us: i64::from(entry.owd_us),
				rtt_us: (entry.rtt_us != u32::MAX).then_some(entry.rtt_us),
				jitter_us: entry.jitter_us,
				loss_ppm: entry.loss_ppm,
				samples: 0,
			};
			self.matrix.update(entry.member, to, metrics, now_ns);
		}
		Ok(Action::Consumed)
	}

	/// Writes this relay's next row datagram of a `mode` round into `out`, starting at member
	/// `*cursor` and advancing it past the members considered, so that a round larger than one
	/// datagram ([`MAX_ROW_ENTRIES`]) continues where the previous datagram stopped: call it
	/// with the cursor at 0 and again until `None`. Silent members are withdrawn in every mode.
	/// The same datagram goes to every member.
	pub fn next_row(
		&mut self,
		mode: RowMode,
		now_ns: u64,
		cursor: &mut usize,
		out: &mut [u8],
	) -> Option<usize> {
		let mut entries = [RowEntry { member: 0, owd_us: 0, rtt_us: 0, jitter_us: 0, loss_ppm: 0 };
			MAX_ROW_ENTRIES];
		let mut count = 0;
		while let Some(member) = self.members.get(*cursor) {
			if count == MAX_ROW_ENTRIES {
				break;
			}
			let index = *cursor;
			*cursor += 1;
			let Some(metrics) = self.pulses.metrics(&member.id, now_ns) else {
				// Silent: withdraw the entry once, so the group stops using that segment now
				// rather than when its copy expires; it goes out again as soon as it is back.
				if self.row_sent[index].take().is_some() {
					entries[count] = RowEntry::withdrawn(index as u16);
					count += 1;
				}
				continue;
			};
			let change = row_change(self.row_sent[index].as_ref(), &metrics);
			let wanted = match mode {
				RowMode::Full => true,
				RowMode::Changes => change >= RowChange::Minor,
				RowMode::Urgent => change == RowChange::Urgent,
			};
			if !wanted {
				continue;
			}
			self.row_sent[index] = Some(metrics);
			entries[count] = RowEntry {
				member: index as u16,
				owd_us: metrics.owd_us.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
				rtt_us: metrics.rtt_us.unwrap_or(u32::MAX),
				jitter_us: metrics.jitter_us,
				loss_ppm: metrics.loss_ppm,
			};
			count += 1;
		}
		if count == 0 {
			return None;
		}
		self.row_seq = self.row_seq.wrapping_add(1);
		let header = RowHeader {
			sender: self.members[usize::from(self.me)].id,
			boot_time: self.boot_time,
			seq: self.row_seq,
			full: mode == RowMode::Full,
		};
		encode_row(&header, &entries[..count], &self.key, out).ok()
	}

	/// Forwarding to member `next`, if there is such a member.
	fn forward_to(&self, next: MemberIndex) -> Result<Action, DropReason> {
		if usize::from(next) < self.members.len() {
			Ok(Action::Forward { to: next })
		} else {
			Err(DropReason::BadPath)
		}
	}

	/// Writes a fast probe of flow `flow_id` (this relay must be its ingress) into `out`: along
	/// the flow's path, or with `direct` straight to its egress (to see whether the direct
	/// path works again while traffic takes a detour; the echo comes straight back).
	pub fn probe(
		&mut self,
		flow_id: u64,
		seq: u64,
		now_ns: u64,
		direct: bool,
		out: &mut [u8],
	) -> Result<(SocketAddr, usize), DropReason> {
		let mut probe = [0u8; PROBE_LEN];
		probe[..8].copy_from_slice(&seq.to_be_bytes());
		probe[8..].copy_from_slice(&now_ns.to_be_bytes());
		let pass = self.own.pass();
		let (first, len) =
			self.plane.encode_on_flow(pass.view(), flow_id, false, true, &probe, out, direct)?;
		Ok((self.members[usize::from(first)].addr, len))
	}

	/// Encapsulates a payload of flow `flow_id` at its ingress (forward) or egress (reverse,
	/// `reverse = true`) into `out`; returns the first hop and the datagram length.
	pub fn encapsulate(
		&mut self,
		flow_id: u64,
		reverse: bool,
		payload: &[u8],
		out: &mut [u8],
	) -> Result<(SocketAddr, usize), DropReason> {
		if self.own_escrow_low && !reverse {
			return Err(DropReason::ConsumerRefused);
		}
		let mut pass = self.own.pass();
		let (first, len) =
			self.plane.encode_on_flow(pass.view(), flow_id, reverse, false, payload, out, false)?;
		let key = |installed: &InstalledFlow| UsageKey {
			epoch: self.epoch,
			flow: flow_id,
			version: installed.entry.flow.version,
		};
		let installed = self.flows.get(&flow_id).ok_or(DropReason::UnknownFlow)?;
		if reverse {
			// A reply leaving the egress: carried for the flow's consumer, within the lease
			// of the core's own shard.
			pass.carry(key(installed), &installed.entry, (0, len as u64))?;
		}
		drop(pass);
		let Member { id, addr, .. } = self.members[usize::from(first)];
		self.counters.record_out(self.boot_time, self.epoch, id, len as u64);
		if !reverse {
			// Leaving the ingress: what the consumer's receipt counts as `fwd_octets`.
			let (members, path) = (&self.members, &installed.entry.flow.path);
			self.counters.record_flow(key(installed), || path_ids(members, path), len as u64, 0);
		}
		Ok((addr, len))
	}

	/// A shard of the data path for a worker: it checks, counts and forwards data without
	/// this core (see [`super::data_path`]); [`Self::sync`] takes in what it counted.
	pub fn data_shard(&self) -> DataShard {
		self.plane.shard()
	}

	/// Takes in what every shard counted since the last sync (octets per link and flow,
	/// carried for others, drops), and sets the budgets of others' flows anew from what is
	/// now counted. Counts of epochs closed meanwhile are dropped, as the data itself would
	/// have been.
	pub fn sync(&mut self) {
		self.sync_then(|_| false);
	}

	/// [`Self::sync`], with `change` made to the core while every shard is held (it says
	/// whether it changed what the view holds): no shard handles data between the counts
	/// taken in and the view that follows the change.
	fn sync_then(&mut self, change: impl FnOnce(&mut Self) -> bool) {
		let shards = self.plane.shard_states();
		// Every shard stays held until the new budgets are out: none carries anything the
		// new budgets would not account for.
		let mut states: Vec<_> = shards.iter().map(|shard| locked(shard)).collect();
		for state in states.iter_mut() {
			self.absorb(state);
		}
		let changed = change(self);
		let metered = self.metering.is_some() || self.carry.is_some();
		if metered {
			self.carry = self.carry_terms(None).map(Arc::new);
		}
		if changed || metered {
			self.publish();
		}
		drop(states);
	}

	/// Takes in what the core's own shard counted (after each datagram it handled itself):
	/// the budgets stay, they already hold what it carried.
	fn sync_own(&mut self) {
		let own = self.own.state().clone();
		self.absorb(&mut locked(&own));
	}

	/// Takes in what one shard counted.
	fn absorb(&mut self, state: &mut ShardState) {
		let (epoch, closed) = (self.epoch, self.closed_through);
		let counts = |e: u32| closed.is_none_or(|closed| e > closed);
		let keep = |e: u32| e.abs_diff(epoch) <= 1;
		self.counters.absorb(&mut state.counters, counts, keep);
		for (key, delta) in state.carried.drain() {
			if (delta.fwd, delta.rev) == (0, 0) || !counts(key.epoch) {
				continue;
			}
			let (fwd, rev) = (delta.fwd, delta.rev);
			let absorbed = self.counters.absorb_carry(key, delta.consumer, &delta.path, fwd, rev);
			if absorbed == Err(CarryRefusal::Full) && self.carry_full.len() < MAX_CARRIED_FLOWS {
				self.carry_full.insert(key);
			}
		}
		self.carry_full.retain(|key| keep(key.epoch) && counts(key.epoch));
		self.drops.absorb(&mut state.drops);
	}

	/// Publishes what the data path reads of this core (see [`DataView`]).
	fn publish(&mut self) {
		if std::mem::take(&mut self.flows_changed) {
			self.view_flows = Arc::new(
				self.flows.iter().map(|(id, installed)| (*id, installed.entry.clone())).collect(),
			);
		}
		let carry = self.carry.clone();
		self.plane.publish(DataView {
			group: self.group,
			me: self.me,
			boot_time: self.boot_time,
			epoch: self.epoch,
			closed_through: self.closed_through,
			members: self.members.clone(),
			by_addr: self.by_addr.clone(),
			links: self.links.clone(),
			flows: self.view_flows.clone(),
			carry,
		});
	}

	/// What shards may carry of others' flows now (`None` without metering), with new budgets
	/// from the counts (only while every shard is held, see [`Self::sync`]), or with
	/// `budgets` kept.
	fn carry_terms(&self, budgets: Option<Arc<Budgets>>) -> Option<CarryTerms> {
		let metering = self.metering.as_ref()?;
		let window = metering.config().credit_window;
		let full_origins = (self.counters.carry_loads())
			.filter(|(_, versions, _)| *versions >= MAX_CARRIED_PER_ORIGIN)
			.map(|(origin, _, _)| origin)
			.collect();
		let budgets = budgets.unwrap_or_else(|| {
			let loads: HashMap<(u32, NodeId), u64> = (self.counters.carry_loads())
				.map(|(origin, _, unreceipted)| (origin, unreceipted))
				.collect();
			let members = &self.members;
			Arc::new(Budgets::new(self.epoch, members.len(), |origin, epoch| {
				let load = loads.get(&(epoch, members[origin].id)).copied().unwrap_or(0);
				window.saturating_sub(load)
			}))
		});
		let mut terms = CarryTerms {
			for_sale: metering.config().price_per_gb.is_some(),
			budgets,
			// No room left for new versions, or for refusing them one by one.
			table_full: self.counters.carried_count() >= MAX_CARRIED_FLOWS
				|| self.carry_full.len() >= MAX_CARRIED_FLOWS,
			refused: self.carry_full.clone(),
			full_origins,
			known: HashSet::default(),
		};
		let limited = terms.table_full || !terms.full_origins.is_empty();
		for (key, carried) in self.counters.carried_flows() {
			if carried.refused {
				terms.refused.insert(*key);
			}
			if limited {
				terms.known.insert(*key);
			}
		}
		Some(terms)
	}
}

#[cfg(test)]
#[path = "relay_metering_tests.rs"]
mod metering_tests;

#[cfg(test)]
mod tests {
	use super::*;
	use crate::proto::wire::{decode_data, relink};

	const MS: u64 = 1_000_000;

	fn addr(i: u8) -> SocketAddr {
		SocketAddr::from(([127, 0, 0, 1], 7400 + u16::from(i)))
	}

	fn group(n: u8) -> Vec<RelayCore> {
		let keys: Vec<SigningKey> = (0..n).map(|i| SigningKey::from_bytes(&[i + 1; 32])).collect();
		let members: Vec<Member> = keys
			.iter()
			.enumerate()
			.map(|(i, k)| Member {
				id: [i as u8; 32],
				addr: addr(i as u8),
				pulse_key: k.verifying_key(),
			})
			.collect();
		keys.into_iter()
			.map(|key| {
				RelayCore::new(CoreConfig {
					boot_time: 1_000,
					window: 16,
					stale_after_ns: 60_000 * MS,
					silence_ns: 10_000 * MS,
					allowed_destinations: vec![SocketAddr::from(([127, 0, 0, 1], 9000))],
					..CoreConfig::new(key, members.clone())
				})
				.unwrap()
			})
			.collect()
	}

	fn flow(path: Vec<MemberIndex>) -> Flow {
		Flow {
			id: 77,
			version: 1,
			key: [5; 32],
			path,
			destination: SocketAddr::from(([127, 0, 0, 1], 9000)),
		}
	}

	#[test]
	fn pulses_between_cores_build_the_matrix() {
		let mut g = group(3);
		let mut buf = [0u8; 256];
		for round in 0..5u64 {
			let t = round * 1_000 * MS;
			for a in 0..3usize {
				for b in 0..3u16 {
					if a as u16 == b {
						continue;
					}
					let (to, len) = g[a].pulse_for(b, t, &mut buf).unwrap();
					assert_eq!(to, addr(b as u8));
					let action =
						g[usize::from(b)].on_datagram(addr(a as u8), &mut buf[..len], t + 10 * MS);
					assert_eq!(action, Action::Consumed);
				}
			}
		}
		g[2].refresh_own_row(5_000 * MS);
		let cell = g[2].matrix().cell(0, 2).unwrap();
		assert_eq!(cell.metrics.owd_us, 10_000);
		assert_eq!(cell.metrics.rtt_us, Some(20_000));

		// Rows spread each member's view: after 1 shares its row, 0 knows segment 2→1. Entries
		// never sent before are urgent.
		assert!(g[0].matrix().cell(2, 1).is_none());
		let len = row(&mut g[1], RowMode::Urgent, 5_000 * MS, &mut buf).unwrap();
		let mut replay = buf;
		assert_eq!(g[0].on_datagram(addr(1), &mut buf[..len], 5_000 * MS), Action::Consumed);
		assert_eq!(g[0].matrix().cell(2, 1).map(|c| c.metrics.owd_us), Some(10_000));
		assert_eq!(
			g[0].on_datagram(addr(1), &mut replay[..len], 5_000 * MS),
			Action::Dropped(DropReason::Replayed)
		);
		// Nothing changed: no delta to send; a full row still goes out.
		assert_eq!(row(&mut g[1], RowMode::Changes, 5_000 * MS, &mut buf), None);
		assert!(row(&mut g[1], RowMode::Full, 5_000 * MS, &mut buf).is_some());
		// A member that falls silent is withdrawn from the row at once.
		let len =
			row(&mut g[1], RowMode::Urgent, u64::MAX, &mut buf).expect("withdrawals are sent");
		assert_eq!(g[0].on_datagram(addr(1), &mut buf[..len], 5_000 * MS), Action::Consumed);
		assert!(g[0].matrix().cell(2, 1).is_none(), "withdrawn at once, not at expiry");
		// ...and comes back with the next delta once it is heard again.
		assert!(row(&mut g[1], RowMode::Urgent, 5_000 * MS, &mut buf).is_some());
	}

	#[test]
	fn row_schedule_at_the_production_interval() {
		let schedule = RowSchedule::for_interval(std::time::Duration::from_secs(10));
		assert_eq!(schedule, RowSchedule { full_every: 30, changes_every: 3, full_at_start: 3 });
		let modes: Vec<RowMode> = (0..10).map(|r| schedule.mode(r)).collect();
		use RowMode::*;
		// The first 30 s in full (peers still joining the group miss nothing for long), then
		// changes every third round and urgent entries in between.
		assert_eq!(
			modes,
			vec![Full, Full, Full, Changes, Urgent, Urgent, Changes, Urgent, Urgent, Changes]
		);
		assert_eq!(schedule.mode(30), Full);
		assert_eq!(schedule.mode(31), Urgent);
		// The lab's 1 s pulses: 30 full rounds at the start.
		let lab = RowSchedule::for_interval(std::time::Duration::from_secs(1));
		assert_eq!(lab.full_at_start, 30);
		assert_eq!((lab.mode(29), lab.mode(31)), (Full, Urgent));
		// A pulse interval longer than a period still gets rows every round.
		let slow = RowSchedule::for_interval(std::time::Duration::from_secs(600));
		assert_eq!(slow, RowSchedule { full_every: 1, changes_every: 1, full_at_start: 3 });
		assert_eq!(slow.mode(5), Full);
	}

	/// The first datagram of a row round.
	fn row(core: &mut RelayCore, mode: RowMode, now_ns: u64, buf: &mut [u8]) -> Option<usize> {
		core.next_row(mode, now_ns, &mut 0, buf)
	}

	#[test]
	fn a_full_row_larger_than_a_datagram_continues_in_the_next() {
		let mut g = group(70);
		let mut buf = [0u8; 1_500];
		for round in 0..3u64 {
			for peer in 1..70u16 {
				let t = round * 1_000 * MS;
				let (_, len) = g[usize::from(peer)].pulse_for(0, t, &mut buf).unwrap();
				assert_eq!(
					g[0].on_datagram(addr(peer as u8), &mut buf[..len], t),
					Action::Consumed
				);
			}
		}
		let (mut cursor, mut counts) = (0, vec![]);
		while let Some(len) = g[0].next_row(RowMode::Full, 3_000 * MS, &mut cursor, &mut buf) {
			let (header, count) = decode_row_header(&buf[..len]).unwrap();
			assert!(header.full);
			assert!(len <= 1_200);
			counts.push(count);
		}
		assert_eq!(counts, vec![MAX_ROW_ENTRIES, 69 - MAX_ROW_ENTRIES], "every peer, once");
		assert_eq!(cursor, 70);
		// Everything was just sent: a round of changes has nothing to say.
		assert_eq!(row(&mut g[0], RowMode::Changes, 3_000 * MS, &mut buf), None);
	}

	#[test]
	fn row_entries_are_resent_only_for_changes_that_could_move_a_route() {
		let base = LinkMetrics {
			owd_us: 50_000,
			rtt_us: Some(100_000),
			jitter_us: 500,
			loss_ppm: 0,
			samples: 60,
		};
		let with = |owd_us: i64, rtt_us: Option<u32>, loss_ppm: u32| LinkMetrics {
			owd_us,
			rtt_us,
			loss_ppm,
			..base
		};
		let change = |new: LinkMetrics| row_change(Some(&base), &new);
		// A 100 ms segment: the quantum is 5 % of its RTT, 5 ms; urgent from 25 ms.
		assert_eq!(change(with(54_999, Some(100_000), 0)), RowChange::None, "jitter below 5 %");
		assert_eq!(change(with(55_000, Some(100_000), 0)), RowChange::Minor);
		assert_eq!(change(with(74_999, Some(100_000), 0)), RowChange::Minor);
		assert_eq!(change(with(75_000, Some(100_000), 0)), RowChange::Urgent);
		assert_eq!(change(with(50_000, Some(104_000), 0)), RowChange::None);
		assert_eq!(change(with(50_000, Some(106_000), 0)), RowChange::Minor);
		assert_eq!(change(with(50_000, Some(80_000), 0)), RowChange::Minor);
		assert_eq!(change(with(50_000, Some(75_000), 0)), RowChange::Urgent);
		// A 2 ms segment: the 1 ms floor applies.
		let short = with(1_000, Some(2_000), 0);
		assert_eq!(row_change(Some(&short), &with(1_900, Some(2_000), 0)), RowChange::None);
		assert_eq!(row_change(Some(&short), &with(2_000, Some(2_000), 0)), RowChange::Minor);
		assert_eq!(row_change(Some(&short), &with(6_000, Some(2_000), 0)), RowChange::Urgent);
		// Loss: half a percent, urgent from 2.5 %.
		assert_eq!(change(with(50_000, Some(100_000), 4_999)), RowChange::None);
		assert_eq!(change(with(50_000, Some(100_000), 5_000)), RowChange::Minor);
		assert_eq!(change(with(50_000, Some(100_000), 25_000)), RowChange::Urgent);
		// An entry never sent, or an RTT appearing or vanishing, is urgent.
		assert_eq!(change(with(50_000, None, 0)), RowChange::Urgent);
		assert_eq!(row_change(None, &base), RowChange::Urgent);
	}

	#[test]
	fn a_workers_gate_checks_control_datagrams_apart_from_the_core() {
		let mut g = group(2);
		// A worker's gate: it holds no reference to the core, so the checks it makes (sender,
		// budget, signature) never hold the core's lock.
		let mut gate = g[1].gate();
		let mut buf = [0u8; 256];
		let (_, len) = g[0].pulse_for(1, 1, &mut buf).unwrap();
		let admission = gate.admit(addr(0), &buf[..len], 2);
		assert!(matches!(admission, Admission::Admitted(_)), "{admission:?}");
		let mut copy = buf;
		assert_eq!(g[1].on_gated(addr(0), &mut copy[..len], 2, admission), Action::Consumed);
		let mut forged = buf;
		forged[80] ^= 1;
		assert_eq!(
			gate.admit(addr(0), &forged[..len], 3),
			Admission::Dropped(DropReason::BadSignature)
		);
		assert_eq!(
			gate.admit(addr(9), &buf[..len], 3),
			Admission::Dropped(DropReason::UnknownSender)
		);
		// Data is the core's to check.
		assert_eq!(gate.admit(addr(0), &[wire::VERSION, 16, 0], 3), Admission::Unchecked);
		// A control datagram handed over as if no gate had anything to check is refused.
		let (_, len) = g[0].pulse_for(1, 4, &mut buf).unwrap();
		assert_eq!(
			g[1].on_gated(addr(0), &mut buf[..len], 4, Admission::Unchecked),
			Action::Dropped(DropReason::UnknownSender)
		);
		// Each gate keeps budgets of its own: a worker's flood leaves another's full.
		for _ in 0..CONTROL_BURST {
			gate.admit(addr(0), &forged[..len], 5);
		}
		assert_eq!(
			gate.admit(addr(0), &forged[..len], 5),
			Admission::Dropped(DropReason::RateLimited)
		);
		assert_eq!(
			g[1].gate().admit(addr(0), &forged[..len], 5),
			Admission::Dropped(DropReason::BadSignature)
		);
	}

	#[test]
	fn forged_and_replayed_pulses_are_dropped_and_counted() {
		let mut g = group(2);
		let mut buf = [0u8; 256];
		let (_, len) = g[0].pulse_for(1, 1, &mut buf).unwrap();
		let mut copy = buf;
		assert_eq!(g[1].on_datagram(addr(0), &mut buf[..len], 2), Action::Consumed);
		assert_eq!(
			g[1].on_datagram(addr(0), &mut copy[..len], 3),
			Action::Dropped(DropReason::Replayed)
		);
		let (_, len) = g[0].pulse_for(1, 4, &mut buf).unwrap();
		buf[80] ^= 1;
		assert_eq!(
			g[1].on_datagram(addr(0), &mut buf[..len], 5),
			Action::Dropped(DropReason::BadSignature)
		);
		assert_eq!(
			g[1].on_datagram(addr(0), &mut [wire::VERSION, 99, 3], 6),
			Action::Dropped(DropReason::Malformed)
		);
		// A member still on protocol v1: counted apart, and remembered for the dashboard.
		assert_eq!(
			g[1].on_datagram(addr(0), &mut [1, 1, 3], 7),
			Action::Dropped(DropReason::UnsupportedVersion)
		);
		assert_eq!((g[1].member_version(0), g[1].member_version(2)), (1, wire::VERSION));
		assert_eq!(g[1].drops().get(DropReason::Replayed), 1);
		assert_eq!(g[1].drops().get(DropReason::BadSignature), 1);
		assert_eq!(g[1].drops().get(DropReason::Malformed), 1);
	}

	#[test]
	fn data_travels_the_segment_list_and_both_ends_count_it() {
		let mut g = group(4);
		for core in g.iter_mut() {
			core.install_flow(flow(vec![0, 2, 1, 3])).unwrap();
			core.set_epoch(9);
		}
		let mut buf = [0u8; 1500];
		let (mut to, len) = g[0].encapsulate(77, false, b"ping", &mut buf).unwrap();
		let mut from = addr(0);
		let mut hops = vec![];
		loop {
			let index = usize::from(to.port() - 7400);
			hops.push(index);
			match g[index].on_datagram(from, &mut buf[..len], 0) {
				Action::Forward { to: next } => {
					from = to;
					to = addr(next as u8);
				}
				Action::Deliver { flow, reverse, payload } => {
					assert_eq!((flow, reverse), (77, false));
					assert_eq!(&buf[payload], b"ping");
					break;
				}
				other => panic!("unexpected {other:?}"),
			}
		}
		assert_eq!(hops, vec![2, 1, 3]);
		// Every link: sender's out == receiver's in, in the sender's epoch.
		for (a, b) in [(0usize, 2usize), (2, 1), (1, 3)] {
			let out = g[a]
				.counters()
				.get(&super::super::counters::CounterKey {
					boot_time: 1_000,
					epoch: 9,
					peer: [b as u8; 32],
				})
				.out_octets;
			let inn = g[b]
				.counters()
				.get(&super::super::counters::CounterKey {
					boot_time: 1_000,
					epoch: 9,
					peer: [a as u8; 32],
				})
				.in_octets;
			assert_eq!(out, len as u64);
			assert_eq!(inn, len as u64);
		}
		// Replies go back along the reversed list.
		let (to, _) = g[3].encapsulate(77, true, b"pong", &mut buf).unwrap();
		assert_eq!(to, addr(1));
	}

	/// Member `i` of `g` as it comes back from a restart at `boot_time`.
	fn rebooted(g: &[RelayCore], i: u8, boot_time: u64) -> RelayCore {
		let key = SigningKey::from_bytes(&[i + 1; 32]);
		let members = g[0].members().to_vec();
		RelayCore::new(CoreConfig { boot_time, ..CoreConfig::new(key, members) }).unwrap()
	}

	/// `flow` installed at every core of `g`.
	fn install_everywhere(g: &mut [RelayCore], flow: &Flow) {
		for core in g.iter_mut() {
			core.install_flow(flow.clone()).unwrap();
		}
	}

	fn totals(core: &RelayCore) -> (u64, u64) {
		let totals = core.counters().totals();
		(totals.in_octets, totals.out_octets)
	}

	#[test]
	fn a_packet_is_accepted_once_per_hop_and_a_restart_starts_a_new_window() {
		let mut g = group(3);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		let mut first = [0u8; 256];
		let (_, len) = g[0].encapsulate(77, false, b"one", &mut first).unwrap();
		let mut second = [0u8; 256];
		let (_, len2) = g[0].encapsulate(77, false, b"two", &mut second).unwrap();
		let replay = first;
		// Out of order, within the window: both pass.
		assert_eq!(g[1].on_datagram(addr(0), &mut second[..len2], 0), Action::Forward { to: 2 });
		assert_eq!(g[1].on_datagram(addr(0), &mut first[..len], 0), Action::Forward { to: 2 });
		let counted = totals(&g[1]);
		// An on-path observer replays it from the previous hop's address: dropped, uncounted.
		for _ in 0..20 {
			let mut copy = replay;
			assert_eq!(
				g[1].on_datagram(addr(0), &mut copy[..len], 0),
				Action::Dropped(DropReason::Replayed)
			);
		}
		assert_eq!(totals(&g[1]), counted, "replays move no counter");
		// And the egress takes each forwarded packet once.
		let mut at_egress = first;
		assert!(matches!(
			g[2].on_datagram(addr(1), &mut at_egress[..len], 0),
			Action::Deliver { .. }
		));
		assert_eq!(
			g[2].on_datagram(addr(1), &mut first[..len], 0),
			Action::Dropped(DropReason::Replayed)
		);
		// The ingress restarts (a later boot, its counters from 0 again): a new window.
		let mut restarted = rebooted(&g, 0, 2_000);
		restarted.install_flow(flow(vec![0, 1, 2])).unwrap();
		let (_, len) = restarted.encapsulate(77, false, b"after", &mut first).unwrap();
		assert_eq!(g[1].on_datagram(addr(0), &mut first[..len], 0), Action::Forward { to: 2 });
		// The next hop saw both boots in the epoch: what corroborates the ingress's declared
		// restart on chain.
		let ingress = g[0].members()[0].id;
		assert_eq!(g[1].counters().peer_boots(0, &ingress), &[g[0].boot_time(), 2_000]);
	}

	#[test]
	fn only_the_previous_hop_on_the_installed_path_moves_a_counter() {
		let mut g = group(4);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		let mut buf = [0u8; 256];
		let (_, len) = g[0].encapsulate(77, false, b"x", &mut buf).unwrap();
		// Spoofed: another address, or another member's address.
		for from in [SocketAddr::from(([10, 9, 9, 9], 1)), addr(3)] {
			let mut copy = buf;
			let action = g[1].on_datagram(from, &mut copy[..len], 0);
			assert!(
				matches!(action, Action::Dropped(DropReason::UnknownSender | DropReason::BadMac)),
				"{action:?}"
			);
		}
		// Member 3 forges a packet of the flow "from 0" with its own link key to 1: from 0's
		// address it fails 0's link MAC.
		let mut forged = [0u8; 256];
		let mut liar = group(4).swap_remove(3);
		liar.install_flow(flow(vec![3, 1, 2])).unwrap();
		let (_, n) = liar.encapsulate(77, false, b"forged", &mut forged).unwrap();
		assert_eq!(
			g[1].on_datagram(addr(0), &mut forged[..n], 0),
			Action::Dropped(DropReason::BadMac)
		);
		assert_eq!(totals(&g[1]), (0, 0), "nothing counted");
		// From its own address, it is not the path's previous hop: dropped, and counted as
		// what 3 sent (3 counts it out too: the link's ends agree, nobody else is charged).
		assert_eq!(
			g[1].on_datagram(addr(3), &mut forged[..n], 0),
			Action::Dropped(DropReason::NotOnPath)
		);
		assert_eq!(totals(&g[1]), (n as u64, 0));
		assert_eq!(liar.counters().totals().out_octets, n as u64);
		assert_eq!(g[1].on_datagram(addr(0), &mut buf[..len], 0), Action::Forward { to: 2 });
	}

	#[test]
	fn packets_recorded_before_a_restart_cannot_be_replayed_after_it() {
		let mut g = group(3);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		let mut recorded = [0u8; 256];
		let (_, len) = g[0].encapsulate(77, false, b"once", &mut recorded).unwrap();
		let mut copy = recorded;
		assert_eq!(g[1].on_datagram(addr(0), &mut copy[..len], 0), Action::Forward { to: 2 });
		// Relay 1 restarts with what it saved: its windows' marks.
		let marks = g[1].link_marks();
		assert_eq!(marks.len(), 1);
		let key = SigningKey::from_bytes(&[2; 32]);
		let members = g[0].members().to_vec();
		let mut restarted = RelayCore::new(CoreConfig {
			boot_time: 5_000,
			link_marks: marks,
			..CoreConfig::new(key, members)
		})
		.unwrap();
		restarted.install_flow(flow(vec![0, 1, 2])).unwrap();
		assert_eq!(
			restarted.on_datagram(addr(0), &mut recorded[..len], 0),
			Action::Dropped(DropReason::Replayed)
		);
		assert_eq!(totals(&restarted), (0, 0));
		let (_, len) = g[0].encapsulate(77, false, b"new", &mut recorded).unwrap();
		assert_eq!(
			restarted.on_datagram(addr(0), &mut recorded[..len], 0),
			Action::Forward { to: 2 }
		);
	}

	#[test]
	fn a_transit_relay_that_sends_a_packet_again_gets_it_delivered_once() {
		let mut g = group(3);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		let mut buf = [0u8; 256];
		let (_, len) = g[0].encapsulate(77, false, b"pay me twice", &mut buf).unwrap();
		assert_eq!(g[1].on_datagram(addr(0), &mut buf[..len], 0), Action::Forward { to: 2 });
		let mut again = buf;
		assert!(matches!(g[2].on_datagram(addr(1), &mut buf[..len], 0), Action::Deliver { .. }));
		// Relay 1 re-tags its copy under a fresh link number (it holds the link's key).
		let (header, _) = decode_data(&again[..len]).unwrap();
		let tag_key = g[1].links[2].as_ref().unwrap().tx.clone();
		relink(&mut again[..len], &header, 1, 1_000, header.link_seq + 1_000, &tag_key);
		assert_eq!(
			g[2].on_datagram(addr(1), &mut again[..len], 0),
			Action::Dropped(DropReason::Replayed)
		);
	}

	#[test]
	fn oversized_probes_and_own_setups_coming_back_are_refused() {
		let mut g = group(3);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		let mut buf = [0u8; 2048];
		// A "probe" carrying a kilobyte: free transport, since probes are not counted.
		let (_, len) = g[0]
			.plane
			.encode_on_flow(&g[0].plane.view(), 77, false, true, &[0u8; 1_000], &mut buf, false)
			.unwrap();
		assert_eq!(
			g[1].on_datagram(addr(0), &mut buf[..len], 0),
			Action::Dropped(DropReason::Malformed)
		);
		// Relay 0's own setup, replayed to it.
		let id = tagged(0, 9);
		let len =
			g[0].originate_flow(Flow { id, ..flow(vec![0, 1, 2]) }, [4; 32], 0, &mut buf).unwrap();
		let mut copy = buf;
		assert_eq!(
			g[0].on_datagram(addr(1), &mut copy[..len], 0),
			Action::Dropped(DropReason::StaleSetup)
		);
	}

	#[test]
	fn a_middle_relay_cannot_be_made_to_deliver() {
		let mut g = group(3);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		// The ingress's own segment list, cut short at relay 1 (as a member that set up a flow
		// with relay 1 as its egress would send it): relay 1 is not this flow's end.
		let mut short = flow(vec![0, 1]);
		short.destination = SocketAddr::from(([127, 0, 0, 1], 25));
		let mut attacker = group(3).swap_remove(0);
		attacker.install_flow(short).unwrap();
		let mut buf = [0u8; 256];
		let (_, len) = attacker.encapsulate(77, false, b"to port 25", &mut buf).unwrap();
		assert_eq!(
			g[1].on_datagram(addr(0), &mut buf[..len], 0),
			Action::Dropped(DropReason::NotOnPath)
		);
	}

	#[test]
	fn transit_relays_cannot_read_the_payload_and_a_changed_one_dies_at_the_egress() {
		let mut g = group(3);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		let secret = b"the consumer's own bytes";
		let mut buf = [0u8; 256];
		let (_, len) = g[0].encapsulate(77, false, secret, &mut buf).unwrap();
		assert!(!buf[..len].windows(secret.len()).any(|w| w == secret), "sealed on the wire");
		// Relay 1 changes a payload byte and re-tags the packet for the next link (it holds
		// that link's key): the egress's link check passes, the payload does not open.
		let mut tampered = buf;
		assert_eq!(g[1].on_datagram(addr(0), &mut tampered[..len], 0), Action::Forward { to: 2 });
		let mut honest = tampered;
		tampered[60] ^= 1;
		let (header, _) = decode_data(&tampered[..len]).unwrap();
		let tag_key = g[1].links[2].as_ref().unwrap().tx.clone();
		relink(&mut tampered[..len], &header, 1, 1_000, header.link_seq + 1, &tag_key);
		assert_eq!(
			g[2].on_datagram(addr(1), &mut tampered[..len], 0),
			Action::Dropped(DropReason::BadPayload)
		);
		match g[2].on_datagram(addr(1), &mut honest[..len], 0) {
			Action::Deliver { payload, .. } => assert_eq!(&honest[payload], secret),
			other => panic!("unexpected {other:?}"),
		}
	}

	#[test]
	fn old_or_replayed_setups_cannot_bring_an_old_path_back() {
		let mut g = group(4);
		let id = tagged(0, 5);
		let mut first = [0u8; 512];
		let v1 = Flow { id, ..flow(vec![0, 1, 2]) };
		let len1 = g[0].originate_flow(v1.clone(), [1; 32], 0, &mut first).unwrap();
		let mut copy = first;
		assert_eq!(g[1].on_datagram(addr(0), &mut copy[..len1], 0), Action::Forward { to: 2 });
		let mut copy = first;
		assert_eq!(g[2].on_datagram(addr(1), &mut copy[..len1], 0), Action::Consumed);
		// The ingress moves the flow to a detour through 3: version 2.
		let mut second = [0u8; 512];
		let v2 = Flow { version: 2, key: [6; 32], path: vec![0, 3, 2], ..v1.clone() };
		let len2 = g[0].originate_flow(v2, [2; 32], 0, &mut second).unwrap();
		assert_eq!(g[3].on_datagram(addr(0), &mut second[..len2], 0), Action::Forward { to: 2 });
		assert_eq!(g[2].on_datagram(addr(3), &mut second[..len2], 0), Action::Consumed);
		// Version 1's setup replayed at the egress: refused, the detour stays.
		let mut copy = first;
		assert_eq!(
			g[2].on_datagram(addr(1), &mut copy[..len1], 0),
			Action::Dropped(DropReason::StaleSetup)
		);
		assert_eq!(g[2].flow(id).map(|f| f.path.clone()), Some(vec![0, 3, 2]));
		// Relay 1, no longer on the path, still holds version 1 and its link key to 2: what it
		// injects is refused.
		let mut buf = [0u8; 256];
		let mut injected = Flow { key: [5; 32], ..v1.clone() };
		injected.path = vec![1, 2];
		g[1].flows.clear();
		g[1].install_flow(injected).unwrap();
		let (_, n) = g[1].encapsulate(id, false, b"inject", &mut buf).unwrap();
		let action = g[2].on_datagram(addr(1), &mut buf[..n], 0);
		assert!(
			matches!(action, Action::Dropped(DropReason::StaleSetup | DropReason::NotOnPath)),
			"{action:?}"
		);
		// A setup stamped far from the relay's clock (a replay from long ago) is refused.
		let mut late = [0u8; 512];
		let v3 = Flow { version: 3, ..v1 };
		let len3 = g[0].originate_flow(v3, [3; 32], 0, &mut late).unwrap();
		let much_later = (SETUP_MAX_SKEW_MS + 1) * 1_000_000;
		assert_eq!(
			g[1].on_datagram(addr(0), &mut late[..len3], much_later),
			Action::Dropped(DropReason::StaleSetup)
		);
	}

	#[test]
	fn a_rekey_on_the_same_path_keeps_packets_in_flight_for_a_while() {
		let mut g = group(3);
		let v1 = flow(vec![0, 1, 2]);
		install_everywhere(&mut g, &v1);
		let mut old = [0u8; 256];
		let (_, len) = g[2].encapsulate(77, true, b"reply under v1", &mut old).unwrap();
		let v2 = Flow { version: 2, key: [8; 32], ..v1 };
		install_everywhere(&mut g, &v2);
		// The reply sent under version 1 arrives after everyone moved to version 2.
		let mut late = old;
		assert_eq!(g[1].on_datagram(addr(2), &mut late[..len], 1_000), Action::Forward { to: 0 });
		match g[0].on_datagram(addr(1), &mut late[..len], 1_000) {
			Action::Deliver { payload, reverse: true, .. } => {
				assert_eq!(&late[payload], b"reply under v1")
			}
			other => panic!("unexpected {other:?}"),
		}
		// Replays of it are still refused (the windows carried over) ...
		let mut replay = old;
		assert_eq!(
			g[1].on_datagram(addr(2), &mut replay[..len], 2_000),
			Action::Dropped(DropReason::Replayed)
		);
		// ... and after the grace period version 1 is gone.
		let mut still_on_v1 = rebooted(&g, 2, 2_000);
		still_on_v1.install_flow(flow(vec![0, 1, 2])).unwrap();
		let (_, len) = still_on_v1.encapsulate(77, true, b"much later", &mut old).unwrap();
		assert_eq!(
			g[1].on_datagram(addr(2), &mut old[..len], PREVIOUS_VERSION_GRACE_NS + 1),
			Action::Dropped(DropReason::StaleSetup)
		);
	}

	#[test]
	fn data_off_path_unknown_or_tampered_is_dropped() {
		let mut g = group(3);
		for core in g.iter_mut() {
			core.install_flow(flow(vec![0, 1, 2])).unwrap();
		}
		let mut buf = [0u8; 1500];
		let (_, len) = g[0].encapsulate(77, false, b"x", &mut buf).unwrap();
		let mut copy = buf;
		assert_eq!(
			g[2].on_datagram(addr(0), &mut copy[..len], 0),
			Action::Dropped(DropReason::NotOnPath)
		);
		let mut copy = buf;
		copy[len - 1] ^= 1;
		assert_eq!(
			g[1].on_datagram(addr(0), &mut copy[..len], 0),
			Action::Dropped(DropReason::BadMac)
		);
		let mut copy = buf;
		assert_eq!(
			g[1].on_datagram(SocketAddr::from(([10, 9, 9, 9], 1)), &mut copy[..len], 0),
			Action::Dropped(DropReason::UnknownSender)
		);
		g[1].flows.clear();
		g[1].flows_changed = true;
		g[1].publish();
		assert_eq!(
			g[1].on_datagram(addr(0), &mut buf[..len], 0),
			Action::Dropped(DropReason::UnknownFlow)
		);
		assert_eq!(g[1].install_flow(flow(vec![0, 1, 0])), Err(CoreError::BadPath));
		assert_eq!(g[1].install_flow(flow(vec![0])), Err(CoreError::BadPath));
	}

	#[test]
	fn probes_go_round_the_path_uncounted() {
		let mut g = group(3);
		for core in g.iter_mut() {
			core.install_flow(flow(vec![0, 1, 2])).unwrap();
		}
		let mut buf = [0u8; 256];
		let (to, len) = g[0].probe(77, 5, 1_000, false, &mut buf).unwrap();
		assert_eq!(to, addr(1));
		assert_eq!(g[1].on_datagram(addr(0), &mut buf[..len], 1_100), Action::Forward { to: 2 });
		// The egress turns it around towards the ingress, through relay 1 again.
		assert_eq!(g[2].on_datagram(addr(1), &mut buf[..len], 1_200), Action::Forward { to: 1 });
		assert_eq!(g[1].on_datagram(addr(2), &mut buf[..len], 1_300), Action::Forward { to: 0 });
		assert_eq!(
			g[0].on_datagram(addr(1), &mut buf[..len], 1_450),
			Action::ProbeReply { flow: 77, seq: 5, rtt_ns: 450 }
		);
		// A direct probe skips relay 1 both ways.
		let (to, len) = g[0].probe(77, 6, 2_000, true, &mut buf).unwrap();
		assert_eq!(to, addr(2));
		assert_eq!(g[2].on_datagram(addr(0), &mut buf[..len], 2_100), Action::Forward { to: 0 });
		assert_eq!(
			g[0].on_datagram(addr(2), &mut buf[..len], 2_300),
			Action::ProbeReply { flow: 77, seq: 6, rtt_ns: 300 }
		);
		for core in &g {
			assert_eq!(core.counters().totals(), Default::default(), "probes are not billed");
		}
	}

	#[test]
	fn signed_setups_install_flows_only_where_allowed() {
		let mut g = group(3);
		let mut buf = [0u8; 512];
		let id = tagged(0, 77);
		let len =
			g[0].originate_flow(Flow { id, ..flow(vec![0, 1, 2]) }, [21; 32], 0, &mut buf).unwrap();
		// The setup travels the path: 1 installs and passes it on to 2, the last, which keeps it.
		let passed_on = [Action::Forward { to: 2 }, Action::Consumed];
		for (i, expected) in [1usize, 2].into_iter().zip(passed_on) {
			let mut copy = buf;
			assert_eq!(g[i].on_datagram(addr(i as u8 - 1), &mut copy[..len], 0), expected);
			assert_eq!(g[i].flow(id).map(|f| f.path.clone()), Some(vec![0, 1, 2]));
			// Only the egress learns the payload key.
			let expected = if i == 2 { flow(vec![]).key } else { [0; 32] };
			assert_eq!(g[i].flow(id).map(|f| f.key), Some(expected), "key at {i}");
		}
		// An egress does not deliver to destinations outside its allow-list.
		let mut open = flow(vec![0, 2]);
		open.id = tagged(0, 78);
		open.destination = SocketAddr::from(([127, 0, 0, 1], 25));
		let len = g[0].originate_flow(open, [22; 32], 0, &mut buf).unwrap();
		assert_eq!(
			g[2].on_datagram(addr(0), &mut buf[..len], 0),
			Action::Dropped(DropReason::DestinationNotAllowed)
		);
		assert!(g[2].flow(tagged(0, 78)).is_none());
		// Only the path's first member may originate.
		assert_eq!(
			g[1].originate_flow(flow(vec![0, 1]), [23; 32], 0, &mut buf),
			Err(CoreError::BadPath)
		);
	}

	#[test]
	fn a_setup_installs_only_with_its_consumers_consent_to_its_very_terms() {
		let mut g = group(3);
		let mut buf = [0u8; 512];
		let id = tagged(0, 91);
		let len =
			g[0].originate_flow(Flow { id, ..flow(vec![0, 1, 2]) }, [4; 32], 0, &mut buf).unwrap();
		let genuine = FlowSetup::decode(&buf[..len]).unwrap();
		let mut copy = buf;
		assert_eq!(g[1].on_datagram(addr(0), &mut copy[..len], 0), Action::Forward { to: 2 });
		// The origin, signing setups of its own, tries to bill another account, to reuse its
		// consumer's consent for another path or destination, or for a later version.
		let victim = Consumer::derived_from(&[99; 32]).unwrap().account();
		let origin_key = SigningKey::from_bytes(&[1; 32]);
		let forgeries = [
			(1, SetupTerms { version: 2, consumer: victim, ..genuine.terms }),
			(
				2,
				SetupTerms {
					version: 2,
					path: heapless_path::Path::from_slice(&[0, 2]).unwrap(),
					..genuine.terms
				},
			),
			(
				1,
				SetupTerms {
					version: 2,
					destination: SocketAddr::from(([127, 0, 0, 1], 9001)),
					..genuine.terms
				},
			),
			(1, SetupTerms { version: 2, ..genuine.terms }),
		];
		for (at, terms) in forgeries {
			let forged = FlowSetup { terms, ..genuine.clone() };
			let mut out = [0u8; 512];
			let len = forged.encode(&origin_key, &mut out).unwrap();
			assert_eq!(
				g[at].on_datagram(addr(0), &mut out[..len], 0),
				Action::Dropped(DropReason::BadConsent),
				"{terms:?}"
			);
		}
		assert_eq!(g[1].flow(id).map(|f| f.version), Some(1), "the consented version stays");
		assert!(g[2].flow(id).is_none());
		assert_eq!(g[1].drops().get(DropReason::BadConsent), 3);
		// The version's own setup again (a re-announcement) refreshes it.
		let mut copy = buf;
		assert_eq!(g[1].on_datagram(addr(0), &mut copy[..len], 0), Action::Forward { to: 2 });
	}

	/// Flow `n` of member `origin` (member ids in [`group`] are `[index; 32]`).
	fn tagged(origin: u8, n: u32) -> u64 {
		new_flow_id(&[origin; 32], n)
	}

	/// Member `origin` sets up its flow `n` along `path` at relay 2 (its setup's last stop).
	fn set_up(
		g: &mut [RelayCore],
		origin: usize,
		n: u32,
		path: Vec<MemberIndex>,
		now: u64,
	) -> Action {
		set_up_id(g, origin, tagged(origin as u8, n), path, now)
	}

	fn set_up_id(
		g: &mut [RelayCore],
		origin: usize,
		id: u64,
		path: Vec<MemberIndex>,
		now: u64,
	) -> Action {
		let mut buf = [0u8; 512];
		let len =
			g[origin].originate_flow(Flow { id, ..flow(path) }, [7; 32], 0, &mut buf).unwrap();
		g[2].on_datagram(addr(origin as u8), &mut buf[..len], now)
	}

	#[test]
	fn control_datagrams_from_strangers_or_beyond_the_budget_cost_no_signature_check() {
		let mut g = group(2);
		let mut buf = [0u8; 256];
		// A correctly signed pulse of member 0, replayed from another address: dropped before
		// its signature is looked at (a forged one would be too).
		let (_, len) = g[0].pulse_for(1, 1, &mut buf).unwrap();
		let stranger = SocketAddr::from(([10, 9, 9, 9], 7400));
		assert_eq!(
			g[1].on_datagram(stranger, &mut { buf }[..len], 2),
			Action::Dropped(DropReason::UnknownSender)
		);
		// Member 1's own address cannot carry member 0's pulses either.
		assert_eq!(
			g[1].on_datagram(addr(1), &mut { buf }[..len], 2),
			Action::Dropped(DropReason::UnknownSender)
		);
		// A flood of (forged) control datagrams from member 0's address, all at one instant:
		// the burst is checked, the rest dropped by the budget alone.
		let mut forged = buf;
		forged[80] ^= 1;
		for _ in 0..CONTROL_BURST + 100 {
			g[1].on_datagram(addr(0), &mut { forged }[..len], 3);
		}
		assert_eq!(g[1].drops().get(DropReason::BadSignature), CONTROL_BURST);
		assert_eq!(g[1].drops().get(DropReason::RateLimited), 100);
		// A second later the budget has refilled by CONTROL_PER_SECOND: real pulses pass.
		assert_eq!(g[1].on_datagram(addr(0), &mut buf[..len], 1_000_000_003), Action::Consumed);
	}

	#[test]
	fn a_member_can_neither_take_over_nor_squat_another_members_flow_id() {
		let mut g = group(3);
		let theirs = tagged(0, 77);
		// Member 1 learnt member 0's flow id (it is on another of 0's paths, say). Its setup
		// for that id — before 0's, to squat it, or after, to have 2's replies sent its way —
		// is refused, and 0's own setup installs.
		assert_eq!(
			set_up_id(&mut g, 1, theirs, vec![1, 2], 0),
			Action::Dropped(DropReason::FlowOfAnother)
		);
		assert_eq!(set_up(&mut g, 0, 77, vec![0, 2], 0), Action::Consumed);
		assert_eq!(
			set_up_id(&mut g, 1, theirs, vec![1, 2], 0),
			Action::Dropped(DropReason::FlowOfAnother)
		);
		assert_eq!(g[2].flow(theirs).map(|f| f.path.clone()), Some(vec![0, 2]));
		assert_eq!(g[2].drops().get(DropReason::FlowOfAnother), 2);
		assert_ne!(flow_id_tag(&[0; 32]), flow_id_tag(&[1; 32]));
	}

	#[test]
	fn a_flood_of_setups_keeps_memory_flat_and_spares_other_origins() {
		let mut g = group(3);
		assert_eq!(set_up(&mut g, 0, 1, vec![0, 2], 0), Action::Consumed);
		let flood = MAX_FLOWS_PER_ORIGIN as u32 + 500;
		for n in 0..flood {
			// 100 setups a second: within the control budget, so the per-origin cap is what
			// bounds them.
			let now = (u64::from(n) + 1) * 10 * MS;
			assert_eq!(set_up(&mut g, 1, 1_000 + n, vec![1, 2], now), Action::Consumed);
		}
		assert_eq!(g[2].flow_count(), MAX_FLOWS_PER_ORIGIN + 1);
		assert!(
			g[2].flow(tagged(0, 1)).is_some(),
			"the flood evicted only the flooder's own flows"
		);
		assert!(g[2].flow(tagged(1, 1_000)).is_none(), "its oldest went first");
		assert!(g[2].flow(tagged(1, 1_000 + flood - 1)).is_some());
	}

	#[test]
	fn idle_flows_of_others_expire_and_own_flows_stay() {
		let mut g = group(3);
		g[2] = RelayCore::new(CoreConfig {
			flow_idle_ns: 30_000 * MS,
			allowed_destinations: vec![SocketAddr::from(([127, 0, 0, 1], 9000))],
			..CoreConfig::new(SigningKey::from_bytes(&[3; 32]), g[2].members().to_vec())
		})
		.unwrap();
		let mut buf = [0u8; 512];
		let own = tagged(2, 5);
		g[2].originate_flow(Flow { id: own, ..flow(vec![2, 0]) }, [1; 32], 0, &mut buf).unwrap();
		set_up(&mut g, 0, 6, vec![0, 2], 1_000 * MS);
		set_up(&mut g, 1, 7, vec![1, 2], 1_000 * MS);
		// Flow 7's setup comes again (a refresh): it stays, 6 does not.
		set_up(&mut g, 1, 7, vec![1, 2], 20_000 * MS);
		assert_eq!(g[2].expire_flows(40_000 * MS), vec![tagged(0, 6)]);
		assert!(g[2].flow(own).is_some() && g[2].flow(tagged(1, 7)).is_some());
		assert_eq!(g[2].expire_flows(60_000 * MS), vec![tagged(1, 7)]);
		assert!(g[2].flow(own).is_some(), "a tunnel's own flow lives as long as the tunnel");
		// The origin's count went down with its flows: it can set up as many again.
		for n in 0..MAX_FLOWS_PER_ORIGIN as u32 {
			set_up(&mut g, 1, 100 + n, vec![1, 2], 61_000 * MS + u64::from(n) * 10 * MS);
		}
		assert!(g[2].flow(tagged(1, 100)).is_some(), "nothing evicted below the cap");
	}

	#[test]
	fn data_of_a_closed_epoch_is_dropped_and_counted_nowhere() {
		let mut g = group(3);
		for core in &mut g {
			core.install_flow(flow(vec![0, 1, 2])).unwrap();
			core.set_epoch(10);
		}
		let mut buf = [0u8; 2048];
		// The ingress still stamps epoch 9; relay 1 has claimed it.
		g[0].set_epoch(9);
		g[1].close_epochs_through(9);
		let (_, len) = g[0].encapsulate(77, false, b"late", &mut buf).unwrap();
		let action = g[1].on_datagram(addr(0), &mut buf[..len], 0);
		assert_eq!(action, Action::Dropped(DropReason::WrongEpoch));
		assert!(g[1].counters().iter().all(|(key, _)| key.epoch != 9), "nothing counted for 9");
		// Epoch 10 goes on.
		g[0].set_epoch(10);
		let (_, len) = g[0].encapsulate(77, false, b"on time", &mut buf).unwrap();
		assert!(matches!(g[1].on_datagram(addr(0), &mut buf[..len], 0), Action::Forward { .. }));
	}

	#[test]
	fn data_of_a_far_epoch_is_dropped_and_opens_no_counter_row() {
		let mut g = group(2);
		for core in g.iter_mut() {
			core.install_flow(flow(vec![0, 1])).unwrap();
		}
		g[1].set_epoch(10);
		let mut buf = [0u8; 256];
		for (epoch, accepted) in [(9, true), (10, true), (11, true), (12, false), (0, false)] {
			g[0].set_epoch(epoch);
			let (_, len) = g[0].encapsulate(77, false, b"x", &mut buf).unwrap();
			let action = g[1].on_datagram(addr(0), &mut buf[..len], 0);
			assert_eq!(matches!(action, Action::Deliver { .. }), accepted, "epoch {epoch}");
		}
		assert_eq!(g[1].drops().get(DropReason::WrongEpoch), 2);
		let epochs: std::collections::BTreeSet<u32> =
			g[1].counters().iter().map(|(key, _)| key.epoch).collect();
		assert_eq!(epochs, [9, 10, 11].into());
	}

	#[test]
	fn ipv4_peers_seen_through_a_dual_stack_socket_are_members() {
		let mut g = group(2);
		for core in g.iter_mut() {
			core.install_flow(flow(vec![0, 1])).unwrap();
		}
		let mut buf = [0u8; 256];
		let (_, len) = g[0].encapsulate(77, false, b"x", &mut buf).unwrap();
		// What a socket bound to [::] reports for 127.0.0.1:7400.
		let mapped: SocketAddr = "[::ffff:127.0.0.1]:7400".parse().unwrap();
		assert!(matches!(g[1].on_datagram(mapped, &mut buf[..len], 0), Action::Deliver { .. }));
		assert_eq!(canonical_addr(mapped), addr(0));
		let v6: SocketAddr = "[2001:db8::1]:7400".parse().unwrap();
		assert_eq!(canonical_addr(v6), v6);
	}

	#[test]
	fn a_weak_member_key_is_refused() {
		let mut members = group(2).remove(0).members.to_vec();
		// The identity point: every signature "verifies" under it.
		let weak = VerifyingKey::from_bytes(&{
			let mut b = [0u8; 32];
			b[0] = 1;
			b
		})
		.unwrap();
		assert!(weak.is_weak());
		members[1].pulse_key = weak;
		let result = RelayCore::new(CoreConfig::new(SigningKey::from_bytes(&[1; 32]), members));
		assert!(matches!(result, Err(CoreError::WeakKey(_))));
	}

	#[test]
	fn a_relay_outside_the_group_cannot_start() {
		let members = group(2).remove(0).members.to_vec();
		let stranger = SigningKey::from_bytes(&[99; 32]);
		let result = RelayCore::new(CoreConfig::new(stranger, members));
		assert!(matches!(result, Err(CoreError::NotAMember)));
	}

	/// A data packet of flow 77 from relay 0, for the next hop on its path.
	fn packet_from_0(g: &mut [RelayCore]) -> ([u8; 2048], usize) {
		let mut buf = [0u8; 2048];
		let (_, len) = g[0].encapsulate(77, false, &[1; 100], &mut buf).unwrap();
		(buf, len)
	}

	#[test]
	fn workers_forward_data_while_the_core_is_locked() {
		let mut g = group(3);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		let (mut buf, len) = packet_from_0(&mut g);
		let transit = std::sync::Mutex::new(g.remove(1));
		let mut shard = locked(&transit).data_shard();
		// Another task (a setup, a receipt, the dashboard) holds the core meanwhile.
		let held = locked(&transit);
		let handled = shard.pass().handle(addr(0), &mut buf[..len], 0);
		assert_eq!(handled, Handled::Done(Action::Forward { to: 2 }));
		// The counts are the shard's until the core takes them in.
		assert_eq!(totals(&held), (0, 0));
		drop(held);
		let mut core = locked(&transit);
		core.sync();
		assert_eq!(totals(&core), (len as u64, len as u64));
	}

	#[test]
	fn a_packet_is_accepted_once_whichever_worker_it_reaches() {
		let mut g = group(3);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		let (mut first, mut second) = (g[1].data_shard(), g[1].data_shard());
		let (mut buf, len) = packet_from_0(&mut g);
		let (mut again, mut once_more) = (buf, buf);
		let handled = first.pass().handle(addr(0), &mut buf[..len], 0);
		assert_eq!(handled, Handled::Done(Action::Forward { to: 2 }));
		// The same packet at another worker (another local address of a wildcard-bound relay
		// hashes elsewhere), or at the core's own shard: the link's one window refuses it.
		let handled = second.pass().handle(addr(0), &mut again[..len], 0);
		assert_eq!(handled, Handled::Done(Action::Dropped(DropReason::Replayed)));
		assert_eq!(
			g[1].on_datagram(addr(0), &mut once_more[..len], 0),
			Action::Dropped(DropReason::Replayed)
		);
		g[1].sync();
		assert_eq!(totals(&g[1]), (len as u64, len as u64), "counted once");
		assert_eq!(g[1].drops().get(DropReason::Replayed), 2);
	}

	#[test]
	fn workers_sending_on_one_link_draw_distinct_numbers_the_next_hop_accepts_in_any_order() {
		use crate::proto::data_path::LINK_SEQ_BLOCK;
		let mut g = group(3);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		let mut shards = [g[1].data_shard(), g[1].data_shard()];
		// Each worker's passes, more than a block each, in turns.
		let mut sent: [Vec<([u8; 2048], usize)>; 2] = Default::default();
		for _round in 0..3 {
			for (shard, sent) in shards.iter_mut().zip(sent.iter_mut()) {
				let mut pass = shard.pass();
				for _ in 0..LINK_SEQ_BLOCK + 5 {
					let (mut buf, len) = packet_from_0(&mut g);
					let handled = pass.handle(addr(0), &mut buf[..len], 0);
					assert_eq!(handled, Handled::Done(Action::Forward { to: 2 }));
					sent.push((buf, len));
				}
			}
		}
		let [first, second] = sent;
		let mut numbers: Vec<u64> = (first.iter().chain(&second))
			.map(|(buf, len)| decode_data(&buf[..*len]).unwrap().0.link_seq)
			.collect();
		numbers.sort_unstable();
		let count = numbers.len();
		numbers.dedup();
		assert_eq!(numbers.len(), count, "no number twice on the link");
		// The second worker's packets first (they came out of order): all are delivered, once.
		for (mut buf, len) in second.into_iter().chain(first) {
			let action = g[2].on_datagram(addr(1), &mut buf[..len], 0);
			assert!(matches!(action, Action::Deliver { .. }), "{action:?}");
		}
	}

	#[test]
	fn a_pass_counts_every_link_however_senders_and_next_hops_interleave() {
		let mut g = group(4);
		install_everywhere(&mut g, &flow(vec![0, 1, 2]));
		install_everywhere(&mut g, &Flow { id: 78, ..flow(vec![3, 1, 0]) });
		let mut shard = g[1].data_shard();
		let mut pass = shard.pass();
		let (mut from_0, mut from_3) = (0u64, 0u64);
		for round in 0..6 {
			let mut buf = [0u8; 2048];
			// Runs of one sender, then alternating senders (and so next hops).
			let (origin, id, next) = if round % 3 == 2 { (0, 77, 2) } else { (3, 78, 0) };
			let payload = vec![round as u8; 10 + round];
			let (_, len) = g[origin].encapsulate(id, false, &payload, &mut buf).unwrap();
			let handled = pass.handle(addr(origin as u8), &mut buf[..len], 0);
			assert_eq!(handled, Handled::Done(Action::Forward { to: next }));
			*if origin == 0 { &mut from_0 } else { &mut from_3 } += len as u64;
		}
		drop(pass);
		g[1].sync();
		let by_peer = g[1].counters().by_peer();
		let octets = |peer: u8| {
			let octets = by_peer.get(&[peer; 32]).copied().unwrap_or_default();
			(octets.in_octets, octets.out_octets)
		};
		assert_eq!(octets(0), (from_0, from_3), "in from 0; out to 0 (flow 78's next hop)");
		assert_eq!(octets(3), (from_3, 0));
		assert_eq!(octets(2), (0, from_0));
	}

	#[test]
	fn a_shard_follows_what_the_core_installs_and_closes_at_its_next_pass() {
		let mut g = group(3);
		for i in [0, 2] {
			g[i].install_flow(flow(vec![0, 1, 2])).unwrap();
		}
		let mut shard = g[1].data_shard();
		let (mut buf, len) = packet_from_0(&mut g);
		let handled = shard.pass().handle(addr(0), &mut buf[..len], 0);
		assert_eq!(handled, Handled::Done(Action::Dropped(DropReason::UnknownFlow)));
		g[1].install_flow(flow(vec![0, 1, 2])).unwrap();
		let (mut buf, len) = packet_from_0(&mut g);
		let handled = shard.pass().handle(addr(0), &mut buf[..len], 0);
		assert_eq!(handled, Handled::Done(Action::Forward { to: 2 }));
		// Epoch 0's claim is being built: what the shard counted before is in the core (both
		// packets in, as their sender counted them out; one forwarded), and data stamped with
		// it is counted nowhere from now on.
		g[1].close_epochs_through(0);
		let counted = (2 * len as u64, len as u64);
		assert_eq!(totals(&g[1]), counted);
		let (mut buf, len) = packet_from_0(&mut g);
		let handled = shard.pass().handle(addr(0), &mut buf[..len], 0);
		assert_eq!(handled, Handled::Done(Action::Dropped(DropReason::WrongEpoch)));
		g[1].sync();
		assert_eq!(totals(&g[1]), counted);
	}

	#[test]
	fn a_foreign_version_reaches_the_core_once_per_member_and_version() {
		let g = group(2);
		let mut shard = g[1].data_shard();
		let mut datagram = [0u8; 64];
		datagram[0] = wire::VERSION + 1;
		let handled = shard.pass().handle(addr(0), &mut datagram, 0);
		let told = Handled::ForeignVersion { member: 0, version: wire::VERSION + 1 };
		assert_eq!(handled, told);
		let handled = shard.pass().handle(addr(0), &mut datagram, 0);
		assert_eq!(handled, Handled::Done(Action::Dropped(DropReason::UnsupportedVersion)));
		// From a stranger: counted, nothing to tell.
		let stranger = SocketAddr::from(([127, 0, 0, 1], 9));
		let handled = shard.pass().handle(stranger, &mut datagram, 0);
		assert_eq!(handled, Handled::Done(Action::Dropped(DropReason::UnsupportedVersion)));
	}
}
