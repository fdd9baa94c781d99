//! htpasswd files, read as the collector's basicauth extension reads them: bcrypt (`$2y$`,
//! `$2a$`, `$2b$`), SHA-1 (`{SHA}`), salted SHA-1 (`{SSHA}`), MD5-crypt (`$apr1$`, `$1$`), and
//! plain text. Any other `$…$` or `{…}` hash is refused with its line, never guessed to be a
//! plain password.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

use super::md5_crypt::md5_crypt;
use super::secret::{Secret, secrets_match};

pub(crate) struct Htpasswd {
    users: HashMap<String, PasswordHash>,
}

enum PasswordHash {
    Bcrypt(String),
    Sha1([u8; 20]),
    SaltedSha1 { digest: [u8; 20], salt: Vec<u8> },
    Md5Crypt { magic: &'static str, salt: String, full: String },
    Plain(Secret),
}

impl Htpasswd {
    /// Parses `user:hash` lines; blank lines and `#` comments are skipped. The error names the
    /// line and never quotes it.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |message: &str| format!("line {}: {message}", index + 1);
            let (user, hash) = line.split_once(':').ok_or_else(|| at("expected user:hash"))?;
            if user.is_empty() {
                return Err(at("the user name is empty"));
            }
            users.insert(user.to_owned(), PasswordHash::parse(hash).map_err(at)?);
        }
        Ok(Self { users })
    }

    /// Adds `other`'s users, replacing those of the same name: inline entries win over the
    /// file's, as in the collector.
    pub(crate) fn extend(&mut self, other: Htpasswd) {
        self.users.extend(other.users);
    }

    pub(crate) fn verify(&self, user: &str, password: &str) -> bool {
        self.users.get(user).is_some_and(|hash| hash.verify(password.as_bytes()))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.users.len()
    }
}

impl fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Htpasswd").field("users", &self.users.len()).finish()
    }
}

impl PasswordHash {
    fn parse(hash: &str) -> Result<Self, &'static str> {
        if hash.starts_with("$2y$") || hash.starts_with("$2a$") || hash.starts_with("$2b$") {
            hash.parse::<bcrypt::HashParts>().map_err(|_| "malformed bcrypt hash")?;
            return Ok(Self::Bcrypt(hash.to_owned()));
        }
        if let Some(encoded) = hash.strip_prefix("{SHA}") {
            let digest = STANDARD.decode(encoded).map_err(|_| "malformed {SHA} hash")?;
            return Ok(Self::Sha1(digest.try_into().map_err(|_| "malformed {SHA} hash")?));
        }
        if let Some(encoded) = hash.strip_prefix("{SSHA}") {
            let mut bytes = STANDARD.decode(encoded).map_err(|_| "malformed {SSHA} hash")?;
            if bytes.len() <= 20 {
                return Err("malformed {SSHA} hash");
            }
            let salt = bytes.split_off(20);
            return Ok(Self::SaltedSha1 { digest: bytes.try_into().map_err(|_| "malformed {SSHA} hash")?, salt });
        }
        for magic in ["$apr1$", "$1$"] {
            if let Some(rest) = hash.strip_prefix(magic) {
                let (salt, encoded) = rest.split_once('$').ok_or("malformed MD5-crypt hash")?;
                if salt.is_empty() || salt.len() > 8 || encoded.len() != 22 {
                    return Err("malformed MD5-crypt hash");
                }
                return Ok(Self::Md5Crypt { magic, salt: salt.to_owned(), full: hash.to_owned() });
            }
        }
        if hash.starts_with('$') || (hash.starts_with('{') && hash.contains('}')) {
            return Err("unsupported password hash format (use bcrypt, {SHA}, {SSHA}, $apr1$ or $1$)");
        }
        Ok(Self::Plain(Secret::new(hash)))
    }

    fn verify(&self, password: &[u8]) -> bool {
        match self {
            Self::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            Self::Sha1(digest) => secrets_match(&Sha1::digest(password), digest),
            Self::SaltedSha1 { digest, salt } => {
                secrets_match(&Sha1::new().chain_update(password).chain_update(salt).finalize(), digest)
            }
            Self::Md5Crypt { magic, salt, full } => {
                secrets_match(md5_crypt(password, magic, salt).as_bytes(), full.as_bytes())
            }
            Self::Plain(expected) => secrets_match(password, expected.expose().as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_every_supported_format() {
        let bcrypt_hash = bcrypt::hash("b-pass", 4).unwrap().replacen("$2b$", "$2y$", 1);
        let ssha = {
            let mut bytes = Sha1::new().chain_update("s-pass").chain_update("NaCl").finalize().to_vec();
            bytes.extend_from_slice(b"NaCl");
            STANDARD.encode(bytes)
        };
        let text = format!(
            "# users\n\nbob:{bcrypt_hash}\nsha:{{SHA}}5en6G6MezRroT3XKqkdPOmY/BfQ=\nssha:{{SSHA}}{ssha}\n\
             apr:$apr1$rTbQ5YpT$tlMwNNcW1zZwGeTUs5Td0.\nmd5:$1$saltsalt$ZliGyAN3DciDHEkDboonh/\nplain:open sesame\n"
        );
        let htpasswd = Htpasswd::parse(&text).unwrap();
        assert_eq!(htpasswd.len(), 6);
        for (user, password) in [
            ("bob", "b-pass"),
            ("sha", "secret"),
            ("ssha", "s-pass"),
            ("apr", "password"),
            ("md5", "hunter2"),
            ("plain", "open sesame"),
        ] {
            assert!(htpasswd.verify(user, password), "{user}");
            assert!(!htpasswd.verify(user, "wrong"), "{user}");
        }
        assert!(!htpasswd.verify("nobody", "secret"));
    }

    #[test]
    fn refuses_unknown_formats_with_the_line() {
        let sha512 = "alice:$6$salt$abcdef";
        assert_eq!(Htpasswd::parse(&format!("# a\n{sha512}")).unwrap_err().split(':').next().unwrap(), "line 2");
        assert!(Htpasswd::parse("x:{MD4}abc").unwrap_err().contains("unsupported"));
        assert_eq!(Htpasswd::parse("\n\nno-colon").unwrap_err(), "line 3: expected user:hash");
        assert!(Htpasswd::parse("bad:$2y$04$short").unwrap_err().contains("malformed bcrypt"));
        assert!(Htpasswd::parse("bad:{SHA}notbase64!").unwrap_err().contains("malformed"));
        let err = Htpasswd::parse("carol:$5$rounds=5000$secret-looking").unwrap_err();
        assert!(!err.contains("secret-looking"), "{err}");
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let mut htpasswd = Htpasswd::parse("a:one\nb:two").unwrap();
        htpasswd.extend(Htpasswd::parse("a:uno").unwrap());
        assert!(htpasswd.verify("a", "uno") && !htpasswd.verify("a", "one") && htpasswd.verify("b", "two"));
        assert_eq!(format!("{htpasswd:?}"), "Htpasswd { users: 2 }");
    }
}
