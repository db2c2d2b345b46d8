//! One-time codes: six digits from the operating system's RNG, and their stored form.
//!
//! A code is stored as `sha256:<hex>` of `pepper \0 phone \0 code` (the `secret` module's
//! scheme over that input). Binding the phone means a hash cannot be replayed for another
//! number; the pepper (`accounts.code_pepper`) means a leaked table alone cannot be brute
//! forced over the million possible codes. Codes live minutes, so no slow KDF.

use rand::TryRngCore;
use rand::rngs::OsRng;

use crate::error::{Error, Result};
use crate::secret;

/// Number of digits in a code.
pub(crate) const CODE_DIGITS: usize = 6;

/// Draws a uniformly distributed six-digit code (leading zeros kept).
///
/// # Errors
/// [`Error::GenerateSecret`] when the operating system cannot provide randomness.
pub(crate) fn generate() -> Result<String> {
    // The largest multiple of 10^6 below 2^32: drawing below it keeps every code equally likely.
    const BOUND: u32 = 4_294_000_000;
    loop {
        let draw = OsRng.try_next_u32().map_err(Error::GenerateSecret)?;
        if draw < BOUND {
            return Ok(format!("{:06}", draw % 1_000_000));
        }
    }
}

/// The stored form of `code` for `phone`.
pub(crate) fn hash(pepper: &[u8], phone: &str, code: &str) -> String {
    let mut input = Vec::with_capacity(pepper.len() + phone.len() + code.len() + 2);
    input.extend_from_slice(pepper);
    input.push(0);
    input.extend_from_slice(phone.as_bytes());
    input.push(0);
    input.extend_from_slice(code.as_bytes());
    secret::hash(&input)
}

/// Whether `code` is shaped like one (six ASCII digits); spaces and dashes a person types
/// between digits are removed first. Returns the digits.
pub(crate) fn clean(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (digits.len() == CODE_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Whether `code` hashes to `stored_hash`, compared in constant time.
pub(crate) fn matches(pepper: &[u8], phone: &str, code: &str, stored_hash: &str) -> bool {
    secret::matches(&hash(pepper, phone, code), stored_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let code = generate().expect("generating a code");
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn hashes_bind_the_phone_and_the_pepper() {
        let stored = hash(b"pepper", "+15551230001", "123456");
        assert!(matches(b"pepper", "+15551230001", "123456", &stored));
        assert!(!matches(b"pepper", "+15551230002", "123456", &stored));
        assert!(!matches(b"other", "+15551230001", "123456", &stored));
        assert!(!matches(b"pepper", "+15551230001", "123457", &stored));
        assert!(!stored.contains("123456"));
    }

    #[test]
    fn codes_are_cleaned_of_separators() {
        assert_eq!(clean("123 456").as_deref(), Some("123456"));
        assert_eq!(clean("123-456").as_deref(), Some("123456"));
        assert_eq!(clean("12345"), None);
        assert_eq!(clean("12345a"), None);
        assert_eq!(clean("１２３４５６"), None);
    }
}
