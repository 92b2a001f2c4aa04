//! Who this relay is: its id and its pulse key (kept in the data dir, created once).

use crate::{proto::wire::NodeId, store};
use blake2::{Blake2s256, Digest};
use ed25519_dalek::SigningKey;
use std::path::{Path, PathBuf};

/// File of the relay's ed25519 pulse key (hex of the 32-byte secret) in the data dir.
pub const KEY_FILE: &str = "pulse.key";

/// File of the pulse key this relay rotates to (`srwan-relay key rotate`): registered on chain
/// for the next epoch, and renamed to [`KEY_FILE`] when the chain's group lists it.
pub const NEXT_KEY_FILE: &str = "pulse.next.key";

/// The id of a member named `name`: the account id itself if it is 64 hex digits or an SS58
/// address, otherwise BLAKE2s-256 of the name, so every relay derives the same id.
pub fn node_id(name: &str) -> NodeId {
	if let Ok(id) = crate::hex::decode32(name) {
		return id;
	}
	match name.parse::<subxt::utils::AccountId32>() {
		Ok(account) => account.0,
		Err(_) => Blake2s256::digest(name.as_bytes()).into(),
	}
}

/// Why the key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
	/// The key file exists but does not hold a key.
	#[error("{0} does not hold a pulse key (64 hex digits): {1}")]
	Malformed(PathBuf, String),
	/// Reading or writing failed.
	#[error(transparent)]
	Store(#[from] store::StoreError),
	/// Reading failed.
	#[error("cannot read {0}: {1}")]
	Read(PathBuf, std::io::Error),
}

/// Loads the pulse key from `data_dir`, creating (and persisting) a new one if there is none.
pub fn load_or_create_key(data_dir: &Path) -> Result<(SigningKey, bool), KeyError> {
	load_or_create(&data_dir.join(KEY_FILE))
}

/// Loads the key this relay rotates to, creating it if there is none: a rotation that did not
/// reach the chain is retried with the same key.
pub fn load_or_create_next_key(data_dir: &Path) -> Result<(SigningKey, bool), KeyError> {
	load_or_create(&data_dir.join(NEXT_KEY_FILE))
}

/// The key this relay rotates to, if a rotation is under way.
pub fn load_next_key(data_dir: &Path) -> Result<Option<SigningKey>, KeyError> {
	let path = data_dir.join(NEXT_KEY_FILE);
	match std::fs::read_to_string(&path) {
		Ok(text) => parse(&path, &text).map(Some),
		Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
		Err(e) => Err(KeyError::Read(path, e)),
	}
}

/// The pulse key the chain should list for this relay: the one it rotates to, or its own.
pub fn wanted_key(data_dir: &Path, current: &SigningKey) -> Result<SigningKey, KeyError> {
	Ok(load_next_key(data_dir)?.unwrap_or_else(|| current.clone()))
}

/// File of the pulse key a rotation replaced (kept, never used by the agent: an operator who
/// re-registered it by hand can put it back).
pub const PREVIOUS_KEY_FILE: &str = "pulse.prev.key";

/// Ends a rotation: the old key is kept as [`PREVIOUS_KEY_FILE`], the next key becomes the
/// pulse key (renames only, so a crash leaves a key in `pulse.next.key` or `pulse.key`, and
/// the current one is never lost).
pub fn promote_next_key(data_dir: &Path) -> Result<(), KeyError> {
	let current = data_dir.join(KEY_FILE);
	if current.exists() {
		store::rename_durable(&current, &data_dir.join(PREVIOUS_KEY_FILE))?;
	}
	Ok(store::rename_durable(&data_dir.join(NEXT_KEY_FILE), &current)?)
}

/// Drops the next key (the chain refused it: another router holds it), so that the next
/// rotation makes a fresh one.
pub fn discard_next_key(data_dir: &Path) -> Result<(), KeyError> {
	let path = data_dir.join(NEXT_KEY_FILE);
	match std::fs::remove_file(&path) {
		Ok(()) => Ok(()),
		Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
		Err(e) => Err(KeyError::Read(path, e)),
	}
}

fn parse(path: &Path, text: &str) -> Result<SigningKey, KeyError> {
	let secret = crate::hex::decode32(text.trim())
		.map_err(|reason| KeyError::Malformed(path.to_path_buf(), reason))?;
	Ok(SigningKey::from_bytes(&secret))
}

fn load_or_create(path: &Path) -> Result<(SigningKey, bool), KeyError> {
	match std::fs::read_to_string(path) {
		Ok(text) => Ok((parse(path, &text)?, false)),
		Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
			let key = SigningKey::generate(&mut rand::rngs::OsRng);
			store::write_secret_atomic(path, crate::hex::encode(key.as_bytes()).as_bytes())?;
			Ok((key, true))
		}
		Err(e) => Err(KeyError::Read(path.to_path_buf(), e)),
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn ids_are_stable_and_accept_account_ids() {
		assert_eq!(node_id("relay-a"), node_id("relay-a"));
		assert_ne!(node_id("relay-a"), node_id("relay-b"));
		let account = "ab".repeat(32);
		assert_eq!(node_id(&account), [0xab; 32]);
	}

	#[test]
	fn key_is_created_once_and_reloaded() {
		let dir = tempfile::tempdir().unwrap();
		let (first, created) = load_or_create_key(dir.path()).unwrap();
		assert!(created);
		let (again, created) = load_or_create_key(dir.path()).unwrap();
		assert!(!created);
		assert_eq!(first.to_bytes(), again.to_bytes());
		std::fs::write(dir.path().join(KEY_FILE), "nonsense").unwrap();
		assert!(matches!(load_or_create_key(dir.path()), Err(KeyError::Malformed(..))));
	}

	#[test]
	fn a_rotation_keeps_its_next_key_until_it_is_promoted() {
		let dir = tempfile::tempdir().unwrap();
		let (current, _) = load_or_create_key(dir.path()).unwrap();
		assert!(load_next_key(dir.path()).unwrap().is_none());
		assert_eq!(wanted_key(dir.path(), &current).unwrap().to_bytes(), current.to_bytes());
		let (next, created) = load_or_create_next_key(dir.path()).unwrap();
		assert!(created);
		let (again, created) = load_or_create_next_key(dir.path()).unwrap();
		assert!(!created, "a retried rotation names the same key");
		assert_eq!(again.to_bytes(), next.to_bytes());
		assert_ne!(next.to_bytes(), current.to_bytes());
		assert_eq!(wanted_key(dir.path(), &current).unwrap().to_bytes(), next.to_bytes());
		promote_next_key(dir.path()).unwrap();
		assert_eq!(load_or_create_key(dir.path()).unwrap().0.to_bytes(), next.to_bytes());
		assert!(load_next_key(dir.path()).unwrap().is_none());
		let kept = std::fs::read_to_string(dir.path().join(PREVIOUS_KEY_FILE)).unwrap();
		assert_eq!(kept.trim(), crate::hex::encode(current.as_bytes()), "the old key is kept");
		// A refused next key is dropped; the next rotation makes a new one.
		let (refused, _) = load_or_create_next_key(dir.path()).unwrap();
		discard_next_key(dir.path()).unwrap();
		discard_next_key(dir.path()).unwrap();
		let (fresh, created) = load_or_create_next_key(dir.path()).unwrap();
		assert!(created);
		assert_ne!(fresh.to_bytes(), refused.to_bytes());
	}
}
