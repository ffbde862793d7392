//! A registry kept as a plain directory, for offline districts (copy it onto
//! a disk) and as the storage behind `hutong registry serve`:
//!
//! ```text
//! <root>/log.jsonl             the log, one JSON entry per line, append-only
//! <root>/blobs/sha256/<hex>    components and manifests, by digest
//! <root>/.lock                 held while a publish or yank appends
//! ```
//!
//! The index of a package is derived from the log (its publishes and
//! yanks), so the log is the only record of what was published: a blob that
//! no entry names is never served as a release.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use semver::Version;

use crate::index::Index;
use crate::log::{GENESIS, LogEntry, LogEvent, LogHead, LogSlice, Proof};
use crate::release::{PublishRequest, YankRequest};
use crate::{BoxFuture, Refusal, Registry, RegistryError, is_sha256_hex};

const LOG_FILE: &str = "log.jsonl";
const LOCK_FILE: &str = ".lock";

/// How long a publish waits for another one to finish appending.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// A registry in a directory; see the module docs.
#[derive(Clone)]
pub struct DirRegistry {
    root: PathBuf,
    location: String,
    // Appends within one process take turns here before taking the lock
    // file, which serialises them across processes.
    appending: Arc<Mutex<()>>,
    // The log as last parsed, with the file's length and modification time
    // then: one fetch reads the log three times (log, index, proof), and a
    // served registry on every request.
    parsed: Arc<Mutex<Option<ParsedLog>>>,
}

struct ParsedLog {
    len: u64,
    modified: Option<SystemTime>,
    entries: Arc<Vec<LogEntry>>,
}

impl DirRegistry {
    /// Open the registry in `path`, creating an empty one if there is none.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, RegistryError> {
        let root = path.as_ref();
        let blobs = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(|e| RegistryError::io(&blobs, e))?;
        let log = root.join(LOG_FILE);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| RegistryError::io(&log, e))?;
        Self::open(root)
    }

    /// Open the registry in `path`, which must hold one.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RegistryError> {
        let root = path.as_ref();
        if !root.join(LOG_FILE).is_file() {
            return Err(RegistryError::Invalid(format!(
                "{} holds no registry (there is no {LOG_FILE}); give a registry directory or an http:// or https:// URL",
                root.display()
            )));
        }
        let root = std::fs::canonicalize(root).map_err(|e| RegistryError::io(root, e))?;
        Ok(DirRegistry {
            location: root.display().to_string(),
            root,
            appending: Arc::new(Mutex::new(())),
            parsed: Arc::new(Mutex::new(None)),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn corrupt(&self, detail: String) -> RegistryError {
        RegistryError::Corrupt {
            registry: self.location.clone(),
            detail,
        }
    }

    /// Every log entry, in order.
    pub fn entries(&self) -> Result<Arc<Vec<LogEntry>>, RegistryError> {
        let path = self.root.join(LOG_FILE);
        let meta = std::fs::metadata(&path).map_err(|e| RegistryError::io(&path, e))?;
        let (len, modified) = (meta.len(), meta.modified().ok());
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = parsed
            .as_ref()
            .filter(|p| p.len == len && p.modified == modified)
        {
            return Ok(p.entries.clone());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| RegistryError::io(&path, e))?;
        let entries: Vec<LogEntry> = text
            .lines()
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map_err(|e| self.corrupt(format!("{LOG_FILE} line {}: {e}", i + 1)))
            })
            .collect::<Result<_, _>>()?;
        let entries = Arc::new(entries);
        // Only a file read whole at this length is remembered for it.
        if text.len() as u64 == len {
            *parsed = Some(ParsedLog {
                len,
                modified,
                entries: entries.clone(),
            });
        }
        Ok(entries)
    }

    fn head_of(entries: &[LogEntry]) -> LogHead {
        LogHead {
            size: entries.len() as u64,
            hash: entries
                .last()
                .map_or_else(|| GENESIS.to_owned(), |e| e.hash.clone()),
        }
    }

    /// A package's index, or `UnknownPackage`.
    pub fn index_now(&self, name: &str) -> Result<Index, RegistryError> {
        let index = Index::from_log(name, self.entries()?.iter());
        if index.releases.is_empty() {
            return Err(Refusal::UnknownPackage {
                name: name.to_owned(),
            }
            .into());
        }
        Ok(index)
    }

    /// The log from `from` to the head.
    pub fn log_now(&self, from: u64) -> Result<LogSlice, RegistryError> {
        let entries = self.entries()?;
        let head = Self::head_of(&entries);
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        Ok(LogSlice {
            head,
            entries: entries.get(from..).map(<[_]>::to_vec).unwrap_or_default(),
        })
    }

    /// The proof that `name@version` is in the log.
    pub fn proof_now(&self, name: &str, version: &Version) -> Result<Proof, RegistryError> {
        let entries = self.entries()?;
        let at = entries
            .iter()
            .position(|e| {
                matches!(&e.event, LogEvent::Publish(r) if r.name == name && r.version == *version)
            })
            .ok_or_else(|| Refusal::UnknownRelease {
                name: name.to_owned(),
                version: version.to_string(),
            })?;
        Ok(Proof {
            head: Self::head_of(&entries),
            entries: entries[at..].to_vec(),
        })
    }

    fn blob_path(&self, sha256: &str) -> Result<PathBuf, RegistryError> {
        if !is_sha256_hex(sha256) {
            return Err(Refusal::Invalid(format!(
                "`{sha256}` is not a sha256 digest (64 lowercase hex digits)"
            ))
            .into());
        }
        Ok(self.root.join("blobs").join("sha256").join(sha256))
    }

    /// A blob by digest.
    pub fn blob_now(&self, sha256: &str) -> Result<Vec<u8>, RegistryError> {
        let path = self.blob_path(sha256)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Refusal::UnknownBlob {
                sha256: sha256.to_owned(),
            }
            .into()),
            Err(e) => Err(RegistryError::io(&path, e)),
        }
    }

    fn write_blob(&self, bytes: &[u8]) -> Result<(), RegistryError> {
        let path = self.blob_path(&crate::sha256_hex(bytes))?;
        if path.is_file() {
            return Ok(());
        }
        write_atomically(&path, bytes)
    }

    /// Check and publish a signed package; the new log entry.
    pub fn publish_now(&self, request: &PublishRequest) -> Result<LogEntry, RegistryError> {
        let record = request.check()?;
        self.append(
            |entries| {
                let index = Index::from_log(&record.name, entries);
                if index.get(&record.version).is_some() {
                    return Err(Refusal::Republish {
                        name: record.name.clone(),
                        version: record.version.to_string(),
                    });
                }
                check_owner(&index, &record.name, &record.key_id)?;
                Ok(LogEvent::Publish(record.clone()))
            },
            |registry| {
                registry.write_blob(&request.component)?;
                registry.write_blob(&request.manifest)
            },
        )
    }

    /// Check and record a signed yank; the new log entry.
    pub fn yank_now(&self, request: &YankRequest) -> Result<LogEntry, RegistryError> {
        let record = request.check()?;
        self.append(
            |entries| {
                let index = Index::from_log(&record.name, entries);
                if index.releases.is_empty() {
                    return Err(Refusal::UnknownPackage {
                        name: record.name.clone(),
                    });
                }
                let release =
                    index
                        .get(&record.version)
                        .ok_or_else(|| Refusal::UnknownRelease {
                            name: record.name.clone(),
                            version: record.version.to_string(),
                        })?;
                if release.yanked {
                    return Err(Refusal::AlreadyYanked {
                        name: record.name.clone(),
                        version: record.version.to_string(),
                    });
                }
                check_owner(&index, &record.name, &record.key_id)?;
                Ok(LogEvent::Yank(record.clone()))
            },
            |_| Ok(()),
        )
    }

    /// Under the append lock: decide the event from the current log, store
    /// what it needs, then append its entry.
    fn append(
        &self,
        decide: impl FnOnce(&[LogEntry]) -> Result<LogEvent, Refusal>,
        store: impl FnOnce(&Self) -> Result<(), RegistryError>,
    ) -> Result<LogEntry, RegistryError> {
        let _turn = self.appending.lock().unwrap_or_else(|p| p.into_inner());
        let _lock = LockFile::take(&self.root.join(LOCK_FILE))?;
        let entries = self.entries()?;
        let event = decide(&entries)?;
        store(self)?;
        let head = Self::head_of(&entries);
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let entry = LogEntry::seal(head.size, &head.hash, at, event);
        let line = serde_json::to_string(&entry).map_err(|e| self.corrupt(e.to_string()))?;
        let path = self.root.join(LOG_FILE);
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| RegistryError::io(&path, e))?;
        log.write_all(format!("{line}\n").as_bytes())
            .and_then(|()| log.sync_all())
            .map_err(|e| RegistryError::io(&path, e))?;
        tracing::info!(
            registry = %self.location,
            index = entry.index,
            name = entry.event.name(),
            version = %entry.event.version(),
            "appended to the registry log"
        );
        Ok(entry)
    }
}

/// A package's later releases must be signed by a key that signed an
/// earlier one: the first publisher of a name owns it.
fn check_owner(index: &Index, name: &str, key_id: &str) -> Result<(), Refusal> {
    if index.releases.is_empty() || index.releases.iter().any(|r| r.key_id == key_id) {
        return Ok(());
    }
    let mut owners: Vec<&str> = index.releases.iter().map(|r| r.key_id.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    Err(Refusal::NotOwner {
        name: name.to_owned(),
        key_id: key_id.to_owned(),
        owners: owners.join(", "),
    })
}

/// Write `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half a file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            RegistryError::io(path, e)
        })
}

/// The lock file, removed when dropped.
struct LockFile(PathBuf);

impl LockFile {
    fn take(path: &Path) -> Result<Self, RegistryError> {
        let started = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return Ok(LockFile(path.to_owned())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if started.elapsed() > LOCK_WAIT {
                        return Err(RegistryError::Invalid(format!(
                            "{} is held by another publish; if none is running (a crash left it), remove the file",
                            path.display()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(RegistryError::io(path, e)),
            }
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Run blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    registry: &DirRegistry,
    work: impl FnOnce(DirRegistry) -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    let registry = registry.clone();
    let location = registry.location.clone();
    tokio::task::spawn_blocking(move || work(registry))
        .await
        .map_err(|e| RegistryError::Corrupt {
            registry: location,
            detail: format!("a registry task failed: {e}"),
        })?
}

impl Registry for DirRegistry {
    fn location(&self) -> &str {
        &self.location
    }

    fn index<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Index> {
        let name = name.to_owned();
        Box::pin(blocking(self, move |r| r.index_now(&name)))
    }

    fn log(&self, from: u64) -> BoxFuture<'_, LogSlice> {
        Box::pin(blocking(self, move |r| r.log_now(from)))
    }

    fn proof<'a>(&'a self, name: &'a str, version: &'a Version) -> BoxFuture<'a, Proof> {
        let (name, version) = (name.to_owned(), version.clone());
        Box::pin(blocking(self, move |r| r.proof_now(&name, &version)))
    }

    fn blob<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Vec<u8>> {
        let sha256 = sha256.to_owned();
        Box::pin(blocking(self, move |r| r.blob_now(&sha256)))
    }

    fn publish(&self, request: PublishRequest) -> BoxFuture<'_, LogEntry> {
        Box::pin(blocking(self, move |r| r.publish_now(&request)))
    }

    fn yank(&self, request: YankRequest) -> BoxFuture<'_, LogEntry> {
        Box::pin(blocking(self, move |r| r.yank_now(&request)))
    }
}
