//! `srwan-wire`: holds the packets an NFQUEUE rule hands it until their link's one-way delay
//! (plus jitter) has passed, then accepts them. Run in the lab's "internet" namespace behind
//! `iptables-legacy -t mangle -A FORWARD ... -j NFQUEUE --queue-num N --queue-bypass`.
//! The link table is re-read whenever the file changes, so a timeline can change delays
//! while the lab runs.

use anyhow::Context;
use clap::Parser;
use nfq::{Queue, Verdict};
use srwan_netlab::{parse_table, Admitted, WatchedText, Wire};
use std::{
	path::PathBuf,
	time::{Duration, Instant},
};

/// Adds per-link one-way delay and jitter to the packets of an NFQUEUE (the lab's kernel has
/// no netem). Each line of the link table is `SRC/LEN DST/LEN DELAY_MS [JITTER_MS]`; the first
/// matching line applies; packets of no line pass at once.
#[derive(Debug, Parser)]
#[command(name = "srwan-wire", version, about)]
struct Cli {
	/// The NFQUEUE number to serve.
	#[arg(long, default_value_t = 0)]
	queue: u16,
	/// The link table (re-read when it changes).
	#[arg(long)]
	links: PathBuf,
	/// Most packets held at once; more are dropped, as a full queue drops them.
	#[arg(long, default_value_t = 65_536)]
	capacity: usize,
}

/// How often the link table is read again.
const TABLE_CHECK: Duration = Duration::from_millis(200);
/// Longest sleep between two looks at the queue (the added delay's error bound).
const TICK: Duration = Duration::from_millis(1);

fn main() -> anyhow::Result<()> {
	let cli = Cli::parse();
	let mut table_file = WatchedText::new(&cli.links);
	let links = read_table(&mut table_file)?.unwrap_or_default();
	let mut wire = Wire::new(links, cli.capacity);
	let mut queue = Queue::open().context("opening a netfilter queue socket (needs root)")?;
	queue
		.bind(cli.queue)
		.with_context(|| format!("binding NFQUEUE {} (is another wire serving it?)", cli.queue))?;
	let queue_len = u32::try_from(cli.capacity).unwrap_or(u32::MAX);
	queue.set_queue_max_len(cli.queue, queue_len).context("sizing the queue")?;
	queue.set_nonblocking(true);
	eprintln!("srwan-wire: serving NFQUEUE {} with {}", cli.queue, cli.links.display());
	let mut rng = rand::thread_rng();
	let mut checked = Instant::now();
	let mut overflowed = 0u64;
	loop {
		let now = Instant::now();
		if now.duration_since(checked) >= TABLE_CHECK {
			checked = now;
			match read_table(&mut table_file) {
				Ok(Some(links)) => {
					eprintln!("srwan-wire: link table changed ({} links)", links.len());
					wire.set_links(links);
				}
				Ok(None) => {}
				// A table half-written by an editor: keep the last good one.
				Err(error) => eprintln!("srwan-wire: keeping the previous link table: {error:#}"),
			}
		}
		loop {
			let message = match queue.recv() {
				Ok(message) => message,
				Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
				Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
				Err(e) => return Err(e).context("reading the queue"),
			};
			let payload = message.get_payload().to_vec();
			match wire.admit(Instant::now(), &payload, message, &mut rng) {
				Admitted::Pass(mut message) => {
					message.set_verdict(Verdict::Accept);
					queue.verdict(message).context("accepting a packet")?;
				}
				Admitted::Held => {}
				Admitted::Overflow(mut message) => {
					overflowed += 1;
					if overflowed.is_power_of_two() {
						eprintln!("srwan-wire: {overflowed} packets dropped: the wire is full");
					}
					message.set_verdict(Verdict::Drop);
					queue.verdict(message).context("dropping a packet")?;
				}
			}
		}
		while let Some(mut message) = wire.pop_due(Instant::now()) {
			message.set_verdict(Verdict::Accept);
			queue.verdict(message).context("releasing a packet")?;
		}
		let sleep = wire
			.next_due()
			.map(|due| due.saturating_duration_since(Instant::now()))
			.unwrap_or(TICK)
			.min(TICK);
		std::thread::sleep(sleep);
	}
}

/// The table in `file` if its text changed since the last read.
fn read_table(file: &mut WatchedText) -> anyhow::Result<Option<Vec<srwan_netlab::Link>>> {
	let path = file.path().to_path_buf();
	let Some(text) = file.changed().with_context(|| format!("reading {}", path.display()))? else {
		return Ok(None);
	};
	parse_table(text).map(Some).with_context(|| format!("in {}", path.display()))
}
