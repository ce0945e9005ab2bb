//! Recognises TLS records on a connection's syscall bytes, so ciphertext
//! that reached the agent (a handshake sent before the kernel tied the
//! socket to its TLS library, or a library swit does not hook) is set
//! aside instead of being fed to protocol detection.

/// Largest record length the TLS specifications allow (2^14 plus 2048 of
/// expansion): a longer "length" means these are not TLS records.
const MAX_RECORD: usize = (1 << 14) + 2048;

/// Whether `b` starts with a TLS record header: content type 20..=23
/// (change_cipher_spec, alert, handshake, application_data), version 3.0
/// to 3.4 (SSL 3.0 to TLS 1.3), and, once known, a plausible length.
pub fn looks_like_record(b: &[u8]) -> bool {
    let [ty, major, minor, rest @ ..] = b else {
        return false;
    };
    if !(0x14..=0x17).contains(ty) || *major != 3 || *minor > 4 {
        return false;
    }
    match rest {
        [hi, lo, ..] => {
            let len = u16::from_be_bytes([*hi, *lo]) as usize;
            len > 0 && len <= MAX_RECORD
        }
        _ => true,
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
