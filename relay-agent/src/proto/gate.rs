//! The checks a control datagram passes before the core sees it: a member's address, that
//! member's budget, then the signature (pulses, rows, setups). Each worker keeps a gate of its
//! own and runs it without the core's lock, so signature checks of datagrams from anyone never
//! hold up the data plane: the core takes only what passed, as an [`Admitted`] that nothing
//! outside this module can make.
//!
//! Budgets are per gate, so per worker: a member sends from one address, which `SO_REUSEPORT`
//! steers to one worker, so it meets one budget. A flood beyond it costs a hash lookup and a
//! token count per datagram, and no signature check.
//!
//! What a gate leaves to the core: data (its per-link MAC and replay window), datagrams of
//! another protocol version (counted there), the checks that depend on what the core holds
//! (replayed pulses and rows, installed setup versions, the consumer's consent), and receipts'
//! signatures (they need the consumers' terms the core keeps).

use super::{
	relay::{canonical_addr, flow_id_tag, DropReason, Member, SETUP_MAX_SKEW_MS},
	wire::{self, decode_row_header, verify_row, FlowSetup, PacketType, Pulse},
};
use foldhash::HashMap;
use srwan_primitives::routing::MemberIndex;
use std::{net::SocketAddr, sync::Arc};

/// Control datagrams (pulses, rows, setups) a member may send per second on average, and in a
/// burst. A member's pulses and rows come a few per pulse interval, and its setups one per
/// flow and interval (1,024 flows refreshed every 10 s: about 100 per second): far below. A
/// flood beyond it, forged or not, costs a hash lookup per datagram, not a signature check.
pub const CONTROL_PER_SECOND: u64 = 256;
/// See [`CONTROL_PER_SECOND`].
pub const CONTROL_BURST: u64 = 512;

/// Receipt datagrams a member may send per second on average, and in a burst: a budget of
/// their own, so that the receipts of many flows never starve the member's pulses. An ingress
/// sends one per flow version and second to each router of its path; a transit relay passes
/// on those of every flow it carries.
pub const RECEIPTS_PER_SECOND: u64 = 512;
/// See [`RECEIPTS_PER_SECOND`].
pub const RECEIPT_BURST: u64 = 1_024;

/// A token bucket of datagrams for one member.
#[derive(Clone, Copy, Debug)]
struct Budget {
	/// Tokens, scaled by 10⁹ (one token = 10⁹), so refills need no division per datagram.
	tokens_e9: u64,
	last_ns: u64,
	per_second: u64,
	burst: u64,
}

impl Budget {
	const CONTROL: Self = Self::full(CONTROL_PER_SECOND, CONTROL_BURST);
	const RECEIPTS: Self = Self::full(RECEIPTS_PER_SECOND, RECEIPT_BURST);

	const fn full(per_second: u64, burst: u64) -> Self {
		Self { tokens_e9: burst * 1_000_000_000, last_ns: 0, per_second, burst }
	}

	fn take(&mut self, now_ns: u64) -> bool {
		let elapsed = now_ns.saturating_sub(self.last_ns);
		self.last_ns = self.last_ns.max(now_ns);
		let cap = self.burst.saturating_mul(1_000_000_000);
		self.tokens_e9 =
			self.tokens_e9.saturating_add(elapsed.saturating_mul(self.per_second)).min(cap);
		match self.tokens_e9.checked_sub(1_000_000_000) {
			Some(left) => {
				self.tokens_e9 = left;
				true
			}
			None => false,
		}
	}
}

/// What a gate made of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
	/// Not a control datagram (data, malformed, another version): the core checks it all.
	Unchecked,
	/// A control datagram that passed.
	Admitted(Admitted),
	/// Refused, for this reason (the core counts it).
	Dropped(DropReason),
}

/// A control datagram that passed a gate: from member `sender`'s address within its budget,
/// and signed by its sender (pulses, rows) or by the flow's origin `origin` (setups).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
	pub(super) kind: PacketType,
	pub(super) sender: MemberIndex,
	pub(super) origin: MemberIndex,
}

/// The control checks of one worker (see the module docs).
#[derive(Clone, Debug)]
pub struct Gate {
	me: MemberIndex,
	members: Arc<[Member]>,
	by_addr: Arc<HashMap<SocketAddr, MemberIndex>>,
	control: Vec<Budget>,
	receipts: Vec<Budget>,
}

/// Whether a gate has anything to check in `datagram` (it is a control datagram).
#[inline]
pub fn is_control(datagram: &[u8]) -> bool {
	matches!(wire::peek_type(datagram), Ok(kind) if kind != PacketType::Data)
}

impl Gate {
	/// A gate of relay `me` in a group of `members`, found by (canonical) address in
	/// `by_addr`, every budget full.
	pub(super) fn new(
		me: MemberIndex,
		members: Arc<[Member]>,
		by_addr: Arc<HashMap<SocketAddr, MemberIndex>>,
	) -> Self {
		let n = members.len();
		Self {
			me,
			members,
			by_addr,
			control: vec![Budget::CONTROL; n],
			receipts: vec![Budget::RECEIPTS; n],
		}
	}

	/// The same checks with every budget full (for another worker).
	pub fn fresh(&self) -> Self {
		Self::new(self.me, self.members.clone(), self.by_addr.clone())
	}

	/// Checks `datagram` from `from`, received at `now_ns` (wall clock). Never panics.
	pub fn admit(&mut self, from: SocketAddr, datagram: &[u8], now_ns: u64) -> Admission {
		let kind = match wire::peek_type(datagram) {
			Ok(PacketType::Data) | Err(_) => return Admission::Unchecked,
			Ok(kind) => kind,
		};
		match self.check(kind, from, datagram, now_ns) {
			Ok(admitted) => Admission::Admitted(admitted),
			Err(reason) => Admission::Dropped(reason),
		}
	}

	fn check(
		&mut self,
		kind: PacketType,
		from: SocketAddr,
		datagram: &[u8],
		now_ns: u64,
	) -> Result<Admitted, DropReason> {
		let sender = *self.by_addr.get(&canonical_addr(from)).ok_or(DropReason::UnknownSender)?;
		let budgets =
			if kind == PacketType::Receipt { &mut self.receipts } else { &mut self.control };
		let budget = budgets.get_mut(usize::from(sender)).ok_or(DropReason::UnknownSender)?;
		if !budget.take(now_ns) {
			return Err(DropReason::RateLimited);
		}
		let member = self.members.get(usize::from(sender)).ok_or(DropReason::UnknownSender)?;
		let origin = match kind {
			PacketType::Pulse => {
				// Pulses come from their sender's own address.
				if Pulse::decode(datagram)?.sender != member.id {
					return Err(DropReason::UnknownSender);
				}
				Pulse::verify(datagram, &member.pulse_key)?;
				sender
			}
			PacketType::Row => {
				// Rows, like pulses, come from their sender's own address.
				if decode_row_header(datagram)?.0.sender != member.id {
					return Err(DropReason::UnknownSender);
				}
				verify_row(datagram, &member.pulse_key)?;
				sender
			}
			PacketType::FlowSetup => self.check_setup(datagram, now_ns)?,
			// The consumer's signature needs its terms: the core checks it.
			PacketType::Receipt => sender,
			PacketType::Data => return Err(DropReason::Malformed),
		};
		Ok(Admitted { kind, sender, origin })
	}

	/// A setup's origin (a member, not this relay, owning the flow id), its time (near this
	/// relay's clock), then its signature. Returns the origin.
	fn check_setup(&self, datagram: &[u8], now_ns: u64) -> Result<MemberIndex, DropReason> {
		let terms = FlowSetup::decode(datagram)?.terms;
		let origin = self
			.members
			.iter()
			.position(|m| m.id == terms.origin)
			.ok_or(DropReason::UnknownSender)?;
		let origin = MemberIndex::try_from(origin).map_err(|_| DropReason::UnknownSender)?;
		if (terms.flow >> 32) as u32 != flow_id_tag(&terms.origin) {
			return Err(DropReason::FlowOfAnother);
		}
		// This relay's own setups come back only as replays (of a previous boot's, say).
		if origin == self.me {
			return Err(DropReason::StaleSetup);
		}
		if (now_ns / 1_000_000).abs_diff(terms.time_ms) > SETUP_MAX_SKEW_MS {
			return Err(DropReason::StaleSetup);
		}
		let key =
			&self.members.get(usize::from(origin)).ok_or(DropReason::UnknownSender)?.pulse_key;
		FlowSetup::verify(datagram, key)?;
		Ok(origin)
	}
}
