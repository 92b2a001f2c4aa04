//! `srwan-relay` as an operator runs it: help, a good config, bad configs with clear errors.

use std::process::Command;

fn relay(args: &[&str]) -> (bool, String, String) {
	let out = Command::new(env!("CARGO_BIN_EXE_srwan-relay"))
		.args(args)
		.env_remove("SRWAN_RELAY_CONFIG")
		.output()
		.expect("srwan-relay runs");
	(
		out.status.success(),
		String::from_utf8_lossy(&out.stdout).into_owned(),
		String::from_utf8_lossy(&out.stderr).into_owned(),
	)
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/relay.toml");

#[test]
fn help_explains_the_subcommands() {
	let (ok, out, _) = relay(&["--help"]);
	assert!(ok);
	assert!(out.contains("check-config"), "{out}");
	let (ok, out, _) = relay(&["check-config", "--help"]);
	assert!(ok);
	assert!(out.contains("SRWAN_RELAY_LISTEN"), "flags name their env variables: {out}");
}

#[test]
fn flags_override_the_file() {
	let (ok, out, err) = relay(&["check-config", "-c", EXAMPLE, "--listen", "127.0.0.1:9000"]);
	assert!(ok, "{err}");
	assert!(out.contains("listen: 127.0.0.1:9000"), "{out}");
}

#[test]
fn bad_override_is_one_clear_line() {
	let (ok, _, err) = relay(&["check-config", "-c", EXAMPLE, "--listen", "0.0.0.0:0"]);
	assert!(!ok);
	assert!(err.contains("invalid value for `listen`"), "{err}");
	assert!(!err.contains("backtrace"), "{err}");
}

#[test]
fn bad_file_names_the_key() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("bad.toml");
	std::fs::write(&path, "data_dir = \"/x\"\n[pulse]\nwindow = 1\n").unwrap();
	let (ok, _, err) = relay(&["check-config", "-c", path.to_str().unwrap()]);
	assert!(!ok);
	assert!(err.contains("`pulse.window`"), "{err}");
}

mod two_relays {
	use std::{
		net::{SocketAddr, TcpStream, UdpSocket},
		path::Path,
		process::{Child, Command, Stdio},
		time::{Duration, Instant},
	};

	fn free_port() -> u16 {
		UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
	}

	fn pulse_key(config: &Path) -> String {
		let out = Command::new(env!("CARGO_BIN_EXE_srwan-relay"))
			.args(["key", "--pulse", "-c", config.to_str().unwrap()])
			.output()
			.unwrap();
		assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
		String::from_utf8(out.stdout).unwrap().trim().to_string()
	}

	fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
		use std::io::{Read, Write};
		let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
		stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
		write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
		let mut response = String::new();
		stream.read_to_string(&mut response).ok()?;
		Some(response)
	}

	struct Relay(Child);
	impl Drop for Relay {
		fn drop(&mut self) {
			let _ = self.0.kill();
		}
	}

	/// Two `srwan-relay run` processes: A tunnels to an echo server behind B. The echo comes
	/// back, the dashboard reports ready, and SIGTERM flushes the counters to disk.
	#[test]
	fn a_tunnel_between_two_relay_processes() {
		let dir = tempfile::tempdir().unwrap();
		let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
		let echo_addr = echo.local_addr().unwrap();
		std::thread::spawn(move || {
			let mut buf = [0u8; 2048];
			while let Ok((n, from)) = echo.recv_from(&mut buf) {
				let _ = echo.send_to(&buf[..n], from);
			}
		});
		let (a_port, b_port, tunnel_port) = (free_port(), free_port(), free_port());
		let (a_dash, b_dash) = (free_port(), free_port());
		let write = |name: &str, body: &str| {
			let path = dir.path().join(format!("{name}.toml"));
			std::fs::write(&path, body).unwrap();
			path
		};
		let data = |name: &str| dir.path().join(name).display().to_string();
		let bare_a = write("a", &format!("id = \"a\"\ndata_dir = \"{}\"\n", data("a")));
		let bare_b = write("b", &format!("id = \"b\"\ndata_dir = \"{}\"\n", data("b")));
		let (key_a, key_b) = (pulse_key(&bare_a), pulse_key(&bare_b));
		assert!(key_a.starts_with("0x") && key_a.len() == 66, "{key_a}");

		let common = "[pulse]\ninterval_ms = 200\nfast_probe_ms = 100\n";
		let config_a = write(
			"a",
			&format!(
				"id = \"a\"\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:{a_port}\"\ndashboard = \"127.0.0.1:{a_dash}\"\n\
				 {common}\n[[peers]]\nid = \"b\"\naddr = \"127.0.0.1:{b_port}\"\npulse_key = \"{key_b}\"\n\
				 [[tunnels]]\nlisten = \"127.0.0.1:{tunnel_port}\"\negress = \"b\"\nto = \"{echo_addr}\"\n",
				data("a")
			),
		);
		let config_b = write(
			"b",
			&format!(
				"id = \"b\"\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:{b_port}\"\ndashboard = \"127.0.0.1:{b_dash}\"\n\
				 allowed_destinations = [\"{echo_addr}\"]\n{common}\n\
				 [[peers]]\nid = \"a\"\naddr = \"127.0.0.1:{a_port}\"\npulse_key = \"{key_a}\"\n",
				data("b")
			),
		);
		let spawn = |config: &Path| {
			Relay(
				Command::new(env!("CARGO_BIN_EXE_srwan-relay"))
					.args(["run", "-c", config.to_str().unwrap()])
					.env("RUST_LOG", "warn")
					.stdout(Stdio::null())
					.spawn()
					.unwrap(),
			)
		};
		let mut relay_a = spawn(&config_a);
		let _relay_b = spawn(&config_b);

		let a_dash_addr: SocketAddr = format!("127.0.0.1:{a_dash}").parse().unwrap();
		let deadline = Instant::now() + Duration::from_secs(20);
		loop {
			let ready =
				http_get(a_dash_addr, "/ready").is_some_and(|r| r.starts_with("HTTP/1.1 200"));
			if ready {
				break;
			}
			assert!(Instant::now() < deadline, "relay A never became ready");
			std::thread::sleep(Duration::from_millis(100));
		}

		let client = UdpSocket::bind("127.0.0.1:0").unwrap();
		client.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
		let mut buf = [0u8; 64];
		let deadline = Instant::now() + Duration::from_secs(20);
		let echoed = loop {
			client.send_to(b"hello", ("127.0.0.1", tunnel_port)).unwrap();
			if let Ok(n) = client.recv(&mut buf) {
				break buf[..n].to_vec();
			}
			assert!(Instant::now() < deadline, "no echo through the tunnel");
		};
		assert_eq!(echoed, b"hello");
		let status = http_get(a_dash_addr, "/api/status").unwrap();
		assert!(status.contains("\"out_octets\""), "{status}");

		// SIGTERM: A flushes its counters and exits cleanly.
		let pid = relay_a.0.id().to_string();
		assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
		let exit = relay_a.0.wait().unwrap();
		assert!(exit.success(), "relay A exited with {exit}");
		let counters = std::fs::read_to_string(dir.path().join("a/counters.json")).unwrap();
		assert!(counters.contains("out_octets"), "{counters}");
	}
}
