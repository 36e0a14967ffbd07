//! Sign-in rules: password hashes, one-time codes, recovery codes, session
//! tokens and the throttle against guessing. The primitives come from
//! well-kept libraries (argon2, totp-rs, sha2); the rules are ours.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::{DomainError, Timestamp};

/// TOTP time step in seconds, as every authenticator app expects.
pub const TOTP_STEP: i64 = 30;
/// Wrong codes after which a pending sign-in ends.
pub const MAX_SECOND_FACTOR_FAILURES: i64 = 5;
/// Minimum length of a new password.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Hashes a password with Argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, DomainError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(DomainError::invalid("password", "password_too_short"));
    }
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| DomainError::invalid("password", "password_unusable"))
}

/// Checks a password against a stored hash in constant time.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so that the
/// answer takes as long as for a real account.
pub fn dummy_password_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Ou8mWg1m2FJOmVD0VkRgxbCcmRbPaoK56vDMLuOkd1k"
}

/// A TOTP shared secret (160 random bits, as RFC 4226 recommends).
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// Why a one-time code was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TotpRefusal {
    /// Not the code of the current step or one step either side.
    Wrong,
    /// The code of a step that was already used: a replay.
    Replayed,
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn from_base32(encoded: &str) -> Option<Self> {
        totp_rs::Secret::Encoded(encoded.to_string())
            .to_bytes()
            .ok()
            .map(Self)
    }

    pub fn to_base32(&self) -> String {
        self.totp("", "").get_secret_base32()
    }

    fn totp(&self, issuer: &str, account: &str) -> TOTP {
        let issuer = (!issuer.is_empty()).then(|| issuer.replace(':', " "));
        TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            0,
            TOTP_STEP as u64,
            self.0.clone(),
            issuer,
            account.replace(':', " "),
        )
    }

    /// The `otpauth://` URI an authenticator app reads from the QR code.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        self.totp(issuer, account).get_url()
    }

    /// The code for a moment, for tests and the enrolment check.
    pub fn code_at(&self, now: Timestamp) -> String {
        self.totp("", "").generate(now.max(0) as u64)
    }

    /// Checks a six-digit code at `now`, allowing one step of clock drift
    /// either side. Each step is accepted once: `last_step` is the step of
    /// the last accepted code, and a code of that step or an earlier one is
    /// a replay. On success returns the step to remember.
    pub fn verify(
        &self,
        code: &str,
        now: Timestamp,
        last_step: Option<i64>,
    ) -> Result<i64, TotpRefusal> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TotpRefusal::Wrong);
        }
        let current = now.div_euclid(TOTP_STEP);
        let totp = self.totp("", "");
        let matched = [current - 1, current, current + 1]
            .into_iter()
            .find(|step| {
                let expected = totp.generate((*step * TOTP_STEP).max(0) as u64);
                bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
            });
        match (matched, last_step) {
            (None, _) => Err(TotpRefusal::Wrong),
            (Some(step), Some(last)) if step <= last => Err(TotpRefusal::Replayed),
            (Some(step), _) => Ok(step),
        }
    }
}

/// Number of recovery codes issued at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// Generates recovery codes such as `k7m2-x9qd-4tnp`: 60 bits each, from an
/// alphabet without look-alikes. They are shown once; only hashes are kept.
pub fn generate_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: Vec<char> = (0..12)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
            groups.join("-")
        })
        .collect()
}

/// Normalises a typed recovery code and hashes it for lookup. The codes
/// carry 60 random bits, so a fast hash is enough.
pub fn hash_recovery_code(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex_sha256(normal.as_bytes())
}

/// A new random session or CSRF token (256 bits, URL-safe).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Sessions are stored by the hash of their token, so a copy of the
/// database does not hand out live sessions.
pub fn hash_token(token: &str) -> String {
    hex_sha256(token.as_bytes())
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Limits on failed sign-ins within a window. Failures count per account
/// and address together, and per address alone. An account is never locked
/// for everyone: an attacker elsewhere cannot lock its owner out, and every
/// lock ends with its window.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleRule {
    pub window: i64,
    pub max_failures: i64,
}

pub const THROTTLE_ACCOUNT_ADDRESS: ThrottleRule = ThrottleRule {
    window: 900,
    max_failures: 5,
};
pub const THROTTLE_ADDRESS: ThrottleRule = ThrottleRule {
    window: 900,
    max_failures: 30,
};
/// Wrong second factors per person, across sign-ins: whoever knows the
/// password gets ten guesses a quarter of an hour, so hitting one of the
/// three valid codes in a million would take years.
pub const THROTTLE_SECOND_FACTOR: ThrottleRule = ThrottleRule {
    window: 900,
    max_failures: 10,
};

impl ThrottleRule {
    /// Given the failures recorded since `window_start`, when may the next
    /// attempt come? `None`: now.
    pub fn blocked_until(
        &self,
        window_start: Timestamp,
        failures: i64,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let end = window_start + self.window;
        (now < end && failures >= self.max_failures).then_some(end)
    }
}

/// Length of a generated password.
pub const GENERATED_PASSWORD_LEN: usize = 20;
/// Letters and digits without look-alikes (0/O, 1/l/I), so a password read
/// aloud or copied from paper survives; 20 of them carry about 113 bits.
const READABLE: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789";

/// An initial password, for the command line and the desk to hand over.
pub fn generate_password() -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..GENERATED_PASSWORD_LEN)
        .map(|_| char::from(READABLE[rng.gen_range(0..READABLE.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_readable_and_long_enough() {
        let a = generate_password();
        assert_eq!(a.chars().count(), GENERATED_PASSWORD_LEN);
        assert!(a.bytes().all(|b| READABLE.contains(&b)));
        assert!(!a.contains(['0', 'O', '1', 'l', 'I']));
        assert_ne!(a, generate_password());
    }

    /// RFC 6238, appendix B, SHA-1 with the 20-byte ASCII key: the eight-digit
    /// vectors. Our codes are six digits, the last six of the same HOTP value.
    #[test]
    fn rfc6238_vectors() {
        let key = b"12345678901234567890".to_vec();
        let vectors = [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ];
        for (time, expected) in vectors {
            let eight =
                TOTP::new_unchecked(Algorithm::SHA1, 8, 0, 30, key.clone(), None, String::new());
            assert_eq!(eight.generate(time), expected, "8 digits at {time}");
            let ours = TotpSecret::from_bytes(key.clone());
            assert_eq!(
                ours.code_at(time as i64),
                expected[2..],
                "6 digits at {time}"
            );
        }
    }

    #[test]
    fn accepts_one_step_of_drift_only() {
        let s = TotpSecret::generate();
        let now = 1_800_000_015;
        assert!(s.verify(&s.code_at(now - 30), now, None).is_ok());
        assert!(s.verify(&s.code_at(now + 30), now, None).is_ok());
        assert_eq!(
            s.verify(&s.code_at(now - 60), now, None),
            Err(TotpRefusal::Wrong)
        );
        assert_eq!(
            s.verify(&s.code_at(now + 60), now, None),
            Err(TotpRefusal::Wrong)
        );
    }

    #[test]
    fn a_code_is_accepted_once() {
        let s = TotpSecret::generate();
        let now = 1_800_000_015;
        let step = s.verify(&s.code_at(now), now, None).unwrap();
        assert_eq!(
            s.verify(&s.code_at(now), now + 5, Some(step)),
            Err(TotpRefusal::Replayed)
        );
        // An older code from the drift window is a replay as well.
        assert_eq!(
            s.verify(&s.code_at(now - 30), now, Some(step)),
            Err(TotpRefusal::Replayed)
        );
        assert!(s.verify(&s.code_at(now + 30), now + 30, Some(step)).is_ok());
    }

    #[test]
    fn rejects_malformed_codes() {
        let s = TotpSecret::generate();
        for bad in ["", "12345", "1234567", "abcdef"] {
            assert_eq!(s.verify(bad, 1_800_000_000, None), Err(TotpRefusal::Wrong));
        }
    }

    #[test]
    fn base32_round_trip() {
        let s = TotpSecret::generate();
        let back = TotpSecret::from_base32(&s.to_base32()).unwrap();
        assert_eq!(back.code_at(1_800_000_000), s.code_at(1_800_000_000));
        assert!(
            s.otpauth_uri("Ticketwerk", "anna@example.de")
                .starts_with("otpauth://totp/")
        );
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(hash_password("short").is_err());
        assert!(!verify_password("anything at all", dummy_password_hash()));
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalised() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let upper = codes[0].to_uppercase().replace('-', " ");
        assert_eq!(hash_recovery_code(&upper), hash_recovery_code(&codes[0]));
        assert_ne!(hash_recovery_code(&codes[0]), hash_recovery_code(&codes[1]));
    }

    #[test]
    fn throttle_locks_within_window_only() {
        let r = THROTTLE_ACCOUNT_ADDRESS;
        assert_eq!(r.blocked_until(1000, 4, 1001), None);
        assert_eq!(r.blocked_until(1000, 5, 1001), Some(1900));
        assert_eq!(r.blocked_until(1000, 50, 1900), None);
    }
}
