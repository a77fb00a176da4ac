//! The server secret: `CANDOR_PII_KEY` (base64, 32 bytes), or a key generated once into the
//! data directory with mode 0600 (with a warning: several collectors must share one key).
//! Keys derived from it (HMAC-SHA256 with a purpose label) hash first-party ids into
//! per-site visitor keys and encrypt lead contact details.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

pub struct Keys {
    master: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

impl Keys {
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Keys, KeyError> {
        if let Some(b64) = configured {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| KeyError::File {
                    path: "CANDOR_PII_KEY".into(),
                    message: e.to_string(),
                })?;
            let master: [u8; 32] = bytes.try_into().map_err(|_| KeyError::File {
                path: "CANDOR_PII_KEY".into(),
                message: "expected 32 bytes".into(),
            })?;
            return Ok(Keys { master });
        }
        let path = data_dir.join("pii.key");
        let err = |message: String| KeyError::File {
            path: path.display().to_string(),
            message,
        };
        if let Ok(text) = std::fs::read_to_string(&path) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| err(e.to_string()))?;
            let master: [u8; 32] = bytes
                .try_into()
                .map_err(|_| err("expected 32 bytes".into()))?;
            return Ok(Keys { master });
        }
        let mut master = [0u8; 32];
        SystemRandom::new()
            .fill(&mut master)
            .map_err(|_| err("no random source".into()))?;
        std::fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&path).map_err(|e| err(e.to_string()))?;
        f.write_all(
            base64::engine::general_purpose::STANDARD
                .encode(master)
                .as_bytes(),
        )
        .and_then(|_| f.sync_all())
        .map_err(|e| err(e.to_string()))?;
        tracing::warn!(path = %path.display(), "generated a server key; set CANDOR_PII_KEY to share one key between collectors and keep a backup");
        Ok(Keys { master })
    }

    /// A key for one purpose, derived from the master key.
    pub fn derive(&self, purpose: &str) -> hmac::Key {
        let k = hmac::Key::new(hmac::HMAC_SHA256, &self.master);
        let tag = hmac::sign(&k, purpose.as_bytes());
        hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref())
    }

    /// The stable, per-site key of a first-party id (marketing consent only).
    pub fn visitor_key(&self, site: &str, vid: &str) -> String {
        let k = self.derive(&format!("visitor-key/{site}"));
        hex::encode(&hmac::sign(&k, vid.as_bytes()).as_ref()[..16])
    }

    /// Raw key material for AEAD encryption (lead contact details).
    pub fn aead_key(&self, purpose: &str) -> [u8; 32] {
        let k = hmac::Key::new(hmac::HMAC_SHA256, &self.master);
        let tag = hmac::sign(&k, format!("aead/{purpose}").as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keys::load(None, dir.path()).unwrap();
        let b = Keys::load(None, dir.path()).unwrap();
        assert_eq!(a.visitor_key("x.com", "v1"), b.visitor_key("x.com", "v1"));
        assert_ne!(
            a.visitor_key("x.com", "v1"),
            a.visitor_key("y.com", "v1"),
            "keys differ per site"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("pii.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
