//! SASL users as authentication sees them: those of the config file, with the SCRAM
//! credentials set or deleted through AlterUserScramCredentials (KIP-554) on top. The changes
//! are kept in `scram-credentials.json` in the data directory (replaced atomically) and apply
//! from the next authentication on; sessions already authenticated are not affected, as in Kafka.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};

use super::scram::{Mechanism, ScramCredential, StoredCredential};
use super::{UserCredentials, Users};
use crate::error::{Error, Result};

const FILE: &str = "scram-credentials.json";

/// One change: the credential a mechanism now has, or `None` once deleted.
type Changes = BTreeMap<String, BTreeMap<String, Option<StoredCredential>>>;

#[derive(Debug)]
pub(crate) struct Credentials {
    path: PathBuf,
    /// The config file's users; the base the changes apply to.
    configured: Users,
    /// Every change made through the API, as persisted.
    changes: Mutex<Changes>,
    /// What authentication reads: `configured` with `changes` applied.
    current: RwLock<Users>,
}

/// One alteration asked for: a credential to set, or `None` to delete the mechanism's.
pub(crate) struct Alteration {
    pub(crate) user: String,
    pub(crate) mechanism: Mechanism,
    pub(crate) credential: Option<ScramCredential>,
}

/// Why an alteration was not made, in Kafka's terms.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// RESOURCE_NOT_FOUND: deleting a credential that does not exist.
    NotFound,
    /// The change could not be persisted; nothing changed.
    Storage(Error),
}

impl Credentials {
    pub(crate) fn open(configured: &Users, data_dir: &std::path::Path) -> Result<Credentials> {
        let path = data_dir.join(FILE);
        let changes: Changes = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Config(format!("{} is not a valid credentials file: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Changes::new(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
        };
        let current =
            apply(configured, &changes).map_err(|what| Error::Config(format!("{}: {what}", path.display())))?;
        Ok(Credentials {
            path,
            configured: configured.clone(),
            changes: Mutex::new(changes),
            current: RwLock::new(current),
        })
    }

    /// The users as authentication sees them now.
    pub(crate) fn users(&self) -> std::sync::RwLockReadGuard<'_, Users> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Every user with a SCRAM credential: (name, (mechanism, iterations) for each).
    pub(crate) fn describe(&self) -> Vec<(String, Vec<(Mechanism, u32)>)> {
        self.users()
            .by_name
            .iter()
            .map(|(name, u)| (name.clone(), infos(u)))
            .filter(|(_, infos)| !infos.is_empty())
            .collect()
    }

    /// Applies one user's alterations together: all of them, or none (the first refusal).
    pub(crate) fn alter(&self, alterations: Vec<Alteration>) -> std::result::Result<(), Refusal> {
        let mut changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = changes.clone();
        {
            let current = self.users();
            // `current` already has every earlier change applied; a (user, mechanism) comes
            // once per request (the API refuses repeats).
            for a in &alterations {
                if a.credential.is_none() && current.scram(&a.user, a.mechanism).is_none() {
                    return Err(Refusal::NotFound);
                }
                next.entry(a.user.clone())
                    .or_default()
                    .insert(a.mechanism.name().to_owned(), a.credential.as_ref().map(ScramCredential::to_stored));
            }
        }
        let users = apply(&self.configured, &next).map_err(|what| Refusal::Storage(Error::Config(what)))?;
        let json = serde_json::to_vec_pretty(&next).map_err(|e| Refusal::Storage(Error::Config(e.to_string())))?;
        crate::log::disk::replace_file(&self.path, &json, true)
            .map_err(|e| Refusal::Storage(Error::io(format!("writing {}", self.path.display()))(e)))?;
        *changes = next;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = users;
        Ok(())
    }
}

fn infos(u: &UserCredentials) -> Vec<(Mechanism, u32)> {
    [Mechanism::Sha256, Mechanism::Sha512].into_iter().filter_map(|m| u.get(m).map(|c| (m, c.iterations()))).collect()
}

fn apply(configured: &Users, changes: &Changes) -> std::result::Result<Users, String> {
    let mut users = configured.clone();
    for (name, by_mechanism) in changes {
        let entry = users.by_name.entry(name.clone()).or_default();
        for (mechanism, stored) in by_mechanism {
            let m = Mechanism::from_name(mechanism).ok_or_else(|| format!("unknown mechanism {mechanism:?}"))?;
            *entry.slot(m) = match stored {
                Some(s) => Some(ScramCredential::from_stored(m, s).ok_or_else(|| format!("{name}: bad {mechanism}"))?),
                None => None,
            };
        }
        if entry.is_empty() {
            users.by_name.remove(name);
        }
    }
    Ok(users)
}
