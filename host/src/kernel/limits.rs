//! Per-call resource limits: the platform's defaults and maxima, and the
//! effective limits of one install.

use serde::{Deserialize, Serialize};

/// The limits one install's calls run under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Linear memory cap per instance, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock deadline per call, in milliseconds, host calls included.
    pub deadline_ms: u64,
    /// Largest response body an app may return, in bytes.
    pub response_bytes: u64,
}

/// The platform's defaults (used when a manifest asks for nothing) and maxima
/// (which no install may exceed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformLimits {
    /// Applied when the manifest does not ask.
    pub default: Limits,
    /// The most any install may ask for.
    pub max: Limits,
}

impl Default for PlatformLimits {
    fn default() -> Self {
        PlatformLimits {
            default: Limits {
                memory_bytes: 64 << 20,
                deadline_ms: 1_000,
                response_bytes: 1 << 20,
            },
            max: Limits {
                memory_bytes: 256 << 20,
                deadline_ms: 30_000,
                response_bytes: 16 << 20,
            },
        }
    }
}
