//! Lowercase hex of bytes: how flowrex writes every hash it prints or stores (data, playbooks,
//! audit chains, agent runs).

/// `bytes` as lowercase hex, two digits a byte. From a table: a `format!` per byte was a third of a
/// short audit row's hash time.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: high nibble first, every digit, no separators.
    #[test]
    fn two_lowercase_digits_a_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        let all: Vec<u8> = (0..16).map(|d| d * 17).collect();
        assert_eq!(hex(&all), "00112233445566778899aabbccddeeff");
    }
}
