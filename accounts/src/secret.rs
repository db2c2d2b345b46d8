//! Device secrets: generating them, hashing them for storage, and checking a presented one.
//!
//! A secret is 32 bytes from the operating system's RNG, shown once as base64url without
//! padding (43 characters) and used as the MQTT password. Only `sha256:<hex>` of the password
//! is stored. A slow KDF (argon2, scrypt) protects guessable human passwords; these secrets
//! have 256 bits of entropy, so one SHA-256 already makes a leaked hash useless and keeps
//! CONNECT cheap. The `sha256:` prefix names the scheme so that it can change later.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Number of random bytes in a device secret.
const SECRET_BYTES: usize = 32;

/// Prefix of the stored hashes this module writes and understands.
const SCHEME_PREFIX: &str = "sha256:";

/// What [`hash`] returns for no password in particular: compared against when the username is
/// unknown, so that an unknown username costs the same work as a wrong password.
pub(crate) const DUMMY_HASH: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// A freshly generated secret: the password to hand out once, and the hash to store.
pub(crate) struct NewSecret {
    /// The MQTT password, base64url without padding.
    pub(crate) password: SecretString,
    /// `sha256:<hex>` of the password, for `devices.secret_hash`.
    pub(crate) hash: String,
}

/// Generates a new device secret from the operating system's RNG.
///
/// # Errors
/// [`Error::GenerateSecret`] when the operating system cannot provide randomness.
pub(crate) fn generate() -> Result<NewSecret> {
    let mut bytes = [0_u8; SECRET_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(Error::GenerateSecret)?;
    let password = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(password.as_bytes());
    Ok(NewSecret {
        password: SecretString::from(password),
        hash,
    })
}

/// The stored form of `password`: `sha256:` and the lowercase hex digest.
pub(crate) fn hash(password: &[u8]) -> String {
    format!("{SCHEME_PREFIX}{}", hex::encode(Sha256::digest(password)))
}

/// Whether `presented_hash` (from [`hash`]) equals `stored_hash`, in time independent of
/// where they differ. A stored hash of another scheme never matches.
pub(crate) fn matches(presented_hash: &str, stored_hash: &str) -> bool {
    constant_time_eq(presented_hash.as_bytes(), stored_hash.as_bytes())
}

/// Compares two byte strings without an early exit; only the lengths (public: every hash of
/// one scheme has the same length) can shorten the work.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let difference = left
        .iter()
        .zip(right)
        .fold(0_u8, |acc, (l, r)| acc | (l ^ r));
    // black_box keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn secrets_are_43_base64url_characters_and_unique() {
        let first = generate().expect("generating a secret");
        let second = generate().expect("generating a secret");
        let password = first.password.expose_secret();
        assert_eq!(password.len(), 43);
        assert!(
            password
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(password, second.password.expose_secret());
    }

    #[test]
    fn the_stored_hash_is_sha256_hex_of_the_password() {
        let secret = generate().expect("generating a secret");
        let password = secret.password.expose_secret();
        assert!(secret.hash.starts_with("sha256:"));
        assert_eq!(secret.hash.len(), "sha256:".len() + 64);
        assert!(!secret.hash.contains(password));
        assert_eq!(secret.hash, hash(password.as_bytes()));
        // The SHA-256 test vector for "abc".
        assert_eq!(
            hash(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_equal_hashes_match() {
        let hashed = hash(b"secret");
        assert!(matches(&hashed, &hashed.clone()));
        assert!(!matches(&hash(b"Secret"), &hashed));
        assert!(!matches(&hashed, DUMMY_HASH));
        assert!(!matches(
            &hashed,
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
        ));
        assert!(!matches(&hashed, ""));
        assert_eq!(DUMMY_HASH.len(), hashed.len());
    }
}
