//! Authenticated encryption of contact details: AES-256-GCM (ring) with a random 96-bit nonce
//! per value, stored as base64(nonce ‖ ciphertext ‖ tag).

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer {
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key")),
            rng: SystemRandom::new(),
        }
    }

    pub fn random<const N: usize>(&self) -> [u8; N] {
        let mut b = [0u8; N];
        self.rng
            .fill(&mut b)
            .expect("operating system random source");
        b
    }

    pub fn seal(&self, plaintext: &[u8]) -> String {
        let nonce_bytes = self.random::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::empty(),
                &mut buf,
            )
            .expect("AES-GCM sealing of a short value");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        if sealed.is_empty() {
            return Some(Vec::new());
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()?;
        if data.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = data.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ct.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::empty(), &mut buf).ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_key_and_never_repeat() {
        let s = Sealer::new(&[7u8; 32]);
        let a = s.seal(b"ada@example.com");
        let b = s.seal(b"ada@example.com");
        assert_ne!(a, b, "random nonces");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&a)
            .unwrap();
        assert!(
            !raw.windows(15).any(|w| w == b"ada@example.com"),
            "the plaintext is not in the sealed bytes"
        );
        assert_eq!(s.open(&a).unwrap(), b"ada@example.com");
        assert!(Sealer::new(&[8u8; 32]).open(&a).is_none());
        let mut tampered = base64::engine::general_purpose::STANDARD
            .decode(&a)
            .unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(s
            .open(&base64::engine::general_purpose::STANDARD.encode(tampered))
            .is_none());
    }
}
