//! Wire formats of srwan's UDP datagrams. Every datagram starts with `version` and `type`;
//! integers are big-endian; `docs/PROTOCOL.md` documents each layout byte by byte.
//!
//! Decoding never panics and never allocates: it checks lengths first and returns a
//! [`WireError`] for anything malformed, so a hostile packet costs one comparison.

use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

/// Protocol version carried in the first byte of every datagram.
pub const VERSION: u8 = 2;

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
	/// Signed setup of a flow: its id, version, path, destination and key (for the egress).
	FlowSetup = 3,
	/// A consumer's signed usage receipt of one flow version, passed along its path.
	Receipt = 4,
	/// Segment-routed data (or a fast probe of an active path).
	Data = 16,
}

impl PacketType {
	fn from_byte(byte: u8) -> Result<Self, WireError> {
		match byte {
			1 => Ok(Self::Pulse),
			2 => Ok(Self::Row),
			3 => Ok(Self::FlowSetup),
			4 => Ok(Self::Receipt),
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
	/// The link MAC does not verify under the previous hop's key.
	#[error("bad MAC")]
	BadMac,
	/// The payload does not open under the flow's key (changed on the way, or another key).
	#[error("payload does not open")]
	BadSeal,
	/// The segment list is empty, too long, or `segments_left` points outside it.
	#[error("bad segment list")]
	BadSegments,
	/// A body that does not decode (a receipt's SCALE).
	#[error("malformed body")]
	BadBody,
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
/// Every member on the path installs the flow (its path, so that each hop knows its previous
/// and next hop, and its version); only the egress learns the flow key, which encrypts the
/// payloads end to end: it travels wrapped for the egress alone, XOR-ed with a pad derived from
/// an X25519 exchange between a fresh ephemeral key of this setup and the egress's pulse key
/// (its ed25519 key in Montgomery form). The origin's signature covers the wrapped key.
///
/// The setup names the consumer who pays for the flow and carries its consent (see
/// [`super::consent`]); the origin's signature covers both, so no relay on the
/// way can swap them.
///
/// `version` numbers the flow's setups: each new path and each rekey is a new version with a
/// new key; a relay refuses a version older than the one it holds (a replayed setup cannot
/// bring an old path or key back) and a setup whose `time_ms` is far from its own clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSetup {
	/// What the origin sets up.
	pub terms: SetupTerms,
	/// The setup's ephemeral X25519 public key.
	pub ephemeral: [u8; 32],
	/// The flow key wrapped for the egress.
	pub wrapped: [u8; 32],
	/// The consumer's consent: its account key's sr25519 signature over what the version is
	/// (see [`super::consent`]). Every relay on the path checks it, so no origin can bill a
	/// consumer for a path or destination it did not sign for.
	pub consent: [u8; 64],
}

/// The pad that wraps a flow key for the egress: bound to the exchange, the setup's ephemeral
/// key, the egress's key, the flow, its version and its origin.
fn wrap_pad(
	shared: &[u8; 32],
	ephemeral: &[u8; 32],
	member: &[u8; 32],
	flow: u64,
	version: u32,
	origin: &NodeId,
) -> [u8; 32] {
	let mut kdf = blake3::Hasher::new_derive_key("srwan flowsetup v3 flow-key wrap");
	kdf.update(shared);
	kdf.update(ephemeral);
	kdf.update(member);
	kdf.update(&flow.to_be_bytes());
	kdf.update(&version.to_be_bytes());
	kdf.update(origin);
	*kdf.finalize().as_bytes()
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
	core::array::from_fn(|i| a[i] ^ b[i])
}

/// What a setup says, before its key is wrapped (see [`FlowSetup::seal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupTerms {
	/// The origin's id.
	pub origin: NodeId,
	/// The flow id.
	pub flow: u64,
	/// The setup version.
	pub version: u32,
	/// The origin's clock, ms since the unix epoch.
	pub time_ms: u64,
	/// Where the egress delivers.
	pub destination: core::net::SocketAddr,
	/// Member indices from ingress to egress.
	pub path: heapless_path::Path,
	/// The account that pays for the flow (its escrow, its receipts).
	pub consumer: NodeId,
}

/// An address's family (4 or 6) and its 16 bytes (IPv4 in the v4-mapped form).
pub fn address_bytes(addr: &core::net::SocketAddr) -> (u8, [u8; 16]) {
	match addr.ip() {
		core::net::IpAddr::V4(v4) => (4u8, v4.to_ipv6_mapped().octets()),
		core::net::IpAddr::V6(v6) => (6u8, v6.octets()),
	}
}

impl FlowSetup {
	/// A setup of `terms` carrying `key` for the egress, whose pulse key is `egress`.
	/// `ephemeral_secret` must be fresh random bytes for every setup.
	pub fn seal(
		terms: SetupTerms,
		key: &FlowKey,
		egress: &VerifyingKey,
		ephemeral_secret: [u8; 32],
		consent: [u8; 64],
	) -> Result<Self, WireError> {
		if terms.path.as_slice().len() < 2 {
			return Err(WireError::BadSegments);
		}
		let ephemeral = MontgomeryPoint::mul_base_clamped(ephemeral_secret).to_bytes();
		let member = egress.to_montgomery();
		let shared = member.mul_clamped(ephemeral_secret).to_bytes();
		let pad = wrap_pad(
			&shared,
			&ephemeral,
			&member.to_bytes(),
			terms.flow,
			terms.version,
			&terms.origin,
		);
		Ok(Self { terms, ephemeral, wrapped: xor32(key, &pad), consent })
	}

	/// The flow key, as the egress with pulse key `me` reads it. Any other key yields a wrong
	/// flow key, never an error: payloads then fail to open.
	pub fn unwrap_key(&self, me: &SigningKey) -> FlowKey {
		let member = me.verifying_key().to_montgomery().to_bytes();
		let shared = MontgomeryPoint(self.ephemeral).mul_clamped(me.to_scalar_bytes()).to_bytes();
		xor32(
			&self.wrapped,
			&wrap_pad(
				&shared,
				&self.ephemeral,
				&member,
				self.terms.flow,
				self.terms.version,
				&self.terms.origin,
			),
		)
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

const SETUP_DOMAIN: &[u8; 18] = b"srwan/flowsetup/v4";
const SETUP_FIXED_LEN: usize = 4 + 32 + 8 + 4 + 8 + 32 + 1 + 16 + 2 + 1;
/// After the path: the wrapped key, the consumer, its consent, the origin's signature.
const SETUP_TAIL_LEN: usize = 32 + 32 + 64 + 64;

impl FlowSetup {
	/// Encoded length of a setup over `path_len` members.
	pub const fn encoded_len(path_len: usize) -> usize {
		SETUP_FIXED_LEN + 2 * path_len + SETUP_TAIL_LEN
	}

	/// Encodes and signs into `out`; returns the length.
	pub fn encode(&self, key: &SigningKey, out: &mut [u8]) -> Result<usize, WireError> {
		let terms = &self.terms;
		let path = terms.path.as_slice();
		if path.len() < 2 {
			return Err(WireError::BadSegments);
		}
		let total = Self::encoded_len(path.len());
		let body = total - 64;
		let out = out.get_mut(..total).ok_or(WireError::BufferTooSmall(total))?;
		out[0] = VERSION;
		out[1] = PacketType::FlowSetup as u8;
		out[2] = 0;
		out[3] = 0;
		out[4..36].copy_from_slice(&terms.origin);
		out[36..44].copy_from_slice(&terms.flow.to_be_bytes());
		out[44..48].copy_from_slice(&terms.version.to_be_bytes());
		out[48..56].copy_from_slice(&terms.time_ms.to_be_bytes());
		out[56..88].copy_from_slice(&self.ephemeral);
		let (family, ip) = address_bytes(&terms.destination);
		out[88] = family;
		out[89..105].copy_from_slice(&ip);
		out[105..107].copy_from_slice(&terms.destination.port().to_be_bytes());
		out[107] = path.len() as u8;
		for (i, m) in path.iter().enumerate() {
			out[SETUP_FIXED_LEN + 2 * i..SETUP_FIXED_LEN + 2 + 2 * i]
				.copy_from_slice(&m.to_be_bytes());
		}
		let wrapped_at = SETUP_FIXED_LEN + 2 * path.len();
		out[wrapped_at..wrapped_at + 32].copy_from_slice(&self.wrapped);
		out[wrapped_at + 32..wrapped_at + 64].copy_from_slice(&terms.consumer);
		out[wrapped_at + 64..wrapped_at + 128].copy_from_slice(&self.consent);
		let signature = key.sign(&[SETUP_DOMAIN.as_slice(), &out[..body]].concat());
		out[body..].copy_from_slice(&signature.to_bytes());
		Ok(total)
	}

	/// Decodes a setup without checking its signature (see [`FlowSetup::verify`]).
	pub fn decode(datagram: &[u8]) -> Result<Self, WireError> {
		expect_type(datagram, PacketType::FlowSetup)?;
		if datagram.len() < SETUP_FIXED_LEN + SETUP_TAIL_LEN {
			let need = SETUP_FIXED_LEN + SETUP_TAIL_LEN;
			return Err(WireError::Truncated { got: datagram.len(), need });
		}
		if datagram[2] != 0 || datagram[3] != 0 {
			return Err(WireError::ReservedBits);
		}
		let count = usize::from(datagram[107]);
		if !(2..=MAX_SEGMENTS + 1).contains(&count) {
			return Err(WireError::BadSegments);
		}
		let need = Self::encoded_len(count);
		if datagram.len() != need {
			return Err(WireError::Truncated { got: datagram.len(), need });
		}
		let mut ip = [0u8; 16];
		ip.copy_from_slice(&datagram[89..105]);
		let ip = match datagram[88] {
			4 => {
				let v6 = core::net::Ipv6Addr::from(ip);
				core::net::IpAddr::V4(v6.to_ipv4_mapped().ok_or(WireError::ReservedBits)?)
			}
			6 => core::net::IpAddr::V6(core::net::Ipv6Addr::from(ip)),
			_ => return Err(WireError::ReservedBits),
		};
		let port = u16::from_be_bytes([datagram[105], datagram[106]]);
		let wrapped_at = SETUP_FIXED_LEN + 2 * count;
		let mut items = [0u16; MAX_SEGMENTS + 1];
		for (i, item) in items.iter_mut().enumerate().take(count) {
			let at = SETUP_FIXED_LEN + 2 * i;
			*item = u16::from_be_bytes([datagram[at], datagram[at + 1]]);
		}
		let terms = SetupTerms {
			origin: id_at(datagram, 4),
			flow: u64_at(datagram, 36),
			version: u32_at(datagram, 44),
			time_ms: u64_at(datagram, 48),
			destination: core::net::SocketAddr::new(ip, port),
			path: heapless_path::Path::from_slice(&items[..count]).ok_or(WireError::BadSegments)?,
			consumer: id_at(datagram, wrapped_at + 32),
		};
		let mut consent = [0u8; 64];
		consent.copy_from_slice(&datagram[wrapped_at + 64..wrapped_at + 128]);
		Ok(Self {
			terms,
			ephemeral: id_at(datagram, 56),
			wrapped: id_at(datagram, wrapped_at),
			consent,
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
// Receipt
// ---------------------------------------------------------------------------------------------

/// Bytes of a receipt datagram before its SCALE body.
pub const RECEIPT_HEADER_LEN: usize = 20;
/// The longest receipt body: a receipt over the longest path (`SignedReceipt::max_encoded_len`,
/// checked by a test).
pub const MAX_RECEIPT_BODY: usize = 32 + 16 + 1 + 6 * 32 + 4 + 8 + 8 + 16 + 8 + 64;
/// The longest receipt datagram.
pub const MAX_RECEIPT_LEN: usize = RECEIPT_HEADER_LEN + MAX_RECEIPT_BODY;

/// A consumer's signed usage receipt of one flow version (`flow`, `version`), sent by the
/// ingress to the next router of the version's path, and by each router to the next. It needs
/// no signature of its own: the receipt carries the consumer's.
///
/// Unlike the other decoders, [`ReceiptPacket::decode`] allocates (the receipt's path): it
/// runs only for datagrams from a member's address within the member's control budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptPacket {
	/// The group the path's member indices belong to.
	pub group: u32,
	/// The flow id.
	pub flow: u64,
	/// The flow's setup version the receipt is for.
	pub version: u32,
	/// The receipt.
	pub receipt: srwan_primitives::receipts::SignedReceipt<NodeId>,
}

impl ReceiptPacket {
	/// Encodes into `out`; returns the length.
	pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
		use subxt::ext::codec::Encode as _;
		let body = self.receipt.encode();
		if body.len() > MAX_RECEIPT_BODY {
			return Err(WireError::BadSegments);
		}
		let total = RECEIPT_HEADER_LEN + body.len();
		let out = out.get_mut(..total).ok_or(WireError::BufferTooSmall(total))?;
		out[0] = VERSION;
		out[1] = PacketType::Receipt as u8;
		out[2] = 0;
		out[3] = 0;
		out[4..8].copy_from_slice(&self.group.to_be_bytes());
		out[8..16].copy_from_slice(&self.flow.to_be_bytes());
		out[16..20].copy_from_slice(&self.version.to_be_bytes());
		out[RECEIPT_HEADER_LEN..].copy_from_slice(&body);
		Ok(total)
	}

	/// Decodes a receipt datagram (the receipt's signature is checked by the metering).
	pub fn decode(datagram: &[u8]) -> Result<Self, WireError> {
		use subxt::ext::codec::Decode as _;
		expect_type(datagram, PacketType::Receipt)?;
		if datagram.len() < RECEIPT_HEADER_LEN {
			return Err(WireError::Truncated { got: datagram.len(), need: RECEIPT_HEADER_LEN });
		}
		if datagram.len() > MAX_RECEIPT_LEN {
			return Err(WireError::TrailingBytes(datagram.len() - MAX_RECEIPT_LEN));
		}
		if datagram[2] != 0 || datagram[3] != 0 {
			return Err(WireError::ReservedBits);
		}
		let mut body = &datagram[RECEIPT_HEADER_LEN..];
		let receipt = srwan_primitives::receipts::SignedReceipt::decode(&mut body)
			.map_err(|_| WireError::BadBody)?;
		if !body.is_empty() {
			return Err(WireError::TrailingBytes(body.len()));
		}
		Ok(Self {
			group: u32_at(datagram, 4),
			flow: u64_at(datagram, 8),
			version: u32_at(datagram, 16),
			receipt,
		})
	}
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// Most segments (routers after the ingress) a data packet may list.
pub const MAX_SEGMENTS: usize = 8;
pub use super::data_mac::{DataMac, HeadRewrite, MAC_LEN};
pub use super::e2e::{FlowCipher, TAG_LEN};
/// A flow's key, agreed at flow setup between its ingress and egress.
pub type FlowKey = [u8; 32];

const DATA_FIXED_LEN: usize = 50;
/// The longest data header: the fixed part and a full segment list.
pub const MAX_DATA_HEADER: usize = DATA_FIXED_LEN + 2 * MAX_SEGMENTS;
/// Bytes after the payload: its AEAD tag, then the link MAC.
pub const DATA_TRAILER_LEN: usize = TAG_LEN + MAC_LEN;
/// Header bytes each hop rewrites: `segments_left`, and the link's boot and sequence.
const LINK_BYTE: usize = 3;
const LINK_FIELDS: core::ops::Range<usize> = 34..50;
// The MAC's rewrite in registers writes where `relink` does.
const _: () = assert!(
	LINK_BYTE == super::data_mac::REWRITE_BYTE_AT
		&& LINK_FIELDS.start == super::data_mac::REWRITE_RUN_AT
		&& LINK_FIELDS.end == LINK_FIELDS.start + 16
);
const FLAG_REVERSE: u8 = 0b01;
const FLAG_PROBE: u8 = 0b10;

/// What the link MAC covers: the header, the datagram's length, the payload's AEAD tag.
const LINK_COVERED_MAX: usize = MAX_DATA_HEADER + 2 + TAG_LEN;
const _: () = assert!(LINK_COVERED_MAX <= 96);

/// The header of a segment-routed data packet.
///
/// `segments` lists the group-scoped member indices the packet visits after the ingress, the
/// egress last; `segments_left` counts those still ahead. A relay that receives a packet must
/// be `segments[len − segments_left]`; it decrements `segments_left` and forwards to the next
/// one, or delivers when it reaches zero. `segments_left`, `link_boot` and `link_seq` belong
/// to the link the packet is on: each hop rewrites them and the link MAC.
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
	/// The flow's setup version the packet was sent under.
	pub setup_version: u32,
	/// The flow end's sequence number of this direction: the AEAD nonce.
	pub seq: u64,
	/// The boot time of the relay that sent the packet on this link.
	pub link_boot: u64,
	/// That relay's sequence number on this link, flow and direction (the replay window's).
	pub link_seq: u64,
	/// Member indices; entries past `segment_count` are zero.
	pub segments: [u16; MAX_SEGMENTS],
}

impl DataHeader {
	/// Encoded header length (without payload and trailer).
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

/// The header with the link's bytes zeroed: the AEAD's associated data (what the two flow
/// ends agree on, whatever the links did).
#[inline]
fn end_to_end_aad(header: &[u8]) -> ([u8; MAX_DATA_HEADER], usize) {
	let mut aad = [0u8; MAX_DATA_HEADER];
	let len = header.len().min(MAX_DATA_HEADER);
	aad[..len].copy_from_slice(&header[..len]);
	aad[LINK_BYTE] = 0;
	aad[LINK_FIELDS].fill(0);
	(aad, len)
}

/// What the link MAC of a whole datagram covers (header, length and AEAD tag; the payload is
/// covered by that tag), and its length: the layout, spelled out for the tests ([`link_tag`]
/// reads these bytes where they lie).
#[cfg(test)]
fn link_covered(datagram: &[u8], header_len: usize) -> ([u8; LINK_COVERED_MAX], usize) {
	let mut covered = [0u8; LINK_COVERED_MAX];
	let total = datagram.len();
	let header_len = header_len.min(MAX_DATA_HEADER);
	covered[..header_len].copy_from_slice(&datagram[..header_len]);
	covered[header_len..header_len + 2].copy_from_slice(&(total as u16).to_be_bytes());
	let tag_at = total.saturating_sub(DATA_TRAILER_LEN);
	if let Some(tag) = datagram.get(tag_at..tag_at + TAG_LEN) {
		covered[header_len + 2..header_len + 2 + TAG_LEN].copy_from_slice(tag);
	}
	(covered, header_len + 2 + TAG_LEN)
}

/// The link MAC of a whole datagram: of the bytes [`link_covered`] lays out, read where they lie
/// in the datagram.
#[inline(always)]
fn link_tag(datagram: &[u8], header_len: usize, mac: &DataMac) -> [u8; MAC_LEN] {
	let (total, header_len) = (datagram.len(), header_len.min(MAX_DATA_HEADER));
	mac.tag_split(datagram, header_len, total as u16, total.saturating_sub(DATA_TRAILER_LEN))
}

fn write_header(header: &DataHeader, out: &mut [u8]) {
	out[0] = VERSION;
	out[1] = PacketType::Data as u8;
	out[2] = (u8::from(header.reverse) * FLAG_REVERSE) | (u8::from(header.probe) * FLAG_PROBE);
	out[3] = header.segments_left;
	out[4] = header.segment_count;
	out[5] = 0;
	out[6..10].copy_from_slice(&header.group.to_be_bytes());
	out[10..18].copy_from_slice(&header.flow.to_be_bytes());
	out[18..22].copy_from_slice(&header.epoch.to_be_bytes());
	out[22..26].copy_from_slice(&header.setup_version.to_be_bytes());
	out[26..34].copy_from_slice(&header.seq.to_be_bytes());
	out[34..42].copy_from_slice(&header.link_boot.to_be_bytes());
	out[42..50].copy_from_slice(&header.link_seq.to_be_bytes());
	for (i, segment) in header.segment_list().iter().enumerate() {
		out[DATA_FIXED_LEN + 2 * i..DATA_FIXED_LEN + 2 + 2 * i]
			.copy_from_slice(&segment.to_be_bytes());
	}
}

/// Writes a data packet into `out`: the header, the payload sealed under the flow's `cipher`
/// (nonce: direction and `header.seq`), its AEAD tag, and the MAC of the first link. Returns
/// its length.
pub fn encode_data(
	header: &DataHeader,
	payload: &[u8],
	cipher: &FlowCipher,
	link: &DataMac,
	out: &mut [u8],
) -> Result<usize, WireError> {
	header.check()?;
	let header_len = header.len();
	let total = header_len + payload.len() + DATA_TRAILER_LEN;
	if total > usize::from(u16::MAX) {
		return Err(WireError::BufferTooSmall(total));
	}
	let out = out.get_mut(..total).ok_or(WireError::BufferTooSmall(total))?;
	write_header(header, out);
	let (head, rest) = out.split_at_mut(header_len);
	let (body, trailer) = rest.split_at_mut(payload.len());
	body.copy_from_slice(payload);
	let (aad, aad_len) = end_to_end_aad(head);
	let tag = cipher.seal(header.reverse, header.seq, &aad[..aad_len], body);
	trailer[..TAG_LEN].copy_from_slice(&tag);
	let link_mac = link_tag(out, header_len, link);
	out[total - MAC_LEN..].copy_from_slice(&link_mac);
	Ok(total)
}

/// Parses a data packet's header; returns it and the (sealed) payload's byte range. Nothing is
/// authenticated here: call [`verify_link`] with the previous hop's key first.
#[inline(always)]
pub fn decode_data(datagram: &[u8]) -> Result<(DataHeader, core::ops::Range<usize>), WireError> {
	expect_type(datagram, PacketType::Data)?;
	let need = DATA_FIXED_LEN + DATA_TRAILER_LEN;
	if datagram.len() < need {
		return Err(WireError::Truncated { got: datagram.len(), need });
	}
	if datagram.len() > usize::from(u16::MAX) {
		return Err(WireError::TrailingBytes(datagram.len() - usize::from(u16::MAX)));
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
		setup_version: u32_at(datagram, 22),
		seq: u64_at(datagram, 26),
		link_boot: u64_at(datagram, 34),
		link_seq: u64_at(datagram, 42),
		segments: [0; MAX_SEGMENTS],
	};
	header.check()?;
	let header_len = header.len();
	if datagram.len() < header_len + DATA_TRAILER_LEN {
		return Err(WireError::Truncated {
			got: datagram.len(),
			need: header_len + DATA_TRAILER_LEN,
		});
	}
	// Whole 16-bit loads: a segment assembled from two byte stores cannot be forwarded to
	// the 16-bit load that reads it next (a store-forwarding stall on every packet).
	let list = datagram.get(DATA_FIXED_LEN..header_len).unwrap_or_default();
	for (slot, bytes) in header.segments.iter_mut().zip(list.chunks_exact(2)) {
		*slot = u16::from_be_bytes(bytes.try_into().unwrap_or_default());
	}
	Ok((header, header_len..datagram.len() - DATA_TRAILER_LEN))
}

/// The member that should be receiving `datagram` now (see [`DataHeader::current_segment`]),
/// read from the datagram's own bytes: the decoded header's copy on the stack may be built
/// from narrower stores than a 16-bit load at a run-time index reads, and such a load waits
/// for them to retire (a store-forwarding stall on every packet, most of a hop's time).
#[inline(always)]
pub fn current_segment_of(datagram: &[u8], header: &DataHeader) -> Option<u16> {
	let count = usize::from(header.segment_count);
	let left = usize::from(header.segments_left);
	if left == 0 || left > count {
		return None;
	}
	let at = DATA_FIXED_LEN + 2 * (count - left);
	datagram.get(at..at + 2).map(|bytes| u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// Checks a data packet's link MAC under the key of the link it came on.
#[inline(always)]
pub fn verify_link(datagram: &[u8], header: &DataHeader, mac: &DataMac) -> Result<(), WireError> {
	let split = datagram
		.len()
		.checked_sub(MAC_LEN)
		.ok_or(WireError::Truncated { got: datagram.len(), need: MAC_LEN })?;
	let (total, header_len) = (datagram.len(), header.len().min(MAX_DATA_HEADER));
	let tag_at = total.saturating_sub(DATA_TRAILER_LEN);
	if mac.verify_split(datagram, header_len, total as u16, tag_at, &datagram[split..]) {
		Ok(())
	} else {
		Err(WireError::BadMac)
	}
}

/// What [`relink`] writes into a data header: `segments_left`, this relay's boot and its
/// sequence number on the next link.
#[inline(always)]
pub fn link_rewrite(segments_left: u8, link_boot: u64, link_seq: u64) -> HeadRewrite {
	HeadRewrite { byte: segments_left, words: [link_boot, link_seq] }
}

/// Checks a data packet's link MAC under the key of the link it came on (`rx`) and returns
/// the MAC it carries on its next link (`tx`) once `rewrite` is written into its header
/// ([`put_on_link`]): one call, so that the two MACs are computed side by side.
#[inline(always)]
pub fn verify_link_and_retag(
	datagram: &[u8],
	header: &DataHeader,
	rx: &DataMac,
	tx: &DataMac,
	rewrite: &HeadRewrite,
) -> Result<[u8; MAC_LEN], WireError> {
	let total = datagram.len();
	let tag_at = total
		.checked_sub(MAC_LEN)
		.ok_or(WireError::Truncated { got: datagram.len(), need: MAC_LEN })?;
	let parts =
		(header.len().min(MAX_DATA_HEADER), total as u16, total.saturating_sub(DATA_TRAILER_LEN));
	rx.verify_and_retag_split(tx, datagram, parts, tag_at, rewrite).ok_or(WireError::BadMac)
}

/// Writes `rewrite` and the next link's MAC (from [`verify_link_and_retag`]) into a packet
/// whose header is `header`.
#[inline(always)]
pub fn put_on_link(
	datagram: &mut [u8],
	header: &DataHeader,
	rewrite: &HeadRewrite,
	tag: &[u8; MAC_LEN],
) {
	let total = datagram.len();
	if total < header.len() + DATA_TRAILER_LEN {
		return;
	}
	let [link_boot, link_seq] = rewrite.words;
	datagram[LINK_BYTE] = rewrite.byte;
	datagram[34..42].copy_from_slice(&link_boot.to_be_bytes());
	datagram[42..50].copy_from_slice(&link_seq.to_be_bytes());
	datagram[total - MAC_LEN..].copy_from_slice(tag);
}

/// Puts a packet on its next link, in place: `segments_left`, this relay's boot and its
/// sequence number for that link, and the link MAC under the next link's key.
#[inline(always)]
pub fn relink(
	datagram: &mut [u8],
	header: &DataHeader,
	segments_left: u8,
	link_boot: u64,
	link_seq: u64,
	mac: &DataMac,
) {
	let total = datagram.len();
	if total < header.len() + DATA_TRAILER_LEN {
		return;
	}
	datagram[LINK_BYTE] = segments_left;
	datagram[34..42].copy_from_slice(&link_boot.to_be_bytes());
	datagram[42..50].copy_from_slice(&link_seq.to_be_bytes());
	let tag = link_tag(datagram, header.len(), mac);
	datagram[total - MAC_LEN..].copy_from_slice(&tag);
}

/// Opens a data packet's payload in place at the flow's other end; returns its byte range.
/// Fails if anything the two ends agree on, or the payload, changed on the way.
#[inline]
pub fn open_data(
	datagram: &mut [u8],
	header: &DataHeader,
	cipher: &FlowCipher,
) -> Result<core::ops::Range<usize>, WireError> {
	let header_len = header.len();
	let end =
		datagram.len().checked_sub(DATA_TRAILER_LEN).filter(|end| *end >= header_len).ok_or(
			WireError::Truncated { got: datagram.len(), need: header_len + DATA_TRAILER_LEN },
		)?;
	let (aad, aad_len) = end_to_end_aad(&datagram[..header_len]);
	let mut tag = [0u8; TAG_LEN];
	tag.copy_from_slice(&datagram[end..end + TAG_LEN]);
	if cipher.open(
		header.reverse,
		header.seq,
		&aad[..aad_len],
		&tag,
		&mut datagram[header_len..end],
	) {
		Ok(header_len..end)
	} else {
		Err(WireError::BadSeal)
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

	fn receipt_packet(path_len: usize) -> ReceiptPacket {
		use srwan_primitives::receipts::{RouterPath, SignedReceipt, UsageReceipt};
		let receipt = UsageReceipt {
			consumer: [1; 32],
			flow: [2; 16],
			path: RouterPath::truncate_from(vec![[3; 32]; path_len]),
			epoch: 7,
			fwd_octets: u64::MAX,
			rev_octets: 5,
			max_price_per_gb: u128::MAX,
			nonce: 9,
		};
		ReceiptPacket {
			group: 3,
			flow: 0xfeed,
			version: 2,
			receipt: SignedReceipt { receipt, signature: [4; 64] },
		}
	}

	#[test]
	fn receipt_packets_round_trip_and_reject_trailing_or_truncated_bytes() {
		use srwan_primitives::receipts::SignedReceipt;
		use subxt::ext::codec::MaxEncodedLen as _;
		assert_eq!(MAX_RECEIPT_BODY, SignedReceipt::<NodeId>::max_encoded_len());
		let packet = receipt_packet(6);
		let mut buf = [0u8; MAX_RECEIPT_LEN + 8];
		let len = packet.encode(&mut buf).unwrap();
		assert_eq!(len, MAX_RECEIPT_LEN, "the longest path makes the longest datagram");
		assert_eq!(ReceiptPacket::decode(&buf[..len]), Ok(packet.clone()));
		assert_eq!(peek_type(&buf[..len]), Ok(PacketType::Receipt));
		assert!(matches!(ReceiptPacket::decode(&buf[..len + 1]), Err(WireError::TrailingBytes(_))));
		assert!(ReceiptPacket::decode(&buf[..len - 1]).is_err());
		assert!(ReceiptPacket::decode(&buf[..RECEIPT_HEADER_LEN - 1]).is_err());
		let short = receipt_packet(2);
		let len = short.encode(&mut buf).unwrap();
		assert!(matches!(ReceiptPacket::decode(&buf[..len + 3]), Err(WireError::TrailingBytes(3))));
		buf[2] = 1;
		assert_eq!(ReceiptPacket::decode(&buf[..len]), Err(WireError::ReservedBits));
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
			setup_version: 4,
			seq: 99,
			link_boot: 1_700_000_000,
			link_seq: 17,
			segments,
		}
	}

	fn cipher() -> FlowCipher {
		FlowCipher::new(&[9u8; 32])
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
	fn data_round_trips_each_hop_relinks_and_only_the_far_end_opens() {
		let (link_ab, link_bc) = (DataMac::new(&[1u8; 32]), DataMac::new(&[2u8; 32]));
		let mut buf = [0u8; 1500];
		let payload = b"hello through the overlay";
		let n = encode_data(&header(), payload, &cipher(), &link_ab, &mut buf).unwrap();
		assert_eq!(n, 50 + 2 * 3 + payload.len() + 32);
		let (h, range) = decode_data(&buf[..n]).unwrap();
		assert_eq!(h, header());
		assert_ne!(&buf[range.clone()], payload, "sealed");
		assert_eq!(h.current_segment(), Some(7));
		verify_link(&buf[..n], &h, &link_ab).unwrap();
		assert_eq!(verify_link(&buf[..n], &h, &link_bc), Err(WireError::BadMac));

		relink(&mut buf[..n], &h, 2, 1_700_000_005, 3, &link_bc);
		let (h, _) = decode_data(&buf[..n]).unwrap();
		assert_eq!((h.current_segment(), h.link_boot, h.link_seq), (Some(3), 1_700_000_005, 3));
		verify_link(&buf[..n], &h, &link_bc).unwrap();
		assert_eq!(verify_link(&buf[..n], &h, &link_ab), Err(WireError::BadMac));
		// The link fields are not the ends' business: the payload still opens.
		let mut other = buf;
		assert_eq!(
			open_data(&mut other[..n], &h, &FlowCipher::new(&[8; 32])),
			Err(WireError::BadSeal)
		);
		let range = open_data(&mut buf[..n], &h, &cipher()).unwrap();
		assert_eq!(&buf[range], payload);
	}

	#[test]
	fn the_link_mac_covers_header_length_and_aead_tag_as_laid_out() {
		let link = DataMac::new(&[6u8; 32]);
		let mut buf = [0u8; 1500];
		for segments in 1..=MAX_SEGMENTS {
			for payload_len in [0, 1, 17, 64, 1_200] {
				let mut header = header();
				header.segment_count = segments as u8;
				header.segments_left = segments as u8;
				header.segments = core::array::from_fn(|i| i as u16 + 1);
				let payload = vec![9u8; payload_len];
				let n = encode_data(&header, &payload, &cipher(), &link, &mut buf).unwrap();
				let (covered, len) = link_covered(&buf[..n], header.len());
				assert_eq!(len, header.len() + 2 + TAG_LEN);
				assert_eq!(&buf[n - MAC_LEN..n], link.tag(&covered[..len]).as_slice());
				verify_link(&buf[..n], &header, &link).unwrap();
			}
		}
	}

	#[test]
	fn every_bit_flip_of_a_data_packet_is_caught() {
		let link = DataMac::new(&[1u8; 32]);
		let mut buf = [0u8; 128];
		let n = encode_data(&header(), b"payload", &cipher(), &link, &mut buf).unwrap();
		for bit in 0..n * 8 {
			let mut flipped = buf;
			flipped[bit / 8] ^= 1 << (bit % 8);
			// The link MAC covers the header and the AEAD tag; the payload is the tag's (checked
			// at the egress).
			let caught = match decode_data(&flipped[..n]) {
				Err(_) => true,
				Ok((h, _)) => {
					verify_link(&flipped[..n], &h, &link).is_err()
						|| open_data(&mut flipped[..n], &h, &cipher()).is_err()
				}
			};
			assert!(caught, "bit {bit} flipped unnoticed");
		}
		// A hop that re-tags a changed packet (a lying transit relay) fools the next link,
		// not the egress: anything but the link's own fields fails to open.
		for byte in 0..n - MAC_LEN {
			if byte == LINK_BYTE || LINK_FIELDS.contains(&byte) {
				continue;
			}
			let mut changed = buf;
			changed[byte] ^= 0x40;
			let Ok((h, _)) = decode_data(&changed[..n]) else { continue };
			relink(&mut changed[..n], &h, h.segments_left, h.link_boot, h.link_seq, &link);
			assert!(open_data(&mut changed[..n], &h, &cipher()).is_err(), "byte {byte}");
		}
	}

	#[test]
	fn bad_segment_lists_are_rejected() {
		let mut buf = [0u8; 128];
		let link = DataMac::new(&[0; 32]);
		let none = DataHeader { segment_count: 0, segments_left: 0, ..header() };
		assert_eq!(
			encode_data(&none, b"", &cipher(), &link, &mut buf),
			Err(WireError::BadSegments)
		);
		let beyond = DataHeader { segments_left: 4, ..header() };
		assert_eq!(
			encode_data(&beyond, b"", &cipher(), &link, &mut buf),
			Err(WireError::BadSegments)
		);
		let n = encode_data(&header(), b"", &cipher(), &link, &mut buf).unwrap();
		buf[4] = MAX_SEGMENTS as u8 + 1;
		assert_eq!(decode_data(&buf[..n]), Err(WireError::BadSegments));
	}

	#[test]
	fn version_1_datagrams_are_refused_by_version() {
		let mut buf = [0u8; 128];
		let n = encode_data(&header(), b"x", &cipher(), &DataMac::new(&[0; 32]), &mut buf).unwrap();
		buf[0] = 1;
		assert_eq!(peek_type(&buf[..n]), Err(WireError::UnsupportedVersion(1)));
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

	fn terms(destination: &str, path: &[u16]) -> SetupTerms {
		SetupTerms {
			origin: [1; 32],
			flow: 42,
			version: 3,
			time_ms: 1_700_000_000_000,
			destination: destination.parse().unwrap(),
			path: heapless_path::Path::from_slice(path).unwrap(),
			consumer: [6; 32],
		}
	}

	#[test]
	fn flow_setups_round_trip_verify_and_carry_the_key_for_the_egress_alone() {
		for destination in ["127.0.0.1:9000", "[2001:db8::1]:53"] {
			let setup = FlowSetup::seal(
				terms(destination, &[0, 3, 2]),
				&[7; 32],
				&key(2).verifying_key(),
				[11; 32],
				[5; 64],
			)
			.unwrap();
			let mut buf = [0u8; 512];
			let n = setup.encode(&key(1), &mut buf).unwrap();
			assert_eq!(n, FlowSetup::encoded_len(3));
			assert_eq!(n, 108 + 2 * 3 + 32 + 32 + 64 + 64);
			let decoded = FlowSetup::decode(&buf[..n]).unwrap();
			assert_eq!(decoded, setup);
			assert_eq!(decoded.unwrap_key(&key(2)), [7; 32]);
			assert_ne!(decoded.unwrap_key(&key(3)), [7; 32], "a transit relay cannot read it");
			assert!(!buf[..n].windows(32).any(|w| w == [7; 32]));
			FlowSetup::verify(&buf[..n], &key(1).verifying_key()).unwrap();
			assert!(FlowSetup::verify(&buf[..n], &key(2).verifying_key()).is_err());
			for len in 0..n {
				assert!(FlowSetup::decode(&buf[..len]).is_err());
			}
			// The version is signed: a replay cannot pose as a newer one.
			let mut bumped = buf;
			bumped[47] ^= 1;
			assert!(FlowSetup::verify(&bumped[..n], &key(1).verifying_key()).is_err());
			// So are the consumer and its consent: no relay on the way can swap them.
			let consumer_at = 108 + 2 * 3 + 32;
			for at in [consumer_at, consumer_at + 32, consumer_at + 95] {
				let mut swapped = buf;
				swapped[at] ^= 1;
				assert!(FlowSetup::verify(&swapped[..n], &key(1).verifying_key()).is_err());
			}
		}
		let short = FlowSetup::seal(
			terms("127.0.0.1:1", &[0]),
			&[0; 32],
			&key(2).verifying_key(),
			[1; 32],
			[0; 64],
		);
		assert_eq!(short, Err(WireError::BadSegments));
	}

	proptest! {
		#[test]
		fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
			let _ = peek_type(&bytes);
			let _ = Pulse::decode(&bytes);
			if let Ok((header, _)) = decode_data(&bytes) {
				let _ = verify_link(&bytes, &header, &DataMac::new(&[0; 32]));
				let _ = open_data(&mut bytes.clone(), &header, &FlowCipher::new(&[0; 32]));
			}
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
			setup_version: u32, link_boot: u64, link_seq: u64,
			segments in proptest::collection::vec(any::<u16>(), 1..=MAX_SEGMENTS),
			left_seed: u8,
			payload in proptest::collection::vec(any::<u8>(), 0..1200),
			flow_key: [u8; 32],
		) {
			let count = segments.len() as u8;
			let mut list = [0u16; MAX_SEGMENTS];
			list[..segments.len()].copy_from_slice(&segments);
			let header = DataHeader {
				reverse, probe, group, flow, epoch, seq, setup_version, link_boot, link_seq,
				segment_count: count,
				segments_left: left_seed % (count + 1),
				segments: list,
			};
			let mut buf = vec![0u8; 1500];
			let (mac, cipher) = (DataMac::new(&flow_key), FlowCipher::new(&flow_key));
			let n = encode_data(&header, &payload, &cipher, &mac, &mut buf).unwrap();
			let (decoded, _) = decode_data(&buf[..n]).unwrap();
			prop_assert_eq!(decoded, header);
			prop_assert!(verify_link(&buf[..n], &decoded, &mac).is_ok());
			let range = open_data(&mut buf[..n], &decoded, &cipher).unwrap();
			prop_assert_eq!(&buf[range], &payload[..]);
		}
	}
}
