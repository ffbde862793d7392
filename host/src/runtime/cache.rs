//! Components compiled once per content digest and kept precompiled on disk,
//! so a restart deserialises instead of recompiling.
//!
//! Artifacts live under a directory named after the engine's compatibility
//! hash: a host built with another wasmtime or another configuration uses a
//! fresh directory rather than loading code compiled for something else.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Compile and cache statistics, for tests and `/metrics`.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Components compiled by Cranelift.
    pub compiled: AtomicU64,
    /// Components loaded from a precompiled artifact.
    pub loaded: AtomicU64,
}

pub(crate) struct ComponentCache {
    dir: PathBuf,
    pub(crate) stats: CacheStats,
}

impl ComponentCache {
    pub(crate) fn new(root: &Path, engine: &Engine) -> std::io::Result<Self> {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = root.join(format!("{:016x}", hasher.finish()));
        std::fs::create_dir_all(&dir)?;
        Ok(ComponentCache {
            dir,
            stats: CacheStats::default(),
        })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.cwasm"))
    }

    /// The precompiled component for `digest`, if the cache holds a usable
    /// one. A damaged artifact is removed and reported as absent.
    pub(crate) fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        // Read rather than map the file: a mapped artifact truncated by
        // someone else while in use would crash the host with SIGBUS.
        let bytes = std::fs::read(&path).ok()?;
        // SAFETY: the artifact was written by `store` below from code this
        // engine compiled, into the host's own data directory, under a
        // directory keyed by the engine's compatibility hash. wasmtime also
        // checks the artifact's header against the engine.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => {
                self.stats.loaded.fetch_add(1, Ordering::Relaxed);
                Some(component)
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "discarding unusable precompiled component");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Compile `bytes` and keep the artifact for next time. A failure to
    /// write the artifact is logged, not fatal: the next start recompiles.
    pub(crate) fn compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let component = Component::new(engine, bytes)?;
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        self.store(digest, &component);
        Ok(component)
    }

    /// Remove the artifact for `digest`, if there is one.
    pub(crate) fn discard(&self, digest: &str) {
        let path = self.path(digest);
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::debug!(path = %path.display(), "discarded precompiled component"),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "could not discard precompiled component")
            }
        }
    }

    fn store(&self, digest: &str, component: &Component) {
        let path = self.path(digest);
        let result = component
            .serialize()
            .map_err(std::io::Error::other)
            .and_then(|code| {
                // Write then rename, so a crash never leaves half an artifact
                // that a later start would try to load.
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                std::fs::write(&tmp, code)?;
                std::fs::rename(&tmp, &path)
            });
        if let Err(err) = result {
            tracing::warn!(path = %path.display(), error = %err, "could not keep precompiled component");
        }
    }
}
