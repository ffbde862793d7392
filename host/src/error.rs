//! Why an operation was refused or failed: [`PlatformError`], the one error
//! of every operation (a refusal says what was wrong and what is allowed,
//! and changes nothing), and [`RuntimeError`], why the runtime could not
//! start. They sit low, beside the model, so the rules a guest's host call
//! applies refuse with the same error as the API without reaching the
//! runtime or the platform.

use crate::community::import::ImportError;
use crate::kernel::manifest::{HOST_API_VERSION, ManifestError, Permission};
use crate::kernel::store::{Store, StoreError};

/// The export that makes a component a Hutong app.
pub(crate) const HTTP_EXPORT: &str = "hutong:platform/http-handler";

/// Refuse a district that does not exist.
pub(crate) async fn require_district(store: &Store, district: &str) -> Result<(), PlatformError> {
    match store.district_exists(district).await? {
        true => Ok(()),
        false => Err(PlatformError::UnknownDistrict(district.to_owned())),
    }
}

/// Why a platform operation was refused or failed. Every refusal says what
/// was wrong and what is allowed, and changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The district does not exist.
    #[error("district `{0}` does not exist; create it first")]
    UnknownDistrict(String),
    /// A district id is malformed.
    #[error(
        "district id `{0}` is invalid: use 1 to 63 characters of a-z, 0-9 and '-', starting with a letter"
    )]
    InvalidDistrictId(String),
    /// The thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A request that is malformed or contradicts itself.
    #[error("{0}")]
    Invalid(String),
    /// Already exists, or conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A rate or size limit was reached; the message names it.
    #[error("{0}")]
    TooMany(String),
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The app needs a host API this host does not implement.
    #[error(
        "the app requires host API {required}, but this host implements hutong:platform@{host}"
    )]
    IncompatibleHostApi {
        /// The manifest's requirement.
        required: String,
        /// This host's version.
        host: String,
    },
    /// The bytes are not a WebAssembly component.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// A component, but not for the `hutong:platform/app` world.
    #[error(
        "the component is not a Hutong app: it does not export {HTTP_EXPORT}@0.1.x (it exports: {exports}); build it against the hutong:platform/app world, for example with hutong-sdk"
    )]
    WrongWorld {
        /// What it does export.
        exports: String,
    },
    /// An import the host cannot satisfy.
    #[error("the component imports `{import}`, which this host does not provide; {allowed}")]
    UnsatisfiableImport {
        /// The import's name.
        import: String,
        /// What is allowed.
        allowed: String,
    },
    /// The component's imports or exports do not have the types this host
    /// expects (for example it was built against another hutong:platform).
    #[error(
        "the component does not fit the hutong:platform/app@{HOST_API_VERSION} world: {0}; rebuild it against this version of the WIT or the SDK"
    )]
    IncompatibleComponent(String),
    /// The component and its manifest disagree.
    #[error("{0}")]
    ManifestMismatch(String),
    /// A grant for a permission the manifest does not declare.
    #[error("cannot grant `{permission}`: the manifest does not declare it (declared: {declared})")]
    GrantNotDeclared {
        /// The permission.
        permission: Permission,
        /// What the manifest declares.
        declared: String,
    },
    /// Community data that does not pass validation.
    #[error("the import was refused and nothing was changed: {0}")]
    Import(#[from] ImportError),
    /// An upgrade adds permissions the administrator has not granted yet;
    /// nothing changed.
    #[error(
        "upgrading {app} to {version} adds permissions that must be granted first; nothing changed. Run the upgrade again with {flags}. The app says it needs: {reasons}"
    )]
    PermissionsNeeded {
        /// The app.
        app: String,
        /// The version it would upgrade to.
        version: String,
        /// The `--grant` flags to add.
        flags: String,
        /// Each new permission with its reason.
        reasons: String,
        /// The permissions needed.
        needed: Vec<Permission>,
    },
    /// A registry refused, or what it served did not verify; nothing
    /// changed.
    #[error(transparent)]
    Registry(#[from] hutong_registry::RegistryError),
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(StoreError),
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl From<StoreError> for PlatformError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => PlatformError::NotFound(what),
            StoreError::Conflict(what) => PlatformError::Conflict(what),
            other => PlatformError::Store(other),
        }
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the configuration.
    #[error("could not configure the WebAssembly engine: {0}")]
    Engine(String),
    /// The cache directory could not be created.
    #[error("could not prepare the component cache at {path}: {source}")]
    Cache {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An installed component could not be loaded.
    #[error("could not load component {digest}: {detail}")]
    Load {
        /// The component's digest.
        digest: String,
        /// What went wrong.
        detail: String,
    },
}
