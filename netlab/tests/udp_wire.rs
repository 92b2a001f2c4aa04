//! The loopback wire on real sockets: relays see each other at their public addresses, after
//! the link's delay; an outage written into the table while the wire runs drops the link.

use srwan_netlab::loopback::{bind, serve, Site};
use std::{
	net::{SocketAddr, UdpSocket},
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc,
	},
	time::{Duration, Instant},
};

fn local() -> UdpSocket {
	let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
	socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
	socket
}

fn free_address() -> SocketAddr {
	local().local_addr().unwrap()
}

#[test]
fn relays_reach_each_other_through_the_wire_with_its_delay_and_its_outages() {
	let relays = [local(), local()];
	let sites: Vec<Site> = relays
		.iter()
		.map(|relay| Site { public: free_address(), relay: relay.local_addr().unwrap() })
		.collect();
	let dir = std::env::temp_dir().join(format!("srwan-udp-wire-{}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	let table = dir.join("links.txt");
	std::fs::write(&table, "1 2 40 0\n").unwrap();
	let stop = Arc::new(AtomicBool::new(false));
	let wire = {
		let (sites, table, stop) = (sites.clone(), table.clone(), stop.clone());
		let sockets = bind(&sites).unwrap();
		std::thread::spawn(move || serve(sites, sockets, table, 1024, stop))
	};

	let mut buffer = [0u8; 64];
	let sent = Instant::now();
	relays[0].send_to(b"ping", sites[1].public).unwrap();
	let (len, from) = relays[1].recv_from(&mut buffer).expect("relay 2 gets relay 1's datagram");
	let took = sent.elapsed();
	assert_eq!((&buffer[..len], from), (&b"ping"[..], sites[0].public), "from site 1's endpoint");
	assert!(took >= Duration::from_millis(40), "held for the link's delay, took {took:?}");
	relays[1].send_to(b"pong", from).unwrap();
	let (len, from) = relays[0].recv_from(&mut buffer).expect("and the answer comes back");
	assert_eq!((&buffer[..len], from), (&b"pong"[..], sites[1].public));

	// A stranger is not carried.
	local().send_to(b"spoof", sites[1].public).unwrap();
	assert!(relays[1].recv_from(&mut buffer).is_err(), "a stranger's datagram was carried");

	// The table changes while the wire runs (a timeline step): the link goes down.
	std::thread::sleep(Duration::from_millis(20));
	std::fs::write(&table, "1 2 0 down\n").unwrap();
	std::thread::sleep(Duration::from_millis(600));
	relays[0].send_to(b"lost", sites[1].public).unwrap();
	assert!(relays[1].recv_from(&mut buffer).is_err(), "carried during an outage");

	stop.store(true, Ordering::Relaxed);
	let tally = wire.join().unwrap().unwrap();
	assert_eq!((tally.forwarded, tally.unknown, tally.outage), (2, 1, 1), "{tally:?}");
	std::fs::remove_dir_all(&dir).unwrap();
}
