//! The credential vault: envelope encryption with AES-256-GCM.
//!
//! Each tenant has a data key; the data key is stored wrapped (encrypted) by a
//! master key, with the tenant and key ids as associated data. Credentials are
//! encrypted with the tenant's data key, with (tenant, pair, system) as
//! associated data, so a ciphertext moved to another row does not decrypt.
//! Rotating the master key re-wraps the data keys only: credential ciphertexts
//! are untouched, and processes that still hold the old ring keep working
//! because the ring keeps old keys until they are pruned.

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{Db, now_ms};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("master key is not valid base64")]
    Base64,
    #[error("master key must be 32 bytes (base64 of 32 random bytes), got {0} bytes")]
    Length(usize),
    #[error("no master key given")]
    Empty,
}

/// One master key: 32 bytes and an id derived from them.
#[derive(Clone)]
struct MasterKey {
    id: String,
    bytes: [u8; KEY_LEN],
}

/// The master keys this process knows, newest first. New wraps use the first.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<MasterKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("KeyRing").field("ids", &ids).finish()
    }
}

impl KeyRing {
    /// Base64 keys separated by commas or new lines, newest first.
    pub fn parse(text: &str) -> Result<Self, KeyRingError> {
        let mut keys = Vec::new();
        for part in text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let raw = B64.decode(part).map_err(|_| KeyRingError::Base64)?;
            let bytes: [u8; KEY_LEN] = raw
                .as_slice()
                .try_into()
                .map_err(|_| KeyRingError::Length(raw.len()))?;
            keys.push(MasterKey {
                id: key_id(&bytes),
                bytes,
            });
        }
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(Self { keys })
    }

    pub fn generate() -> Self {
        let bytes: [u8; KEY_LEN] = rand::random();
        Self {
            keys: vec![MasterKey {
                id: key_id(&bytes),
                bytes,
            }],
        }
    }

    /// A ring with a fresh key in front of the current ones.
    pub fn with_new_key(&self) -> Self {
        let mut next = Self::generate();
        next.keys.extend(self.keys.iter().cloned());
        next
    }

    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn find(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::from(
            "# Clarity Connect master keys, newest first. Keep this file secret and backed up.\n",
        );
        for k in &self.keys {
            out.push_str(&B64.encode(k.bytes));
            out.push('\n');
        }
        out
    }

    /// Writes the ring readable by the owner only, through a temporary file so a
    /// crash never leaves half a key file behind.
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(self.to_text().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(tmp, path)
    }
}

fn key_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("mk_{}", hex::encode(&digest[..6]))
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("tenant {0} has no data key")]
    NoDataKey(String),
    #[error("master key {0} is not in the key ring")]
    UnknownMasterKey(String),
    #[error("decryption failed (wrong key or tampered data)")]
    Decrypt,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An encrypted secret as stored.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
    pub key_id: String,
}

pub struct Vault {
    ring: RwLock<KeyRing>,
    /// When the ring came from a file, a wrap by an unknown master key makes us
    /// re-read it once: another process may have rotated.
    key_file: Option<PathBuf>,
    data_keys: Mutex<HashMap<(String, String), [u8; KEY_LEN]>>,
}

pub const DATA_KEY_ID: &str = "dk1";

impl Vault {
    pub fn new(ring: KeyRing, key_file: Option<PathBuf>) -> Self {
        Self {
            ring: RwLock::new(ring),
            key_file,
            data_keys: Mutex::new(HashMap::new()),
        }
    }

    /// Creates the tenant's data key; called in the transaction that creates the tenant.
    pub async fn create_data_key(
        &self,
        conn: &mut sqlx::AnyConnection,
        tenant_id: &str,
    ) -> Result<(), VaultError> {
        let key: [u8; KEY_LEN] = rand::random();
        let ring = self.ring.read().clone();
        let master = &ring.keys[0];
        let wrapped = seal(
            &master.bytes,
            &key,
            wrap_aad(tenant_id, DATA_KEY_ID).as_bytes(),
        );
        sqlx::query(
            "INSERT INTO tenant_keys (tenant_id, key_id, wrapped_key, master_key_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant_id)
        .bind(DATA_KEY_ID)
        .bind(wrapped)
        .bind(&master.id)
        .bind(now_ms())
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn data_key(
        &self,
        db: &Db,
        tenant_id: &str,
        key_id: &str,
    ) -> Result<[u8; KEY_LEN], VaultError> {
        let cache_key = (tenant_id.to_owned(), key_id.to_owned());
        if let Some(k) = self.data_keys.lock().get(&cache_key) {
            return Ok(*k);
        }
        let row = sqlx::query(
            "SELECT wrapped_key, master_key_id FROM tenant_keys WHERE tenant_id = $1 AND key_id = $2",
        )
        .bind(tenant_id)
        .bind(key_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| VaultError::NoDataKey(tenant_id.to_owned()))?;
        let wrapped: Vec<u8> = row.get(0);
        let master_id: String = row.get(1);
        let master = self.master(&master_id)?;
        let plain = open(&master, &wrapped, wrap_aad(tenant_id, key_id).as_bytes())?;
        let key: [u8; KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Decrypt)?;
        self.data_keys.lock().insert(cache_key, key);
        Ok(key)
    }

    fn master(&self, id: &str) -> Result<[u8; KEY_LEN], VaultError> {
        if let Some(k) = self.ring.read().find(id) {
            return Ok(k.bytes);
        }
        if let Some(path) = &self.key_file
            && let Ok(ring) = std::fs::read_to_string(path)
                .map_err(|_| ())
                .and_then(|t| KeyRing::parse(&t).map_err(|_| ()))
        {
            let found = ring.find(id).map(|k| k.bytes);
            *self.ring.write() = ring;
            if let Some(k) = found {
                return Ok(k);
            }
        }
        Err(VaultError::UnknownMasterKey(id.to_owned()))
    }

    pub async fn encrypt(
        &self,
        db: &Db,
        tenant_id: &str,
        pair_id: &str,
        system: &str,
        plaintext: &[u8],
    ) -> Result<Sealed, VaultError> {
        let key = self.data_key(db, tenant_id, DATA_KEY_ID).await?;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let cipher = Aes256Gcm::new_from_slice(&key).expect("32-byte key");
        let ciphertext = cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad: secret_aad(tenant_id, pair_id, system).as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a bounded message cannot fail");
        Ok(Sealed {
            ciphertext,
            nonce: nonce.to_vec(),
            key_id: DATA_KEY_ID.to_owned(),
        })
    }

    pub async fn decrypt(
        &self,
        db: &Db,
        tenant_id: &str,
        pair_id: &str,
        system: &str,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, VaultError> {
        let key = self.data_key(db, tenant_id, &sealed.key_id).await?;
        let nonce: [u8; NONCE_LEN] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Decrypt)?;
        let cipher = Aes256Gcm::new_from_slice(&key).expect("32-byte key");
        cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: secret_aad(tenant_id, pair_id, system).as_bytes(),
                },
            )
            .map_err(|_| VaultError::Decrypt)
    }

    /// Re-wraps every data key under the newest master key of `next`, one row at
    /// a time (each its own small transaction), so running processes never wait.
    /// Returns how many data keys were re-wrapped.
    pub async fn rewrap_all(&self, db: &Db, next: &KeyRing) -> Result<u64, VaultError> {
        let rows =
            sqlx::query("SELECT tenant_id, key_id, wrapped_key, master_key_id FROM tenant_keys")
                .fetch_all(db.pool())
                .await?;
        let target = &next.keys[0];
        let mut count = 0;
        for row in rows {
            let tenant_id: String = row.get(0);
            let key_id: String = row.get(1);
            let wrapped: Vec<u8> = row.get(2);
            let master_id: String = row.get(3);
            if master_id == target.id {
                continue;
            }
            let old = next
                .find(&master_id)
                .ok_or_else(|| VaultError::UnknownMasterKey(master_id.clone()))?;
            let aad = wrap_aad(&tenant_id, &key_id);
            let plain = open(&old.bytes, &wrapped, aad.as_bytes())?;
            let rewrapped = seal(&target.bytes, &plain, aad.as_bytes());
            // Only if nobody re-wrapped it meanwhile.
            let done = sqlx::query(
                "UPDATE tenant_keys SET wrapped_key = $1, master_key_id = $2 \
                 WHERE tenant_id = $3 AND key_id = $4 AND master_key_id = $5",
            )
            .bind(rewrapped)
            .bind(&target.id)
            .bind(&tenant_id)
            .bind(&key_id)
            .bind(&master_id)
            .execute(db.pool())
            .await?;
            count += done.rows_affected();
        }
        *self.ring.write() = next.clone();
        Ok(count)
    }
}

fn wrap_aad(tenant_id: &str, key_id: &str) -> String {
    format!("clarity-connect/data-key/v1|tenant={tenant_id}|key={key_id}")
}

fn secret_aad(tenant_id: &str, pair_id: &str, system: &str) -> String {
    format!("clarity-connect/credential/v1|tenant={tenant_id}|pair={pair_id}|system={system}")
}

/// nonce ‖ ciphertext+tag, for wrapped keys (one blob per row).
fn seal(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let cipher = Aes256Gcm::new_from_slice(key).expect("32-byte key");
    let mut out = nonce.to_vec();
    out.extend(
        cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of a bounded message cannot fail"),
    );
    out
}

fn open(key: &[u8; KEY_LEN], blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
    if blob.len() < NONCE_LEN {
        return Err(VaultError::Decrypt);
    }
    let (nonce, ct) = blob.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VaultError::Decrypt)?;
    let cipher = Aes256Gcm::new_from_slice(key).expect("32-byte key");
    cipher
        .decrypt(&nonce.into(), Payload { msg: ct, aad })
        .map_err(|_| VaultError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_parses_what_it_writes() {
        let ring = KeyRing::generate().with_new_key();
        let again = KeyRing::parse(&ring.to_text()).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(again.current_id(), ring.current_id());
    }

    #[test]
    fn sealed_data_opens_only_with_the_same_associated_data() {
        let key = [7u8; KEY_LEN];
        let blob = seal(&key, b"secret", b"tenant=a");
        assert_eq!(open(&key, &blob, b"tenant=a").unwrap(), b"secret");
        assert!(open(&key, &blob, b"tenant=b").is_err());
        assert!(open(&[8u8; KEY_LEN], &blob, b"tenant=a").is_err());
    }
}
