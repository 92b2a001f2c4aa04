//! Who authored a block, as an account.
//!
//! Aura's pre-runtime digest names the authority by its index in the set that sealed the
//! block; pallet-session's validators, in the same order, are the accounts that earn. The
//! fee split and the validator set count blocks through pallet-authorship with it, whose hooks
//! run before Session's (index 7 < 31): at a session boundary the block is credited by the set
//! that sealed it, before the session rotates.

use crate::{Aura, Runtime};

/// `FindAuthor` that returns the account of the validator who sealed the block.
pub type BlockAuthor = pallet_session::FindAccountFromAuthorIndex<Runtime, Aura>;
