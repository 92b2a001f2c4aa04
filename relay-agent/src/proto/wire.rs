//! Wire formats of srwan's UDP datagrams. Every datagram starts with `version` and `type`;
//! integers are big-endian; `docs/PROTOCOL.md` documents each layout byte by byte.
//!
//! Decoding never panics and never allocates: it checks lengths first and returns a
//! [`WireError`] for anything malformed, so a hostile packet costs one comparison.

use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// Protocol version carried in the first byte of every datagram.
pub const VERSION: u8 = 1;

/// A router's stable id (its account id on chain, or a configured name hashed to 32 bytes).
pub type NodeId = [u8; 32];

/// Kinds of datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
	/// Signed measurement pulse between group members.
	Pulse = 1,
	/// Signed (part of a) member's inbound measurement row.
	Row = 2,
	/// Signed setup of a flow: its id, MAC key, path and destination.
	FlowSetup = 3,
	/// Segment-routed data (or a fast probe of an active path).
	Data = 16,
}

impl PacketType {
	fn from_byte(byte: u8) -> Result<Self, WireError> {
		match byte {
			1 => Ok(Self::Pulse),
			2 => Ok(Self::Row),
			3 => Ok(Self::FlowSetup),
			16 => Ok(Self::Data),
			other => Err(WireError::UnknownType(other)),
		}
	}
}

/// Why a datagram was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
	/// Shorter than its layout requires.
	#[error("datagram truncated: {got} bytes, need {need}")]
	Truncated {
		/// Bytes received.
		got: usize,
		/// Bytes the layout needs.
		need: usize,
	},
	/// Longer than its layout allows (pulses have a fixed size).
	#[error("datagram has {0} trailing bytes")]
	TrailingBytes(usize),
	/// A version this agent does not speak.
	#[error("unsupported protocol version {0}")]
	UnsupportedVersion(u8),
	/// An unknown packet type.
	#[error("unknown packet type {0}")]
	UnknownType(u8),
	/// The type byte is valid but not the one expected here.
	#[error("unexpected packet type {0:?}")]
	WrongType(PacketType),
	/// Reserved bits or bytes are not zero.
	#[error("reserved bits set")]
	ReservedBits,
	/// The signature does not verify under the sender's key.
	#[error("bad signature")]
	BadSignature,
	/// The MAC does not verify under the flow's key.
	#[error("bad MAC")]
	BadMac,
	/// The segment list is empty, too long, or `segments_left` points outside it.
	#[error("bad segment list")]
	BadSegments,
	/// The output buffer is too small.
	#[error("buffer too small: need {0} bytes")]
	BufferTooSmall(usize),
}

/// Reads the version and type of any datagram.
#[inline]
pub fn peek_type(datagram: &[u8]) -> Result<PacketType, WireError> {
	let [version, ty, ..] = datagram else {
		return Err(WireError::Truncated { got: datagram.len(), need: 2 });
	};
	if *version != VERSION {
		return Err(WireError::UnsupportedVersion(*version));
	}
	PacketType::from_byte(*ty)
}

/// Checks that `datagram` is of type `expected` (and of our version).
#[inline]
fn expect_type(datagram: &[u8], expected: PacketType) -> Result<(), WireError> {
	match peek_type(datagram)? {
		ty if ty == expected => Ok(()),
		other => Err(WireError::WrongType(other)),
	}
}

#[inline]
fn u64_at(buf: &[u8], at: usize) -> u64 {
	let mut bytes = [0u8; 8];
	if let Some(src) = buf.get(at..at + 8) {
		bytes.copy_from_slice(src);
	}
	u64::from_be_bytes(bytes)
}

#[inline]
fn u32_at(buf: &[u8], at: usize) -> u32 {
	let mut bytes = [0u8; 4];
	if let Some(src) = buf.get(at..at + 4) {
		bytes.copy_from_slice(src);
	}
	u32::from_be_bytes(bytes)
}

fn id_at(buf: &[u8], at: usize) -> NodeId {
	let mut id = [0u8; 32];
	if let Some(src) = buf.get(at..at + 32) {
		id.copy_from_slice(src);
	}
	id
}

// ---------------------------------------------------------------------------------------------
// Pulse
// ---------------------------------------------------------------------------------------------

/// The peer's last pulse as this sender saw it, so the peer can compute RTT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo {
	/// Sequence number of the peer's pulse.
	pub seq: u64,
	/// When it arrived, on the echoing sender's clock (ns since the unix epoch).
	pub rx_time_ns: u64,
}

/// A measurement pulse (fixed size: [`Pulse::LEN`] bytes, signed with ed25519).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pulse {
	/// Who sent it.
	pub sender: NodeId,
	/// Whom it is for: a pulse replayed towards another member does not verify there.
	pub receiver: NodeId,
	/// Sender's sequence number, strictly increasing within one `boot_time`.
	pub seq: u64,
	/// Sender's wall clock at sending, ns since the unix epoch.
	pub send_time_ns: u64,
	/// When the sender's agent started (unix seconds); a restart starts a new sequence.
	pub boot_time: u64,
	/// The receiver's last pulse as the sender saw it.
	pub echo: Option<Echo>,
}

/// Domain separation for pulse signatures.
const PULSE_DOMAIN: &[u8; 14] = b"srwan/pulse/v1";
const PULSE_SIGNED_LEN: usize = 4 + 32 + 32 + 5 * 8;
const FLAG_ECHO: u8 = 0b1;

// DESIGN.md budget: a pulse stays within 200 bytes.
const _: () = assert!(Pulse::LEN <= 200);

impl Pulse {
	/// Encoded size: header 4, ids 64, five u64, signature 64.
	pub const LEN: usize = PULSE_SIGNED_LEN + 64;

	/// Encodes and signs into `out`; returns the datagram length.
	pub fn encode(&self, key: &SigningKey, out: &mut [u8]) -> Result<usize, WireError> {
		let out = out.get_mut(..Self::LEN).ok_or(WireError::BufferTooSmall(Self::LEN))?;
		let echo = self.echo.unwrap_or(Echo { seq: 0, rx_time_ns: 0 });
		out[0] = VERSION;
		out[1] = PacketType::Pulse as u8;
		out[2] = if self.echo.is_some() { FLAG_ECHO } else { 0 };
		out[3] = 0;
		out[4..36].copy_from_slice(&self.sender);
		out[36..68].copy_from_slice(&self.receiver);
		for (i, value) in [self.seq, self.send_time_ns, self.boot_time, echo.seq, echo.rx_time_ns]
			.iter()
			.enumerate()
		{
			out[68 + 8 * i..76 + 8 * i].copy_from_slice(&value.to_be_bytes());
		}
		let signature = key.sign(&signed_message(&out[..PULSE_SIGNED_LEN]));
		out[PULSE_SIGNED_LEN..].copy_from_slice(&signature.to_bytes());
		Ok(Self::LEN)
	}

	/// Decodes a pulse *without* checking its signature (the sender's key is looked up by
	/// `sender` first); call [`Pulse::verify`] before trusting any field.
	pub fn decode(datagram: &[u8]) -> Result<Self, WireError> {
		expect_type(datagram, PacketType::Pulse)?;
		if datagram.len() < Self::LEN {
			return Err(WireError::Truncated { got: datagram.len(), need: Self::LEN });
		}
		if datagram.len() > Self::LEN {
			return Err(WireError::TrailingBytes(datagram.len() - Self::LEN));
		}
		let flags = datagram[2];
		if flags & !FLAG_ECHO != 0 || datagram[3] != 0 {
			return Err(WireError::ReservedBits);
		}
		let echo = (flags & FLAG_ECHO != 0)
			.then(|| Echo { seq: u64_at(datagram, 92), rx_time_ns: u64_at(datagram, 100) });
		Ok(Self {
			sender: id_at(datagram, 4),
			receiver: id_at(datagram, 36),
			seq: u64_at(datagram, 68),
			send_time_ns: u64_at(datagram, 76),
			boot_time: u64_at(datagram, 84),
			echo,
		})
	}

	/// Checks a pulse datagram's signature under the sender's key.
	pub fn verify(datagram: &[u8], key: &VerifyingKey) -> Result<(), WireError> {
		if datagram.len() != Self::LEN {
			return Err(WireError::Truncated { got: datagram.len(), need: Self::LEN });
		}
		let mut sig = [0u8; 64];
		sig.copy_from_slice(&datagram[PULSE_SIGNED_LEN..]);
		key.verify(&signed_message(&datagram[..PULSE_SIGNED_LEN]), &Signature::from_bytes(&sig))
			.map_err(|_| WireError::BadSignature)
	}
}

/// `PULSE_DOMAIN ‖ body`, on the stack.
fn signed_message(body: &[u8]) -> [u8; PULSE_DOMAIN.len() + PULSE_SIGNED_LEN] {
	let mut msg = [0u8; PULSE_DOMAIN.len() + PULSE_SIGNED_LEN];
	msg[..PULSE_DOMAIN.len()].copy_from_slice(PULSE_DOMAIN);
	let n = body.len().min(PULSE_SIGNED_LEN);
	msg[PULSE_DOMAIN.len()..PULSE_DOMAIN.len() + n].copy_from_slice(&body[..n]);
	msg
}

// ---------------------------------------------------------------------------------------------
// Row
// ---------------------------------------------------------------------------------------------

/// One entry of a measurement row: what the row's owner measured of pulses from `member`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowEntry {
	/// Group-scoped index of the measured sender.
	pub member: u16,
	/// Median one-way delay, µs, offset-relative.
	pub owd_us: i32,
	/// Median RTT, µs (`u32::MAX` = unknown).
	pub rtt_us: u32,
	/// Jitter, µs.
	pub jitter_us: u32,
	/// Loss, ppm.
	pub loss_ppm: u32,
}

impl RowEntry {
	/// The entry that withdraws `member`: its sender fell silent (RTT unknown, 100% loss).
	pub fn withdrawn(member: u16) -> Self {
		Self { member, owd_us: 0, rtt_us: u32::MAX, jitter_us: 0, loss_ppm: 1_000_000 }
	}

	/// Whether this entry withdraws its member.
	pub fn is_withdrawn(&self) -> bool {
		self.rtt_us == u32::MAX && self.loss_ppm >= 1_000_000
	}
}

/// Header of a row datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowHeader {
	/// Whose inbound row this is.
	pub sender: NodeId,
	/// Sender's boot time.
	pub boot_time: u64,
	/// Sender's row sequence number (increasing within a boot).
	pub seq: u32,
	/// A full row (all entries) rather than the changed ones.
	pub full: bool,
}

const ROW_DOMAIN: &[u8; 12] = b"srwan/row/v1";
const ROW_FIXED_LEN: usize = 4 + 32 + 8 + 4 + 2;
/// Size of one encoded [`RowEntry`].
pub const ROW_ENTRY_LEN: usize = 2 + 4 + 4 + 4 + 4;
/// Most entries in one row datagram, so that it stays within 1,200 bytes.
pub const MAX_ROW_ENTRIES: usize = 60;
const FLAG_FULL: u8 = 0b1;
const _: () = assert!(ROW_FIXED_LEN + MAX_ROW_ENTRIES * ROW_ENTRY_LEN + 64 <= 1_200);

/// Encodes and signs a row datagram; at most [`MAX_ROW_ENTRIES`] entries.
pub fn encode_row(
	header: &RowHeader,
	entries: &[RowEntry],
	key: &SigningKey,
	out: &mut [u8],
) -> Result<usize, WireError> {
	if entries.len() > MAX_ROW_ENTRIES {
		return Err(WireError::BadSegments);
	}
	let body = ROW_FIXED_LEN + entries.len() * ROW_ENTRY_LEN;
	let total = body + 64;
	let out = out.get_mut(..total).ok_or(WireError::BufferTooSmall(total))?;
	out[0] = VERSION;
	out[1] = PacketType::Row as u8;
	out[2] = if header.full { FLAG_FULL } else { 0 };
	out[3] = 0;
	out[4..36].copy_from_slice(&header.sender);
	out[36..44].copy_from_slice(&header.boot_time.to_be_bytes());
	out[44..48].copy_from_slice(&header.seq.to_be_bytes());
	out[48..50].copy_from_slice(&(entries.len() as u16).to_be_bytes());
	for (i, e) in entries.iter().enumerate() {
		let at = ROW_FIXED_LEN + i * ROW_ENTRY_LEN;
		out[at..at + 2].copy_from_slice(&e.member.to_be_bytes());
		out[at + 2..at + 6].copy_from_slice(&e.owd_us.to_be_bytes());
		out[at + 6..at + 10].copy_from_slice(&e.rtt_us.to_be_bytes());
		out[at + 10..at + 14].copy_from_slice(&e.jitter_us.to_be_bytes());
		out[at + 14..at + 18].copy_from_slice(&e.loss_ppm.to_be_bytes());
	}
	let signature = key.sign(&[ROW_DOMAIN.as_slice(), &out[..body]].concat());
	out[body..].copy_from_slice(&signature.to_bytes());
	Ok(total)
}

/// Parses a row datagram's header and checks its layout; the signature is checked by
/// [`verify_row`] once the sender's key is known.
pub fn decode_row_header(datagram: &[u8]) -> Result<(RowHeader, usize), WireError> {
	expect_type(datagram, PacketType::Row)?;
	if datagram.len() < ROW_FIXED_LEN + 64 {
		return Err(WireError::Truncated { got: datagram.len(), need: ROW_FIXED_LEN + 64 });
	}
	if datagram[2] & !FLAG_FULL != 0 || datagram[3] != 0 {
		return Err(WireError::ReservedBits);
	}
	let count = usize::from(u16::from_be_bytes([datagram[48], datagram[49]]));
	if count > MAX_ROW_ENTRIES {
		return Err(WireError::BadSegments);
	}
	let need = ROW_FIXED_LEN + count * ROW_ENTRY_LEN + 64;
	if datagram.len() < need {
		return Err(WireError::Truncated { got: datagram.len(), need });
	}
	if datagram.len() > need {
		return Err(WireError::TrailingBytes(datagram.len() - need));
	}
	let header = RowHeader {
		sender: id_at(datagram, 4),
		boot_time: u64_at(datagram, 36),
		seq: u32_at(datagram, 44),
		full: datagram[2] & FLAG_FULL != 0,
	};
	Ok((header, count))
}

/// Checks a row datagram's signature.
pub fn verify_row(datagram: &[u8], key: &VerifyingKey) -> Result<(), WireError> {
	let body = datagram
		.len()
		.checked_sub(64)
		.ok_or(WireError::Truncated { got: datagram.len(), need: 64 })?;
	let mut sig = [0u8; 64];
	sig.copy_from_slice(&datagram[body..]);
	key.verify(&[ROW_DOMAIN.as_slice(), &datagram[..body]].concat(), &Signature::from_bytes(&sig))
		.map_err(|_| WireError::BadSignature)
}

/// Entry `i` of a decoded row datagram (`i < count` from [`decode_row_header`]).
pub fn row_entry(datagram: &[u8], i: usize) -> Option<RowEntry> {
	let at = ROW_FIXED_LEN + i * ROW_ENTRY_LEN;
	let bytes = datagram.get(at..at + ROW_ENTRY_LEN)?;
	Some(RowEntry {
		member: u16::from_be_bytes([bytes[0], bytes[1]]),
		owd_us: u32_at(bytes, 2) as i32,
		rtt_us: u32_at(bytes, 6),
		jitter_us: u32_at(bytes, 10),
		loss_ppm: u32_at(bytes, 14),
	})
}

// ---------------------------------------------------------------------------------------------
// Flow setup
// ---------------------------------------------------------------------------------------------

/// A flow setup, signed by the flow's origin (the ingress relay in static mode).
///
/// The flow's MAC key travels wrapped for each member on the path after the origin: XOR-ed
/// with a pad derived from an X25519 exchange between a fresh ephemeral key of this setup and
/// that member's pulse key (its ed25519 key in Montgomery form). Only the path's members can
/// read it, so an observer of the setup cannot forge the flow's data; the origin's signature
/// covers every wrapped key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSetup {
	/// Who set the flow up; must be the path's first member.
	pub origin: NodeId,
	/// The flow id.
	pub flow: u64,
	/// Where the egress delivers.
	pub destination: core::net::SocketAddr,
	/// Group-scoped member indices from ingress to egress.
	pub path: heapless_path::Path,
	/// The setup's ephemeral X25519 public key.
	pub ephemeral: [u8; 32],
	/// The flow key wrapped for `path[1..]`, in path order (unused slots are zero).
	pub wrapped: [[u8; 32]; MAX_SEGMENTS],
}

/// The pad that wraps a flow key for one member: bound to the exchange, the setup's
/// ephemeral key, the member's key, the flow and its origin.
fn wrap_pad(
	shared: &[u8; 32],
	ephemeral: &[u8; 32],
	member: &[u8; 32],
	flow: u64,
	origin: &NodeId,
) -> [u8; 32] {
	let mut kdf = blake3::Hasher::new_derive_key("srwan flowsetup v2 flow-key wrap");
	kdf.update(shared);
	kdf.update(ephemeral);
	kdf.update(member);
	kdf.update(&flow.to_be_bytes());
	kdf.update(origin);
	*kdf.finalize().as_bytes()
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
	core::array::from_fn(|i| a[i] ^ b[i])
}

impl FlowSetup {
	/// A setup of `key` for the members of `path`; `members[i]` is the pulse key of
	/// `path[i + 1]` (every member but the origin). `ephemeral_secret` must be fresh random
	/// bytes for every setup.
	pub fn seal(
		origin: NodeId,
		flow: u64,
		destination: core::net::SocketAddr,
		path: heapless_path::Path,
		key: &FlowKey,
		members: &[VerifyingKey],
		ephemeral_secret: [u8; 32],
	) -> Result<Self, WireError> {
		let hops = path.as_slice().len().saturating_sub(1);
		if hops == 0 || members.len() != hops {
			return Err(WireError::BadSegments);
		}
		let ephemeral = MontgomeryPoint::mul_base_clamped(ephemeral_secret).to_bytes();
		let mut wrapped = [[0u8; 32]; MAX_SEGMENTS];
		for (slot, member) in wrapped.iter_mut().zip(members) {
			let member = member.to_montgomery();
			let shared = member.mul_clamped(ephemeral_secret).to_bytes();
			*slot = xor32(key, &wrap_pad(&shared, &ephemeral, &member.to_bytes(), flow, &origin));
		}
		Ok(Self { origin, flow, destination, path, ephemeral, wrapped })
	}

	/// The flow key, as the member at `position` (≥ 1) on the path with pulse key `me` reads
	/// it. A wrong key or position yields a wrong flow key, never an error: packets under it
	/// then fail their MAC.
	pub fn unwrap_key(&self, position: usize, me: &SigningKey) -> Option<FlowKey> {
		if position >= self.path.as_slice().len() {
			return None;
		}
		let wrapped = self.wrapped.get(position.checked_sub(1)?)?;
		let member = me.verifying_key().to_montgomery().to_bytes();
		let shared = MontgomeryPoint(self.ephemeral).mul_clamped(me.to_scalar_bytes()).to_bytes();
		Some(xor32(wrapped, &wrap_pad(&shared, &self.ephemeral, &member, self.flow, &self.origin)))
	}
}

/// A short fixed-capacity list of member indices (no allocation on the packet path).
pub mod heapless_path {
	use super::MAX_SEGMENTS;

	/// Up to `MAX_SEGMENTS + 1` member indices.
	#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
	pub struct Path {
		len: u8,
		items: [u16; MAX_SEGMENTS + 1],
	}

	impl Path {
		/// A path from a slice; `None` if it is too long.
		pub fn from_slice(items: &[u16]) -> Option<Self> {
			if items.len() > MAX_SEGMENTS + 1 {
				return None;
			}
			let mut path = Self { len: items.len() as u8, items: [0; MAX_SEGMENTS + 1] };
			path.items[..items.len()].copy_from_slice(items);
			Some(path)
		}
		/// The indices.
		pub fn as_slice(&self) -> &[u16] {
			&self.items[..usize::from(self.len).min(MAX_SEGMENTS + 1)]
		}
	}
}

const SETUP_DOMAIN: &[u8; 18] = b"srwan/flowsetup/v2";
const SETUP_FIXED_LEN: usize = 4 + 32 + 8 + 32 + 1 + 16 + 2 + 1;

impl FlowSetup {
	/// Encodes and signs into `out`; returns the length.
	pub fn encode(&self, key: &SigningKey, out: &mut [u8]) -> Result<usize, WireError> {
		let path = self.path.as_slice();
		if path.len() < 2 {
			return Err(WireError::BadSegments);
		}
		let body = SETUP_FIXED_LEN + 2 * path.len() + 32 * (path.len() - 1);
		let total = body + 64;
		let out = out.get_mut(..total).ok_or(WireError::BufferTooSmall(total))?;
		out[0] = VERSION;
		out[1] = PacketType::FlowSetup as u8;
		out[2] = 0;
		out[3] = 0;
		out[4..36].copy_from_slice(&self.origin);
		out[36..44].copy_from_slice(&self.flow.to_be_bytes());
		out[44..76].copy_from_slice(&self.ephemeral);
		let (family, ip) = match self.destination.ip() {
			core::net::IpAddr::V4(v4) => (4u8, v4.to_ipv6_mapped().octets()),
			core::net::IpAddr::V6(v6) => (6u8, v6.octets()),
		};
		out[76] = family;
		out[77..93].copy_from_slice(&ip);
		out[93..95].copy_from_slice(&self.destination.port().to_be_bytes());
		out[95] = path.len() as u8;
		for (i, m) in path.iter().enumerate() {
			out[96 + 2 * i..98 + 2 * i].copy_from_slice(&m.to_be_bytes());
		}
		let wrapped_at = 96 + 2 * path.len();
		for (i, wrapped) in self.wrapped[..path.len() - 1].iter().enumerate() {
			out[wrapped_at + 32 * i..wrapped_at + 32 * (i + 1)].copy_from_slice(wrapped);
		}
		let signature = key.sign(&[SETUP_DOMAIN.as_slice(), &out[..body]].concat());
		out[body..].copy_from_slice(&signature.to_bytes());
		Ok(total)
	}

	/// Decodes a setup without checking its signature (see [`FlowSetup::verify`]).
	pub fn decode(datagram: &[u8]) -> Result<Self, WireError> {
		expect_type(datagram, PacketType::FlowSetup)?;
		if datagram.len() < SETUP_FIXED_LEN + 64 {
			return Err(WireError::Truncated { got: datagram.len(), need: SETUP_FIXED_LEN + 64 });
		}
		if datagram[2] != 0 || datagram[3] != 0 {
			return Err(WireError::ReservedBits);
		}
		let count = usize::from(datagram[95]);
		if !(2..=MAX_SEGMENTS + 1).contains(&count) {
			return Err(WireError::BadSegments);
		}
		let need = SETUP_FIXED_LEN + 2 * count + 32 * (count - 1) + 64;
		if datagram.len() != need {
			return Err(WireError::Truncated { got: datagram.len(), need });
		}
		let mut ip = [0u8; 16];
		ip.copy_from_slice(&datagram[77..93]);
		let ip = match datagram[76] {
			4 => {
				let v6 = core::net::Ipv6Addr::from(ip);
				core::net::IpAddr::V4(v6.to_ipv4_mapped().ok_or(WireError::ReservedBits)?)
			}
			6 => core::net::IpAddr::V6(core::net::Ipv6Addr::from(ip)),
			_ => return Err(WireError::ReservedBits),
		};
		let port = u16::from_be_bytes([datagram[93], datagram[94]]);
		let mut items = [0u16; MAX_SEGMENTS + 1];
		for (i, item) in items.iter_mut().enumerate().take(count) {
			*item = u16::from_be_bytes([datagram[96 + 2 * i], datagram[97 + 2 * i]]);
		}
		let wrapped_at = 96 + 2 * count;
		let mut wrapped = [[0u8; 32]; MAX_SEGMENTS];
		for (i, slot) in wrapped.iter_mut().enumerate().take(count - 1) {
			*slot = id_at(datagram, wrapped_at + 32 * i);
		}
		Ok(Self {
			origin: id_at(datagram, 4),
			flow: u64_at(datagram, 36),
			destination: core::net::SocketAddr::new(ip, port),
			path: heapless_path::Path::from_slice(&items[..count]).ok_or(WireError::BadSegments)?,
			ephemeral: id_at(datagram, 44),
			wrapped,
		})
	}

	/// Checks a setup datagram's signature under the origin's key.
	pub fn verify(datagram: &[u8], key: &VerifyingKey) -> Result<(), WireError> {
		verify_signed(datagram, SETUP_DOMAIN, key)
	}
}

fn verify_signed(datagram: &[u8], domain: &[u8], key: &VerifyingKey) -> Result<(), WireError> {
	let body = datagram
		.len()
		.checked_sub(64)
		.ok_or(WireError::Truncated { got: datagram.len(), need: 64 })?;
	let mut sig = [0u8; 64];
	sig.copy_from_slice(&datagram[body..]);
	key.verify(&[domain, &datagram[..body]].concat(), &Signature::from_bytes(&sig))
		.map_err(|_| WireError::BadSignature)
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// Most segments (routers after the ingress) a data packet may list.
pub const MAX_SEGMENTS: usize = 8;
pub use super::data_mac::{DataMac, MAC_LEN};
/// A per-flow MAC key, agreed at flow setup.
pub type FlowKey = [u8; 32];

const DATA_FIXED_LEN: usize = 30;
const FLAG_REVERSE: u8 = 0b01;
const FLAG_PROBE: u8 = 0b10;

/// The header of a segment-routed data packet.
///
/// `segments` lists the group-scoped member indices the packet visits after the ingress, the
/// egress last; `segments_left` counts those still ahead. A relay that receives a packet must
/// be `segments[len − segments_left]`; it decrements `segments_left` and forwards to the next
/// one, or delivers when it reaches zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataHeader {
	/// Reply traffic travelling egress → ingress (counted as `rev_octets`).
	pub reverse: bool,
	/// A fast probe of the path rather than user data.
	pub probe: bool,
	/// Segments still ahead, including the one receiving it.
	pub segments_left: u8,
	/// Number of valid entries in `segments`.
	pub segment_count: u8,
	/// The group the member indices refer to.
	pub group: u32,
	/// Flow id, set at flow setup.
	pub flow: u64,
	/// Metering epoch stamped by the sender; both ends of a link count the packet in it.
	pub epoch: u32,
	/// Sender's per-flow sequence number.
	pub seq: u64,
	/// Member indices; entries past `segment_count` are zero.
	pub segments: [u16; MAX_SEGMENTS],
}

impl DataHeader {
	/// Encoded header length (without payload and MAC).
	pub fn len(&self) -> usize {
		DATA_FIXED_LEN + 2 * usize::from(self.segment_count)
	}

	/// Whether the header lists no segments (never true of a valid header).
	pub fn is_empty(&self) -> bool {
		self.segment_count == 0
	}

	/// The segments as a slice.
	pub fn segment_list(&self) -> &[u16] {
		&self.segments[..usize::from(self.segment_count).min(MAX_SEGMENTS)]
	}

	/// The member that should be receiving the packet now, if any segment is left.
	#[inline]
	pub fn current_segment(&self) -> Option<u16> {
		let count = usize::from(self.segment_count);
		let left = usize::from(self.segments_left);
		if left == 0 || left > count {
			return None;
		}
		self.segments.get(count - left).copied()
	}

	#[inline]
	fn check(&self) -> Result<(), WireError> {
		let count = usize::from(self.segment_count);
		if count == 0 || count > MAX_SEGMENTS || self.segments_left as usize > count {
			return Err(WireError::BadSegments);
		}
		Ok(())
	}
}

/// Writes a data packet (header, payload, MAC) into `out`; returns its length.
pub fn encode_data(
	header: &DataHeader,
	payload: &[u8],
	mac: &DataMac,
	out: &mut [u8],
) -> Result<usize, WireError> {
	header.check()?;
	let header_len = header.len();
	let total = header_len + payload.len() + MAC_LEN;
	let out = out.get_mut(..total).ok_or(WireError::BufferTooSmall(total))?;
	out[0] = VERSION;
	out[1] = PacketType::Data as u8;
	out[2] = (u8::from(header.reverse) * FLAG_REVERSE) | (u8::from(header.probe) * FLAG_PROBE);
	out[3] = header.segments_left;
	out[4] = header.segment_count;
	out[5] = 0;
	out[6..10].copy_from_slice(&header.group.to_be_bytes());
	out[10..18].copy_from_slice(&header.flow.to_be_bytes());
	out[18..22].copy_from_slice(&header.epoch.to_be_bytes());
	out[22..30].copy_from_slice(&header.seq.to_be_bytes());
	for (i, segment) in header.segment_list().iter().enumerate() {
		out[30 + 2 * i..32 + 2 * i].copy_from_slice(&segment.to_be_bytes());
	}
	out[header_len..header_len + payload.len()].copy_from_slice(payload);
	let (covered, tag) = out.split_at_mut(total - MAC_LEN);
	tag.copy_from_slice(&mac.tag(covered));
	Ok(total)
}

/// Parses a data packet's header; returns it and the payload's byte range. The MAC is not
/// checked here (the flow key is looked up by `flow` first): call [`verify_data_mac`].
#[inline]
pub fn decode_data(datagram: &[u8]) -> Result<(DataHeader, core::ops::Range<usize>), WireError> {
	expect_type(datagram, PacketType::Data)?;
	let need = DATA_FIXED_LEN + MAC_LEN;
	if datagram.len() < need {
		return Err(WireError::Truncated { got: datagram.len(), need });
	}
	let flags = datagram[2];
	if flags & !(FLAG_REVERSE | FLAG_PROBE) != 0 || datagram[5] != 0 {
		return Err(WireError::ReservedBits);
	}
	let mut header = DataHeader {
		reverse: flags & FLAG_REVERSE != 0,
		probe: flags & FLAG_PROBE != 0,
		segments_left: datagram[3],
		segment_count: datagram[4],
		group: u32_at(datagram, 6),
		flow: u64_at(datagram, 10),
		epoch: u32_at(datagram, 18),
		seq: u64_at(datagram, 22),
		segments: [0; MAX_SEGMENTS],
	};
	header.check()?;
	let header_len = header.len();
	if datagram.len() < header_len + MAC_LEN {
		return Err(WireError::Truncated { got: datagram.len(), need: header_len + MAC_LEN });
	}
	for i in 0..usize::from(header.segment_count) {
		header.segments[i] = u16::from_be_bytes([datagram[30 + 2 * i], datagram[31 + 2 * i]]);
	}
	Ok((header, header_len..datagram.len() - MAC_LEN))
}

/// Checks a data packet's MAC under its flow's keys.
#[inline]
pub fn verify_data_mac(datagram: &[u8], mac: &DataMac) -> Result<(), WireError> {
	let split = datagram
		.len()
		.checked_sub(MAC_LEN)
		.ok_or(WireError::Truncated { got: datagram.len(), need: MAC_LEN })?;
	let (covered, tag) = datagram.split_at(split);
	if mac.verify(covered, tag) {
		Ok(())
	} else {
		Err(WireError::BadMac)
	}
}

/// Rewrites `segments_left` in place (forwarding); the MAC stays valid because it does not
/// cover that byte.
#[inline]
pub fn set_segments_left(datagram: &mut [u8], segments_left: u8) {
	if let Some(byte) = datagram.get_mut(3) {
		*byte = segments_left;
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use proptest::prelude::*;

	fn key(seed: u8) -> SigningKey {
		SigningKey::from_bytes(&[seed; 32])
	}

	fn pulse() -> Pulse {
		Pulse {
			sender: [1; 32],
			receiver: [2; 32],
			seq: 42,
			send_time_ns: 1_700_000_000_123_456_789,
			boot_time: 1_700_000_000,
			echo: Some(Echo { seq: 41, rx_time_ns: 1_700_000_000_000_000_001 }),
		}
	}

	fn header() -> DataHeader {
		let mut segments = [0; MAX_SEGMENTS];
		segments[..3].copy_from_slice(&[7, 3, 9]);
		DataHeader {
			reverse: false,
			probe: false,
			segments_left: 3,
			segment_count: 3,
			group: 5,
			flow: 0xdead_beef,
			epoch: 12,
			seq: 99,
			segments,
		}
	}

	#[test]
	fn pulse_round_trips_and_verifies() {
		let mut buf = [0u8; 256];
		let n = pulse().encode(&key(1), &mut buf).unwrap();
		assert_eq!(n, Pulse::LEN);
		assert_eq!(Pulse::decode(&buf[..n]).unwrap(), pulse());
		Pulse::verify(&buf[..n], &key(1).verifying_key()).unwrap();
		assert_eq!(Pulse::verify(&buf[..n], &key(2).verifying_key()), Err(WireError::BadSignature));
		let no_echo = Pulse { echo: None, ..pulse() };
		let n = no_echo.encode(&key(1), &mut buf).unwrap();
		assert_eq!(Pulse::decode(&buf[..n]).unwrap(), no_echo);
	}

	#[test]
	fn pulse_rejects_every_truncation_and_extension() {
		let mut buf = [0u8; 256];
		let n = pulse().encode(&key(1), &mut buf).unwrap();
		for len in 0..n {
			assert!(Pulse::decode(&buf[..len]).is_err(), "accepted {len} bytes");
		}
		assert_eq!(Pulse::decode(&buf[..n + 1]), Err(WireError::TrailingBytes(1)));
		assert_eq!(
			pulse().encode(&key(1), &mut [0u8; 10]),
			Err(WireError::BufferTooSmall(Pulse::LEN))
		);
	}

	#[test]
	fn every_bit_flip_of_a_pulse_is_caught() {
		let mut buf = [0u8; Pulse::LEN];
		pulse().encode(&key(1), &mut buf).unwrap();
		let vk = key(1).verifying_key();
		for bit in 0..Pulse::LEN * 8 {
			let mut flipped = buf;
			flipped[bit / 8] ^= 1 << (bit % 8);
			let rejected =
				Pulse::decode(&flipped).is_err() || Pulse::verify(&flipped, &vk).is_err();
			assert!(rejected, "bit {bit} flipped unnoticed");
		}
	}

	#[test]
	fn data_round_trips_and_forwarding_keeps_the_mac() {
		let mac = DataMac::new(&[9u8; 32]);
		let mut buf = [0u8; 1500];
		let payload = b"hello through the overlay";
		let n = encode_data(&header(), payload, &mac, &mut buf).unwrap();
		let (h, range) = decode_data(&buf[..n]).unwrap();
		assert_eq!(h, header());
		assert_eq!(&buf[range], payload);
		assert_eq!(h.current_segment(), Some(7));
		verify_data_mac(&buf[..n], &mac).unwrap();

		set_segments_left(&mut buf[..n], 2);
		let (h, _) = decode_data(&buf[..n]).unwrap();
		assert_eq!(h.current_segment(), Some(3));
		verify_data_mac(&buf[..n], &mac).unwrap();
		assert_eq!(verify_data_mac(&buf[..n], &DataMac::new(&[8u8; 32])), Err(WireError::BadMac));
	}

	#[test]
	fn every_bit_flip_of_a_data_packet_is_caught_except_segments_left() {
		let mac = DataMac::new(&[9u8; 32]);
		let mut buf = [0u8; 128];
		let n = encode_data(&header(), b"payload", &mac, &mut buf).unwrap();
		for bit in 0..n * 8 {
			if bit / 8 == 3 {
				continue; // segments_left: rewritten by every hop, bounded by decode.
			}
			let mut flipped = buf;
			flipped[bit / 8] ^= 1 << (bit % 8);
			let rejected = decode_data(&flipped[..n]).is_err()
				|| verify_data_mac(&flipped[..n], &mac).is_err();
			assert!(rejected, "bit {bit} flipped unnoticed");
		}
	}

	#[test]
	fn bad_segment_lists_are_rejected() {
		let mut buf = [0u8; 128];
		let none = DataHeader { segment_count: 0, segments_left: 0, ..header() };
		assert_eq!(
			encode_data(&none, b"", &DataMac::new(&[0; 32]), &mut buf),
			Err(WireError::BadSegments)
		);
		let beyond = DataHeader { segments_left: 4, ..header() };
		assert_eq!(
			encode_data(&beyond, b"", &DataMac::new(&[0; 32]), &mut buf),
			Err(WireError::BadSegments)
		);
		let n = encode_data(&header(), b"", &DataMac::new(&[0; 32]), &mut buf).unwrap();
		buf[4] = MAX_SEGMENTS as u8 + 1;
		assert_eq!(decode_data(&buf[..n]), Err(WireError::BadSegments));
	}

	#[test]
	fn rows_round_trip_verify_and_fit_the_budget() {
		let entries: Vec<RowEntry> = (0..MAX_ROW_ENTRIES as u16)
			.map(|m| RowEntry {
				member: m,
				owd_us: -(m as i32) * 100,
				rtt_us: 20_000,
				jitter_us: 50,
				loss_ppm: 7,
			})
			.collect();
		let header = RowHeader { sender: [4; 32], boot_time: 9, seq: 3, full: true };
		let mut buf = [0u8; 1500];
		let n = encode_row(&header, &entries, &key(4), &mut buf).unwrap();
		assert!(n <= 1_200);
		let (decoded, count) = decode_row_header(&buf[..n]).unwrap();
		assert_eq!((decoded, count), (header, entries.len()));
		for (i, e) in entries.iter().enumerate() {
			assert_eq!(row_entry(&buf[..n], i), Some(*e));
		}
		verify_row(&buf[..n], &key(4).verifying_key()).unwrap();
		assert_eq!(verify_row(&buf[..n], &key(5).verifying_key()), Err(WireError::BadSignature));
		for len in 0..n {
			assert!(
				decode_row_header(&buf[..len]).is_err()
					|| verify_row(&buf[..len], &key(4).verifying_key()).is_err()
			);
		}
		let too_many = vec![entries[0]; MAX_ROW_ENTRIES + 1];
		assert!(encode_row(&header, &too_many, &key(4), &mut buf).is_err());
	}

	#[test]
	fn flow_setups_round_trip_and_verify() {
		for destination in ["127.0.0.1:9000", "[2001:db8::1]:53"] {
			let hops = [key(3).verifying_key(), key(2).verifying_key()];
			let setup = FlowSetup::seal(
				[1; 32],
				42,
				destination.parse().unwrap(),
				heapless_path::Path::from_slice(&[0, 3, 2]).unwrap(),
				&[7; 32],
				&hops,
				[11; 32],
			)
			.unwrap();
			let mut buf = [0u8; 512];
			let n = setup.encode(&key(1), &mut buf).unwrap();
			assert_eq!(n, 96 + 2 * 3 + 32 * 2 + 64);
			let decoded = FlowSetup::decode(&buf[..n]).unwrap();
			assert_eq!(decoded, setup);
			// Each hop reads the key at its own position, and only there; the clear key is
			// nowhere in the datagram.
			assert_eq!(decoded.unwrap_key(1, &key(3)), Some([7; 32]));
			assert_eq!(decoded.unwrap_key(2, &key(2)), Some([7; 32]));
			assert_ne!(decoded.unwrap_key(1, &key(2)), Some([7; 32]));
			assert_ne!(decoded.unwrap_key(2, &key(4)), Some([7; 32]));
			assert_eq!(decoded.unwrap_key(0, &key(1)), None, "the origin has no slot");
			assert_eq!(decoded.unwrap_key(3, &key(2)), None);
			assert!(!buf[..n].windows(32).any(|w| w == [7; 32]));
			FlowSetup::verify(&buf[..n], &key(1).verifying_key()).unwrap();
			assert!(FlowSetup::verify(&buf[..n], &key(2).verifying_key()).is_err());
			for len in 0..n {
				assert!(FlowSetup::decode(&buf[..len]).is_err());
			}
		}
		let short = FlowSetup::seal(
			[1; 32],
			1,
			"127.0.0.1:1".parse().unwrap(),
			heapless_path::Path::from_slice(&[0]).unwrap(),
			&[0; 32],
			&[],
			[1; 32],
		);
		assert_eq!(short, Err(WireError::BadSegments));
	}

	proptest! {
		#[test]
		fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
			let _ = peek_type(&bytes);
			let _ = Pulse::decode(&bytes);
			let _ = decode_data(&bytes);
			let _ = verify_data_mac(&bytes, &DataMac::new(&[0; 32]));
			let _ = Pulse::verify(&bytes, &key(1).verifying_key());
			if let Ok((_, count)) = decode_row_header(&bytes) {
				for i in 0..count { let _ = row_entry(&bytes, i); }
			}
			let _ = verify_row(&bytes, &key(1).verifying_key());
			let _ = FlowSetup::decode(&bytes);
			let _ = FlowSetup::verify(&bytes, &key(1).verifying_key());
		}

		#[test]
		fn data_round_trips(
			reverse: bool, probe: bool, group: u32, flow: u64, epoch: u32, seq: u64,
			segments in proptest::collection::vec(any::<u16>(), 1..=MAX_SEGMENTS),
			left_seed: u8,
			payload in proptest::collection::vec(any::<u8>(), 0..1200),
			flow_key: [u8; 32],
		) {
			let count = segments.len() as u8;
			let mut list = [0u16; MAX_SEGMENTS];
			list[..segments.len()].copy_from_slice(&segments);
			let header = DataHeader {
				reverse, probe, group, flow, epoch, seq,
				segment_count: count,
				segments_left: left_seed % (count + 1),
				segments: list,
			};
			let mut buf = vec![0u8; 1500];
			let mac = DataMac::new(&flow_key);
			let n = encode_data(&header, &payload, &mac, &mut buf).unwrap();
			let (decoded, range) = decode_data(&buf[..n]).unwrap();
			prop_assert_eq!(decoded, header);
			prop_assert_eq!(&buf[range], &payload[..]);
			prop_assert!(verify_data_mac(&buf[..n], &mac).is_ok());
		}
	}
}
