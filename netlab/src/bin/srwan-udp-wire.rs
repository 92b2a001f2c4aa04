//! `srwan-udp-wire`: the network lab without root. A UDP proxy between relays on one host that
//! adds each link's one-way delay, jitter, loss or outage (the relays carry no impairment
//! code): each relay lists its site's public address as its endpoint and listens on another;
//! the wire holds the public addresses. See `srwan_netlab::loopback`.

use anyhow::Context;
use clap::Parser;
use srwan_netlab::loopback::{bind, serve, Site};
use std::{
	path::PathBuf,
	sync::{atomic::AtomicBool, Arc},
};

/// A UDP wire between relays on one host: a datagram relay I sends to site J's public address
/// reaches relay J from site I's public address after the I–J link's delay, unless the link's
/// loss or outage drops it. Link table lines: `I J DELAY_MS [JITTER_MS] [loss=PERMILLE]
/// [down]` (sites numbered from 1 in --site order; re-read when the file changes).
#[derive(Debug, Parser)]
#[command(name = "srwan-udp-wire", version, about)]
struct Cli {
	/// A site, `PUBLIC=RELAY` (e.g. `127.0.0.1:7410=127.0.0.1:7411`); once per site, in order.
	#[arg(long = "site", required = true)]
	sites: Vec<Site>,
	/// The link table (re-read when it changes).
	#[arg(long)]
	links: PathBuf,
	/// Most datagrams held at once; more are dropped, as a full queue drops them.
	#[arg(long, default_value_t = 65_536)]
	capacity: usize,
}

fn main() -> anyhow::Result<()> {
	let cli = Cli::parse();
	// Runs until killed: the lab's scripts stop it with the lab.
	let stop = Arc::new(AtomicBool::new(false));
	let sockets = bind(&cli.sites)?;
	eprintln!("srwan-udp-wire: serving {} sites with {}", cli.sites.len(), cli.links.display());
	let tally = serve(cli.sites, sockets, cli.links, cli.capacity, stop).context("the wire")?;
	eprintln!("srwan-udp-wire: stopped: {tally:?}");
	Ok(())
}
