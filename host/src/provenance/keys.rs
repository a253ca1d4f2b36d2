//! The keys provenance is signed and checked with: Ed25519 or ECDSA P-256,
//! read from PEM files (PKCS#8 or SEC1 private keys, SPKI public keys).

use std::path::Path;

use anyhow::{bail, Context};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signer as _, Verifier as _};

/// Why encoding a public key cannot fail: it was decoded or derived, so it
/// is a valid point, and DER or PEM of a valid key is only an allocation.
const ENCODES: &str = "a valid public key encodes as SPKI";

/// A private key that signs DSSE envelopes.
pub enum SigningKey {
    /// Ed25519: 64-byte signatures (RFC 8032).
    Ed25519(ed25519_dalek::SigningKey),
    /// ECDSA over P-256 with SHA-256: DER signatures, deterministic (RFC 6979).
    P256(p256::ecdsa::SigningKey),
}

/// A public key that checks DSSE signatures.
#[derive(Clone)]
pub enum VerifyingKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ECDSA P-256 with SHA-256.
    P256(p256::ecdsa::VerifyingKey),
}

// Never print key material: the key's id says which key it is.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.verifying_key().keyid())
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyingKey({})", self.keyid())
    }
}

fn read_pem(path: &Path, what: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the {what} {}", path.display()))?;
    if !text.contains("-----BEGIN ") {
        bail!("{}: the {what} is not a PEM file", path.display());
    }
    Ok(text)
}

impl SigningKey {
    /// The private key in the PEM file at `path`.
    pub fn from_pem_file(path: &Path) -> anyhow::Result<Self> {
        let text = read_pem(path, "signing key")?;
        Self::from_pem(&text).with_context(|| {
            format!(
                "{}: not an Ed25519 or ECDSA P-256 private key (PKCS#8 `PRIVATE KEY` or SEC1 \
                 `EC PRIVATE KEY` PEM); make one with \
                 `openssl genpkey -algorithm ed25519 -out key.pem`",
                path.display()
            )
        })
    }

    /// The private key in PEM `text`.
    pub fn from_pem(text: &str) -> anyhow::Result<Self> {
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            bail!("the key is encrypted; builder reads unencrypted keys only");
        }
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            return Ok(Self::Ed25519(key));
        }
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(text) {
            return Ok(Self::P256(key));
        }
        if let Ok(secret) = p256::SecretKey::from_sec1_pem(text) {
            return Ok(Self::P256(secret.into()));
        }
        bail!("no key builder can sign with")
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            Self::Ed25519(key) => VerifyingKey::Ed25519(key.verifying_key()),
            Self::P256(key) => VerifyingKey::P256(*key.verifying_key()),
        }
    }

    /// The signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
            Self::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
        }
    }
}

impl VerifyingKey {
    /// The public key in the PEM file at `path` (a private key gives its
    /// public half).
    pub fn from_pem_file(path: &Path) -> anyhow::Result<Self> {
        let text = read_pem(path, "key")?;
        Self::from_pem(&text).with_context(|| {
            format!(
                "{}: not an Ed25519 or ECDSA P-256 key (SPKI `PUBLIC KEY` PEM, as \
                 `openssl pkey -pubout` writes it)",
                path.display()
            )
        })
    }

    /// The public key in PEM `text`.
    pub fn from_pem(text: &str) -> anyhow::Result<Self> {
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(text) {
            return Ok(Self::Ed25519(key));
        }
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(text) {
            return Ok(Self::P256(key));
        }
        Ok(SigningKey::from_pem(text)?.verifying_key())
    }

    /// The key's SubjectPublicKeyInfo, DER.
    fn spki_der(&self) -> Vec<u8> {
        use p256::pkcs8::EncodePublicKey as _;
        match self {
            Self::Ed25519(key) => key.to_public_key_der().expect(ENCODES).as_bytes().to_vec(),
            Self::P256(key) => key.to_public_key_der().expect(ENCODES).as_bytes().to_vec(),
        }
    }

    /// The key id written with signatures: the lower-case hex SHA-256 of
    /// the key's SubjectPublicKeyInfo (DER).
    pub fn keyid(&self) -> String {
        crate::toolbox::sha256_hex(&self.spki_der())
    }

    /// The key as an SPKI PEM document.
    pub fn to_pem(&self) -> String {
        use p256::pkcs8::{EncodePublicKey as _, LineEnding};
        match self {
            Self::Ed25519(key) => key.to_public_key_pem(LineEnding::LF).expect(ENCODES),
            Self::P256(key) => key.to_public_key_pem(LineEnding::LF).expect(ENCODES),
        }
    }

    /// The name of its scheme, as securesystemslib names it.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => "ed25519",
            Self::P256(_) => "ecdsa-sha2-nistp256",
        }
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            Self::P256(key) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed Ed25519 key (RFC 8032, test 1) as PKCS#8 PEM.
    fn ed25519() -> SigningKey {
        SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ]))
    }

    fn p256() -> SigningKey {
        SigningKey::P256(p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap())
    }

    #[test]
    fn each_key_verifies_its_own_signature_and_no_other() {
        for key in [ed25519(), p256()] {
            let public = key.verifying_key();
            let signature = key.sign(b"message");
            assert!(public.verify(b"message", &signature), "{public:?}");
            assert!(!public.verify(b"messagf", &signature), "{public:?}");
            // Deterministic: the same bytes on every build.
            assert_eq!(signature, key.sign(b"message"));
        }
        let (a, b) = (ed25519(), p256());
        assert!(!b.verifying_key().verify(b"m", &a.sign(b"m")));
        assert!(!a.verifying_key().verify(b"m", &b.sign(b"m")));
    }

    #[test]
    fn public_keys_round_trip_through_pem_with_the_same_id() {
        for key in [ed25519(), p256()] {
            let public = key.verifying_key();
            let again = VerifyingKey::from_pem(&public.to_pem()).unwrap();
            assert_eq!(again.keyid(), public.keyid());
            assert_eq!(public.keyid().len(), 64);
        }
        assert_ne!(
            ed25519().verifying_key().keyid(),
            p256().verifying_key().keyid()
        );
    }

    #[test]
    fn what_is_not_a_key_is_refused_without_showing_it() {
        let error = SigningKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(!format!("{error:#}").contains("c2VjcmV0"), "{error:#}");
        assert!(VerifyingKey::from_pem("hello").is_err());
    }
}
