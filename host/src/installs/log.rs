//! `hutong:platform/log`: structured logs into the host's tracing.
//!
//! Needs no permission (an app's stdout reaches the same log), but lines are
//! capped in size (message and fields together) and number per call so an
//! app cannot flood the log, and control characters are escaped so a line
//! cannot pass for one of the host's.

use crate::kernel::app_state::{AppState, Escaped};
use crate::kernel::wit::WitError;
use crate::kernel::wit::hutong::platform::log::{Host, Level};

/// Longest line, in bytes: the message and every field's key and value.
pub const MAX_MESSAGE_BYTES: usize = 16 << 10;
/// Most fields per line.
pub const MAX_FIELDS: usize = 32;
/// Most lines one call (request, event or tick) may write.
pub const MAX_LINES_PER_CALL: u32 = 1000;

impl Host for AppState {
    async fn write(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> Result<(), WitError> {
        if self.log_lines >= MAX_LINES_PER_CALL {
            return Err(WitError::LimitExceeded(format!(
                "an app may write at most {MAX_LINES_PER_CALL} log lines per call"
            )));
        }
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if size > MAX_MESSAGE_BYTES {
            return Err(WitError::LimitExceeded(format!(
                "log line is {size} bytes (message and fields); the most is {MAX_MESSAGE_BYTES}"
            )));
        }
        if fields.len() > MAX_FIELDS {
            return Err(WitError::LimitExceeded(format!(
                "log line has {} fields; the most is {MAX_FIELDS}",
                fields.len()
            )));
        }
        self.log_lines += 1;
        let call = &self.grant;
        let request_id = &self.request_id;
        let fields = FieldList(&fields);
        let message = Escaped(&message);
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(
                    target: "hutong::app",
                    district = %call.district,
                    app = %call.app,
                    version = %call.version,
                    request_id = %request_id,
                    fields = %fields,
                    "{message}"
                )
            };
        }
        match level {
            Level::Trace => emit!(trace),
            Level::Debug => emit!(debug),
            Level::Info => emit!(info),
            Level::Warn => emit!(warn),
            Level::Error => emit!(error),
        }
        Ok(())
    }
}

/// Renders fields as `k=v k=v` for the log line.
struct FieldList<'a>(&'a [(String, String)]);

impl std::fmt::Display for FieldList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={v:?}", Escaped(k))?;
        }
        Ok(())
    }
}
