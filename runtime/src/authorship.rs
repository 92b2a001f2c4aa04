//! Who authored a block, as an account.
//!
//! Aura seals blocks with an sr25519 authority key; the fee split and validator payouts want
//! the AccountId32 that earns. Until a session pallet manages validators, the authority's
//! public key *is* its account (as for the dev keys `//Alice`, `//Bob`).

use crate::{AccountId, Runtime};
use frame_support::traits::FindAuthor;
use sp_runtime::ConsensusEngineId;

/// `FindAuthor` that returns the account of the Aura authority who sealed the block.
pub struct AuraAuthorAccount;

impl FindAuthor<AccountId> for AuraAuthorAccount {
	fn find_author<'a, I>(digests: I) -> Option<AccountId>
	where
		I: 'a + IntoIterator<Item = (ConsensusEngineId, &'a [u8])>,
	{
		let authority = pallet_aura::FindAccountFromAuthorIndex::<
			Runtime,
			pallet_aura::Pallet<Runtime>,
		>::find_author(digests)?;
		let raw: &[u8] = authority.as_ref();
		AccountId::try_from(raw).ok()
	}
}
