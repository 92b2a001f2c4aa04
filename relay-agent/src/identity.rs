//! Who this relay is: its id and its pulse key (kept in the data dir, created once).

use crate::{proto::wire::NodeId, store};
use blake2::{Blake2s256, Digest};
use ed25519_dalek::SigningKey;
use std::path::{Path, PathBuf};

/// File of the relay's ed25519 pulse key (hex of the 32-byte secret) in the data dir.
pub const KEY_FILE: &str = "pulse.key";

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
	let path = data_dir.join(KEY_FILE);
	match std::fs::read_to_string(&path) {
		Ok(text) => {
			let secret = crate::hex::decode32(text.trim())
				.map_err(|reason| KeyError::Malformed(path.clone(), reason))?;
			Ok((SigningKey::from_bytes(&secret), false))
		}
		Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
			let key = SigningKey::generate(&mut rand::rngs::OsRng);
			store::write_secret_atomic(&path, crate::hex::encode(key.as_bytes()).as_bytes())?;
			Ok((key, true))
		}
		Err(e) => Err(KeyError::Read(path, e)),
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
}
