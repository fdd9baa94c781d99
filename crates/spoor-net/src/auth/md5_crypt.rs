//! MD5-crypt, the password hash of Apache's `htpasswd -m` (`$apr1$`) and of old glibc (`$1$`):
//! the two differ only in their prefix. Needed to read existing htpasswd files, not to write
//! new ones: MD5-crypt is weak, and bcrypt is the hash to recommend.

use md5::{Digest, Md5};

const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The full hash string, `{magic}{salt}${22 characters}`; `magic` is `$apr1$` or `$1$`, and
/// `salt` is at most 8 characters.
pub(crate) fn md5_crypt(password: &[u8], magic: &str, salt: &str) -> String {
    let salt = &salt.as_bytes()[..salt.len().min(8)];
    let digest = stretch(password, magic.as_bytes(), salt);
    let mut out = String::with_capacity(magic.len() + salt.len() + 23);
    out.push_str(magic);
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        push_base64(&mut out, (u32::from(digest[a]) << 16) | (u32::from(digest[b]) << 8) | u32::from(digest[c]), 4);
    }
    push_base64(&mut out, u32::from(digest[11]), 2);
    out
}

fn stretch(password: &[u8], magic: &[u8], salt: &[u8]) -> [u8; 16] {
    let alternate: [u8; 16] =
        Md5::new().chain_update(password).chain_update(salt).chain_update(password).finalize().into();
    let mut context = Md5::new().chain_update(password).chain_update(magic).chain_update(salt);
    for chunk in password.chunks(16) {
        context.update(&alternate[..chunk.len()]);
    }
    let mut length = password.len();
    while length != 0 {
        // The algorithm's quirk: a zero byte for set bits, the first password byte otherwise.
        if length & 1 == 1 {
            context.update([0u8]);
        } else {
            context.update(&password[..1]);
        }
        length >>= 1;
    }
    let mut digest: [u8; 16] = context.finalize().into();
    for round in 0..1000 {
        let mut context = Md5::new();
        if round % 2 == 1 {
            context.update(password);
        } else {
            context.update(digest);
        }
        if round % 3 != 0 {
            context.update(salt);
        }
        if round % 7 != 0 {
            context.update(password);
        }
        if round % 2 == 1 {
            context.update(digest);
        } else {
            context.update(password);
        }
        digest = context.finalize().into();
    }
    digest
}

fn push_base64(out: &mut String, mut value: u32, count: usize) {
    for _ in 0..count {
        out.push(char::from(ALPHABET[(value & 0x3f) as usize]));
        value >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from `openssl passwd -apr1` and `openssl passwd -1`.
    #[test]
    fn matches_openssl() {
        assert_eq!(md5_crypt(b"password", "$apr1$", "rTbQ5YpT"), "$apr1$rTbQ5YpT$tlMwNNcW1zZwGeTUs5Td0.");
        assert_eq!(md5_crypt(b"hunter2", "$1$", "saltsalt"), "$1$saltsalt$ZliGyAN3DciDHEkDboonh/");
        assert_eq!(md5_crypt(b"", "$apr1$", "ab"), "$apr1$ab$S8K6Sgp3W8c9Jb6LxgywZ.");
    }
}
