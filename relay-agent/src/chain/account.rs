//! The relay's chain account: an sr25519 key kept in the data dir (created once, mode 0600,
//! refused when others can read it), or a development URI (`//Charlie`) from the config.

use crate::store;
use std::path::{Path, PathBuf};
use subxt_signer::{sr25519::Keypair, SecretUri};

/// File of the relay's sr25519 account key (hex of the 32-byte secret) in the data dir.
pub const ACCOUNT_KEY_FILE: &str = "account.key";

/// Why the account could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
	/// The development URI does not parse or derive.
	#[error("account URI {0:?} is not usable: {1}")]
	Uri(String, String),
	/// The key file exists but does not hold a key.
	#[error("{0} does not hold an account key (64 hex digits): {1}")]
	Malformed(PathBuf, String),
	/// The key file can be read by others than its owner.
	#[error("{0} can be read by others (mode {1:o}): `chmod 600` it, and treat the key as leaked if others could read it")]
	Exposed(PathBuf, u32),
	/// Reading (or creating) failed.
	#[error("cannot read or create {0}: {1}")]
	Read(PathBuf, std::io::Error),
	/// Writing a new key failed.
	#[error(transparent)]
	Store(#[from] store::StoreError),
}

/// Where the account comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountSource {
	/// A development URI from the config.
	DevUri,
	/// The key file in the data dir, found there.
	KeyFile,
	/// The key file in the data dir, created just now.
	NewKeyFile,
}

/// The relay's account: from `uri` when given (development), otherwise the key in `data_dir`,
/// created on first use.
pub fn load_account(
	uri: Option<&str>,
	data_dir: &Path,
) -> Result<(Keypair, AccountSource), AccountError> {
	if let Some(uri) = uri {
		let parsed: SecretUri =
			uri.parse().map_err(|e| AccountError::Uri(uri.to_string(), format!("{e}")))?;
		let pair = Keypair::from_uri(&parsed)
			.map_err(|e| AccountError::Uri(uri.to_string(), format!("{e}")))?;
		return Ok((pair, AccountSource::DevUri));
	}
	let (pair, created) = load_or_create_key_file(&data_dir.join(ACCOUNT_KEY_FILE))?;
	Ok((pair, if created { AccountSource::NewKeyFile } else { AccountSource::KeyFile }))
}

/// File of the consumer's delegate receipt key (sr25519) in the data dir: it signs usage
/// receipts for the flows this relay originates, so the account key can stay cold.
pub const RECEIPT_KEY_FILE: &str = "receipt.key";

/// The delegate receipt key in `data_dir`, created on first use; whether it was created now.
pub fn load_receipt_key(data_dir: &Path) -> Result<(Keypair, bool), AccountError> {
	load_or_create_key_file(&data_dir.join(RECEIPT_KEY_FILE))
}

/// The sr25519 key in the file at `path` (0600, refused when others can read it), created on
/// first use; whether it was created now.
pub fn load_or_create_key_file(path: &Path) -> Result<(Keypair, bool), AccountError> {
	let path = path.to_path_buf();
	// Two tries: a key another process created at the same moment is read, not replaced.
	for _ in 0..2 {
		match std::fs::read_to_string(&path) {
			Ok(text) => {
				refuse_if_exposed(&path)?;
				// The reason is not shown: it would quote part of the secret.
				let malformed =
					|| AccountError::Malformed(path.clone(), "not 64 hex digits".into());
				let secret = crate::hex::decode32(text.trim()).map_err(|_| malformed())?;
				let pair = Keypair::from_secret_key(secret).map_err(|_| malformed())?;
				return Ok((pair, false));
			}
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
				// A dangling link (a secrets mount not there yet) must not be replaced by a
				// new, unfunded key.
				if std::fs::symlink_metadata(&path).is_ok() {
					return Err(AccountError::Read(path, e));
				}
				if let Some(pair) = create_key(&path)? {
					return Ok((pair, true));
				}
			}
			Err(e) => return Err(AccountError::Read(path, e)),
		}
	}
	Err(AccountError::Read(path, std::io::ErrorKind::NotFound.into()))
}

/// Creates a new key at `path` unless a file appeared there meanwhile (then `None`): the key
/// is written to a file of this process's own, then linked into place, which fails rather
/// than replace a key another process just created.
fn create_key(path: &Path) -> Result<Option<Keypair>, AccountError> {
	use rand::RngCore;
	let mut secret = [0u8; 32];
	rand::rngs::OsRng.fill_bytes(&mut secret);
	let pair = Keypair::from_secret_key(secret)
		.map_err(|e| AccountError::Malformed(path.to_path_buf(), format!("{e}")))?;
	let own = path.with_extension(format!("new-{}", std::process::id()));
	store::write_secret_atomic(&own, crate::hex::encode(&secret).as_bytes())?;
	let linked = std::fs::hard_link(&own, path);
	let _ = std::fs::remove_file(&own);
	match linked {
		Ok(()) => Ok(Some(pair)),
		Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
		Err(e) => Err(AccountError::Read(path.to_path_buf(), e)),
	}
}

#[cfg(unix)]
fn refuse_if_exposed(path: &Path) -> Result<(), AccountError> {
	use std::os::unix::fs::PermissionsExt;
	let mode = std::fs::metadata(path)
		.map_err(|e| AccountError::Read(path.to_path_buf(), e))?
		.permissions()
		.mode();
	if mode & 0o077 != 0 {
		return Err(AccountError::Exposed(path.to_path_buf(), mode & 0o777));
	}
	Ok(())
}

#[cfg(not(unix))]
fn refuse_if_exposed(_: &Path) -> Result<(), AccountError> {
	Ok(())
}

/// The account's SS58 address (prefix 42, as polkadot.js shows it for this chain).
pub fn address(pair: &Keypair) -> String {
	pair.public_key().to_account_id().to_string()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_dev_uri_gives_the_well_known_account() {
		let (charlie, source) = load_account(Some("//Charlie"), Path::new("/nonexistent")).unwrap();
		assert_eq!(source, AccountSource::DevUri);
		assert_eq!(address(&charlie), "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y");
		assert!(matches!(load_account(Some("//"), Path::new("/x")), Err(AccountError::Uri(..))));
	}

	#[test]
	fn the_key_file_is_created_once_private_and_reloaded() {
		let dir = tempfile::tempdir().unwrap();
		let (first, source) = load_account(None, dir.path()).unwrap();
		assert_eq!(source, AccountSource::NewKeyFile);
		let (again, source) = load_account(None, dir.path()).unwrap();
		assert_eq!(source, AccountSource::KeyFile);
		assert_eq!(address(&first), address(&again));
		#[cfg(unix)]
		{
			use std::os::unix::fs::PermissionsExt;
			let path = dir.path().join(ACCOUNT_KEY_FILE);
			assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
			std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
			let refused = load_account(None, dir.path());
			assert!(matches!(refused, Err(AccountError::Exposed(_, 0o644))), "{refused:?}");
		}
	}

	#[cfg(unix)]
	#[test]
	fn a_dangling_link_is_not_replaced_by_a_new_key() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join(ACCOUNT_KEY_FILE);
		std::os::unix::fs::symlink(dir.path().join("not-mounted-yet"), &path).unwrap();
		assert!(matches!(load_account(None, dir.path()), Err(AccountError::Read(..))));
		assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
	}

	#[test]
	fn a_key_file_that_holds_no_key_is_an_error_and_kept() {
		let dir = tempfile::tempdir().unwrap();
		let path = dir.path().join(ACCOUNT_KEY_FILE);
		store::write_secret_atomic(&path, b"not a key").unwrap();
		assert!(matches!(load_account(None, dir.path()), Err(AccountError::Malformed(..))));
		assert_eq!(std::fs::read(&path).unwrap(), b"not a key");
	}
}
