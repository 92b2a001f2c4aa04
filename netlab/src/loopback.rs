//! The loopback lab's wire: a UDP proxy between relays on one host, for the lab without root
//! (no namespaces, no netfilter). The relays themselves carry no impairment code.
//!
//! Site `i` has a *public* address, held by the wire, which is the endpoint its relay lists,
//! and the *relay* address its agent listens on. A datagram that relay `i` sends to site `j`'s
//! public address is held for the `i`–`j` link's delay (or dropped by its loss or outage), then
//! sent from site `i`'s public address to relay `j`: so `j` sees it come from `i`'s listed
//! endpoint, as it would on a routed network. Datagrams from anyone but a site's relay are
//! dropped (the lab's links carry only the lab's traffic).
//!
//! The link table, one link per line (both directions; `#` comments and blank lines ignored;
//! the last line for a pair wins):
//!
//! ```text
//! I J DELAY_MS [JITTER_MS] [loss=PERMILLE] [down]
//! ```
//!
//! Sites are numbered from 1 in the order they are given. Pairs not in the table pass at once.

use crate::{deadline, Schedule, TableError, WatchedText};
use rand::Rng;
use std::{
	collections::HashMap,
	net::{SocketAddr, UdpSocket},
	path::PathBuf,
	sync::{
		atomic::{AtomicBool, AtomicU64, Ordering},
		mpsc, Arc,
	},
	time::{Duration, Instant},
};

/// One site: where peers send to (held by the wire) and where its relay listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
	/// The address the relay lists as its endpoint; the wire listens on it.
	pub public: SocketAddr,
	/// The address the relay listens on.
	pub relay: SocketAddr,
}

impl std::str::FromStr for Site {
	type Err = String;

	/// `PUBLIC=RELAY`, e.g. `127.0.0.1:7410=127.0.0.1:7411`.
	fn from_str(text: &str) -> Result<Self, String> {
		let (public, relay) =
			text.split_once('=').ok_or_else(|| format!("{text:?} is not PUBLIC=RELAY"))?;
		let addr = |a: &str| a.parse::<SocketAddr>().map_err(|_| format!("{a:?} is not ADDR:PORT"));
		Ok(Self { public: addr(public)?, relay: addr(relay)? })
	}
}

/// The impairments of one link (both directions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkState {
	/// One-way delay.
	pub delay: Duration,
	/// Uniform jitter around it (never reordering).
	pub jitter: Duration,
	/// Random loss, in thousandths.
	pub loss_permille: u16,
	/// Drops everything.
	pub down: bool,
}

/// Reads a link table (module docs) for `sites` sites: each unordered pair's state.
pub fn parse_site_table(
	text: &str,
	sites: usize,
) -> Result<HashMap<(usize, usize), LinkState>, TableError> {
	let mut links = HashMap::new();
	for (i, raw) in text.lines().enumerate() {
		let line = raw.split('#').next().unwrap_or("").trim();
		if line.is_empty() {
			continue;
		}
		let bad = |reason: String| TableError::Malformed {
			line: i + 1,
			reason: format!(
				"{reason} (expected `I J DELAY_MS [JITTER_MS] [loss=PERMILLE] [down]`)"
			),
		};
		let fields: Vec<&str> = line.split_whitespace().collect();
		if fields.len() < 3 {
			return Err(bad(format!("{} fields", fields.len())));
		}
		let site = |text: &str| {
			text.parse::<usize>()
				.ok()
				.filter(|s| (1..=sites).contains(s))
				.ok_or_else(|| bad(format!("{text:?} is not a site (1..={sites})")))
		};
		let (a, b) = (site(fields[0])?, site(fields[1])?);
		if a == b {
			return Err(bad(format!("a link from site {a} to itself")));
		}
		let ms = |text: &str| crate::parse_delay_ms(text).map_err(bad);
		let mut state = LinkState { delay: ms(fields[2])?, ..LinkState::default() };
		let mut jitter_seen = false;
		for field in &fields[3..] {
			if let Some(loss) = field.strip_prefix("loss=") {
				state.loss_permille = loss
					.parse::<u16>()
					.ok()
					.filter(|l| *l <= 1000)
					.ok_or_else(|| bad(format!("{loss:?} is not a loss in ‰ (0..=1000)")))?;
			} else if *field == "down" {
				state.down = true;
			} else if !jitter_seen {
				state.jitter = ms(field)?;
				jitter_seen = true;
			} else {
				return Err(bad(format!("{field:?} is not loss=PERMILLE or down")));
			}
		}
		links.insert((a.min(b), a.max(b)), state);
	}
	Ok(links)
}

/// Why a datagram did not make it through the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
	/// It came from an address that is no site's relay.
	UnknownSender,
	/// A relay sent to its own public address.
	ToItself,
	/// The link is down.
	Outage,
	/// The link's random loss took it.
	Loss,
	/// The wire holds as many datagrams as it may.
	Overflow,
}

/// A datagram ready to leave: send `payload` from site `from_site`'s public socket to `to`.
#[derive(Debug, PartialEq, Eq)]
pub struct Outgoing {
	/// Index (0-based) of the site whose public socket sends it.
	pub from_site: usize,
	/// The receiving relay's address.
	pub to: SocketAddr,
	/// The datagram.
	pub payload: Vec<u8>,
}

/// The wire between the sites' relays.
pub struct LoopWire {
	sites: Vec<Site>,
	links: HashMap<(usize, usize), LinkState>,
	/// The latest deadline given on each direction of each link (0-based sites).
	last_due: HashMap<(usize, usize), Instant>,
	held: Schedule<Outgoing>,
}

impl LoopWire {
	/// A wire between `sites` (site `i` of the table is `sites[i - 1]`), holding at most
	/// `capacity` datagrams.
	pub fn new(sites: Vec<Site>, capacity: usize) -> Self {
		Self {
			sites,
			links: HashMap::new(),
			last_due: HashMap::new(),
			held: Schedule::new(capacity),
		}
	}

	/// Replaces the link table (1-based pairs, as [`parse_site_table`] gives them); datagrams
	/// already held keep their deadlines.
	pub fn set_links(&mut self, links: HashMap<(usize, usize), LinkState>) {
		self.links = links;
	}

	/// Takes a datagram `from` an address, received `now` on site `at_site`'s public socket
	/// (0-based): held until due, or dropped.
	pub fn on_datagram(
		&mut self,
		now: Instant,
		at_site: usize,
		from: SocketAddr,
		payload: Vec<u8>,
		rng: &mut impl Rng,
	) -> Result<(), Dropped> {
		let sender = self
			.sites
			.iter()
			.position(|site| same_address(site.relay, from))
			.ok_or(Dropped::UnknownSender)?;
		let Some(to) = self.sites.get(at_site).map(|site| site.relay) else {
			return Err(Dropped::UnknownSender);
		};
		if sender == at_site {
			return Err(Dropped::ToItself);
		}
		let pair = (sender.min(at_site) + 1, sender.max(at_site) + 1);
		let link = self.links.get(&pair).copied().unwrap_or_default();
		if link.down {
			return Err(Dropped::Outage);
		}
		if link.loss_permille > 0 && rng.gen_range(0..1000) < link.loss_permille {
			return Err(Dropped::Loss);
		}
		if self.held.is_full() {
			return Err(Dropped::Overflow);
		}
		let direction = (sender, at_site);
		let due =
			deadline(now, link.delay, link.jitter, self.last_due.get(&direction).copied(), rng);
		self.last_due.insert(direction, due);
		self.held
			.hold(due, Outgoing { from_site: sender, to, payload })
			.map_err(|_| Dropped::Overflow)
	}

	/// The next datagram due at `now`.
	pub fn pop_due(&mut self, now: Instant) -> Option<Outgoing> {
		self.held.pop_due(now)
	}

	/// When the next datagram is due.
	pub fn next_due(&self) -> Option<Instant> {
		self.held.next_due()
	}
}

/// Whether two socket addresses are the same endpoint (an IPv4 address and its v4-mapped IPv6
/// form are).
fn same_address(a: SocketAddr, b: SocketAddr) -> bool {
	let canonical = |addr: SocketAddr| (addr.ip().to_canonical(), addr.port());
	canonical(a) == canonical(b)
}

/// Counts of what the wire did, for its log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
	/// Datagrams sent on.
	pub forwarded: u64,
	/// Datagrams from no site's relay.
	pub unknown: u64,
	/// Dropped by an outage.
	pub outage: u64,
	/// Dropped by random loss.
	pub lost: u64,
	/// Dropped because the wire was full.
	pub overflow: u64,
}

/// How often the link table is read again.
const TABLE_CHECK: Duration = Duration::from_millis(200);
/// How long a reader waits on its socket before looking at the stop flag.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// Binds every site's public address; an error names the one that is taken.
pub fn bind(sites: &[Site]) -> anyhow::Result<Vec<UdpSocket>> {
	use anyhow::Context;
	sites
		.iter()
		.map(|site| {
			UdpSocket::bind(site.public).with_context(|| {
				format!("binding {} (is another wire or relay on it?)", site.public)
			})
		})
		.collect()
}

/// Runs the wire on `sockets` (site `i`'s public socket at `i`, from [`bind`]) until `stop` is
/// set: reads `links` (re-read whenever it changes; a table that cannot be read keeps the
/// previous one) and returns what it did.
pub fn serve(
	sites: Vec<Site>,
	sockets: Vec<UdpSocket>,
	links: PathBuf,
	capacity: usize,
	stop: Arc<AtomicBool>,
) -> anyhow::Result<Tally> {
	use anyhow::Context;
	anyhow::ensure!(sites.len() == sockets.len(), "one socket per site");
	// Bounded like the wire itself: a reader that outruns the wire drops, rather than queue
	// without end (what a full link does too).
	let (tx, rx) = mpsc::sync_channel::<(usize, SocketAddr, Vec<u8>, Instant)>(capacity);
	let overflowed = Arc::new(AtomicU64::new(0));
	let mut readers = Vec::new();
	for (index, socket) in sockets.iter().enumerate() {
		let socket = socket.try_clone().context("cloning a site's socket")?;
		socket.set_read_timeout(Some(READ_TIMEOUT)).context("setting a read timeout")?;
		let (tx, stop, overflowed) = (tx.clone(), stop.clone(), overflowed.clone());
		readers.push(std::thread::spawn(move || {
			let mut buffer = vec![0u8; 65_536];
			while !stop.load(Ordering::Relaxed) {
				match socket.recv_from(&mut buffer) {
					Ok((len, from)) => {
						let datagram = buffer.get(..len).unwrap_or_default().to_vec();
						match tx.try_send((index, from, datagram, Instant::now())) {
							Ok(()) => {}
							Err(mpsc::TrySendError::Full(_)) => {
								overflowed.fetch_add(1, Ordering::Relaxed);
							}
							Err(mpsc::TrySendError::Disconnected(_)) => return,
						}
					}
					// Timeouts, and ICMP errors for datagrams sent to a relay that is down.
					Err(_) => continue,
				}
			}
		}));
	}
	drop(tx);

	let mut wire = LoopWire::new(sites.clone(), capacity);
	let mut table_file = WatchedText::new(links);
	// The first read always has a table: an unreadable or bad one stops the wire here.
	wire.set_links(read_site_table(&mut table_file, sites.len())?.unwrap_or_default());
	let mut checked = Instant::now();
	let mut rng = rand::thread_rng();
	let mut tally = Tally::default();
	while !stop.load(Ordering::Relaxed) {
		let now = Instant::now();
		if now.duration_since(checked) >= TABLE_CHECK {
			checked = now;
			match read_site_table(&mut table_file, sites.len()) {
				Ok(Some(table)) => {
					eprintln!("srwan-udp-wire: link table changed ({} links)", table.len());
					wire.set_links(table);
				}
				Ok(None) => {}
				// A table half-written by an editor: keep the last good one.
				Err(error) => {
					eprintln!("srwan-udp-wire: keeping the previous link table: {error:#}")
				}
			}
		}
		let wait = wire
			.next_due()
			.map_or(TABLE_CHECK, |due| due.saturating_duration_since(Instant::now()))
			.min(TABLE_CHECK);
		match rx.recv_timeout(wait) {
			Ok((at_site, from, payload, received)) => {
				match wire.on_datagram(received, at_site, from, payload, &mut rng) {
					Ok(()) => {}
					Err(Dropped::UnknownSender | Dropped::ToItself) => tally.unknown += 1,
					Err(Dropped::Outage) => tally.outage += 1,
					Err(Dropped::Loss) => tally.lost += 1,
					Err(Dropped::Overflow) => tally.overflow += 1,
				}
			}
			Err(mpsc::RecvTimeoutError::Timeout) => {}
			Err(mpsc::RecvTimeoutError::Disconnected) => break,
		}
		while let Some(out) = wire.pop_due(Instant::now()) {
			let Some(socket) = sockets.get(out.from_site) else { continue };
			// A relay that is down answers with an ICMP error: the datagram is lost, as on a
			// network.
			if socket.send_to(&out.payload, out.to).is_ok() {
				tally.forwarded += 1;
			}
		}
	}
	stop.store(true, Ordering::Relaxed);
	for reader in readers {
		let _ = reader.join();
	}
	tally.overflow += overflowed.load(Ordering::Relaxed);
	Ok(tally)
}

/// The table in `file` if its text changed since the last read.
fn read_site_table(
	file: &mut WatchedText,
	sites: usize,
) -> anyhow::Result<Option<HashMap<(usize, usize), LinkState>>> {
	use anyhow::Context;
	let path = file.path().to_path_buf();
	let Some(text) = file.changed().with_context(|| format!("reading {}", path.display()))? else {
		return Ok(None);
	};
	let links = parse_site_table(text, sites).with_context(|| format!("in {}", path.display()))?;
	Ok(Some(links))
}

#[cfg(test)]
mod tests {
	use super::*;
	use rand::{rngs::StdRng, SeedableRng};

	fn addr(port: u16) -> SocketAddr {
		SocketAddr::from(([127, 0, 0, 1], port))
	}

	fn sites(n: u16) -> Vec<Site> {
		(1..=n).map(|i| Site { public: addr(7400 + 10 * i), relay: addr(7401 + 10 * i) }).collect()
	}

	#[test]
	fn a_site_table_names_links_by_site_and_rejects_what_it_cannot_read() {
		let table =
			parse_site_table("# 1 to 3\n3 1 30 2 loss=200\n1 2 20\n2 3 25 down\n", 3).unwrap();
		assert_eq!(
			table[&(1, 3)],
			LinkState {
				delay: Duration::from_millis(30),
				jitter: Duration::from_millis(2),
				loss_permille: 200,
				down: false
			}
		);
		assert_eq!(table[&(1, 2)].delay, Duration::from_millis(20));
		assert!(table[&(2, 3)].down);
		assert_eq!(
			"127.0.0.1:7410=127.0.0.1:7411".parse::<Site>(),
			Ok(Site { public: addr(7410), relay: addr(7411) })
		);
		assert!("127.0.0.1:7410".parse::<Site>().is_err());
		for bad in [
			"1 2",
			"1 4 20",
			"0 2 20",
			"2 2 20",
			"1 2 x",
			"1 2 20 1 2",
			"1 2 20 loss=1001",
			"1 2 20 loss=x",
			"1 2 99999",
		] {
			assert!(
				matches!(parse_site_table(bad, 3), Err(TableError::Malformed { line: 1, .. })),
				"{bad}"
			);
		}
	}

	#[test]
	fn a_datagram_reaches_the_other_relay_from_its_senders_public_address_after_the_delay() {
		let sites = sites(3);
		let mut wire = LoopWire::new(sites.clone(), 100);
		wire.set_links(parse_site_table("1 3 30\n", 3).unwrap());
		let mut rng = StdRng::seed_from_u64(5);
		let t0 = Instant::now();
		// Relay 1 sends to site 3's public address.
		assert_eq!(wire.on_datagram(t0, 2, sites[0].relay, b"a".to_vec(), &mut rng), Ok(()));
		// Relay 2 to site 1: no entry, no delay.
		assert_eq!(wire.on_datagram(t0, 0, sites[1].relay, b"b".to_vec(), &mut rng), Ok(()));
		assert_eq!(
			wire.pop_due(t0),
			Some(Outgoing { from_site: 1, to: sites[0].relay, payload: b"b".to_vec() })
		);
		assert_eq!(wire.pop_due(t0 + Duration::from_millis(29)), None);
		assert_eq!(
			wire.pop_due(t0 + Duration::from_millis(30)),
			Some(Outgoing { from_site: 0, to: sites[2].relay, payload: b"a".to_vec() })
		);
	}

	#[test]
	fn strangers_outages_and_loss_drop_and_a_new_table_lifts_them() {
		let sites = sites(3);
		let mut wire = LoopWire::new(sites.clone(), 2);
		wire.set_links(parse_site_table("1 3 0 down\n1 2 0 loss=1000\n", 3).unwrap());
		let mut rng = StdRng::seed_from_u64(9);
		let t0 = Instant::now();
		let from = |i: usize| sites[i].relay;
		assert_eq!(
			wire.on_datagram(t0, 2, addr(9999), vec![], &mut rng),
			Err(Dropped::UnknownSender),
			"a stranger"
		);
		assert_eq!(
			wire.on_datagram(t0, 2, sites[0].public, vec![], &mut rng),
			Err(Dropped::UnknownSender),
			"a site's public address is not its relay"
		);
		assert_eq!(wire.on_datagram(t0, 0, from(0), vec![], &mut rng), Err(Dropped::ToItself));
		assert_eq!(wire.on_datagram(t0, 2, from(0), vec![], &mut rng), Err(Dropped::Outage));
		assert_eq!(wire.on_datagram(t0, 0, from(2), vec![], &mut rng), Err(Dropped::Outage));
		assert_eq!(wire.on_datagram(t0, 1, from(0), vec![], &mut rng), Err(Dropped::Loss));
		let mapped: SocketAddr = "[::ffff:127.0.0.1]:7421".parse().unwrap();
		assert_eq!(wire.on_datagram(t0, 2, mapped, vec![], &mut rng), Ok(()), "v4-mapped");
		wire.set_links(HashMap::new());
		assert_eq!(wire.on_datagram(t0, 2, from(0), vec![], &mut rng), Ok(()));
		assert_eq!(wire.on_datagram(t0, 2, from(0), vec![], &mut rng), Err(Dropped::Overflow));
	}
}
