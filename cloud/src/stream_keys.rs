//! Stream keys, livego's `/control/get|reset|delete`: a room (`app/name`, what players ask
//! for) can be given a secret key, and then only a publish to `app/KEY` goes live as that room.
//!
//! Keys and room names never share a namespace (livego looked both up in one map, so a key
//! could shadow a room): a key is only ever looked up as a key, a room with a key refuses a
//! publish under its own name, and a key is 48 random letters and digits. Keys are written
//! to `<data_dir>/stream_keys.json` (mode 0600, replaced atomically) on every change, so they
//! survive restarts.

use crate::error::CloudError;
use parking_lot::{Mutex, MutexGuard};
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Length of a key, as livego's.
pub const KEY_LEN: usize = 48;
/// Name of the key file in `data_dir`.
pub const FILE_NAME: &str = "stream_keys.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeyFile {
    /// Room (`app/name`) → key.
    keys: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Keys {
    by_room: BTreeMap<String, String>,
    by_key: HashMap<String, String>,
}

/// The stream keys by room and by key, kept in memory and written to [`FILE_NAME`] in
/// `data_dir` on every change.
#[derive(Debug)]
pub struct StreamKeys {
    path: PathBuf,
    keys: Mutex<Keys>,
}

/// What a publish to `app/name` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publish {
    /// `name` is the key of this room: the stream goes live under the room's name.
    Keyed(String),
    /// No key involved: the stream goes live as `app/name`.
    Open,
    /// Refused, with the reason for the publisher.
    Refused(&'static str),
}

impl StreamKeys {
    /// Loads the keys kept in `data_dir` (none when the file does not exist yet).
    pub fn load(data_dir: &Path) -> Result<StreamKeys, CloudError> {
        let path = data_dir.join(FILE_NAME);
        let file: KeyFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                CloudError::StreamKeys(format!(
                    "{}: not a stream key file: {error}",
                    path.display()
                ))
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => KeyFile::default(),
            Err(error) => return Err(CloudError::io(format!("reading {}", path.display()), error)),
        };
        let mut keys = Keys::default();
        for (room, key) in file.keys {
            keys.by_key.insert(key.clone(), room.clone());
            keys.by_room.insert(room, key);
        }
        Ok(StreamKeys {
            path,
            keys: Mutex::new(keys),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Keys> {
        self.keys.lock()
    }

    /// The key of `room`, if it has one; nothing is made.
    pub fn get(&self, room: &str) -> Option<String> {
        self.lock().by_room.get(room).cloned()
    }

    /// The key of `room`, made (and saved) if it has none.
    pub fn get_or_create(&self, room: &str) -> Result<String, CloudError> {
        let mut keys = self.lock();
        if let Some(key) = keys.by_room.get(room) {
            return Ok(key.clone());
        }
        self.replace_key(&mut keys, room)
    }

    /// Gives `room` a new key; the old one stops working.
    pub fn reset(&self, room: &str) -> Result<String, CloudError> {
        let mut keys = self.lock();
        self.replace_key(&mut keys, room)
    }

    /// Removes `room`'s key; false if it had none.
    pub fn delete(&self, room: &str) -> Result<bool, CloudError> {
        let mut keys = self.lock();
        let Some(old) = keys.by_room.remove(room) else {
            return Ok(false);
        };
        keys.by_key.remove(&old);
        if let Err(error) = self.save(&keys) {
            keys.by_key.insert(old.clone(), room.to_owned());
            keys.by_room.insert(room.to_owned(), old);
            return Err(error);
        }
        Ok(true)
    }

    /// How a publish to `app/name` is treated.
    pub fn resolve(&self, app: &str, name: &str) -> Publish {
        let keys = self.lock();
        if let Some(room) = keys.by_key.get(name) {
            return match room.split_once('/') {
                Some((room_app, _)) if room_app == app => Publish::Keyed(room.clone()),
                _ => Publish::Refused("this stream key belongs to another app"),
            };
        }
        if keys.by_room.contains_key(&format!("{app}/{name}")) {
            return Publish::Refused("this room has a stream key: publish to app/KEY");
        }
        Publish::Open
    }

    /// Saves first, then changes the maps, so memory never holds a key the file lost.
    fn replace_key(&self, keys: &mut Keys, room: &str) -> Result<String, CloudError> {
        let key = loop {
            let candidate = Alphanumeric.sample_string(&mut rand::rng(), KEY_LEN);
            if !keys.by_key.contains_key(&candidate) {
                break candidate;
            }
        };
        let old = keys.by_room.insert(room.to_owned(), key.clone());
        if let Err(error) = self.save(keys) {
            match old {
                Some(old) => keys.by_room.insert(room.to_owned(), old),
                None => keys.by_room.remove(room),
            };
            return Err(error);
        }
        if let Some(old) = old {
            keys.by_key.remove(&old);
        }
        keys.by_key.insert(key.clone(), room.to_owned());
        Ok(key)
    }

    /// Writes a temporary file, syncs it and renames it over the old one: a crash leaves the
    /// old file or the new one, never half of one.
    fn save(&self, keys: &Keys) -> Result<(), CloudError> {
        let file = KeyFile {
            keys: keys.by_room.clone(),
        };
        let json = serde_json::to_vec_pretty(&file)
            .map_err(|error| CloudError::StreamKeys(format!("encoding stream keys: {error}")))?;
        let temporary = self.path.with_extension("json.tmp");
        let io = |what: &str| {
            let what = format!("{what} {}", temporary.display());
            move |error| CloudError::io(what, error)
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&temporary).map_err(io("creating"))?;
        out.write_all(&json).map_err(io("writing"))?;
        out.sync_all().map_err(io("syncing"))?;
        std::fs::rename(&temporary, &self.path).map_err(io("renaming"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "liverelay-keys-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn keys_map_to_rooms_and_survive_a_reload() {
        let dir = temp_dir("reload");
        let keys = StreamKeys::load(&dir).unwrap();
        let key = keys.get_or_create("live/show").unwrap();
        assert_eq!(key.len(), KEY_LEN);
        assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(keys.get_or_create("live/show").unwrap(), key);
        assert_eq!(
            keys.resolve("live", &key),
            Publish::Keyed("live/show".into())
        );
        assert!(matches!(keys.resolve("live", "show"), Publish::Refused(_)));
        assert!(matches!(keys.resolve("other", &key), Publish::Refused(_)));
        assert_eq!(keys.resolve("live", "free"), Publish::Open);

        let reloaded = StreamKeys::load(&dir).unwrap();
        assert_eq!(
            reloaded.resolve("live", &key),
            Publish::Keyed("live/show".into())
        );
        let fresh = reloaded.reset("live/show").unwrap();
        assert_ne!(fresh, key);
        assert_eq!(reloaded.resolve("live", &key), Publish::Open);
        assert!(reloaded.delete("live/show").unwrap());
        assert!(!reloaded.delete("live/show").unwrap());
        assert_eq!(
            StreamKeys::load(&dir).unwrap().resolve("live", "show"),
            Publish::Open
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = temp_dir("corrupt");
        std::fs::write(dir.join(FILE_NAME), b"{not json").unwrap();
        let error = StreamKeys::load(&dir).unwrap_err().to_string();
        assert!(error.contains(FILE_NAME), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_save_changes_nothing() {
        let dir = temp_dir("readonly");
        let keys = StreamKeys::load(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(keys.get_or_create("live/x").is_err());
        assert_eq!(keys.resolve("live", "x"), Publish::Open);
    }
}
