//! Balances in JSON as decimal strings: a u128 does not fit a JavaScript number, and wallets
//! (polkadot.js) read strings into `BN` without loss.

use alloc::string::{String, ToString};
use serde::{de::Error, Deserialize, Deserializer, Serializer};

/// Writes a balance as a decimal string.
pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
	serializer.serialize_str(&value.to_string())
}

/// Reads a balance from a decimal string.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
	let text = String::deserialize(deserializer)?;
	text.parse().map_err(|_| D::Error::custom("a balance is a decimal string of a u128"))
}

/// The same for `Option<u128>` (`null` for `None`).
pub mod option {
	use super::*;

	/// Writes an optional balance as a decimal string or `null`.
	pub fn serialize<S: Serializer>(
		value: &Option<u128>,
		serializer: S,
	) -> Result<S::Ok, S::Error> {
		match value {
			Some(value) => super::serialize(value, serializer),
			None => serializer.serialize_none(),
		}
	}

	/// Reads an optional balance from a decimal string or `null`.
	pub fn deserialize<'de, D: Deserializer<'de>>(
		deserializer: D,
	) -> Result<Option<u128>, D::Error> {
		Option::<String>::deserialize(deserializer)?
			.map(|text| text.parse().map_err(|_| D::Error::custom("a balance is a decimal string")))
			.transpose()
	}
}

#[cfg(test)]
mod tests {
	#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
	struct Amounts {
		#[serde(with = "super")]
		a: u128,
		#[serde(with = "super::option")]
		b: Option<u128>,
	}

	#[test]
	fn balances_round_trip_as_strings() {
		let amounts = Amounts { a: u128::MAX, b: None };
		let json = serde_json::to_string(&amounts).unwrap();
		assert_eq!(json, format!(r#"{{"a":"{}","b":null}}"#, u128::MAX));
		assert_eq!(serde_json::from_str::<Amounts>(&json).unwrap(), amounts);
		assert!(serde_json::from_str::<Amounts>(r#"{"a":"-1","b":null}"#).is_err());
	}
}
