//! Durable state in the data dir. Writes are atomic (temp file, fsync, rename, fsync of the
//! directory), so a crash leaves either the old file or the new one, never a torn one.

use crate::proto::{counters::Counters, wire::NodeId};
use std::{
	fs::{self, File, OpenOptions},
	io::{self, Write},
	path::{Path, PathBuf},
};

/// File of unclaimed octet counters inside the data dir.
pub const COUNTERS_FILE: &str = "counters.json";
/// The newest link sequence number accepted from each member (replay windows across restarts).
pub const LINK_MARKS_FILE: &str = "link-marks.json";
/// The last boot time used.
pub const BOOT_FILE: &str = "boot";

/// Why state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
	/// Reading or writing failed.
	#[error("{action} {path}: {source}")]
	Io {
		/// What was being done.
		action: &'static str,
		/// The file.
		path: PathBuf,
		/// The I/O error.
		source: io::Error,
	},
	/// The file exists but is not ours or is corrupt; it is left untouched.
	#[error("{path} is corrupt ({reason}); move it away to start from empty counters")]
	Corrupt {
		/// The file.
		path: PathBuf,
		/// What is wrong.
		reason: String,
	},
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
	move |source| StoreError::Io { action, path: path.to_path_buf(), source }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
	write_atomic_with(path, bytes, OpenOptions::new())
}

/// Writes a secret to `path` atomically, readable by its owner only from the moment the file
/// exists (mode 0600 at creation, not changed afterwards: no window in which others can read).
pub fn write_secret_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
	let mut options = OpenOptions::new();
	// A file (or symlink) planted at the temp name in between makes this fail, not leak.
	options.create_new(true);
	#[cfg(unix)]
	std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
	let tmp = path.with_extension("tmp");
	// A leftover temp file keeps its old mode when opened again: start from none.
	match fs::remove_file(&tmp) {
		Ok(()) => {}
		Err(e) if e.kind() == io::ErrorKind::NotFound => {}
		Err(source) => return Err(StoreError::Io { action: "removing", path: tmp, source }),
	}
	write_atomic_with(path, bytes, options)
}

fn write_atomic_with(
	path: &Path,
	bytes: &[u8],
	mut options: OpenOptions,
) -> Result<(), StoreError> {
	let dir = path.parent().unwrap_or(Path::new("."));
	fs::create_dir_all(dir).map_err(io_error("creating", dir))?;
	let tmp = path.with_extension("tmp");
	{
		let mut file = options
			.write(true)
			.create(true)
			.truncate(true)
			.open(&tmp)
			.map_err(io_error("creating", &tmp))?;
		file.write_all(bytes).map_err(io_error("writing", &tmp))?;
		file.sync_all().map_err(io_error("syncing", &tmp))?;
	}
	fs::rename(&tmp, path).map_err(io_error("renaming into", path))?;
	// The rename is durable only once the directory entry is.
	File::open(dir).and_then(|d| d.sync_all()).map_err(io_error("syncing", dir))?;
	Ok(())
}

/// Renames `from` to `to` (replacing it) durably: after a crash the directory holds one or
/// the other.
pub fn rename_durable(from: &Path, to: &Path) -> Result<(), StoreError> {
	fs::rename(from, to).map_err(io_error("renaming into", to))?;
	let dir = to.parent().unwrap_or(Path::new("."));
	File::open(dir).and_then(|d| d.sync_all()).map_err(io_error("syncing", dir))?;
	Ok(())
}

/// The bytes of the file at `path`; `None` if there is no such file.
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
	match fs::read(path) {
		Ok(bytes) => Ok(Some(bytes)),
		Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
		Err(source) => Err(StoreError::Io { action: "reading", path: path.to_path_buf(), source }),
	}
}

/// Loads the counters from `data_dir`; a missing file means no counters yet.
pub fn load_counters(data_dir: &Path) -> Result<Counters, StoreError> {
	let path = data_dir.join(COUNTERS_FILE);
	match read_if_present(&path)? {
		Some(bytes) => {
			Counters::from_json(&bytes).map_err(|reason| StoreError::Corrupt { path, reason })
		}
		None => Ok(Counters::default()),
	}
}

/// Saves the counters to `data_dir` atomically.
pub fn save_counters(data_dir: &Path, counters: &Counters) -> Result<(), StoreError> {
	write_atomic(&data_dir.join(COUNTERS_FILE), &counters.to_json())
}

/// The boot time of an agent starting now (`now_s`): strictly above the last one recorded in
/// `data_dir` (a clock stepped back, or a restart within the same second, must not reuse
/// sequence numbers), and recorded before it is used.
pub fn next_boot(data_dir: &Path, now_s: u64) -> Result<u64, StoreError> {
	let path = data_dir.join(BOOT_FILE);
	let last = match read_if_present(&path)? {
		Some(bytes) => String::from_utf8_lossy(&bytes)
			.trim()
			.parse::<u64>()
			.map_err(|e| StoreError::Corrupt { path: path.clone(), reason: e.to_string() })?,
		None => 0,
	};
	let boot = now_s.max(last.saturating_add(1));
	write_atomic(&path, format!("{boot}\n").as_bytes())?;
	Ok(boot)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LinkMark {
	peer: String,
	boot: u64,
	top: u64,
}

/// Loads the link marks from `data_dir`; a missing file means none.
pub fn load_link_marks(data_dir: &Path) -> Result<Vec<(NodeId, u64, u64)>, StoreError> {
	let path = data_dir.join(LINK_MARKS_FILE);
	let Some(bytes) = read_if_present(&path)? else { return Ok(Vec::new()) };
	let corrupt = |reason: String| StoreError::Corrupt { path: path.clone(), reason };
	let marks: Vec<LinkMark> =
		serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
	marks
		.into_iter()
		.map(|m| Ok((crate::hex::decode32(&m.peer).map_err(corrupt)?, m.boot, m.top)))
		.collect()
}

/// Saves the link marks to `data_dir` atomically.
pub fn save_link_marks(data_dir: &Path, marks: &[(NodeId, u64, u64)]) -> Result<(), StoreError> {
	let marks: Vec<LinkMark> = marks
		.iter()
		.map(|(peer, boot, top)| LinkMark {
			peer: crate::hex::encode(peer),
			boot: *boot,
			top: *top,
		})
		.collect();
	write_atomic(
		&data_dir.join(LINK_MARKS_FILE),
		&serde_json::to_vec_pretty(&marks).unwrap_or_default(),
	)
}

/// Loads a JSON file of the data dir; a missing file gives the default.
pub fn load_json<T: serde::de::DeserializeOwned + Default>(
	data_dir: &Path,
	file: &str,
) -> Result<T, StoreError> {
	let path = data_dir.join(file);
	match read_if_present(&path)? {
		Some(bytes) => serde_json::from_slice(&bytes)
			.map_err(|e| StoreError::Corrupt { path, reason: e.to_string() }),
		None => Ok(T::default()),
	}
}

/// Saves a JSON file of the data dir atomically.
pub fn save_json<T: serde::Serialize>(
	data_dir: &Path,
	file: &str,
	value: &T,
) -> Result<(), StoreError> {
	let path = data_dir.join(file);
	let bytes = serde_json::to_vec_pretty(value)
		.map_err(|e| StoreError::Corrupt { path: path.clone(), reason: e.to_string() })?;
	write_atomic(&path, &bytes)
}

/// Present while an agent runs on the data dir; removed when it stops cleanly.
pub const RUNNING_FILE: &str = "running";
/// Boots that followed a crash (a kill -9, a power cut), newest last.
pub const CRASH_BOOTS_FILE: &str = "crash-boots.json";
/// Crash boots kept: enough for any epoch that may still be claimed.
const CRASH_BOOTS_KEPT: usize = 16;

/// Marks the data dir as in use by the agent that booted at `boot`; if the previous agent did
/// not stop cleanly, records `boot` as a boot after a crash. Returns the crash boots.
pub fn start_run(data_dir: &Path, boot: u64) -> Result<Vec<u64>, StoreError> {
	let running = data_dir.join(RUNNING_FILE);
	let mut crash_boots: Vec<u64> = load_json(data_dir, CRASH_BOOTS_FILE)?;
	if read_if_present(&running)?.is_some() {
		crash_boots.push(boot);
		let excess = crash_boots.len().saturating_sub(CRASH_BOOTS_KEPT);
		crash_boots.drain(..excess);
		save_json(data_dir, CRASH_BOOTS_FILE, &crash_boots)?;
	}
	write_atomic(&running, format!("{boot}\n").as_bytes())?;
	Ok(crash_boots)
}

/// Marks a clean stop: the next start is not a crash.
pub fn stop_run(data_dir: &Path) -> Result<(), StoreError> {
	let running = data_dir.join(RUNNING_FILE);
	match fs::remove_file(&running) {
		Ok(()) => Ok(()),
		Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
		Err(source) => Err(StoreError::Io { action: "removing", path: running, source }),
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn boots_only_increase_and_link_marks_round_trip() {
		let dir = tempfile::tempdir().unwrap();
		assert_eq!(next_boot(dir.path(), 1_000).unwrap(), 1_000);
		assert_eq!(next_boot(dir.path(), 1_000).unwrap(), 1_001, "same second");
		assert_eq!(next_boot(dir.path(), 500).unwrap(), 1_002, "clock stepped back");
		assert_eq!(next_boot(dir.path(), 5_000).unwrap(), 5_000);
		assert!(load_link_marks(dir.path()).unwrap().is_empty());
		let marks = vec![([1u8; 32], 5_000, 77), ([2u8; 32], 4_000, 1 << 40)];
		save_link_marks(dir.path(), &marks).unwrap();
		assert_eq!(load_link_marks(dir.path()).unwrap(), marks);
	}

	#[test]
	fn counters_survive_a_restart() {
		let dir = tempfile::tempdir().unwrap();
		assert_eq!(load_counters(dir.path()).unwrap(), Counters::default());
		let mut counters = Counters::default();
		counters.record_in(5, 1, [3; 32], 1234);
		save_counters(dir.path(), &counters).unwrap();
		let mut loaded = load_counters(dir.path()).unwrap();
		loaded.take_dirty();
		counters.take_dirty();
		assert_eq!(loaded, counters);
		assert!(!dir.path().join("counters.tmp").exists(), "no temp file left behind");
	}

	#[cfg(unix)]
	#[test]
	fn secrets_are_never_readable_by_others() {
		use std::os::unix::fs::PermissionsExt;
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join("secret.key");
		// A world-readable leftover temp file does not pass its mode on.
		fs::write(path.with_extension("tmp"), b"old").unwrap();
		fs::set_permissions(path.with_extension("tmp"), fs::Permissions::from_mode(0o644)).unwrap();
		write_secret_atomic(&path, b"s3cret").unwrap();
		assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
		assert_eq!(fs::read(&path).unwrap(), b"s3cret");
	}

	#[test]
	fn a_corrupt_file_is_reported_and_kept() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join(COUNTERS_FILE);
		fs::write(&path, b"{half a json").unwrap();
		let err = load_counters(dir.path()).unwrap_err();
		assert!(err.to_string().contains("corrupt"), "{err}");
		assert_eq!(fs::read(&path).unwrap(), b"{half a json", "the evidence is not overwritten");
	}

	#[test]
	fn an_interrupted_write_leaves_the_old_file() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join(COUNTERS_FILE);
		write_atomic(&path, b"[]").unwrap();
		// A crash after writing the temp file but before the rename:
		fs::write(path.with_extension("tmp"), b"garbage").unwrap();
		assert_eq!(load_counters(dir.path()).unwrap(), Counters::default());
	}

	#[test]
	fn a_start_after_an_unclean_stop_is_recorded_as_a_crash_boot() {
		let dir = tempfile::tempdir().unwrap();
		assert_eq!(start_run(dir.path(), 10).unwrap(), Vec::<u64>::new(), "first start");
		stop_run(dir.path()).unwrap();
		assert_eq!(start_run(dir.path(), 11).unwrap(), Vec::<u64>::new(), "after a clean stop");
		// No stop: killed.
		assert_eq!(start_run(dir.path(), 12).unwrap(), vec![12]);
		assert_eq!(start_run(dir.path(), 13).unwrap(), vec![12, 13]);
		stop_run(dir.path()).unwrap();
		assert_eq!(start_run(dir.path(), 14).unwrap(), vec![12, 13], "kept across clean runs");
	}
}
