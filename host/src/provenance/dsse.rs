//! DSSE envelopes (Dead Simple Signing Envelope, v1): a payload, its type,
//! and signatures over the pre-authentication encoding of both.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::keys::{SigningKey, VerifyingKey};

/// The payload type of an in-toto Statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// One envelope, as written on a line of a `.intoto.jsonl` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 (standard alphabet) of the payload bytes.
    pub payload: String,
    /// What the payload is.
    pub payload_type: String,
    /// Signatures; empty when the build had no signing key.
    pub signatures: Vec<Signature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Which key made it (see [`VerifyingKey::keyid`]).
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the signature bytes.
    pub sig: String,
}

/// `PAE(type, body)`: what is signed, so that neither the type nor the
/// body can be swapped.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// `payload` of `payload_type`, signed with `key` when given.
    pub fn new(payload_type: &str, payload: &[u8], key: Option<&SigningKey>) -> Self {
        let signatures = key
            .map(|key| Signature {
                keyid: key.verifying_key().keyid(),
                sig: STANDARD.encode(key.sign(&pae(payload_type, payload))),
            })
            .into_iter()
            .collect();
        Envelope {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_string(),
            signatures,
        }
    }

    /// The payload bytes.
    pub fn payload_bytes(&self) -> anyhow::Result<Vec<u8>> {
        STANDARD
            .decode(&self.payload)
            .map_err(|e| anyhow::anyhow!("the envelope's payload is not base64: {e}"))
    }

    /// The payload, if one of the signatures is `key`'s over it.
    pub fn verified_payload(&self, key: &VerifyingKey) -> anyhow::Result<Vec<u8>> {
        let payload = self.payload_bytes()?;
        if self.signatures.is_empty() {
            anyhow::bail!("the envelope is not signed");
        }
        let message = pae(&self.payload_type, &payload);
        let keyid = key.keyid();
        let signed = self.signatures.iter().any(|signature| {
            (signature.keyid.is_empty() || signature.keyid == keyid)
                && STANDARD
                    .decode(&signature.sig)
                    .is_ok_and(|sig| key.verify(&message, &sig))
        });
        if !signed {
            anyhow::bail!(
                "no signature of the envelope verifies with key {keyid} (signed by: {})",
                self.signatures
                    .iter()
                    .map(|s| s.keyid.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pre_authentication_encoding_is_the_specs() {
        // The DSSE protocol's own example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn a_signed_envelope_verifies_and_a_changed_one_does_not() {
        let key = SigningKey::P256(p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap());
        let public = key.verifying_key();
        let envelope = Envelope::new(IN_TOTO, b"{\"a\":1}", Some(&key));
        assert_eq!(envelope.verified_payload(&public).unwrap(), b"{\"a\":1}");

        let mut changed = envelope.clone();
        changed.payload = STANDARD.encode(b"{\"a\":2}");
        assert!(changed.verified_payload(&public).is_err());
        let mut retyped = envelope.clone();
        retyped.payload_type = "text/plain".into();
        assert!(retyped.verified_payload(&public).is_err());

        let unsigned = Envelope::new(IN_TOTO, b"{}", None);
        let error = unsigned.verified_payload(&public).unwrap_err();
        assert!(error.to_string().contains("not signed"), "{error}");
    }
}
