//! The users of `cwkpi serve`: who may connect, with which password, and which units they
//! see. Passwords are kept only as SCRAM-SHA-256 verifiers in PostgreSQL's own format
//! (`pg_authid.rolpassword`), so the file holds nothing a password can be read back from,
//! and a verifier made by PostgreSQL works here too.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::SecureRandom;
use ring::{digest, hmac, pbkdf2};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::scope::Grant;

/// The iteration count of new verifiers: PostgreSQL's default (`scram_iterations`).
pub const ITERATIONS: u32 = 4096;

/// A SCRAM-SHA-256 verifier: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramVerifier {
    // A verifier is not a password, but it still should not end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScramVerifier {{ iterations: {} }}", self.iterations)
    }
}

impl ScramVerifier {
    /// Parses PostgreSQL's format; `None` for anything else (a plain password included).
    pub fn parse(text: &str) -> Option<ScramVerifier> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (iterations_salt, keys) = rest.split_once('$')?;
        let (iterations, salt) = iterations_salt.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        let verifier = ScramVerifier {
            iterations: iterations.parse().ok().filter(|n| *n > 0)?,
            salt: B64.decode(salt).ok()?,
            stored_key: B64.decode(stored_key).ok()?,
            server_key: B64.decode(server_key).ok()?,
        };
        (verifier.stored_key.len() == 32 && verifier.server_key.len() == 32 && !verifier.salt.is_empty())
            .then_some(verifier)
    }

    /// The verifier of `password` with `salt`. The password is normalised with SASLprep, as
    /// libpq does before hashing; one SASLprep refuses is used as its bytes, as PostgreSQL does.
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        let prepared = stringprep::saslprep(password).map(|p| p.into_owned()).unwrap_or_else(|_| password.to_string());
        let mut salted = [0u8; 32];
        let rounds = std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN);
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, prepared.as_bytes(), &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        ScramVerifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// Checks a client's proof over the SCRAM auth message; on success, the server's
    /// signature to send back (RFC 5802 §3: ClientKey = proof XOR HMAC(StoredKey, message),
    /// and H(ClientKey) must equal StoredKey).
    pub fn verify(&self, auth_message: &[u8], proof: &[u8]) -> Option<Vec<u8>> {
        let client_signature = hmac_sha256(&self.stored_key, auth_message);
        if proof.len() != client_signature.len() {
            return None;
        }
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
        constant_time_eq(&sha256(&client_key), &self.stored_key).then(|| hmac_sha256(&self.server_key, auth_message))
    }

    /// A verifier of `password` with a fresh random salt and PostgreSQL's iteration count.
    pub fn new(password: &str) -> Result<ScramVerifier> {
        Ok(ScramVerifier::from_password(password, &random_bytes::<16>()?, ITERATIONS))
    }
}

impl std::fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key)
        )
    }
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message).as_ref().to_vec()
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("the system random generator failed".into()))?;
    Ok(bytes)
}

/// One user as the server knows them.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    /// `None` when the file's password is not a verifier: the user cannot log in.
    pub verifier: Option<ScramVerifier>,
    pub grant: Grant,
}

/// The users file, read.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_name: HashMap<String, User>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    user: Vec<UserEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    password: String,
    units: Vec<String>,
}

impl Users {
    /// Reads a users file. A user whose password is not a SCRAM verifier is kept but cannot
    /// log in (the server says why in its log, without the password); every other mistake
    /// stops the server with the file and the user named.
    pub fn load(path: &Path) -> Result<Users> {
        let bad = |what: String| Error::Usage(format!("users file {}: {what}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        // toml's message quotes the line it failed on, which may hold a verifier: keep only
        // where it is.
        let file: UsersFile = toml::from_str(&text).map_err(|e| {
            let place =
                e.span().map(|s| format!(" at line {}", text[..s.start].lines().count().max(1))).unwrap_or_default();
            bad(format!(
                "not a valid users file{place}: each [[user]] needs name, password and units, and nothing else"
            ))
        })?;
        let mut users = Users::default();
        for entry in file.user {
            let name = entry.name.trim().to_string();
            if name.is_empty() {
                return Err(bad("a user has an empty name".into()));
            }
            let grant = match entry.units.as_slice() {
                [] => return Err(bad(format!("user {name} has no units: give [\"*\"] for every unit, or unit ids"))),
                [all] if all == "*" => Grant::All,
                units if units.iter().any(|u| u == "*") => {
                    return Err(bad(format!("user {name}: \"*\" cannot be mixed with unit ids")));
                }
                units => Grant::Units(units.to_vec()),
            };
            let verifier = ScramVerifier::parse(entry.password.trim());
            if verifier.is_none() {
                tracing::warn!(user = %name, file = %path.display(), "the password is not a SCRAM-SHA-256 verifier (make one with `cwkpi passwd`): this user cannot log in");
            }
            if users.by_name.insert(name.clone(), User { name: name.clone(), verifier, grant }).is_some() {
                return Err(bad(format!("user {name} is listed twice")));
            }
        }
        Ok(users)
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// `cwkpi passwd`: the verifier of the password on the first line of `input`.
pub fn verifier_for_input(input: &str) -> Result<String> {
    let password = input.lines().next().unwrap_or("");
    if password.is_empty() {
        return Err(Error::Usage("no password on standard input (give it on the first line)".into()));
    }
    Ok(ScramVerifier::new(password)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677's example exchange: user "user", password "pencil", salt
    // W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations. The verifier made from the password must
    // accept the RFC's client proof and answer with the RFC's server signature.
    #[test]
    fn verifier_checks_the_rfc7677_exchange() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = ScramVerifier::from_password("pencil", &salt, 4096);
        assert_eq!(ScramVerifier::parse(&v.to_string()), Some(v.clone()));
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth_message =
            format!("n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}");
        let proof = B64.decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").unwrap();
        let signature = v.verify(auth_message.as_bytes(), &proof).expect("the RFC's proof is accepted");
        assert_eq!(B64.encode(signature), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        let mut wrong = proof.clone();
        wrong[0] ^= 1;
        assert_eq!(v.verify(auth_message.as_bytes(), &wrong), None);
        let other = ScramVerifier::from_password("pencil2", &salt, 4096);
        assert_eq!(other.verify(auth_message.as_bytes(), &proof), None);
    }

    #[test]
    fn plain_passwords_and_broken_verifiers_do_not_parse() {
        for text in [
            "pencil",
            "md5a3556571e93b0d20722ba62be61e8c2d",
            "SCRAM-SHA-256$4096:abc",
            "SCRAM-SHA-256$x:W22Z$AA==:AA==",
        ] {
            assert_eq!(ScramVerifier::parse(text), None, "{text}");
        }
    }
}
