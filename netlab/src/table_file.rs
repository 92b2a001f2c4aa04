//! The wires' link tables as files a script rewrites while the wire runs.

use std::{
	io,
	path::{Path, PathBuf},
};

/// A small text file looked at again and again: it has changed when its contents have. (A
/// modification time can stay the same across two writes within its granularity, and a file
/// read after its time was taken can be newer than that time.)
#[derive(Debug)]
pub struct WatchedText {
	path: PathBuf,
	last: Option<String>,
}

impl WatchedText {
	/// Watches `path`; the first [`Self::changed`] returns its contents.
	pub fn new(path: impl Into<PathBuf>) -> Self {
		Self { path: path.into(), last: None }
	}

	/// The file.
	pub fn path(&self) -> &Path {
		&self.path
	}

	/// The file's text if it differs from what the last call saw (the first call's always
	/// does). An unreadable file is an error and changes nothing.
	pub fn changed(&mut self) -> io::Result<Option<&str>> {
		let text = std::fs::read_to_string(&self.path)?;
		if self.last.as_deref() == Some(text.as_str()) {
			return Ok(None);
		}
		Ok(Some(self.last.insert(text).as_str()))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_rewrite_within_the_same_instant_is_a_change_and_the_same_text_is_not() {
		let dir = std::env::temp_dir().join(format!("srwan-watched-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let path = dir.join("links.txt");
		std::fs::write(&path, "1 2 20\n").unwrap();
		let mut watched = WatchedText::new(&path);
		assert_eq!(watched.changed().unwrap(), Some("1 2 20\n"));
		assert_eq!(watched.changed().unwrap(), None);
		// Same length, written right after: a modification time may not tell them apart.
		std::fs::write(&path, "1 2 30\n").unwrap();
		assert_eq!(watched.changed().unwrap(), Some("1 2 30\n"));
		std::fs::write(&path, "1 2 30\n").unwrap();
		assert_eq!(watched.changed().unwrap(), None, "rewritten, not changed");
		std::fs::remove_file(&path).unwrap();
		assert!(watched.changed().is_err());
		std::fs::write(&path, "1 2 30\n").unwrap();
		assert_eq!(watched.changed().unwrap(), None, "back as it was");
		std::fs::remove_dir_all(&dir).unwrap();
	}
}
