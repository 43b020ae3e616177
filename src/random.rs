//! Random tokens from the operating system: secrets, claim tokens, ids.

fn bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

/// `len` random bytes as lower-case hex (2 × `len` characters).
pub fn hex(len: usize) -> String {
    hex::encode(bytes(len))
}

/// `len` characters of base62, the alphabet of Stripe-style id tails.
pub fn base62(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    bytes(len)
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lengths_and_alphabets() {
        let h = super::hex(16);
        assert_eq!(h.len(), 32);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        let b = super::base62(24);
        assert_eq!(b.len(), 24);
        assert!(b.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(super::hex(16), super::hex(16));
    }
}
