//! Per-call resource limits and storage quotas: the platform's defaults and
//! maxima, and the effective limits of one install.

use serde::{Deserialize, Serialize};

/// The limits one install's calls run under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Linear memory cap per instance, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock deadline per call, in milliseconds, host calls included.
    pub deadline_ms: u64,
    /// Largest response an app may return (body and headers), in bytes.
    pub response_bytes: u64,
    /// Most bytes (keys and values) the install may keep in kv.
    #[serde(default = "default_kv_bytes")]
    pub kv_bytes: u64,
    /// Most keys the install may keep in kv.
    #[serde(default = "default_kv_keys")]
    pub kv_keys: u64,
}

/// The kv quota of installs made before quotas existed.
fn default_kv_bytes() -> u64 {
    PlatformLimits::default().default.kv_bytes
}

fn default_kv_keys() -> u64 {
    PlatformLimits::default().default.kv_keys
}

/// What one install may keep in kv, and what its whole district may: the
/// host checks both in the transaction of every write an app makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvQuota {
    /// Most bytes (keys and values) of the install.
    pub bytes: u64,
    /// Most keys of the install.
    pub keys: u64,
    /// Most bytes of all the district's installs together.
    pub district_bytes: u64,
}

/// The platform's defaults (used when a manifest asks for nothing) and maxima
/// (which no install may exceed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformLimits {
    /// Applied when the manifest does not ask.
    pub default: Limits,
    /// The most any install may ask for.
    pub max: Limits,
    /// Most bytes all of one district's installs may keep in kv together.
    pub district_kv_bytes: u64,
}

impl PlatformLimits {
    /// The kv quota of an install with `limits`.
    pub fn kv_quota(&self, limits: &Limits) -> KvQuota {
        KvQuota {
            bytes: limits.kv_bytes,
            keys: limits.kv_keys,
            district_bytes: self.district_kv_bytes,
        }
    }
}

impl Default for PlatformLimits {
    fn default() -> Self {
        PlatformLimits {
            default: Limits {
                memory_bytes: 64 << 20,
                deadline_ms: 1_000,
                response_bytes: 1 << 20,
                kv_bytes: 256 << 20,
                kv_keys: 1_000_000,
            },
            max: Limits {
                memory_bytes: 256 << 20,
                deadline_ms: 30_000,
                response_bytes: 16 << 20,
                kv_bytes: 4 << 30,
                kv_keys: 10_000_000,
            },
            district_kv_bytes: 8 << 30,
        }
    }
}
