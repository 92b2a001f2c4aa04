//! # srwan primitives
//!
//! What the runtime, the node and the relay agent share, in `no_std` SCALE form so that all
//! three agree byte for byte: the currency and its units, the DITEX's vocabulary (endpoints,
//! geo, measurement rows, premium windows), usage receipts and claims with their signing
//! payload, path computation (`routing`), the traits through which the pallets use each
//! other (`traits`) and the runtime APIs relays and wallets call (`api`).

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "api")]
pub mod api;
pub mod currency;
pub mod ditex;
pub mod receipts;
pub mod routing;
#[cfg(feature = "std")]
pub mod serde_balance;
#[cfg(feature = "traits")]
pub mod traits;
