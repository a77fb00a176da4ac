//! The server secret: `CANDOR_PII_KEY` (base64, 32 bytes), or a key generated once into the
//! data directory with mode 0600 (with a warning: several collectors must share one key, as
//! they share the sealed visitor-id salts and lead details through the store). The data
//! directory itself is made private (0700): it holds the key, the spool and the embedded store.
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
            restrict(&path, 0o600);
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
        create_private_dir(data_dir).map_err(|e| err(e.to_string()))?;
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
}

/// Creates `dir` (and missing parents) readable by the service user only (0700). A directory
/// that already exists with access for others is narrowed to 0700 with a warning (an earlier
/// version created it with the default umask).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    restrict(dir, 0o700);
    Ok(())
}

/// Takes group and other permissions away from `path` (to `mode`), warning when it had any.
/// A failure is logged, not fatal: the path may belong to another user by design.
fn restrict(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let current = meta.permissions().mode() & 0o7777;
        if current & 0o077 == 0 {
            return;
        }
        if current & 0o1000 != 0 {
            // A sticky, shared directory such as /tmp chosen as the data directory: never
            // narrow that, only say so.
            tracing::warn!(path = %path.display(), "the data directory is a shared directory; use a directory of its own");
            return;
        }
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
            Ok(()) => {
                tracing::warn!(path = %path.display(), from = format!("{current:o}"), to = format!("{mode:o}"), "narrowed permissions: only the service user may read this")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "readable by other users and cannot be narrowed")
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

impl Keys {
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

    #[cfg(unix)]
    #[test]
    fn a_data_directory_and_key_open_to_others_are_narrowed() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a").join("data");
        create_private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700, "created private");
        // As an earlier version left them: the default umask.
        let dir = root.path().join("old");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Keys::load(None, &dir).unwrap();
        let key = dir.join("pii.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let before = Keys::load(None, &dir).unwrap().visitor_key("x.com", "v");
        assert_eq!(mode(&key), 0o600, "key file narrowed");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "data directory narrowed");
        assert_eq!(
            Keys::load(None, &dir).unwrap().visitor_key("x.com", "v"),
            before,
            "the same key"
        );
    }
}
