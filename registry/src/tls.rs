//! Outgoing HTTP and the certificates it trusts: one place that builds the
//! host's HTTP clients (for registries here, and for the notification
//! gateways in the host), so every client trusts the same roots.
//!
//! A client trusts the public web's roots, built in (webpki-roots), so a host
//! trusts the same set on every machine, plus the extra roots an operator
//! names with [`trust_extra_roots`]: a city's private CA for an internal
//! gateway or registry. Set them once at start, before the first client is
//! built; a client keeps the roots it was built with.
//!
//! Clients follow no redirects and use no proxy from the environment: a
//! gateway or registry is reached at exactly the URL configured for it.

use std::sync::OnceLock;

/// The operator's extra roots, set at most once.
static EXTRA_ROOTS: OnceLock<Vec<reqwest::Certificate>> = OnceLock::new();

/// Trust the root certificates in `pem` (one or more PEM `CERTIFICATE`
/// blocks) for every client built from now on; `what` names the source in
/// errors. How many certificates were read.
pub fn trust_extra_roots(what: &str, pem: &[u8]) -> Result<usize, String> {
    let roots = reqwest::Certificate::from_pem_bundle(pem)
        .map_err(|e| format!("{what} does not hold PEM certificates: {}", describe(&e)))?;
    if roots.is_empty() {
        return Err(format!(
            "{what} holds no certificate: give a PEM file of `-----BEGIN CERTIFICATE-----` blocks"
        ));
    }
    let count = roots.len();
    EXTRA_ROOTS
        .set(roots)
        .map_err(|_| format!("{what}: extra root certificates were already set"))?;
    Ok(count)
}

/// A client builder trusting the built-in and the extra roots, following no
/// redirect and using no proxy; the caller adds its timeouts.
pub fn client_builder() -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    for root in EXTRA_ROOTS.get().into_iter().flatten() {
        builder = builder.add_root_certificate(root.clone());
    }
    builder
}

/// An error with its causes: reqwest's own text says only which request
/// failed, the causes say why (refused, timed out, a certificate signed by
/// an unknown issuer).
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused() {
        let e = trust_extra_roots("roots.pem", b"not a certificate").unwrap_err();
        assert!(e.contains("roots.pem"), "{e}");
    }
}
