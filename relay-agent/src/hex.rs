//! Hex encoding of ids and keys (lowercase, optional `0x` on input).

/// Lowercase hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
	const DIGITS: &[u8; 16] = b"0123456789abcdef";
	let mut out = String::with_capacity(bytes.len() * 2);
	for b in bytes {
		out.push(char::from(DIGITS[usize::from(b >> 4)]));
		out.push(char::from(DIGITS[usize::from(b & 0xf)]));
	}
	out
}

/// Parses exactly 32 bytes of hex, with or without `0x`.
pub fn decode32(text: &str) -> Result<[u8; 32], String> {
	let digits = text.strip_prefix("0x").unwrap_or(text);
	if digits.len() != 64 {
		return Err(format!("expected 64 hex digits, got {}", digits.len()));
	}
	let mut out = [0u8; 32];
	out.copy_from_slice(&decode(digits)?);
	Ok(out)
}

/// Parses hex of any even length, with or without `0x`.
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
	let digits = text.strip_prefix("0x").unwrap_or(text);
	if !digits.len().is_multiple_of(2) {
		return Err(format!("an odd number of hex digits ({})", digits.len()));
	}
	(0..digits.len() / 2)
		.map(|i| {
			let pair = digits.get(2 * i..2 * i + 2).ok_or("not ASCII hex")?;
			u8::from_str_radix(pair, 16).map_err(|_| format!("{pair:?} is not hex"))
		})
		.collect()
}

#[cfg(test)]
mod tests {
	#[test]
	fn round_trip() {
		let bytes = [0xab; 32];
		assert_eq!(super::decode32(&super::encode(&bytes)), Ok(bytes));
		assert_eq!(super::decode32(&format!("0x{}", super::encode(&bytes))), Ok(bytes));
		assert!(super::decode32("0x01").is_err());
		assert!(super::decode32(&"g".repeat(64)).is_err());
		assert_eq!(super::decode("0x01ff"), Ok(vec![1, 255]));
		assert!(super::decode("012").is_err());
	}
}
