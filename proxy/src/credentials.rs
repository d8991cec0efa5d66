//! Where `serve` finds the API token: the environment ([`TOKEN_ENV`]), a file named by
//! [`TOKEN_FILE_ENV`] (Docker and Kubernetes secrets), or a systemd credential
//! (`LoadCredential=reekolect-api-token:…`, read from `$CREDENTIALS_DIRECTORY`), in that order.
//! A file that is named but cannot be read is an error, never a silent fall-back to the mock.

use crate::config::TOKEN_ENV;
use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variable naming a file that holds the API token.
pub const TOKEN_FILE_ENV: &str = "REEKOLECT_API_TOKEN_FILE";

/// The name of the systemd credential holding the API token.
pub const CREDENTIAL_NAME: &str = "reekolect-api-token";

/// The API token from the process's environment (see the module's documentation).
pub fn api_token() -> Result<Option<String>, String> {
    api_token_from(|name| std::env::var_os(name))
}

/// [`api_token`] with the environment given as a lookup function.
pub fn api_token_from(env: impl Fn(&str) -> Option<OsString>) -> Result<Option<String>, String> {
    if let Some(token) = env(TOKEN_ENV).and_then(|v| v.into_string().ok()).filter(|t| !t.trim().is_empty()) {
        return Ok(Some(token));
    }
    if let Some(path) = env(TOKEN_FILE_ENV).filter(|p| !p.is_empty()) {
        return read_token(PathBuf::from(path), TOKEN_FILE_ENV).map(Some);
    }
    if let Some(dir) = env("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
        let path = PathBuf::from(dir).join(CREDENTIAL_NAME);
        if path.exists() {
            return read_token(path, "the systemd credential").map(Some);
        }
    }
    Ok(None)
}

/// The token in `path`, without the line break editors add; `source` names where the path
/// came from in the error.
fn read_token(path: PathBuf, source: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(&path)
        .map_err(|err| format!("cannot read the API token from {} ({source}): {err}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("the API token file {} ({source}) is empty", path.display()));
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        move |name| map.get(name).cloned()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("reekolect-credentials-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_variable_wins_then_the_file_then_the_credential() {
        let dir = temp_dir("order");
        std::fs::write(dir.join("token"), "from-file-0123456789\n").unwrap();
        std::fs::write(dir.join(CREDENTIAL_NAME), "  from-credential-0123456789  \n").unwrap();
        let file = dir.join("token");
        let (file, dir_str) = (file.to_str().unwrap(), dir.to_str().unwrap());
        let both = env(&[(TOKEN_ENV, "from-env"), (TOKEN_FILE_ENV, file), ("CREDENTIALS_DIRECTORY", dir_str)]);
        assert_eq!(api_token_from(both), Ok(Some("from-env".into())));
        let no_env = env(&[(TOKEN_ENV, " "), (TOKEN_FILE_ENV, file), ("CREDENTIALS_DIRECTORY", dir_str)]);
        assert_eq!(api_token_from(no_env), Ok(Some("from-file-0123456789".into())));
        let credential = env(&[("CREDENTIALS_DIRECTORY", dir_str)]);
        assert_eq!(api_token_from(credential), Ok(Some("from-credential-0123456789".into())));
        assert_eq!(api_token_from(env(&[])), Ok(None));
        // A credentials directory without our credential: no token, no error.
        assert_eq!(api_token_from(env(&[("CREDENTIALS_DIRECTORY", "/nonexistent")])), Ok(None));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_named_file_that_cannot_be_read_or_is_empty_is_an_error_naming_it() {
        let err = api_token_from(env(&[(TOKEN_FILE_ENV, "/nonexistent/token")])).unwrap_err();
        assert!(err.contains("/nonexistent/token") && err.contains(TOKEN_FILE_ENV), "{err}");
        let dir = temp_dir("empty");
        std::fs::write(dir.join("token"), "\n").unwrap();
        let err = api_token_from(env(&[(TOKEN_FILE_ENV, dir.join("token").to_str().unwrap())])).unwrap_err();
        assert!(err.contains("is empty"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
