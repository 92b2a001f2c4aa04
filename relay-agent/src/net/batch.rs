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
	/// `(sender, byte range in the storage)` of each datagram received, in order.
	pub fn spans(&self) -> impl Iterator<Item = (SocketAddr, std::ops::Range<usize>)> + '_ {
		self.meta[..self.received].iter().enumerate().flat_map(|(slot, meta)| {
			let base = slot * SLOT;
			let stride = meta.stride.max(1);
			let len = meta.len.min(SLOT);
			(0..len)
				.step_by(stride)
				.map(move |start| (meta.addr, base + start..base + (start + stride).min(len)))
		})
	}

	/// The received bytes; index them with [`Self::spans`].
	pub fn bytes_mut(&mut self) -> &mut [u8] {
		&mut self.storage
	}
}

/// Outgoing datagrams gathered into GSO batches: consecutive datagrams to the same
/// destination with the same size share a system call.
pub struct SendBatch {
	buf: Vec<u8>,
	to: Option<SocketAddr>,
	segment: usize,
	segments: usize,
	max_segments: usize,
	/// System calls made (for the metrics).
	pub syscalls: u64,
}

impl SendBatch {
	/// Gathers up to `max_segments` datagrams per send (from
	/// [`BatchSocket::max_send_segments`]).
	pub fn new(max_segments: usize) -> Self {
		let max_segments = max_segments.clamp(1, MAX_SEND_SEGMENTS);
		Self {
			buf: Vec::with_capacity(SLOT),
			to: None,
			segment: 0,
			segments: 0,
			max_segments,
			syscalls: 0,
		}
	}

	/// Whether `datagram` to `to` would have to wait for a flush first.
	fn needs_flush(&self, to: SocketAddr, len: usize) -> bool {
		self.to.is_some_and(|current| {
			current != to
				|| len != self.segment
				|| self.segments >= self.max_segments
				|| self.buf.len() + len > MAX_SEND_BYTES
		})
	}

	/// Adds `datagram` for `to`, first sending what was gathered if it cannot join it.
	pub async fn push(
		&mut self,
		socket: &BatchSocket,
		to: SocketAddr,
		datagram: &[u8],
	) -> io::Result<()> {
		let mut result = Ok(());
		if self.needs_flush(to, datagram.len()) {
			result = self.flush(socket).await;
		}
		if self.to.is_none() {
			self.to = Some(to);
			self.segment = datagram.len();
		}
		self.buf.extend_from_slice(datagram);
		self.segments += 1;
		result
	}

	/// Sends what was gathered.
	pub async fn flush(&mut self, socket: &BatchSocket) -> io::Result<()> {
		let Some(to) = self.to.take() else { return Ok(()) };
		let segment = (self.segments > 1).then_some(self.segment);
		let result = socket.send(to, &self.buf, segment).await;
		self.syscalls += 1;
		self.buf.clear();
		self.segments = 0;
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
		// Same size (one GSO send), then a different size, then a long run of a third size.
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
			out.push(&a, to, datagram).await.unwrap();
		}
		out.flush(&a).await.unwrap();
		if a.max_send_segments() == MAX_SEND_SEGMENTS {
			assert_eq!(out.syscalls, 4, "20 × 100 B, 7 B, 50 × 1,300 B, 10 × 1,300 B");
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
