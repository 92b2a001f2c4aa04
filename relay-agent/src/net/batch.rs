//! Batched UDP I/O on a tokio socket, through quinn-udp: `recvmmsg` with GRO in (up to
//! [`BATCH`] buffers per system call, each holding one or more same-size datagrams), `sendmsg`
//! with GSO out (up to [`MAX_SEND_SEGMENTS`] same-size datagrams to one destination per call).
//!
//! Buffers are allocated once per socket; receiving and sending allocate nothing.

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use std::{
	io::{self, IoSliceMut},
	net::SocketAddr,
};
use tokio::{io::Interest, net::UdpSocket};

/// Receive buffers per system call.
pub const BATCH: usize = quinn_udp::BATCH_SIZE;
/// One receive buffer: the largest GRO aggregate (a UDP payload is at most 64 KiB).
const SLOT: usize = 65_536;
/// Most datagrams in one GSO send (the kernel's UDP_MAX_SEGMENTS is 64).
pub const MAX_SEND_SEGMENTS: usize = 64;
/// Most bytes in one GSO send: the largest UDP payload over IPv4.
pub const MAX_SEND_BYTES: usize = 65_507;

/// A UDP socket that receives and sends in batches.
pub struct BatchSocket {
	io: UdpSocket,
	state: UdpSocketState,
}

impl BatchSocket {
	/// Wraps a bound tokio socket (enables GRO where the kernel has it).
	pub fn new(io: UdpSocket) -> io::Result<Self> {
		let state = UdpSocketState::new((&io).into())?;
		Ok(Self { io, state })
	}

	/// Binds `addr` with `SO_REUSEPORT` set, so that several sockets (one per worker) share
	/// the port and the kernel spreads flows across them. Needs a tokio runtime.
	pub fn bind_reuse_port(addr: SocketAddr) -> io::Result<Self> {
		let domain = socket2::Domain::for_address(addr);
		let socket =
			socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
		socket.set_reuse_port(true)?;
		socket.set_nonblocking(true)?;
		socket.bind(&addr.into())?;
		Self::new(UdpSocket::from_std(socket.into())?)
	}

	/// The bound address.
	pub fn local_addr(&self) -> io::Result<SocketAddr> {
		self.io.local_addr()
	}

	/// The tokio socket (for single sends from other tasks).
	pub fn socket(&self) -> &UdpSocket {
		&self.io
	}

	/// Most datagrams this socket can send in one system call.
	pub fn max_send_segments(&self) -> usize {
		self.state.max_gso_segments().clamp(1, MAX_SEND_SEGMENTS)
	}

	/// Waits for datagrams and receives as many as one system call returns into `batch`.
	pub async fn recv(&self, batch: &mut RecvBatch) -> io::Result<()> {
		batch.received = 0;
		let mut chunks = batch.storage.chunks_mut(SLOT);
		let mut slices: [IoSliceMut<'_>; BATCH] =
			std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
		let received = self
			.io
			.async_io(Interest::READABLE, || {
				self.state.recv((&self.io).into(), &mut slices, &mut batch.meta)
			})
			.await?;
		batch.received = received;
		Ok(())
	}

	/// Sends `contents` to `to`: one datagram, or several of `segment_size` bytes each (the
	/// last may be shorter) in one GSO system call.
	pub async fn send(
		&self,
		to: SocketAddr,
		contents: &[u8],
		segment_size: Option<usize>,
	) -> io::Result<()> {
		let transmit = Transmit {
			destination: to,
			ecn: None,
			contents,
			segment_size: segment_size.filter(|size| *size < contents.len()),
			src_ip: None,
		};
		self.io
			.async_io(Interest::WRITABLE, || self.state.try_send((&self.io).into(), &transmit))
			.await
	}
}

/// Receive buffers and what the last [`BatchSocket::recv`] put in them.
pub struct RecvBatch {
	storage: Vec<u8>,
	meta: [RecvMeta; BATCH],
	received: usize,
}

impl Default for RecvBatch {
	fn default() -> Self {
		Self { storage: vec![0; SLOT * BATCH], meta: [RecvMeta::default(); BATCH], received: 0 }
	}
}

impl RecvBatch {
	/// How many receive buffers the last [`BatchSocket::recv`] filled (each holds the
	/// datagrams of one sender, all of one size but the last).
	pub fn slots(&self) -> usize {
		self.received
	}

	/// The sender of buffer `slot` and its datagrams, each writable in place.
	pub fn datagrams_mut(&mut self, slot: usize) -> (SocketAddr, std::slice::ChunksMut<'_, u8>) {
		let (addr, range, stride) = self.slot_extent(slot);
		(addr, self.storage[range].chunks_mut(stride))
	}

	/// The bytes of buffer `slot` (index them with the offsets of [`Self::datagrams_mut`]).
	pub fn slot_bytes(&self, slot: usize) -> &[u8] {
		&self.storage[self.slot_extent(slot).1]
	}

	/// Sender, byte range and datagram size of buffer `slot` (empty past the last one).
	fn slot_extent(&self, slot: usize) -> (SocketAddr, std::ops::Range<usize>, usize) {
		let Some(meta) = self.meta[..self.received].get(slot) else {
			return (SocketAddr::from(([0, 0, 0, 0], 0)), 0..0, 1);
		};
		let base = slot * SLOT;
		(meta.addr, base..base + meta.len.min(SLOT), meta.stride.max(1))
	}

	/// `(sender, byte range in the storage)` of each datagram received, in order.
	pub fn spans(&self) -> impl Iterator<Item = (SocketAddr, std::ops::Range<usize>)> + '_ {
		(0..self.received).flat_map(move |slot| {
			let (addr, range, stride) = self.slot_extent(slot);
			let end = range.end;
			range.step_by(stride).map(move |start| (addr, start..(start + stride).min(end)))
		})
	}

	/// The received bytes; index them with [`Self::spans`].
	pub fn bytes_mut(&mut self) -> &mut [u8] {
		&mut self.storage
	}
}

/// One GSO send being gathered: datagrams of `segment` bytes to `to`, the last of which may
/// be shorter (which closes the group).
struct Group {
	to: SocketAddr,
	start: usize,
	segment: usize,
	segments: usize,
	closed: bool,
}

/// Outgoing datagrams gathered into GSO sends: consecutive datagrams to the same destination
/// with the same size share a system call. Staging copies and never waits, so it can run
/// while the relay core is locked; [`SendBatch::send`] then sends what was staged.
pub struct SendBatch {
	buf: Vec<u8>,
	groups: Vec<Group>,
	max_segments: usize,
	/// System calls made (for the metrics).
	pub syscalls: u64,
}

impl SendBatch {
	/// Gathers up to `max_segments` datagrams per send (from
	/// [`BatchSocket::max_send_segments`]). Staging the datagrams of one receive buffer at a
	/// time never allocates.
	pub fn new(max_segments: usize) -> Self {
		let max_segments = max_segments.clamp(1, MAX_SEND_SEGMENTS);
		Self {
			buf: Vec::with_capacity(SLOT),
			groups: Vec::with_capacity(MAX_SEND_SEGMENTS),
			max_segments,
			syscalls: 0,
		}
	}

	/// Copies `datagram` for `to` into the batch, joining the last send if it can.
	pub fn stage(&mut self, to: SocketAddr, datagram: &[u8]) {
		let len = datagram.len();
		let bytes_so_far = self.buf.len();
		let max_segments = self.max_segments;
		let joined = self.groups.last_mut().is_some_and(|group| {
			let fits = group.to == to
				&& !group.closed
				&& len <= group.segment
				&& group.segments < max_segments
				&& bytes_so_far - group.start + len <= MAX_SEND_BYTES;
			if fits {
				group.segments += 1;
				group.closed = len < group.segment;
			}
			fits
		});
		if !joined {
			self.groups.push(Group {
				to,
				start: bytes_so_far,
				segment: len,
				segments: 1,
				closed: false,
			});
		}
		self.buf.extend_from_slice(datagram);
	}

	/// Whether nothing is staged.
	pub fn is_empty(&self) -> bool {
		self.groups.is_empty()
	}

	/// Sends everything staged, one system call per group; returns the first error (the
	/// other groups are still sent).
	pub async fn send(&mut self, socket: &BatchSocket) -> io::Result<()> {
		let mut result = Ok(());
		for (i, group) in self.groups.iter().enumerate() {
			let end = self.groups.get(i + 1).map_or(self.buf.len(), |next| next.start);
			let segment = (group.segments > 1).then_some(group.segment);
			let sent = socket.send(group.to, &self.buf[group.start..end], segment).await;
			self.syscalls += 1;
			if result.is_ok() {
				result = sent;
			}
		}
		self.groups.clear();
		self.buf.clear();
		result
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[tokio::test]
	async fn a_batch_of_datagrams_arrives_whole_and_in_order() {
		let a = BatchSocket::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()).unwrap();
		let b = BatchSocket::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()).unwrap();
		let to = b.local_addr().unwrap();
		let mut out = SendBatch::new(a.max_send_segments());
		// Same size and a shorter last one (one GSO send), then a long run of a third size.
		let mut sent = Vec::new();
		for i in 0..20u8 {
			sent.push(vec![i; 100]);
		}
		sent.push(vec![99; 7]);
		// 60 × 1,300 B is more than one GSO send may carry (64 KiB): split in two.
		for i in 0..60u8 {
			sent.push(vec![i; 1_300]);
		}
		for datagram in &sent {
			out.stage(to, datagram);
		}
		out.send(&a).await.unwrap();
		assert!(out.is_empty());
		if a.max_send_segments() == MAX_SEND_SEGMENTS {
			assert_eq!(
				out.syscalls, 3,
				"20 × 100 B closed by the shorter 7 B, 50 × 1,300 B, 10 × 1,300 B"
			);
		}

		let mut batch = RecvBatch::default();
		let mut got = Vec::new();
		while got.len() < sent.len() {
			tokio::time::timeout(std::time::Duration::from_secs(5), b.recv(&mut batch))
				.await
				.expect("datagrams arrive")
				.unwrap();
			let spans: Vec<_> = batch.spans().collect();
			for (from, span) in spans {
				assert_eq!(from, a.local_addr().unwrap());
				got.push(batch.bytes_mut()[span].to_vec());
			}
		}
		assert_eq!(got, sent, "every datagram separately, in order, none merged");
	}

	#[tokio::test]
	async fn workers_share_a_port() {
		let first = BatchSocket::bind_reuse_port("127.0.0.1:0".parse().unwrap()).unwrap();
		let addr = first.local_addr().unwrap();
		let second = BatchSocket::bind_reuse_port(addr).unwrap();
		assert_eq!(second.local_addr().unwrap(), addr);
	}
}
