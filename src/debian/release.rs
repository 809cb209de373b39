//! A suite's `InRelease`: the clear-signed `Release` file, verified as apt verifies it (a
//! signature by a key of the distribution's keyring file, neither key nor signature expired,
//! `Valid-Until` not passed), then read for the SHA256 of each index it lists.

use super::{Error, control};
use pgp::composed::{CleartextSignedMessage, PublicOrSecret, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Tag, Timestamp, VerifyingKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The public keys of a keyring file (binary, as `/usr/share/keyrings/*.gpg`, or armored).
pub struct Keyring {
    pub path: PathBuf,
    certs: Vec<SignedPublicKey>,
}

impl Keyring {
    pub fn load(path: &Path) -> Result<Keyring, Error> {
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NoKeyring(path.to_path_buf()),
            _ => Error::BadKeyring {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
        })?;
        let bad = |message: String| Error::BadKeyring {
            path: path.to_path_buf(),
            message,
        };
        let (items, _) = PublicOrSecret::from_reader_many(std::io::Cursor::new(&bytes))
            .map_err(|e| bad(e.to_string()))?;
        let mut certs = Vec::new();
        for item in items {
            match item.map_err(|e| bad(e.to_string()))? {
                PublicOrSecret::Public(k) => certs.push(k),
                PublicOrSecret::Secret(k) => certs.push(k.to_public_key()),
            }
        }
        if certs.is_empty() {
            return Err(bad("it holds no public key".into()));
        }
        Ok(Keyring {
            path: path.to_path_buf(),
            certs,
        })
    }
}

/// What `Release` says, once its signature has been verified.
#[derive(Debug, Clone)]
pub struct Release {
    /// `Codename` and `Suite` (`bookworm`, `oldstable`): a suite's Release says which it is.
    pub codename: Option<String>,
    pub suite: Option<String>,
    pub date: Option<i64>,
    pub valid_until: Option<i64>,
    /// Index path (`main/binary-arm64/Packages.xz`) → (size, SHA256 in lowercase hex).
    pub sha256: BTreeMap<String, (u64, String)>,
}

pub fn fmt_time(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86400));
    let t = secs.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// Verifies `inrelease` (the bytes of `url`) against `keyring` at time `now` (Unix seconds) and
/// parses the signed text. At least one signature must be by a key of the keyring, valid now
/// (apt accepts a Release whose other signatures are by keys it lacks).
pub fn verify(inrelease: &[u8], url: &str, keyring: &Keyring, now: i64) -> Result<Release, Error> {
    let text = std::str::from_utf8(inrelease).map_err(|_| Error::NotSigned {
        url: url.to_string(),
        message: "not UTF-8 text".into(),
    })?;
    let (msg, _) = CleartextSignedMessage::from_string(text).map_err(|e| Error::NotSigned {
        url: url.to_string(),
        message: e.to_string(),
    })?;
    let signed = msg.signed_text();
    let mut issuers = Vec::new();
    let mut refusal = None;
    for sig in msg.signatures() {
        issuers.extend(sig.issuer_fingerprint().iter().map(|f| format!("{f:X}")));
        for (key, expires) in matching_keys(keyring, sig) {
            if sig.verify(&key, signed.as_bytes()).is_err() {
                continue;
            }
            // apt refuses SHA-1 and MD5 signatures; so does rvenv.
            let hash = sig.hash_alg().unwrap_or(HashAlgorithm::None);
            if !matches!(
                hash,
                HashAlgorithm::Sha256
                    | HashAlgorithm::Sha384
                    | HashAlgorithm::Sha512
                    | HashAlgorithm::Sha3_256
                    | HashAlgorithm::Sha3_512
            ) {
                refusal.get_or_insert(Error::WeakHash {
                    url: url.to_string(),
                    hash: hash.to_string(),
                });
                continue;
            }
            let id = format!("{:X}", key.fingerprint());
            if let Some(when) = expires.filter(|&t| t <= now) {
                refusal.get_or_insert(Error::KeyNotValid {
                    url: url.to_string(),
                    keyring: keyring.path.clone(),
                    key: id,
                    // 0 stands for a revoked certificate (`expiry`).
                    what: if when == 0 {
                        "is revoked".to_string()
                    } else {
                        format!("expired on {}", fmt_time(when))
                    },
                });
                continue;
            }
            if let (Some(created), Some(life)) = (sig.created(), sig.signature_expiration_time())
                && life.as_secs() != 0
                && i64::from(created.as_secs()) + i64::from(life.as_secs()) <= now
            {
                refusal.get_or_insert(Error::SignatureExpired {
                    url: url.to_string(),
                    when: fmt_time(i64::from(created.as_secs()) + i64::from(life.as_secs())),
                });
                continue;
            }
            let release = parse(&msg.signed_text().replace("\r\n", "\n"), url)?;
            if let Some(until) = release.valid_until
                && until <= now
            {
                return Err(Error::Stale {
                    url: url.to_string(),
                    until: fmt_time(until),
                });
            }
            return Ok(release);
        }
    }
    issuers.sort();
    issuers.dedup();
    Err(refusal.unwrap_or(Error::BadSignature {
        url: url.to_string(),
        keyring: keyring.path.clone(),
        issuers,
    }))
}

/// A key (primary or subkey) of the keyring that may have made `sig`, by issuer fingerprint or
/// key ID, with the time it stops being valid (None: never; `Some(0)`: revoked). A primary
/// key's expiry comes from its own verified self-signatures (not others' certifications), a
/// subkey's from its verified binding signatures; a subkey is valid no longer than its primary.
fn matching_keys(keyring: &Keyring, sig: &Signature) -> Vec<(AnyKey, Option<i64>)> {
    let fingerprints = sig.issuer_fingerprint();
    let ids = sig.issuer_key_id();
    let wanted = |k: &dyn KeyDetails| {
        fingerprints.iter().any(|f| **f == k.fingerprint())
            || ids.iter().any(|i| **i == k.legacy_key_id())
    };
    let newest_life = |sigs: &[&Signature]| {
        sigs.iter()
            .max_by_key(|s| s.created().map(Timestamp::as_secs))
            .and_then(|s| s.key_expiration_time())
            .map(|l| l.as_secs())
    };
    let mut keys = Vec::new();
    for cert in &keyring.certs {
        let primary = &cert.primary_key;
        let by_primary = |s: &Signature| {
            s.issuer_fingerprint()
                .iter()
                .any(|f| **f == primary.fingerprint())
                || s.issuer_key_id()
                    .iter()
                    .any(|i| **i == primary.legacy_key_id())
        };
        let mut self_sigs: Vec<&Signature> = Vec::new();
        for user in &cert.details.users {
            self_sigs.extend(user.signatures.iter().filter(|s| {
                by_primary(s)
                    && s.verify_certification(primary, Tag::UserId, &user.id)
                        .is_ok()
            }));
        }
        self_sigs.extend(
            cert.details
                .direct_signatures
                .iter()
                .filter(|s| s.verify_key(primary).is_ok()),
        );
        if self_sigs.is_empty() {
            // No valid self-signature: not a usable certificate.
            continue;
        }
        let revoked = !cert.details.revocation_signatures.is_empty();
        let created = i64::from(primary.created_at().as_secs());
        let primary_expiry = expiry(revoked, created, newest_life(&self_sigs));
        if wanted(primary) {
            keys.push((AnyKey::Primary(primary.clone()), primary_expiry));
        }
        for sub in &cert.public_subkeys {
            if !wanted(&sub.key) {
                continue;
            }
            let bindings: Vec<&Signature> = sub
                .signatures
                .iter()
                .filter(|s| {
                    s.typ() == Some(SignatureType::SubkeyBinding)
                        && s.verify_subkey_binding(primary, &sub.key).is_ok()
                })
                .collect();
            if bindings.is_empty() {
                continue;
            }
            let sub_revoked = sub
                .signatures
                .iter()
                .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation));
            let sub_created = i64::from(sub.key.created_at().as_secs());
            let sub_expiry = expiry(revoked || sub_revoked, sub_created, newest_life(&bindings));
            let both = match (primary_expiry, sub_expiry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            keys.push((AnyKey::Sub(sub.key.clone()), both));
        }
    }
    keys
}

fn expiry(revoked: bool, created: i64, life: Option<u32>) -> Option<i64> {
    if revoked {
        return Some(0);
    }
    life.filter(|&l| l != 0).map(|l| created + i64::from(l))
}

#[derive(Debug)]
enum AnyKey {
    Primary(pgp::packet::PublicKey),
    Sub(pgp::packet::PublicSubkey),
}

impl AnyKey {
    fn fingerprint(&self) -> pgp::types::Fingerprint {
        match self {
            AnyKey::Primary(k) => k.fingerprint(),
            AnyKey::Sub(k) => k.fingerprint(),
        }
    }
}

impl KeyDetails for AnyKey {
    fn version(&self) -> pgp::types::KeyVersion {
        match self {
            AnyKey::Primary(k) => k.version(),
            AnyKey::Sub(k) => k.version(),
        }
    }
    fn legacy_key_id(&self) -> pgp::types::KeyId {
        match self {
            AnyKey::Primary(k) => k.legacy_key_id(),
            AnyKey::Sub(k) => k.legacy_key_id(),
        }
    }
    fn fingerprint(&self) -> pgp::types::Fingerprint {
        AnyKey::fingerprint(self)
    }
    fn algorithm(&self) -> pgp::crypto::public_key::PublicKeyAlgorithm {
        match self {
            AnyKey::Primary(k) => k.algorithm(),
            AnyKey::Sub(k) => k.algorithm(),
        }
    }
    fn created_at(&self) -> Timestamp {
        match self {
            AnyKey::Primary(k) => k.created_at(),
            AnyKey::Sub(k) => k.created_at(),
        }
    }
    fn legacy_v3_expiration_days(&self) -> Option<u16> {
        None
    }
    fn public_params(&self) -> &pgp::types::PublicParams {
        match self {
            AnyKey::Primary(k) => k.public_params(),
            AnyKey::Sub(k) => k.public_params(),
        }
    }
}

impl VerifyingKey for AnyKey {
    fn verify(
        &self,
        hash: pgp::crypto::hash::HashAlgorithm,
        data: &[u8],
        sig: &pgp::types::SignatureBytes,
    ) -> pgp::errors::Result<()> {
        match self {
            AnyKey::Primary(k) => k.verify(hash, data, sig),
            AnyKey::Sub(k) => k.verify(hash, data, sig),
        }
    }
}

/// The signed text of a Release file: dates and the SHA256 list.
pub fn parse(text: &str, url: &str) -> Result<Release, Error> {
    let bad = |message: String| Error::BadIndex {
        url: url.to_string(),
        message,
    };
    let stanzas = control::parse(text).map_err(bad)?;
    let stanza = stanzas
        .first()
        .ok_or_else(|| bad("an empty Release file".into()))?;
    let date_of = |field: &str| -> Result<Option<i64>, Error> {
        stanza
            .get(field)
            .map(|v| parse_date(v).ok_or_else(|| bad(format!("{field} '{v}' is not a date"))))
            .transpose()
    };
    let mut sha256 = BTreeMap::new();
    for line in stanza.get("SHA256").unwrap_or("").lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let [hash, size, name] = parts[..] else {
            return Err(bad(format!("SHA256 line '{line}' is not 'hash size path'")));
        };
        let size = size
            .parse()
            .map_err(|_| bad(format!("SHA256 line '{line}': size is not a number")))?;
        sha256.insert(name.to_string(), (size, hash.to_ascii_lowercase()));
    }
    Ok(Release {
        codename: stanza.get("Codename").map(str::to_string),
        suite: stanza.get("Suite").map(str::to_string),
        date: date_of("Date")?,
        valid_until: date_of("Valid-Until")?,
        sha256,
    })
}

/// `Sat, 11 Jul 2026 10:16:37 UTC` (RFC 2822 as apt writes it; `UTC`, `GMT`, `+0000`) as Unix
/// seconds. Hand-written: the crates that parse RFC 2822 take only `GMT` or only numeric zones.
pub fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.split_once(", ").map_or(text, |(_, rest)| rest);
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [day, month, year, time, zone] = parts[..] else {
        return None;
    };
    if !matches!(zone, "UTC" | "GMT" | "+0000" | "Z") {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms[..] else { return None };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + s)
}

/// Howard Hinnant's days-from-civil (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_apt_writes_them() {
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
        // date -d '2026-07-11 10:16:37 UTC' +%s
        assert_eq!(
            parse_date("Sat, 11 Jul 2026 10:16:37 UTC"),
            Some(1783764997)
        );
        assert_eq!(parse_date("Sat, 11 Jul 2026 10:16:37 +0200"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(fmt_time(1783764997), "2026-07-11 10:16:37 UTC");
    }

    #[test]
    fn release_sha256_lines() {
        let r = parse(
            "Date: Thu, 01 Jan 1970 00:00:01 UTC\nSHA256:\n AB 12 main/binary-arm64/Packages.xz\n",
            "x",
        )
        .unwrap();
        assert_eq!(r.date, Some(1));
        assert_eq!(r.valid_until, None);
        assert_eq!(
            r.sha256["main/binary-arm64/Packages.xz"],
            (12, "ab".to_string())
        );
        assert!(parse("SHA256:\n ab main/x\n", "x").is_err());
    }
}
