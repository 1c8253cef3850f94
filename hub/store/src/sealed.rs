//! Camera passwords sealed at rest.
//!
//! The hub must give a camera its password (RTSP Digest needs it in clear), so it cannot keep
//! only a hash as it does for people. It keeps it sealed with ChaCha20-Poly1305 under a key
//! that lives outside the database (`GRIDWATCH_SECRET_KEY`, or a `0600` key file the hub
//! makes in its data directory): a copied database file or a PostgreSQL backup does not give
//! away the cameras. The camera's id is the associated data, so a sealed password copied onto
//! another camera's row does not open.
//!
//! Stored form: `gw1:` + base64(nonce ‖ ciphertext ‖ tag). A value without the prefix is a
//! password stored before sealing; it is read as is and sealed by
//! [`Store::seal_plain_credentials`](crate::Store::seal_plain_credentials) at start-up.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

const PREFIX: &str = "gw1:";
const NONCE_LEN: usize = 12;

/// The key camera passwords are sealed with: 32 bytes.
#[derive(Clone)]
pub struct CredentialKey(Key);

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialKey(…)")
    }
}

/// Why a key or a sealed value is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("a secret key is 64 hexadecimal digits (32 bytes)")]
    BadKey,
    #[error("sealed with another key than this hub's (GRIDWATCH_SECRET_KEY or its key file)")]
    WrongKey,
    #[error("sealed, and this hub has no secret key to open it")]
    NoKey,
    #[error("not a sealed value")]
    Malformed,
}

impl CredentialKey {
    /// A new random key.
    pub fn generate() -> CredentialKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        CredentialKey(k.into())
    }

    /// From 64 hexadecimal digits (surrounding white space ignored).
    pub fn from_hex(s: &str) -> Result<CredentialKey, SealError> {
        let bytes = hex::decode(s.trim()).map_err(|_| SealError::BadKey)?;
        let k: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(CredentialKey(k.into()))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `plain` sealed for the record `bound_to`.
    pub fn seal(&self, plain: &str, bound_to: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = ChaCha20Poly1305::new(&self.0)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: bound_to.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 seals any message under 256 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        )
    }
}

/// Whether a stored value is sealed (else it is a password stored before sealing).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The password in `stored`, for the record `bound_to`.
pub fn open(
    key: Option<&CredentialKey>,
    stored: &str,
    bound_to: &str,
) -> Result<String, SealError> {
    let Some(body) = stored.strip_prefix(PREFIX) else {
        return Ok(stored.to_string());
    };
    let key = key.ok_or(SealError::NoKey)?;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(body)
        .map_err(|_| SealError::Malformed)?;
    if bytes.len() < NONCE_LEN {
        return Err(SealError::Malformed);
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let plain = ChaCha20Poly1305::new(&key.0)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: bound_to.as_bytes(),
            },
        )
        .map_err(|_| SealError::WrongKey)?;
    String::from_utf8(plain).map_err(|_| SealError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_password_opens_with_its_key_and_camera_only() {
        let key = CredentialKey::generate();
        let sealed = key.seal("12345-admin", "cam-1");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("12345"), "{sealed}");
        assert_eq!(open(Some(&key), &sealed, "cam-1").unwrap(), "12345-admin");
        assert_eq!(open(Some(&key), &sealed, "cam-2"), Err(SealError::WrongKey));
        let other = CredentialKey::generate();
        assert_eq!(
            open(Some(&other), &sealed, "cam-1"),
            Err(SealError::WrongKey)
        );
        assert_eq!(open(None, &sealed, "cam-1"), Err(SealError::NoKey));
        assert_ne!(
            key.seal("12345-admin", "cam-1"),
            sealed,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn plain_values_from_before_are_read_as_they_are() {
        assert_eq!(open(None, "old-password", "cam-1").unwrap(), "old-password");
        assert_eq!(
            open(Some(&CredentialKey::generate()), "gw1:!!", "c"),
            Err(SealError::Malformed)
        );
    }

    #[test]
    fn keys_are_64_hex_digits() {
        let key = CredentialKey::generate();
        let again = CredentialKey::from_hex(&format!(" {}\n", key.to_hex())).unwrap();
        let sealed = key.seal("pw", "c");
        assert_eq!(open(Some(&again), &sealed, "c").unwrap(), "pw");
        assert_eq!(
            CredentialKey::from_hex("abcd").unwrap_err(),
            SealError::BadKey
        );
        assert_eq!(
            CredentialKey::from_hex(&"zz".repeat(32)).unwrap_err(),
            SealError::BadKey
        );
    }
}
