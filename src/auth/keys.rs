//! The token-signing key: the built-in, documented test key by default, or a generated key
//! persisted at `--key-file` (stable for a given seed). It signs every token the emulator
//! mints, verifies every bearer token Graph routes receive, and is published as the tenant's
//! JWKS (the `jwks_uri` of https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};

const TEST_SIGNING_KEY_PEM: &str = include_str!("test-signing-key.pem");
/// Key id of the built-in test key (also its `x5t`, as v1 tokens carry both).
pub const TEST_KEY_ID: &str = "entitlement-emulator-test-key-1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the signing key {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot write the signing key {path}: {message}")]
    Write { path: String, message: String },
    #[error("the signing key is not an RSA private key in PKCS#8 PEM: {0}")]
    Parse(String),
    #[error("cannot generate a signing key: {0}")]
    Generate(String),
}

/// An RSA key pair with its key id, ready to sign and verify RS256.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    modulus: String,
    exponent: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The built-in test key: protects nothing (it is in the source), exists so every instance
    /// and every test agrees on signatures without any set-up, like Azurite's account key.
    pub fn builtin() -> Self {
        // The PEM is part of the binary and covered by a unit test, so this cannot fail at
        // run time unless the source itself is broken.
        Self::from_pem(TEST_SIGNING_KEY_PEM, Some(TEST_KEY_ID))
            .unwrap_or_else(|e| panic!("built-in test key: {e}"))
    }

    /// Loads the key at `path`, or generates one there (2048-bit RSA, from `seed` when given so
    /// a seeded run always gets the same key) and persists it, so tokens survive restarts.
    pub fn load_or_generate(path: &Path, seed: Option<u64>) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        if path.exists() {
            let pem = std::fs::read_to_string(path).map_err(|e| KeyError::Read {
                path: shown,
                message: e.to_string(),
            })?;
            return Self::from_pem(&pem, None);
        }
        use rand_chacha_03::rand_core::SeedableRng;
        let seed = seed.unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
        let mut rng = rand_chacha_03::ChaCha20Rng::seed_from_u64(seed);
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        crate::files::write_private(path, pem.as_bytes()).map_err(|e| KeyError::Write {
            path: shown,
            message: e.to_string(),
        })?;
        Self::from_pem(&pem, None)
    }

    /// `kid` = the given id, or one derived from the modulus so a key file always publishes
    /// the same id.
    fn from_pem(pem: &str, kid: Option<&str>) -> Result<Self, KeyError> {
        let key =
            rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| KeyError::Parse(e.to_string()))?;
        let n = key.n().to_bytes_be();
        let e = key.e().to_bytes_be();
        let modulus = URL_SAFE_NO_PAD.encode(&n);
        let exponent = URL_SAFE_NO_PAD.encode(&e);
        let kid = kid.map(str::to_string).unwrap_or_else(|| {
            use sha2::Digest;
            URL_SAFE_NO_PAD.encode(&sha2::Sha256::digest(&n)[..20])
        });
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| KeyError::Parse(e.to_string()))?;
        Ok(SigningKey {
            kid,
            encoding,
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            modulus,
            exponent,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs claims as an RS256 JWT with `kid` and `x5t`, Entra's header for v1 tokens.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.kid.clone());
        header.x5t = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// Whether `token` is a compact JWT signed RS256 by this key (claims are not looked at).
    pub fn verifies(&self, token: &str) -> bool {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return false;
        };
        if header.alg != Algorithm::RS256 || header.kid.as_deref().is_some_and(|k| k != self.kid) {
            return false;
        }
        let Some((message, signature)) = token.rsplit_once('.') else {
            return false;
        };
        jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &self.decoding,
            Algorithm::RS256,
        )
        .unwrap_or(false)
    }

    /// The JWKS document (`/discovery/v2.0/keys`), in Entra's key shape.
    pub fn jwks(&self, issuer: &str) -> Value {
        json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": self.modulus,
            "e": self.exponent,
            "issuer": issuer,
        }]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Map<String, Value> {
        json!({"aud": "x", "exp": 4_000_000_000_i64})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn the_builtin_key_signs_what_it_verifies() {
        let key = SigningKey::builtin();
        let token = key.sign(&claims()).unwrap();
        assert!(key.verifies(&token));
        let (head, _) = token.rsplit_once('.').unwrap();
        assert!(!key.verifies(&format!("{head}.AAAA")), "a forged signature");
        assert!(!key.verifies("not.a.jwt"));
    }

    #[test]
    fn a_seeded_key_file_is_stable_and_distinct_from_the_builtin_key() {
        let dir = std::env::temp_dir().join(format!("em-key-{}", std::process::id()));
        let (a, b) = (dir.join("a.pem"), dir.join("b.pem"));
        let first = SigningKey::load_or_generate(&a, Some(7)).unwrap();
        let again = SigningKey::load_or_generate(&a, None).unwrap();
        assert_eq!(first.kid(), again.kid(), "loaded back from the file");
        let same_seed = SigningKey::load_or_generate(&b, Some(7)).unwrap();
        assert_eq!(first.kid(), same_seed.kid(), "same seed, same key");
        let token = first.sign(&claims()).unwrap();
        assert!(same_seed.verifies(&token));
        assert!(!SigningKey::builtin().verifies(&token));
        let _ = std::fs::remove_dir_all(dir);
    }
}
